//! `weave stop`: ask the daemon to stop and wait until it has.

use crate::output::{CmdResult, Failure};
use std::time::{Duration, Instant};
use weave_api::{Client, ClientError};

pub async fn exec(client: &Client) -> CmdResult {
    match client.shutdown().await {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("WARNING: {w}");
            }
        }
        // Stopping a stopped daemon leaves the wanted state: say so, and succeed.
        Err(ClientError::Unreachable { addr }) => {
            eprintln!("weave: no weave daemon answers at {addr}: nothing to stop");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Err(ClientError::Unreachable { .. }) = client.status().await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Failure::new(format!("the daemon at {} did not stop within 30s", client.addr())))
}
