//! fastdp heartbeats, as Weave's: an Ethernet frame of 14 + MTU bytes with all-zero MACs whose
//! payload starts with the connection UID (8 bytes, big-endian) and the frame's own length (2
//! bytes). A heartbeat that arrives whole proves the VXLAN path carries full-size frames.

use std::time::Duration;

const ETH_HLEN: usize = 14;

/// Weave's timings (`router/network_router.go`), used with Weave Net peers.
pub const WEAVE_FAST: Duration = Duration::from_millis(500);
pub const WEAVE_SLOW: Duration = Duration::from_secs(10);
pub const WEAVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Our own slow interval, offered to peers in the `FastDPHeartbeat` feature. Two weave peers
/// both use the longer of their two offers, so a peer that offers a shorter one still agrees
/// with us on the interval and the timeout. Each idle connection costs a heartbeat per interval
/// each way (and an acknowledgement per `ACK_EVERY` intervals), hence not shorter.
pub const OUR_INTERVAL: Duration = Duration::from_secs(2);
/// Between weave peers, this many intervals without a heartbeat (or its acknowledgement)
/// make fastdp unhealthy: 10 s with ours, within the promised 15 s.
pub const MISSED: u32 = 5;
// The contract's 15 s, with an interval to spare for the timer and the switch.
const _: () = assert!(OUR_INTERVAL.as_millis() * (MISSED as u128 + 1) <= 15_000);

/// The length of a heartbeat on a path with overlay MTU `mtu`: a receive buffer one byte
/// longer holds every heartbeat and shows a longer frame as one.
pub fn len(mtu: u32) -> usize {
    ETH_HLEN + mtu as usize
}

/// The heartbeat for connection `uid` on a path with overlay MTU `mtu`.
pub fn frame(uid: u64, mtu: u32, buf: &mut Vec<u8>) {
    buf.clear();
    buf.resize(ETH_HLEN + mtu as usize, 0);
    let len = buf.len() as u16; // Go's uint16(len(buf)): wraps above 64 KiB, as Weave's
    buf[ETH_HLEN..ETH_HLEN + 8].copy_from_slice(&uid.to_be_bytes());
    buf[ETH_HLEN + 8..ETH_HLEN + 10].copy_from_slice(&len.to_be_bytes());
}

/// Whether `frame` is a heartbeat of connection `uid` that arrived whole.
pub fn valid(frame: &[u8], uid: u64) -> bool {
    if frame.len() < ETH_HLEN + 10 || frame[..12] != [0; 12] {
        return false;
    }
    let got_uid = u64::from_be_bytes(frame[ETH_HLEN..ETH_HLEN + 8].try_into().expect("8 bytes"));
    let got_len = u16::from_be_bytes([frame[ETH_HLEN + 8], frame[ETH_HLEN + 9]]);
    got_uid == uid && got_len == frame.len() as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weave_net_peers_keep_weaves_timings_whatever_ours_are() {
        assert_eq!(WEAVE_FAST, Duration::from_millis(500));
        assert_eq!(WEAVE_SLOW, Duration::from_secs(10));
        assert_eq!(WEAVE_TIMEOUT, Duration::from_secs(60));
    }

    #[test]
    fn layout_as_weave() {
        let mut buf = Vec::new();
        frame(0x0102_0304_0506_0708, 1376, &mut buf);
        assert_eq!(buf.len(), 1390);
        assert_eq!(&buf[..14], &[0; 14]);
        assert_eq!(&buf[14..22], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&buf[22..24], &1390u16.to_be_bytes());
        assert!(buf[24..].iter().all(|b| *b == 0));
        assert!(valid(&buf, 0x0102_0304_0506_0708));
    }

    #[test]
    fn rejects_other_connections_truncation_and_junk() {
        let mut buf = Vec::new();
        frame(42, 1376, &mut buf);
        assert!(!valid(&buf, 43), "another connection's");
        assert!(!valid(&buf[..1000], 42), "cut short by the path");
        assert!(!valid(&buf[..20], 42));
        assert!(!valid(&[], 42));
        let mut with_mac = buf.clone();
        with_mac[0] = 2;
        assert!(!valid(&with_mac, 42), "a real destination MAC");
    }
}
