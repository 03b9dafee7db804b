//! `sightline serve`: open the [`Services`], serve their [`app`] on the
//! listener with the embedded collector beside it, shut down cleanly.

use std::sync::Arc;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::app::{app, Services};
use crate::config::{Config, LogFormat};

/// Installs the global `tracing` subscriber per the log settings.
pub fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the server until SIGTERM or Ctrl-C, then stops accepting requests,
/// lets in-flight ones finish and flushes the WAL.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let services = Services::open(config).await?;
    services.rules.reload_on_sighup();
    let config = Arc::clone(&services.config);
    let addr = config.listen_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    tracing::info!(
        %addr,
        data_dir = %config.data_dir.display(),
        "Sightline is ready: remote write to http://{addr}/api/v1/write"
    );
    let app = app(&services);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let collector = config
        .collector
        .enabled
        .then(|| tokio::spawn(run_embedded_collector(Arc::clone(&config), addr, stop_rx)));
    // On a signal the embedded collector stops first and flushes its last
    // round while the server still accepts it; then HTTP drains.
    let shutdown = async move {
        shutdown_signal().await;
        if let Some(c) = collector {
            let _ = stop_tx.send(true);
            let _ = c.await;
        }
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;

    tracing::info!("shutting down: flushing the WALs");
    services.close().await?;
    tracing::info!("shutdown complete");
    Ok(())
}

/// The embedded collector's log settings: the configured patterns, or this
/// host's container logs if the kubelet keeps them here, or else the
/// system's plain log files from their current end.
fn embedded_logs(
    c: &crate::config::EmbeddedLogsConfig,
) -> sightline_collector::sources::logs::LogsConfig {
    use sightline_collector::sources::logs::{LogsConfig, StartAt, DEFAULT_POD_LOG_GLOB};
    let mut logs = LogsConfig {
        enabled: c.enabled,
        paths: c.paths.clone(),
        ..LogsConfig::default()
    };
    if logs.paths.is_empty() {
        if std::path::Path::new("/var/log/pods").is_dir() {
            logs.paths = vec![DEFAULT_POD_LOG_GLOB.into()];
        } else {
            logs.paths = vec!["/var/log/*.log".into()];
            logs.start_at = StartAt::End;
        }
    }
    logs
}

/// The collector for this machine, shipping to this server over loopback;
/// what it cannot deliver at shutdown waits in its buffer for the next start.
async fn run_embedded_collector(
    config: Arc<Config>,
    addr: std::net::SocketAddr,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let c = &config.collector;
    let host = if addr.ip().is_unspecified() {
        std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let mut agent = sightline_collector::agent::AgentConfig {
        server: format!("http://{host}"),
        interval: c.interval,
        listen: String::new(),
        node: c.node.clone(),
        cgroup: c.cgroup.clone(),
        buffer_dir: config.data_dir.join("collector-buffer"),
        buffer_max_bytes: 64 << 20,
        logs: embedded_logs(&c.logs),
        ..Default::default()
    };
    // As `sightline-collector` does when loading its configuration:
    // `$NODE_NAME`, else the host name.
    let node_name = std::env::var(sightline_collector::config::NODE_NAME_VAR).ok();
    agent.resolve_node_name(node_name.as_deref());
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = sightline_collector::agent::run(agent, stopped).await {
        tracing::error!(error = %e, "embedded collector stopped");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("received Ctrl-C"),
        () = term => tracing::info!("received SIGTERM"),
    }
}
