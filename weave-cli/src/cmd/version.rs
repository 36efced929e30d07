//! `weave version`: this command's version and the daemon's.

use crate::cli::Output;
use crate::output::{json, CmdResult};
use weave_api::{Client, ClientError};

pub async fn exec(client: &Client, output: Output) -> CmdResult {
    let cli = env!("CARGO_PKG_VERSION");
    let daemon = match client.version().await {
        Ok(v) => Some(v),
        Err(ClientError::Unreachable { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if output == Output::Json {
        println!("{}", json(&serde_json::json!({ "cli": cli, "daemon": daemon })));
        return Ok(());
    }
    println!("weave {cli}");
    match daemon {
        Some(v) => println!(
            "weave-daemon {} (protocol {} {}..{})",
            v.version, v.protocol, v.protocol_min_version, v.protocol_max_version
        ),
        None => {
            println!("weave-daemon: no daemon answers at {}: start one with `weave launch`", client.addr())
        }
    }
    Ok(())
}
