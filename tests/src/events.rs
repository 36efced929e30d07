//! A host's event stream, as a test reads it.

use crate::{Background, Host};

impl Host {
    /// `GET /api/v1/events` of this host, read line by line with `wait_line` (curl's `-m 60`
    /// bounds every wait). Returns once subscribed: the first line (traffic counters, sent at
    /// once) has arrived, so no change made afterwards can be missed.
    pub fn events(&self) -> Background {
        let url = "http://127.0.0.1:6784/api/v1/events";
        let mut stream = Background::spawn(&self.ns, "curl", &["-sN", "-m", "60", url]);
        stream.wait_line("");
        stream
    }
}
