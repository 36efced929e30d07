//! `weave top`: the live dashboard (weave-tui). It starts even while no daemon answers and
//! waits for one; `q` quits with status 0.

use crate::output::{CmdResult, Failure};
use weave_api::Client;

pub fn exec(client: &Client) -> CmdResult {
    weave_tui::run(client.addr()).map_err(|e| Failure::new(format!("top: {e}")))
}
