//! The sleeve's UDP side: two sockets share UDP `--port` (SO_REUSEPORT), one sending with the
//! kernel allowed to fragment, one with DF set, as Weave's two send paths. Both receive; the
//! kernel spreads peers across them, so each gets a reader thread. The batched I/O is
//! `weave_netdev::udp`'s.

use std::net::{SocketAddrV4, UdpSocket};
use weave_netdev::udp::{self, is_too_big};
use weave_overlay::sleeve::port::{OnError, SendError, Underlay};

/// The sleeve's socket pair on one address.
pub struct Sockets {
    pub nodf: UdpSocket,
    pub df: UdpSocket,
}

impl Sockets {
    pub fn bind(addr: SocketAddrV4) -> Result<Sockets, weave_netdev::NetdevError> {
        Ok(Sockets { nodf: udp::bind(addr, false)?, df: udp::bind(addr, true)? })
    }

    pub fn get(&self, df: bool) -> &UdpSocket {
        if df {
            &self.df
        } else {
            &self.nodf
        }
    }
}

fn classify<'e>(e: &'e std::io::Error) -> SendError<'e> {
    if is_too_big(e) {
        SendError::TooBig
    } else {
        SendError::Other(e)
    }
}

impl Underlay for Sockets {
    fn send(&self, df: bool, msgs: &[(SocketAddrV4, &[u8])], on_error: &mut OnError<'_>) {
        udp::send_batch(self.get(df), msgs, &mut |i, e| on_error(i, classify(e)));
    }

    fn send_gathered<'p>(
        &self,
        dst: SocketAddrV4,
        heads: &[u8],
        n: usize,
        payload: &dyn Fn(usize) -> &'p [u8],
        on_error: &mut OnError<'_>,
    ) {
        udp::send_gathered(&self.df, dst, heads, n, payload, &mut |i, e| on_error(i, classify(e)));
    }
}
