//! `weave launch`: start weave-daemon detached, its log in the data dir, and wait until ready.

use crate::output::{CmdResult, Failure};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weave_api::{Client, ClientError};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_DATA_DIR: &str = "/var/lib/weave";

pub async fn exec(client: &Client, args: Vec<String>) -> CmdResult {
    let daemon = daemon_binary()?;
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let status = Command::new(&daemon).arg("--help").status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    // The daemon must listen where this command looks for it.
    let addr = flag_value(&args, "--http-addr").unwrap_or_else(|| client.addr().to_string());
    let client = Client::new(&addr);
    match client.status().await {
        Ok(s) => {
            return Err(Failure::new(format!(
                "weave is already running at {addr} (peer {}): stop it first with `weave stop`",
                s.name
            )))
        }
        Err(ClientError::Unreachable { .. }) => {}
        Err(e) => {
            return Err(Failure::new(format!("something that is not a weave daemon answers at {addr}: {e}")))
        }
    }

    let data_dir = PathBuf::from(flag_value(&args, "--data-dir").unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| Failure::new(format!("cannot create the data directory {}: {e}", data_dir.display())))?;
    // A launch is a fresh start: the daemon uses the peers given, not the persisted ones
    // (as a new Weave container would); only a restart without `weave stop` resumes.
    let _ = std::fs::remove_file(data_dir.join("restart.sentinel"));
    let log_path = data_dir.join("weave-daemon.log");
    rotate(&log_path);
    let log = std::fs::File::create(&log_path)
        .map_err(|e| Failure::new(format!("cannot write the log {}: {e}", log_path.display())))?;

    let mut cmd = Command::new(&daemon);
    cmd.args(&args)
        .env(weave_api::HTTP_ADDR_ENV, &addr)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // A process group of its own, never the terminal's foreground one: the daemon outlives this
    // command, and the terminal's signals (Ctrl-C, hang-up) do not reach it.
    cmd.process_group(0);
    let mut child =
        cmd.spawn().map_err(|e| Failure::new(format!("cannot start {}: {e}", daemon.display())))?;
    eprintln!("weave: weave-daemon started (pid {}), logging to {}", child.id(), log_path.display());

    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(Failure::new(format!(
                "weave-daemon exited during start-up ({status}): {}",
                last_line(&log_path).unwrap_or_else(|| format!("see {}", log_path.display()))
            )));
        }
        if let Ok(s) = client.status().await {
            if s.ready {
                println!("{}", s.name);
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(Failure::new(format!(
                "weave-daemon did not become ready within {}s; see {}",
                READY_TIMEOUT.as_secs(),
                log_path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `weave-daemon` next to this executable, else from PATH.
pub(crate) fn daemon_binary() -> Result<PathBuf, Failure> {
    sibling_binary("weave-daemon")
}

/// A binary installed with `weave`: next to it, else on PATH.
pub(crate) fn sibling_binary(name: &str) -> Result<PathBuf, Failure> {
    if let Some(sibling) = std::env::current_exe().ok().and_then(|p| Some(p.parent()?.join(name))) {
        if sibling.is_file() {
            return Ok(sibling);
        }
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Failure::new(format!(
                "cannot find {name} next to weave or on PATH: install the binaries together"
            ))
        })
}

/// The value of `--flag VALUE` or `--flag=VALUE` among the daemon's arguments.
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&prefix).map(str::to_string)
        }
    })
}

/// Keeps the previous run's log as `.1`.
fn rotate(log: &Path) {
    if log.exists() {
        let _ = std::fs::rename(log, log.with_extension("log.1"));
    }
}

/// The daemon's last words: the last non-empty line of its log.
fn last_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_flag_values_in_both_spellings() {
        let args: Vec<String> = ["--data-dir", "/tmp/x", "--http-addr=127.0.0.1:1", "10.0.0.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(flag_value(&args, "--data-dir").as_deref(), Some("/tmp/x"));
        assert_eq!(flag_value(&args, "--http-addr").as_deref(), Some("127.0.0.1:1"));
        assert_eq!(flag_value(&args, "--name"), None);
    }
}
