//! Receivers' `http_config`, Prometheus's common HTTP client settings:
//! `basic_auth`, `authorization` (or the older `bearer_token`), `tls_config`,
//! `proxy_url`, `follow_redirects`. Each webhook and Slack integration gets
//! its own client, built when the configuration loads (so an unreadable CA
//! or key is a load error); credentials given as files are read at every
//! request, so they can be rotated without a reload.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpConfig {
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    bearer_token: Option<String>,
    bearer_token_file: Option<String>,
    tls_config: Option<RawTlsConfig>,
    proxy_url: Option<String>,
    #[serde(default)]
    proxy_from_environment: bool,
    no_proxy: Option<String>,
    follow_redirects: Option<bool>,
    enable_http2: Option<bool>,
    oauth2: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicAuth {
    username: Option<String>,
    username_file: Option<String>,
    password: Option<String>,
    password_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorization {
    #[serde(rename = "type")]
    kind: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<String>,
}

/// `tls_config`, shared by HTTP clients and email.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTlsConfig {
    pub ca: Option<String>,
    pub ca_file: Option<String>,
    pub cert: Option<String>,
    pub cert_file: Option<String>,
    pub key: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
}

/// A validated `tls_config` with its PEM material read.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Trusted CAs (PEM); when set, they replace the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Client certificate and key (PEM).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13`.
    pub min_version: Option<String>,
}

fn inline_or_file(
    inline: &Option<String>,
    file: &Option<String>,
    what: &str,
    at: &str,
    p: &mut Vec<String>,
) -> Option<Vec<u8>> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            p.push(format!(
                "{at}: at most one of {what} and {what}_file must be configured"
            ));
            None
        }
        (Some(v), None) => Some(v.clone().into_bytes()),
        (None, Some(f)) => match std::fs::read(f) {
            Ok(b) => Some(b),
            Err(e) => {
                p.push(format!("{at}: unable to read {what}_file {f}: {e}"));
                None
            }
        },
        (None, None) => None,
    }
}

impl RawTlsConfig {
    pub(crate) fn build(&self, at: &str, p: &mut Vec<String>) -> TlsSettings {
        let ca_pem = inline_or_file(&self.ca, &self.ca_file, "ca", at, p);
        let cert = inline_or_file(&self.cert, &self.cert_file, "cert", at, p);
        let key = inline_or_file(&self.key, &self.key_file, "key", at, p);
        let cert_given = self.cert.is_some() || self.cert_file.is_some();
        let key_given = self.key.is_some() || self.key_file.is_some();
        if cert_given != key_given {
            p.push(format!(
                "{at}: client certificate and key must be configured together"
            ));
        }
        for (f, v) in [
            ("min_version", &self.min_version),
            ("max_version", &self.max_version),
        ] {
            if let Some(v) = v {
                if !matches!(v.as_str(), "TLS12" | "TLS13") {
                    p.push(format!(
                        "{at}.{f}: unsupported TLS version {v:?} (TLS12 or TLS13)"
                    ));
                }
            }
        }
        if self.max_version.is_some() {
            p.push(format!("{at}.max_version: not supported"));
        }
        TlsSettings {
            ca_pem,
            identity: cert.zip(key),
            server_name: self.server_name.clone().filter(|s| !s.is_empty()),
            insecure_skip_verify: self.insecure_skip_verify,
            min_version: self.min_version.clone(),
        }
    }
}

/// A credential given inline or as a file read at each use.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    fn from(inline: Option<String>, file: Option<String>) -> Option<Self> {
        inline
            .map(Secret::Inline)
            .or_else(|| file.map(|f| Secret::File(f.into())))
    }

    fn read(&self) -> Result<String, String> {
        match self {
            Secret::Inline(s) => Ok(s.clone()),
            Secret::File(f) => std::fs::read_to_string(f)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("reading {}: {e}", f.display())),
        }
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum Auth {
    Basic {
        username: Secret,
        password: Option<Secret>,
    },
    /// `Authorization: <scheme> <credentials>`.
    Header { scheme: String, credentials: Secret },
}

/// An integration's HTTP client and how it authenticates.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    pub auth: Option<Auth>,
}

impl HttpClient {
    /// A POST to `url` with the configured authentication.
    pub fn post(&self, url: &str) -> Result<reqwest::RequestBuilder, String> {
        let req = self.client.post(url);
        Ok(match &self.auth {
            None => req,
            Some(Auth::Basic { username, password }) => {
                let password = password.as_ref().map(Secret::read).transpose()?;
                req.basic_auth(username.read()?, password)
            }
            Some(Auth::Header {
                scheme,
                credentials,
            }) => req.header(
                reqwest::header::AUTHORIZATION,
                format!("{scheme} {}", credentials.read()?),
            ),
        })
    }
}

/// Notification requests give up after this long (a retry follows).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl RawHttpConfig {
    /// Validates and builds the client; problems go to `p` under `at`.
    pub(crate) fn build(&self, at: &str, p: &mut Vec<String>) -> Option<HttpClient> {
        let before = p.len();
        if self.oauth2.is_some() {
            p.push(format!("{at}.oauth2: not supported"));
        }
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            p.push(format!(
                "{at}: at most one of bearer_token & bearer_token_file must be configured"
            ));
        }
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.basic_auth.is_some() && (bearer || self.authorization.is_some()) {
            p.push(format!(
                "{at}: at most one of basic_auth, bearer_token & authorization must be configured"
            ));
        }
        if self.authorization.is_some() && bearer {
            p.push(format!(
                "{at}: authorization is not compatible with bearer_token & bearer_token_file"
            ));
        }
        let mut auth = None;
        if let Some(b) = &self.basic_auth {
            if b.username.is_some() && b.username_file.is_some() {
                p.push(format!(
                    "{at}.basic_auth: at most one of username and username_file must be configured"
                ));
            }
            if b.password.is_some() && b.password_file.is_some() {
                p.push(format!(
                    "{at}.basic_auth: at most one of password and password_file must be configured"
                ));
            }
            auth = Some(Auth::Basic {
                username: Secret::from(b.username.clone(), b.username_file.clone())
                    .unwrap_or(Secret::Inline(String::new())),
                password: Secret::from(b.password.clone(), b.password_file.clone()),
            });
        }
        if let Some(a) = &self.authorization {
            let scheme = a
                .kind
                .clone()
                .filter(|k| !k.trim().is_empty())
                .unwrap_or_else(|| "Bearer".into());
            if scheme.eq_ignore_ascii_case("basic") {
                p.push(format!("{at}.authorization: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"));
            }
            if a.credentials.is_some() && a.credentials_file.is_some() {
                p.push(format!("{at}.authorization: at most one of credentials and credentials_file must be configured"));
            }
            if let Some(credentials) =
                Secret::from(a.credentials.clone(), a.credentials_file.clone())
            {
                auth = Some(Auth::Header {
                    scheme,
                    credentials,
                });
            }
        }
        if let Some(credentials) =
            Secret::from(self.bearer_token.clone(), self.bearer_token_file.clone())
        {
            auth = Some(Auth::Header {
                scheme: "Bearer".into(),
                credentials,
            });
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(REQUEST_TIMEOUT);
        builder = match &self.proxy_url {
            Some(_) if self.proxy_from_environment => {
                p.push(format!(
                    "{at}: if proxy_from_environment is configured, proxy_url must not be configured"
                ));
                builder
            }
            Some(u) => match reqwest::Proxy::all(u) {
                Ok(mut proxy) => {
                    if let Some(n) = &self.no_proxy {
                        proxy = proxy.no_proxy(reqwest::NoProxy::from_string(n));
                    }
                    builder.proxy(proxy)
                }
                Err(e) => {
                    p.push(format!("{at}.proxy_url: {e}"));
                    builder
                }
            },
            None if self.proxy_from_environment => builder,
            // As Alertmanager: no proxy unless one is configured.
            None => builder.no_proxy(),
        };
        if self.no_proxy.is_some() && self.proxy_url.is_none() {
            p.push(format!(
                "{at}: if no_proxy is configured, proxy_url must also be configured"
            ));
        }
        if !self.follow_redirects.unwrap_or(true) {
            builder = builder.redirect(reqwest::redirect::Policy::none());
        }
        // HTTP/1.1 is what this client speaks; `enable_http2` is accepted.
        let _ = self.enable_http2;
        if let Some(tls) = &self.tls_config {
            let at = format!("{at}.tls_config");
            let t = tls.build(&at, p);
            if t.server_name.is_some() {
                p.push(format!(
                    "{at}.server_name: not supported for HTTP receivers"
                ));
            }
            if let Some(ca) = &t.ca_pem {
                match reqwest::Certificate::from_pem_bundle(ca) {
                    Ok(certs) if !certs.is_empty() => {
                        builder = builder.tls_built_in_root_certs(false);
                        for c in certs {
                            builder = builder.add_root_certificate(c);
                        }
                    }
                    Ok(_) => p.push(format!("{at}: no certificate found in the CA")),
                    Err(e) => p.push(format!("{at}: invalid CA: {e}")),
                }
            }
            if let Some((cert, key)) = &t.identity {
                let mut pem = cert.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key);
                match reqwest::Identity::from_pem(&pem) {
                    Ok(id) => builder = builder.identity(id),
                    Err(e) => p.push(format!("{at}: invalid client certificate or key: {e}")),
                }
            }
            if t.insecure_skip_verify {
                builder = builder.danger_accept_invalid_certs(true);
            }
            if t.min_version.as_deref() == Some("TLS13") {
                builder = builder.min_tls_version(reqwest::tls::Version::TLS_1_3);
            }
        }
        if p.len() > before {
            return None;
        }
        match builder.build() {
            Ok(client) => Some(HttpClient { client, auth }),
            Err(e) => {
                p.push(format!("{at}: {e}"));
                None
            }
        }
    }
}

/// The client of integrations without `http_config`.
pub fn default_client(p: &mut Vec<String>) -> Option<HttpClient> {
    RawHttpConfig::default().build("http_config", p)
}
