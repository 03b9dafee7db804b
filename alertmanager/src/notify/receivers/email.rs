//! Email over SMTP with lettre: plain, STARTTLS (required by default, as
//! Alertmanager's `require_tls`) or implicit TLS on port 465; optional
//! authentication; HTML and text bodies.

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
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

pub async fn send(c: &EmailConfig, n: &Notification) -> Result<(), String> {
    let msg = message(c, n)?;
    let (host, port) = c
        .smarthost
        .rsplit_once(':')
        .ok_or_else(|| format!("smarthost {:?} is not host:port", c.smarthost))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("bad port in {:?}", c.smarthost))?;
    let mut builder = if port == 465 {
        AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?
    } else if c.require_tls {
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?
    } else {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
    };
    builder = builder
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
