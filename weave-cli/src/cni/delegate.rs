//! Running a delegated plugin (the `ipam.type` of the configuration) as the spec's section 4
//! says: found in `CNI_PATH`, given our environment with `CNI_COMMAND` set and exactly our
//! stdin, its stderr passed through, its error object passed back as our error.

use super::env::Command;
use super::error::{self, CniError};
use super::types::CniResult;
use super::{read_bounded, Invocation, MAX_STDIN};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

/// Runs `plugin` for `cmd`; for ADD returns its result.
pub fn run(inv: &Invocation, plugin: &str, cmd: Command) -> Result<Option<CniResult>, CniError> {
    let bin = find(inv, plugin)?;
    let mut child = std::process::Command::new(&bin)
        .env("CNI_COMMAND", cmd.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failure(plugin, format!("cannot run {}: {e}", bin.display())))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = inv.stdin.clone();
    // Written from a thread so a plugin that answers before reading all of it cannot block us.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let stdout = child.stdout.take().expect("stdout is piped");
    let out = read_bounded(stdout, MAX_STDIN)
        .map_err(|e| failure(plugin, format!("reading its answer: {}", e.msg)))?;
    let status = child.wait().map_err(|e| failure(plugin, format!("waiting for it: {e}")))?;
    let _ = writer.join();
    if !status.success() {
        return Err(passed_error(plugin, &out, status));
    }
    if cmd != Command::Add {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&out)
        .map_err(|e| failure(plugin, format!("its ADD result is not JSON: {e}")))?;
    CniResult::parse(inv.version, &v, &format!("the result of IPAM plugin {plugin}")).map(Some)
}

fn find(inv: &Invocation, plugin: &str) -> Result<PathBuf, CniError> {
    if plugin.is_empty() || plugin.contains('/') || plugin == "." || plugin == ".." {
        return Err(CniError::invalid_config(
            format!("ipam type {plugin:?} is not a plugin name"),
            "ipam.type names a plugin binary in CNI_PATH, such as weave-ipam or host-local",
        ));
    }
    if inv.env.path.is_empty() {
        return Err(CniError::invalid_env(
            "CNI_PATH is not set, so the IPAM plugin cannot be found",
            format!("set CNI_PATH to the directories holding {plugin}"),
        ));
    }
    inv.env.path.iter().map(|d| d.join(plugin)).find(|p| p.is_file()).ok_or_else(|| {
        CniError::invalid_config(
            format!("IPAM plugin {plugin} is not in CNI_PATH"),
            format!(
                "install it into one of {}, or fix ipam.type",
                inv.env.path.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        )
    })
}

fn failure(plugin: &str, what: String) -> CniError {
    CniError::new(error::DELEGATE_FAILURE, format!("IPAM plugin {plugin}: {what}"), "")
}

/// The delegated plugin's own error object, or a description of what it did instead.
fn passed_error(plugin: &str, out: &[u8], status: std::process::ExitStatus) -> CniError {
    #[derive(serde::Deserialize)]
    struct Obj {
        code: u32,
        msg: String,
        #[serde(default)]
        details: String,
    }
    match serde_json::from_slice::<Obj>(out) {
        Ok(o) => CniError::new(o.code, format!("IPAM plugin {plugin}: {}", o.msg), o.details),
        Err(_) => failure(plugin, format!("it failed ({status}) without a CNI error object")),
    }
}
