//! The bridge's local port for sleeve: a TAP device enslaved to `weave`, with the virtio-net
//! header and TCP segmentation offload on, so the kernel hands us (and takes from us) 64 KiB
//! TCP super-frames instead of single frames.

use std::io::{self, IoSlice};
use weave_netdev::tap::{Tap, TapOptions, TUN_F_CSUM, TUN_F_TSO4};
use weave_overlay::sleeve::port::LocalPort;
use weave_overlay::virtio::VIRTIO_NET_HDR_LEN;

/// Name of the TAP port (`vethwe*`, so `weave reset` finds it with Weave's other devices).
pub const TAP_NAME: &str = "vethwe-tap";

pub struct TapPort(Tap);

impl TapPort {
    pub fn create() -> Result<TapPort, weave_netdev::NetdevError> {
        let tap = Tap::create(TAP_NAME, TapOptions { vnet_hdr: true, multi_queue: false })?;
        tap.set_vnet_hdr_size(VIRTIO_NET_HDR_LEN as i32)?;
        tap.set_offload(TUN_F_CSUM | TUN_F_TSO4)?;
        tap.set_nonblocking(true)?;
        Ok(TapPort(tap))
    }
}

/// Non-blocking: a full TAP queue drops the frame, as a congested switch port would.
impl LocalPort for TapPort {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    fn write(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn wait_readable(&self) -> io::Result<()> {
        self.0.wait_readable(None).map(|_| ())
    }
}
