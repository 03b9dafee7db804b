//! The systems under test: how to find, start, probe and stop Sightline and
//! its peers. Each run gets a fresh temporary directory and a free port on
//! 127.0.0.1; a [`RunningTarget`] terminates its process when dropped, so no
//! stray server survives an error or an interrupt. [`plan`] turns the
//! command-line choice of targets into binaries to run.

mod plan;

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rustix::process::{kill_process, Pid, Signal};
use tempfile::TempDir;

pub use plan::{PlannedTarget, TargetArgs, TargetPlan};

/// Pause between readiness probes; also the resolution of startup times.
const READY_POLL: Duration = Duration::from_millis(20);

/// A system the benchmark can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum TargetKind {
    Sightline,
    Prometheus,
    #[value(name = "victoriametrics", alias = "vm")]
    VictoriaMetrics,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sightline => "sightline",
            Self::Prometheus => "prometheus",
            Self::VictoriaMetrics => "victoriametrics",
        }
    }

    /// Path answering 200 once the server accepts writes.
    fn ready_path(self) -> &'static str {
        match self {
            Self::Sightline | Self::Prometheus => "/-/ready",
            Self::VictoriaMetrics => "/health",
        }
    }

    /// Path of the remote-write receiver.
    pub fn write_path(self) -> &'static str {
        "/api/v1/write"
    }

    /// Whether a missing binary skips the target (with a note) rather than
    /// failing the run.
    pub fn optional(self) -> bool {
        self == Self::VictoriaMetrics
    }
}

impl std::fmt::Display for TargetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `binary` itself if it names a path (made absolute, since targets run in
/// their own directory), else the first executable of that name on `PATH`.
pub fn find_executable(binary: &Path) -> Option<PathBuf> {
    let is_executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if binary.components().count() > 1 || binary.is_absolute() {
        return is_executable(binary)
            .then(|| std::path::absolute(binary).ok())
            .flatten();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable(candidate))
}

/// A target process started by this benchmark.
#[derive(Debug)]
pub struct RunningTarget {
    kind: TargetKind,
    child: Child,
    base_url: String,
    log_path: PathBuf,
    spawned_at: Instant,
    exited: bool,
    /// Removed after the process is gone (fields drop after `Drop::drop`).
    dir: TempDir,
}

impl RunningTarget {
    /// Starts `binary` as a `kind` server on a free port, with its data in a
    /// new directory under `work_dir` and its output in `target.log` there.
    /// `extra_args` follow the arguments every benchmark passes.
    pub fn spawn(
        kind: TargetKind,
        binary: &Path,
        work_dir: &Path,
        extra_args: &[String],
    ) -> anyhow::Result<Self> {
        Self::spawn_with_env(kind, binary, work_dir, extra_args, &[])
    }

    /// [`RunningTarget::spawn`], with `env` added to the process'
    /// environment (e.g. Sightline's `SIGHTLINE_*` settings).
    pub fn spawn_with_env(
        kind: TargetKind,
        binary: &Path,
        work_dir: &Path,
        extra_args: &[String],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("sightline-bench-{kind}-"))
            .tempdir_in(work_dir)
            .with_context(|| format!("creating a data directory in {}", work_dir.display()))?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir)?;
        let port = free_port()?;
        let listen = format!("127.0.0.1:{port}");

        let mut command = Command::new(binary);
        match kind {
            TargetKind::Sightline => {
                // Only what the benchmark sends: the embedded collector's
                // wall-clock samples would also move the head's time past
                // backdated data and make it out of bounds.
                command
                    .env("SIGHTLINE_COLLECTOR__ENABLED", "false")
                    .arg("serve")
                    .arg("--listen")
                    .arg(&listen)
                    .arg("--data-dir")
                    .arg(&data_dir);
            }
            TargetKind::Prometheus => {
                let config = dir.path().join("prometheus.yml");
                std::fs::write(&config, "global:\n  scrape_interval: 15s\n")?;
                command
                    .arg(format!("--config.file={}", config.display()))
                    .arg(format!("--storage.tsdb.path={}", data_dir.display()))
                    .arg(format!("--web.listen-address={listen}"))
                    .arg("--web.enable-remote-write-receiver");
            }
            TargetKind::VictoriaMetrics => {
                command
                    .arg(format!("-storageDataPath={}", data_dir.display()))
                    .arg(format!("-httpListenAddr={listen}"));
            }
        }
        command.args(extra_args);
        command.envs(env.iter().copied());
        let log_path = dir.path().join("target.log");
        let log = File::create(&log_path)?;
        let spawned_at = Instant::now();
        let child = command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {kind} from {}", binary.display()))?;
        Ok(Self {
            kind,
            child,
            base_url: format!("http://{listen}"),
            log_path,
            spawned_at,
            exited: false,
            dir,
        })
    }

    /// Spawns the target ([`RunningTarget::spawn_with_env`]), waits until
    /// it is ready and says where it runs. Returns it with its startup time.
    pub async fn start(
        kind: TargetKind,
        binary: &Path,
        work_dir: &Path,
        extra_args: &[String],
        env: &[(&str, &str)],
        startup_timeout: Duration,
    ) -> anyhow::Result<(Self, Duration)> {
        let probe = reqwest::Client::builder()
            .build()
            .context("building the HTTP client")?;
        let mut target = Self::spawn_with_env(kind, binary, work_dir, extra_args, env)?;
        let startup = target.wait_ready(&probe, startup_timeout).await?;
        eprintln!(
            "[{kind}] pid {} ready at {} in {startup:.1?} (data in {})",
            target.pid(),
            target.base_url(),
            target.data_dir().display()
        );
        Ok((target, startup))
    }

    /// Stops the target ([`RunningTarget::stop`]) and says so if it did
    /// not exit cleanly.
    pub fn stop_reporting(self, grace: Duration) -> anyhow::Result<()> {
        let kind = self.kind;
        let status = self.stop(grace)?;
        if !status.success() {
            eprintln!("[{kind}] exited with {status} after SIGTERM");
        }
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Polls the readiness endpoint until it answers 200, the process exits,
    /// or `timeout` passes. Returns how long startup took, from the spawn.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let url = format!("{}{}", self.base_url, self.kind.ready_path());
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                bail!(
                    "{} exited with {status} before becoming ready; last output:\n{}",
                    self.kind,
                    self.log_tail(20)
                );
            }
            let probe = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(self.spawned_at.elapsed());
            }
            if self.spawned_at.elapsed() > timeout {
                bail!(
                    "{} not ready at {url} after {timeout:?}; last output:\n{}",
                    self.kind,
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Sends SIGTERM and waits up to `grace` for the process to exit, then
    /// kills it. Returns its exit status.
    pub fn stop(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        self.terminate(grace)
    }

    fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            self.exited = true;
            return Ok(status);
        }
        let pid = Pid::from_child(&self.child);
        // The process may exit between `try_wait` and the signal; `wait`
        // below still reaps it, so a failed signal is not an error.
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "[{}] did not exit within {grace:?} of SIGTERM; killing it",
            self.kind
        );
        self.child.kill()?;
        let status = self.child.wait()?;
        self.exited = true;
        Ok(status)
    }

    /// The last `lines` lines the process printed.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for RunningTarget {
    fn drop(&mut self) {
        if !self.exited {
            if let Err(e) = self.terminate(Duration::from_secs(10)) {
                eprintln!(
                    "[{}] could not stop pid {}: {e:#}",
                    self.kind,
                    self.child.id()
                );
            }
        }
    }
}

/// A port on 127.0.0.1 that was free a moment ago. Another process could
/// take it before the target binds it; that shows up as a startup failure.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    /// A `sleep 60` standing in for a server that honours SIGTERM.
    fn sleeping_target(work: &Path) -> RunningTarget {
        RunningTarget {
            kind: TargetKind::Sightline,
            child: Command::new("sleep").arg("60").spawn().unwrap(),
            base_url: String::new(),
            log_path: work.join("target.log"),
            spawned_at: Instant::now(),
            exited: false,
            dir: tempfile::tempdir_in(work).unwrap(),
        }
    }

    #[test]
    fn finds_executables() {
        assert!(find_executable(Path::new("sh")).is_some());
        assert!(find_executable(Path::new("/bin/sh")).is_some());
        assert!(find_executable(Path::new("no-such-binary-sightline-bench")).is_none());
        assert!(find_executable(Path::new("./no/such/path")).is_none());
        // A relative path still works once a target runs in its directory.
        let cwd = std::env::current_dir().unwrap();
        let sh = Path::new("/bin/sh");
        let relative: PathBuf = cwd
            .components()
            .skip(1)
            .map(|_| Path::new(".."))
            .collect::<PathBuf>()
            .join("bin/sh");
        if sh.exists() {
            let found = find_executable(&relative).unwrap();
            assert!(found.is_absolute(), "{}", found.display());
        }
    }

    #[test]
    fn stop_sends_sigterm() {
        let work = tempfile::tempdir().unwrap();
        let status = sleeping_target(work.path())
            .stop(Duration::from_secs(5))
            .unwrap();
        assert_eq!(status.signal(), Some(15));
    }

    #[test]
    fn dropping_a_target_stops_it_and_removes_its_directory() {
        let work = tempfile::tempdir().unwrap();
        let target = sleeping_target(work.path());
        let pid = target.pid();
        let dir = target.dir.path().to_path_buf();
        drop(target);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn early_exit_is_reported_not_awaited() {
        let work = tempfile::tempdir().unwrap();
        let false_bin = find_executable(Path::new("false")).unwrap();
        let mut target =
            RunningTarget::spawn(TargetKind::Sightline, &false_bin, work.path(), &[]).unwrap();
        let client = reqwest::Client::new();
        let err = target
            .wait_ready(&client, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exited"), "{err:#}");
    }
}
