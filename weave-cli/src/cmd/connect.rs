//! `weave connect` and `weave forget`: change the connection targets.

use crate::output::{CmdResult, Failure};
use weave_api::Client;

pub async fn connect(client: &Client, peers: &[String], replace: bool) -> CmdResult {
    if peers.is_empty() && !replace {
        return Err(Failure::new(
            "connect needs at least one PEER (HOST or HOST:PORT), or --replace to clear the targets",
        ));
    }
    client.connect(peers, replace).await?;
    Ok(())
}

pub async fn forget(client: &Client, peers: &[String]) -> CmdResult {
    client.forget(peers).await?;
    Ok(())
}
