//! Email over SMTP with lettre: plain, STARTTLS (required by default, as
//! Alertmanager's `require_tls`) or implicit TLS on port 465, verified per
//! `tls_config` (CA, client certificate, server name, or
//! `insecure_skip_verify`); optional authentication; HTML and text bodies.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{
    Certificate, CertificateStore, Identity, Tls, TlsParameters, TlsVersion,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Notification;
use crate::notify::config::EmailConfig;

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A plain-text listing of the alerts.
fn default_text(n: &Notification) -> String {
    let mut out = format!("{}\n\n", n.default_title());
    for (_, a) in &n.alerts {
        let state = if a.resolved(n.now) {
            "resolved"
        } else {
            "firing"
        };
        out.push_str(&format!("[{state}]\nLabels:\n"));
        for (k, v) in &a.labels {
            out.push_str(&format!("  - {k} = {v}\n"));
        }
        out.push_str("Annotations:\n");
        for (k, v) in &a.annotations {
            out.push_str(&format!("  - {k} = {v}\n"));
        }
        out.push_str(&format!("Source: {}\n\n", a.generator_url));
    }
    out
}

fn default_html(n: &Notification) -> String {
    let mut out = format!(
        "<!DOCTYPE html><html><body><h2><a href=\"{}\">{}</a></h2>",
        escape_html(&n.default_link()),
        escape_html(&n.default_title())
    );
    for (_, a) in &n.alerts {
        let state = if a.resolved(n.now) {
            "resolved"
        } else {
            "firing"
        };
        out.push_str(&format!("<h3>{state}</h3><ul>"));
        for (k, v) in a.labels.iter().chain(a.annotations.iter()) {
            out.push_str(&format!(
                "<li><b>{}</b> = {}</li>",
                escape_html(k),
                escape_html(v)
            ));
        }
        out.push_str(&format!(
            "</ul><a href=\"{}\">Source</a>",
            escape_html(&a.generator_url)
        ));
    }
    out.push_str("</body></html>");
    out
}

/// The message Alertmanager would send for this notification.
pub fn message(c: &EmailConfig, n: &Notification) -> Result<Message, String> {
    let mut subject = n.default_title();
    let mut builder = Message::builder();
    for (k, v) in &c.headers {
        let v = n.render(&Some(v.clone()), String::new)?;
        match k.as_str() {
            "Subject" => subject = v,
            "To" | "From" => {}
            other => {
                builder = builder.raw_header(lettre::message::header::HeaderValue::new(
                    lettre::message::header::HeaderName::new_from_ascii(other.to_string())
                        .map_err(|e| format!("header {other}: {e}"))?,
                    v,
                ));
            }
        }
    }
    let from: Mailbox = c
        .from
        .parse()
        .map_err(|e| format!("from {:?}: {e}", c.from))?;
    builder = builder.from(from).subject(subject);
    for to in c.to.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        builder = builder.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
    }
    let html = n.render(&c.html, || default_html(n))?;
    let text = n.render(&c.text, || default_text(n))?;
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|e| e.to_string())
}

/// The TLS parameters of `tls_config` for the connection to `host`.
fn tls_parameters(c: &EmailConfig, host: &str) -> Result<TlsParameters, String> {
    let t = &c.tls;
    let name = t.server_name.clone().unwrap_or_else(|| host.to_string());
    let mut b = TlsParameters::builder(name);
    if let Some(ca) = &t.ca_pem {
        let cert = Certificate::from_pem(ca).map_err(|e| format!("tls_config CA: {e}"))?;
        b = b
            .certificate_store(CertificateStore::None)
            .add_root_certificate(cert);
    }
    if let Some((cert, key)) = &t.identity {
        let id = Identity::from_pem(cert, key)
            .map_err(|e| format!("tls_config client certificate: {e}"))?;
        b = b.identify_with(id);
    }
    if t.insecure_skip_verify {
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    if t.min_version.as_deref() == Some("TLS13") {
        b = b.set_min_tls_version(TlsVersion::Tlsv13);
    }
    b.build().map_err(|e| e.to_string())
}

pub async fn send(c: &EmailConfig, n: &Notification) -> Result<(), String> {
    let msg = message(c, n)?;
    let (host, port) = c
        .smarthost
        .rsplit_once(':')
        .ok_or_else(|| format!("smarthost {:?} is not host:port", c.smarthost))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad port in {:?}", c.smarthost))?;
    // Port 465 is implicit TLS; otherwise STARTTLS when `require_tls`
    // (failing if the server does not offer it), else plain text.
    let tls = if port == 465 {
        Tls::Wrapper(tls_parameters(c, host)?)
    } else if c.require_tls {
        Tls::Required(tls_parameters(c, host)?)
    } else {
        Tls::None
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .tls(tls)
        .port(port)
        .hello_name(ClientId::Domain(c.hello.clone()))
        .timeout(Some(std::time::Duration::from_secs(10)));
    if let (Some(u), Some(p)) = (&c.auth_username, &c.auth_password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
