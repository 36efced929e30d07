//! nftables, through the `nft` tool: applying rule scripts and reading chains back as JSON.

use crate::NetdevError;
use std::io::Write;
use std::process::{Command, Stdio};

fn err(op: &str, detail: impl std::fmt::Display) -> NetdevError {
    NetdevError::new(op, std::io::Error::other(detail.to_string()))
}

/// Applies an `nft -f` script atomically.
pub fn apply(script: &str) -> Result<(), NetdevError> {
    feed("apply nftables rules", &["-f", "-"], script)
}

/// Runs `nft ARGS` with `input` on stdin; a failure carries nft's own message.
fn feed(op: &str, args: &[&str], input: &str) -> Result<(), NetdevError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(op, format!("run nft: {e} (install the nftables package)")))?;
    child.stdin.take().expect("piped").write_all(input.as_bytes()).map_err(|e| err(op, e))?;
    let out = child.wait_with_output().map_err(|e| err(op, e))?;
    if !out.status.success() {
        return Err(err(op, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

/// Runs one `nft` command line.
pub fn run(args: &[&str]) -> Result<String, NetdevError> {
    let op = format!("nft {}", args.join(" "));
    let out = Command::new("nft").args(args).output().map_err(|e| err(&op, format!("run nft: {e}")))?;
    if !out.status.success() {
        return Err(err(&op, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A chain and its rules as `nft -j` shows them; `None` when the chain does not exist.
pub fn chain(family: &str, table: &str, chain: &str) -> Result<Option<serde_json::Value>, NetdevError> {
    let out = Command::new("nft")
        .args(["-j", "list", "chain", family, table, chain])
        .output()
        .map_err(|e| err("nft list chain", format!("run nft: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout).map(Some).map_err(|e| err("parse nft JSON", e))
}

/// Applies a batch of typed nftables commands (the `nftables` crate's JSON schema) in one
/// `nft -j -f -` run: one kernel transaction, so on any error nothing of it applies and the
/// rules in force stay as they were.
pub fn apply_batch(batch: &nftables::schema::Nftables) -> Result<(), NetdevError> {
    let op = "apply nftables batch";
    let mut json = serde_json::to_value(batch).map_err(|e| err(op, e))?;
    fix_unit_statements(&mut json);
    // Our own run rather than the crate's helper: its error drops nft's message.
    feed(op, &["-j", "-f", "-"], &json.to_string())
}

/// `nftables` 0.6 serialises the statement `notrack` as a bare string, which nft refuses
/// ("expected object"); nft reads it as `{"notrack": null}`.
fn fix_unit_statements(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Array(items) => {
            for item in items {
                if item.as_str() == Some("notrack") {
                    *item = serde_json::json!({ "notrack": null });
                } else {
                    fix_unit_statements(item);
                }
            }
        }
        serde_json::Value::Object(map) => map.values_mut().for_each(fix_unit_statements),
        _ => {}
    }
}

/// A named counter's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterValue {
    pub name: String,
    pub packets: u64,
    pub bytes: u64,
}

/// The named counters of a table; empty when the table does not exist. (Read as plain JSON:
/// the `nftables` crate types counter values as `u32`, which a busy counter outgrows.)
pub fn counters(family: &str, table: &str) -> Result<Vec<CounterValue>, NetdevError> {
    let out = Command::new("nft")
        .args(["-j", "list", "counters", "table", family, table])
        .output()
        .map_err(|e| err("nft list counters", format!("run nft: {e}")))?;
    if !out.status.success() {
        return Ok(vec![]);
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| err("parse nft JSON", e))?;
    Ok(v["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            let c = o.get("counter")?;
            Some(CounterValue {
                name: c["name"].as_str()?.to_string(),
                packets: c["packets"].as_u64().unwrap_or(0),
                bytes: c["bytes"].as_u64().unwrap_or(0),
            })
        })
        .collect())
}

/// Whether a table exists.
pub fn table_exists(family: &str, table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", family, table])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    #[test]
    fn notrack_becomes_the_object_nft_reads() {
        let mut v = serde_json::json!({"nftables": [{"add": {"rule": {"expr": [{"match": {}}, "notrack"], "comment": "notrack"}}}]});
        super::fix_unit_statements(&mut v);
        assert_eq!(v["nftables"][0]["add"]["rule"]["expr"][1], serde_json::json!({"notrack": null}));
        assert_eq!(v["nftables"][0]["add"]["rule"]["comment"], "notrack", "only statements change");
    }
}
