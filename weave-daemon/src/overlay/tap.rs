//! The bridge's local port for sleeve: a TAP device enslaved to `weave`. Frames the bridge sends
//! to it are captured; frames written to it enter the bridge.

use super::sleeve::datapath::LocalPort;
use std::io;
use weave_netdev::tap::{Tap, TapOptions};

/// Name of the TAP port (`vethwe*`, so `weave reset` finds it with Weave's other devices).
pub const TAP_NAME: &str = "vethwe-tap";

pub struct TapPort(Tap);

impl TapPort {
    pub fn create() -> Result<TapPort, weave_netdev::NetdevError> {
        let tap = Tap::create(TAP_NAME, TapOptions { vnet_hdr: false, multi_queue: false })?;
        tap.set_nonblocking(true)?;
        Ok(TapPort(tap))
    }
}

impl LocalPort for TapPort {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn write(&self, frame: &[u8]) -> io::Result<usize> {
        // The fd is non-blocking for the reader; a full TAP queue drops the frame, as a
        // congested switch port would.
        self.0.write(frame)
    }

    fn wait_readable(&self) -> io::Result<()> {
        self.0.wait_readable(None).map(|_| ())
    }
}
