//! A small UDP tool for the end-to-end tests (run inside test namespaces):
//!
//! - `udpcat listen ADDR:PORT [GROUP] COUNT TIMEOUT_S` prints each datagram received (one line
//!   each, lossy UTF-8), joining multicast GROUP first if given; exits 1 on timeout.
//! - `udpcat send ADDR:PORT TEXT` sends one datagram of TEXT.
//! - `udpcat sendhex ADDR:PORT HEX [SRC_PORT]` sends one datagram of the given bytes.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fail = |m: &str| -> ! {
        eprintln!("udpcat: {m}");
        std::process::exit(2)
    };
    match args.get(1).map(String::as_str) {
        Some("listen") => {
            let addr: SocketAddrV4 =
                args.get(2).and_then(|a| a.parse().ok()).unwrap_or_else(|| fail("listen ADDR:PORT"));
            let (group, rest) = match args.get(3).and_then(|g| g.parse::<Ipv4Addr>().ok()) {
                Some(g) if g.is_multicast() => (Some(g), &args[4..]),
                _ => (None, &args[3..]),
            };
            let count: usize = rest.first().and_then(|c| c.parse().ok()).unwrap_or(1);
            let timeout: u64 = rest.get(1).and_then(|c| c.parse().ok()).unwrap_or(10);
            let s = UdpSocket::bind(addr).unwrap_or_else(|e| fail(&format!("bind {addr}: {e}")));
            if let Some(g) = group {
                s.join_multicast_v4(&g, &Ipv4Addr::UNSPECIFIED)
                    .unwrap_or_else(|e| fail(&format!("join {g}: {e}")));
            }
            // Ready: the test waits for this line before sending.
            println!("listening");
            let deadline = Instant::now() + Duration::from_secs(timeout);
            let mut buf = [0u8; 65536];
            for _ in 0..count {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    std::process::exit(1);
                }
                s.set_read_timeout(Some(left)).expect("timeout");
                match s.recv_from(&mut buf) {
                    Ok((n, from)) => println!("{from} {}", String::from_utf8_lossy(&buf[..n])),
                    Err(_) => std::process::exit(1),
                }
            }
        }
        Some(cmd @ ("send" | "sendhex")) => {
            let addr: SocketAddrV4 =
                args.get(2).and_then(|a| a.parse().ok()).unwrap_or_else(|| fail("send ADDR:PORT"));
            let payload: Vec<u8> = match (cmd, args.get(3)) {
                ("send", Some(t)) => t.as_bytes().to_vec(),
                ("sendhex", Some(h)) => (0..h.len() / 2)
                    .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or_else(|_| fail("bad hex")))
                    .collect(),
                _ => fail("send ADDR:PORT PAYLOAD"),
            };
            let src: u16 = args.get(4).and_then(|p| p.parse().ok()).unwrap_or(0);
            let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, src))
                .unwrap_or_else(|e| fail(&e.to_string()));
            let _ = s.set_multicast_ttl_v4(4);
            s.send_to(&payload, addr).unwrap_or_else(|e| fail(&format!("send to {addr}: {e}")));
        }
        _ => fail("usage: udpcat listen|send|sendhex ..."),
    }
}
