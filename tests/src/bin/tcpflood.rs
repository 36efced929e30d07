//! A pre-handshake flood for the mesh tests: from each SOURCE address it keeps PER_SOURCE
//! connections to TARGET open at all times, reconnecting as soon as one is closed. Half of
//! them send nothing; the other half drip a valid Weave protocol header, intro and the length of
//! a features frame, four bytes a second, then the frame's bytes at that pace, never finishing
//! the handshake. Runs until killed, printing a line every second:
//!
//! `tcpflood TARGET:PORT PER_SOURCE SOURCE...` → `open=N connects=C closed=D`
//!
//! Sockets are non-blocking and polled from one thread, so thousands cost nothing here.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Weave's protocol header for versions 1-2, the unencrypted intro and a 200-byte features
/// frame's length: what an honest peer sends first. Zeros follow.
const HEADER: &[u8] = b"weave\x01\x02\x00\x00\x00\x00\xc8";
const DRIP_EVERY: Duration = Duration::from_millis(250);

struct Conn {
    source: IpAddr,
    sock: Option<Socket>,
    drip: bool,
    sent: usize,
    next_drip: Instant,
}

fn open(source: IpAddr, target: SocketAddr) -> Option<Socket> {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).ok()?;
    sock.set_nonblocking(true).ok()?;
    sock.bind(&SockAddr::from(SocketAddr::new(source, 0))).ok()?;
    match sock.connect(&SockAddr::from(target)) {
        Ok(()) => Some(sock),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Some(sock),
        Err(_) => None,
    }
}

/// Whether the connection is still open: reads (and discards) what the target sent.
fn alive(sock: &mut Socket) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            // Still connecting.
            Err(e) if e.kind() == ErrorKind::NotConnected => return true,
            Err(_) => return false,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: tcpflood TARGET:PORT PER_SOURCE SOURCE...");
        std::process::exit(2);
    }
    let target: SocketAddr = args[0].parse().expect("TARGET:PORT");
    let per_source: usize = args[1].parse().expect("PER_SOURCE");
    let sources: Vec<IpAddr> = args[2..].iter().map(|s| s.parse().expect("SOURCE address")).collect();
    let now = Instant::now();
    let mut conns: Vec<Conn> = sources
        .iter()
        .flat_map(|&source| {
            (0..per_source).map(move |i| Conn {
                source,
                sock: None,
                drip: i % 2 == 1,
                sent: 0,
                next_drip: now,
            })
        })
        .collect();
    let (mut connects, mut closed) = (0u64, 0u64);
    let mut report = Instant::now() + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        for c in &mut conns {
            let is_open = c.sock.as_mut().map(alive);
            match (is_open, &mut c.sock) {
                (Some(true), Some(sock)) if c.drip && now >= c.next_drip => {
                    let byte = HEADER.get(c.sent).copied().unwrap_or(0);
                    if sock.write(&[byte]).is_ok() {
                        c.sent += 1;
                    }
                    c.next_drip = now + DRIP_EVERY;
                }
                (Some(false), _) => {
                    closed += 1;
                    c.sock = None;
                }
                _ => {}
            }
            if c.sock.is_none() {
                c.sock = open(c.source, target);
                c.sent = 0;
                c.next_drip = now;
                connects += 1;
            }
        }
        if now >= report {
            let open = conns.iter().filter(|c| c.sock.is_some()).count();
            println!("open={open} connects={connects} closed={closed}");
            report = now + Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
