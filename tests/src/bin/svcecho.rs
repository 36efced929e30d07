//! A tiny service and its client for the services tests (run inside test namespaces):
//!
//! - `svcecho serve tcp|udp PORT TAG` answers every connection (or datagram) with
//!   `TAG <the client's address:port>` and prints `listening` once bound.
//! - `svcecho ask tcp|udp ADDR:PORT [TIMEOUT_S]` prints the answer; exits 1 without one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

fn fail(m: &str) -> ! {
    eprintln!("svcecho: {m}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_else(|| fail("usage: see the source"));
    match (arg(1), arg(2)) {
        ("serve", proto) => {
            let port: u16 = arg(3).parse().unwrap_or_else(|_| fail("PORT"));
            let tag = arg(4).to_string();
            let at = SocketAddr::from(([0, 0, 0, 0], port));
            if proto == "tcp" {
                let l = TcpListener::bind(at).unwrap_or_else(|e| fail(&format!("bind {at}: {e}")));
                println!("listening");
                for mut c in l.incoming().flatten() {
                    let peer = c.peer_addr().map(|p| p.to_string()).unwrap_or_default();
                    let _ = c.write_all(format!("{tag} {peer}\n").as_bytes());
                }
            } else {
                let s = UdpSocket::bind(at).unwrap_or_else(|e| fail(&format!("bind {at}: {e}")));
                println!("listening");
                let mut buf = [0u8; 1500];
                while let Ok((_, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(format!("{tag} {from}\n").as_bytes(), from);
                }
            }
        }
        ("ask", proto) => {
            let to: SocketAddr = arg(3).parse().unwrap_or_else(|_| fail("ADDR:PORT"));
            let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(2);
            let t = Duration::from_secs(secs);
            let answer = if proto == "tcp" {
                let mut c = TcpStream::connect_timeout(&to, t)
                    .unwrap_or_else(|e| fail(&format!("connect {to}: {e}")));
                c.set_read_timeout(Some(t)).ok();
                let mut s = String::new();
                c.read_to_string(&mut s).unwrap_or_else(|e| fail(&format!("read from {to}: {e}")));
                s
            } else {
                let s = UdpSocket::bind("0.0.0.0:0").unwrap_or_else(|e| fail(&format!("bind: {e}")));
                s.set_read_timeout(Some(t)).ok();
                s.send_to(b"hi", to).unwrap_or_else(|e| fail(&format!("send to {to}: {e}")));
                let mut buf = [0u8; 1500];
                let (n, _) =
                    s.recv_from(&mut buf).unwrap_or_else(|e| fail(&format!("no answer from {to}: {e}")));
                String::from_utf8_lossy(&buf[..n]).into_owned()
            };
            if answer.is_empty() {
                fail(&format!("{to} closed without answering"));
            }
            print!("{answer}");
        }
        _ => fail("serve or ask"),
    }
}
