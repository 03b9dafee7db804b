//! A real SMTP server for notification tests: Python's aiosmtpd, delivering
//! to a maildir, optionally requiring STARTTLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

impl SmtpServer {
    /// Plain SMTP on a free port.
    pub async fn start(dir: &Path) -> Self {
        Self::spawn(dir, None).await
    }

    /// SMTP that requires STARTTLS with this certificate before any mail.
    pub async fn start_tls(dir: &Path, cert: &Path, key: &Path) -> Self {
        Self::spawn(dir, Some((cert, key))).await
    }

    async fn spawn(dir: &Path, tls: Option<(&Path, &Path)>) -> Self {
        let port = free_port();
        let maildir = dir.join("maildir");
        let mut command = Command::new("python3");
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some((cert, key)) = tls {
            command.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let child = command
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            port,
            maildir,
        }
    }

    /// Every message received so far, raw, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<(std::time::SystemTime, String)> =
            std::fs::read_dir(self.maildir.join("new"))
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            (
                                e.metadata().and_then(|m| m.modified()).unwrap(),
                                std::fs::read_to_string(e.path()).unwrap(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
        out.sort_by_key(|(t, _)| *t);
        out.into_iter().map(|(_, m)| m).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
