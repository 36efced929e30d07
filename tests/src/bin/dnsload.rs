//! A DNS load generator for `bench/dns.sh`: CONCURRENCY clients, each with its own UDP socket,
//! send A queries for NAME one after another (the next as soon as the answer arrives) for
//! SECONDS, then it prints the rate and latency percentiles of answered queries:
//!
//! `dnsload SERVER:PORT NAME CONCURRENCY SECONDS [nxdomain]` →
//! `answered=N qps=R p50_us=A p99_us=B lost=L`
//!
//! A query unanswered within 1 s counts as lost (the client then moves on), as does a reply
//! other than the one expected: NOERROR with an answer, or with `nxdomain` NXDOMAIN without.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// One client: (latencies in µs of answered queries, lost queries).
fn client(server: SocketAddr, name: &str, seed: u16, until: Instant, nxdomain: bool) -> (Vec<u32>, u64) {
    let sock = UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
    sock.connect(server).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    let (mut lat, mut lost) = (Vec::new(), 0u64);
    let mut buf = [0u8; 4096];
    let mut id = seed.wrapping_mul(7919);
    while Instant::now() < until {
        id = id.wrapping_add(1);
        let start = Instant::now();
        if sock.send(&query(id, name)).is_err() {
            lost += 1;
            continue;
        }
        loop {
            match sock.recv(&mut buf) {
                // The reply to this query: NOERROR with at least one answer, or NXDOMAIN.
                Ok(n) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                    let answers = u16::from_be_bytes([buf[6], buf[7]]);
                    let ok = match nxdomain {
                        false => buf[3] & 0x0f == 0 && answers > 0,
                        true => buf[3] & 0x0f == 3 && answers == 0,
                    };
                    if ok {
                        lat.push(start.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    } else {
                        lost += 1;
                    }
                    break;
                }
                Ok(_) => continue,
                Err(_) => {
                    lost += 1;
                    break;
                }
            }
        }
    }
    (lat, lost)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: dnsload SERVER:PORT NAME CONCURRENCY SECONDS [nxdomain]");
        std::process::exit(2)
    };
    let server: SocketAddr = args.get(1).and_then(|a| a.parse().ok()).unwrap_or_else(|| usage());
    let name = args.get(2).cloned().unwrap_or_else(|| usage());
    let conc: u16 = args.get(3).and_then(|a| a.parse().ok()).filter(|c| *c > 0).unwrap_or_else(|| usage());
    let secs: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or_else(|| usage());
    let nxdomain = match args.get(5).map(String::as_str) {
        None => false,
        Some("nxdomain") => true,
        Some(_) => usage(),
    };
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let results: Vec<(Vec<u32>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conc)
            .map(|i| {
                let name = &name;
                s.spawn(move || client(server, name, i, until, nxdomain))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let lost: u64 = results.iter().map(|r| r.1).sum();
    let mut lat: Vec<u32> = results.into_iter().flat_map(|r| r.0).collect();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0)
    };
    println!(
        "answered={} qps={:.0} p50_us={} p99_us={} lost={lost}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99)
    );
}
