//! `weave reset [--force]`: leave the cluster and the host clean. With a daemon running, the
//! daemon hands its IPAM space to a live peer, removes the bridge, devices, firewall rules and
//! persisted data, and stops. Without one, `--force` does the local part through
//! `weave-daemon --reset` (the space cannot be handed over then). Either way the CNI plugins
//! and configuration `weave setup-cni` installed go too.

use crate::cli::CniDirs;
use crate::output::{CmdResult, Failure};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use weave_api::{Client, ClientError};

const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn exec(client: &Client, force: bool, data_dir: &Path, cni: &CniDirs) -> CmdResult {
    daemon_reset(client, force, data_dir).await?;
    super::cni::remove(&cni.cni_bin_dir, &cni.cni_conf_dir)
}

async fn daemon_reset(client: &Client, force: bool, data_dir: &Path) -> CmdResult {
    match client.reset().await {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("WARNING: {w}");
            }
            for f in &r.failures {
                eprintln!("weave: reset: {f}");
            }
            wait_stopped(client).await?;
            if !r.failures.is_empty() {
                return Err(Failure::new("reset could not remove everything (see above)"));
            }
            Ok(())
        }
        Err(ClientError::Unreachable { addr }) if !force => Err(Failure::new(format!(
            "weave is not running (no daemon answers at {addr}); unable to remove from cluster. \
             Re-launch weave before reset or use --force to override"
        ))),
        Err(ClientError::Unreachable { .. }) => local_reset(data_dir),
        Err(e) => Err(e.into()),
    }
}

async fn wait_stopped(client: &Client) -> CmdResult {
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Err(ClientError::Unreachable { .. }) = client.status().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Failure::new(format!(
        "the daemon at {} did not stop within {}s",
        client.addr(),
        STOP_TIMEOUT.as_secs()
    )))
}

fn local_reset(data_dir: &Path) -> CmdResult {
    let daemon = super::launch::daemon_binary()?;
    let out = Command::new(&daemon)
        .arg("--reset")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .map_err(|e| Failure::new(format!("cannot run {}: {e}", daemon.display())))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err(Failure::new(err.trim().trim_start_matches("weave-daemon: ").to_string()))
}
