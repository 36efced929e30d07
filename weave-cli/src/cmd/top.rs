//! `weave top`: the live dashboard (weave-tui).

use crate::output::{CmdResult, Failure};
use weave_api::Client;

pub fn exec(client: &Client) -> CmdResult {
    weave_tui::run(client.addr()).map_err(|e| Failure::new(format!("weave top: {e}")))
}
