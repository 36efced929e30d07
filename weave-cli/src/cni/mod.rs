//! The CNI plugins `weave-net` and `weave-ipam`: the CNI protocol (spec 1.1.0 and every older
//! version a runtime may ask for), and each command as calls to the daemon's REST API.
//!
//! A runtime runs a plugin with `CNI_*` variables and the network configuration on stdin;
//! the plugin prints a result (ADD) or nothing (DEL, CHECK, STATUS, GC) and exits 0, or prints
//! a CNI error object and exits 1. Stdin is untrusted: at most [`MAX_STDIN`] bytes, parsed into
//! typed structures. The plugins keep no state and touch no namespace themselves: the daemon
//! creates, checks and removes interfaces and addresses.
//!
//! No crate fit: `cni-plugin` (0.2.1, 2021) speaks only 0.4.0 and 1.0.0, has no STATUS or GC,
//! no result conversion for older runtimes, and reads stdin without a bound; `rust-cni` and
//! `cni` are runtime-side libraries (they run plugins). So the types live in [`types`], tested
//! with the spec's own examples.

mod daemon;
mod delegate;
pub mod env;
pub mod error;
mod ipam;
mod net;
pub mod types;
pub mod version;

use env::{Command, Env};
use error::CniError;
use serde_json::Value;
use std::io::Read;
use types::NetConf;
use version::Version;

/// The most stdin a plugin reads: a network configuration with a previous result is a few
/// kilobytes.
pub const MAX_STDIN: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// `weave-net`: the interface plugin.
    Net,
    /// `weave-ipam`: addresses only, for other interface plugins.
    Ipam,
}

impl Plugin {
    pub fn name(self) -> &'static str {
        match self {
            Plugin::Net => "weave-net",
            Plugin::Ipam => "weave-ipam",
        }
    }
}

/// What one invocation prints and how it exits.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: Option<Value>,
    pub code: i32,
    /// The line for stderr, on failure.
    pub stderr: Option<String>,
}

/// The binary's `main`: runs the command the environment names and exits.
pub fn main(plugin: Plugin) -> ! {
    let stdin = read_bounded(std::io::stdin().lock(), MAX_STDIN);
    let out = run(plugin, |k| std::env::var(k).ok(), stdin);
    if let Some(v) = &out.stdout {
        println!("{v}");
    }
    if let Some(line) = &out.stderr {
        eprintln!("{}: {line}", plugin.name());
    }
    std::process::exit(out.code)
}

/// Reads at most `limit` bytes; more is an error (the configuration is never that big).
pub fn read_bounded(r: impl Read, limit: usize) -> Result<Vec<u8>, CniError> {
    let mut buf = Vec::new();
    r.take(limit as u64 + 1).read_to_end(&mut buf).map_err(|e| {
        CniError::new(error::IO_FAILURE, format!("reading the network configuration from stdin: {e}"), "")
    })?;
    if buf.len() > limit {
        return Err(CniError::new(
            error::IO_FAILURE,
            format!("the network configuration on stdin is larger than {limit} bytes"),
            "a network configuration is a small JSON object; check what the runtime passes",
        ));
    }
    Ok(buf)
}

/// One invocation, with the environment read through `get`.
pub fn run(
    plugin: Plugin,
    get: impl Fn(&str) -> Option<String>,
    stdin: Result<Vec<u8>, CniError>,
) -> Outcome {
    // Errors carry the version of the request when it can be read at all.
    let declared = stdin.as_ref().ok().and_then(|b| declared_version(b));
    let answer_version = declared.unwrap_or(Version::CURRENT);
    match dispatch(plugin, get, stdin) {
        Ok(stdout) => Outcome { stdout, code: 0, stderr: None },
        Err(e) => Outcome { stderr: Some(e.to_string()), stdout: Some(e.to_json(answer_version)), code: 1 },
    }
}

fn dispatch(
    plugin: Plugin,
    get: impl Fn(&str) -> Option<String>,
    stdin: Result<Vec<u8>, CniError>,
) -> Result<Option<Value>, CniError> {
    let env = Env::read(get)?;
    let stdin = stdin?;
    if env.command == Command::Version {
        return version_answer(&stdin).map(Some);
    }
    let (conf, version) = decode_request(&stdin)?;
    let since = match env.command {
        Command::Check => Version::V0_4_0,
        Command::Status | Command::Gc => Version::V1_1_0,
        _ => Version::V0_1_0,
    };
    if version < since {
        return Err(CniError::incompatible_version(format!(
            "{} exists from CNI {since}, and the configuration declares cniVersion {version}: declare {since} or later to use it",
            env.command.as_str()
        )));
    }
    let inv = Invocation { env, conf, version, stdin };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CniError::new(error::IO_FAILURE, format!("starting the plugin's runtime: {e}"), ""))?;
    let result = rt.block_on(async {
        match plugin {
            Plugin::Net => net::exec(&inv).await,
            Plugin::Ipam => ipam::exec(&inv).await,
        }
    })?;
    result.map(|r| r.to_json(inv.version)).transpose()
}

/// Everything a command needs.
pub struct Invocation {
    pub env: Env,
    pub conf: NetConf,
    pub version: Version,
    /// Stdin as read, for delegated plugins (they get exactly what we got).
    pub stdin: Vec<u8>,
}

impl Invocation {
    pub fn client(&self) -> weave_api::Client {
        weave_api::Client::new(&self.env.http_addr)
    }

    /// The network's name (checked to be present before any command runs).
    pub fn network(&self) -> &str {
        self.conf.name.as_deref().unwrap_or_default()
    }

    /// The previous plugin's result, read in the configuration's version.
    pub fn prev_result(&self) -> Result<Option<types::CniResult>, CniError> {
        match &self.conf.prev_result {
            None | Some(Value::Null) => Ok(None),
            Some(raw) => types::CniResult::parse(self.version, raw, "prevResult").map(Some),
        }
    }
}

/// Reads a request's configuration as every command does: JSON into typed fields, the
/// declared version, the network name; also the `prevResult` in that version, and a result
/// written back in it (so the fuzz target covers every decoder stdin reaches).
pub fn decode_request(stdin: &[u8]) -> Result<(NetConf, Version), CniError> {
    let conf = parse_conf(stdin)?;
    let version = Version::from_config(conf.cni_version.as_deref())?;
    check_name(&conf)?;
    Ok((conf, version))
}

/// Everything [`decode_request`] and the commands decode from stdin, for the fuzz target.
pub fn decode_all(stdin: &[u8]) -> Result<Option<Value>, CniError> {
    let (conf, version) = decode_request(stdin)?;
    let Some(raw) = &conf.prev_result else { return Ok(None) };
    let prev = types::CniResult::parse(version, raw, "prevResult")?;
    prev.to_json(version).map(Some)
}

fn parse_conf(stdin: &[u8]) -> Result<NetConf, CniError> {
    if stdin.iter().all(u8::is_ascii_whitespace) {
        return Err(CniError::decode(
            "no network configuration on stdin",
            "the runtime passes the plugin's configuration as JSON on stdin",
        ));
    }
    serde_json::from_slice(stdin).map_err(|e| {
        CniError::decode(
            format!("the network configuration on stdin is not valid: {e}"),
            "fix the network configuration (the .conflist in the runtime's CNI configuration directory)",
        )
    })
}

/// The `cniVersion` a request declares, if it can be read and is one we speak.
fn declared_version(stdin: &[u8]) -> Option<Version> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Declared {
        cni_version: Option<String>,
    }
    let d: Declared = serde_json::from_slice(stdin).ok()?;
    Version::from_config(d.cni_version.as_deref()).ok()
}

/// VERSION: the versions we speak, answered in the version asked (the newest when the
/// request names none we know). The configuration need not be complete.
fn version_answer(stdin: &[u8]) -> Result<Value, CniError> {
    let asked = if stdin.iter().all(u8::is_ascii_whitespace) {
        Version::CURRENT
    } else {
        let v: Value = serde_json::from_slice(stdin).map_err(|e| {
            CniError::decode(
                format!("the VERSION request on stdin is not JSON: {e}"),
                "send {\"cniVersion\": \"1.1.0\"}",
            )
        })?;
        match v.get("cniVersion").and_then(Value::as_str) {
            Some(s) => Version::from_config(Some(s)).unwrap_or(Version::CURRENT),
            None => Version::CURRENT,
        }
    };
    Ok(serde_json::json!({"cniVersion": asked.as_str(), "supportedVersions": version::supported()}))
}

fn check_name(conf: &NetConf) -> Result<(), CniError> {
    match conf.name.as_deref() {
        None | Some("") => Err(CniError::invalid_config(
            "missing network name",
            "the network configuration needs a \"name\", such as \"weave\"",
        )),
        Some(n) if !env::valid_name(n) => Err(CniError::invalid_config(
            format!("invalid characters in network name {n:?}"),
            "a network name starts with a letter or digit and continues with letters, digits, '_', '.' or '-'",
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
