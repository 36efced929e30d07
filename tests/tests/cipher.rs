//! The encrypted sleeve's cipher, negotiated per pair of peers: weave peers agree on an AEAD
//! (AES-256-GCM where the CPUs have AES instructions, else ChaCha20-Poly1305); a peer started
//! with `--sleeve-cipher nacl` stands in for a Weave Net 2.8 peer (whose features map has no
//! offer, as weave-wire's tcp_vectors show on the captured handshakes), and its pairs use
//! Weave's NaCl secretbox. Every pair carries pings and a TCP transfer, and the underlay
//! capture holds no cleartext.

use std::time::Duration;
use weave_e2e::{tcp_transfer, udp_payloads, wait_for, Background, Cluster, Host, Netns};

const CONNECT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "s3cret";

/// The AEAD two weave peers on this CPU arrive at (the negotiation prefers AES-256-GCM with
/// AES instructions and carry-less multiply).
fn expected_aead() -> &'static str {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> =
        cpuinfo.lines().find(|l| l.starts_with("flags")).unwrap_or_default().split_whitespace().collect();
    if flags.contains(&"aes") && flags.contains(&"pclmulqdq") {
        "aes-256-gcm"
    } else {
        "chacha20-poly1305"
    }
}

/// The cipher `h` reports for its established connection to `peer`.
fn cipher(h: &Host, peer: &Host) -> Result<String, String> {
    let conns = h.connections()?;
    let c = conns
        .iter()
        .find(|c| c.state == "established" && c.peer.as_deref() == Some(&peer.peer_name()))
        .ok_or_else(|| format!("no established connection to {}", peer.nickname()))?;
    if !c.encrypted {
        return Err(format!("the connection to {} is not encrypted", peer.nickname()));
    }
    c.cipher.clone().ok_or_else(|| "no cipher reported".into())
}

fn ping(from: &Netns, to: &str, pattern: &str) -> Result<(), String> {
    let out = from.exec("ping", &["-c", "1", "-W", "1", "-p", pattern, to]);
    if out.ok() {
        Ok(())
    } else {
        Err(out.stdout.lines().last().unwrap_or_default().to_string())
    }
}

/// A `weave_sleeve_bytes_total` sample of `/metrics`.
fn sleeve_bytes(h: &Host, cipher: &str, direction: &str) -> u64 {
    let (code, body) = h.http("GET", "/metrics");
    assert_eq!(code, 200, "{body}");
    let key = format!("weave_sleeve_bytes_total{{cipher=\"{cipher}\",direction=\"{direction}\"}} ");
    body.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[test]
fn weave_pairs_use_the_aead_and_a_nacl_peer_falls_back_for_its_pairs_3() {
    let c = Cluster::new(3);
    let (h1, h2, h3) = (c.host(0), c.host(1), c.host(2));
    let a1 = h1.addr.to_string();
    let a2 = h2.addr.to_string();
    let _d = [
        h1.start_daemon(&["--no-fastdp", "--password", PASSWORD]),
        h2.start_daemon(&["--no-fastdp", "--password", PASSWORD, &a1]),
        h3.start_daemon(&["--no-fastdp", "--password", PASSWORD, "--sleeve-cipher", "nacl", &a1, &a2]),
    ];
    h1.wait_established_to(&[h2, h3], CONNECT);
    h2.wait_established_to(&[h1, h3], CONNECT);
    h3.wait_established_to(&[h1, h2], CONNECT);

    // Both ends of each pair report the same cipher.
    let aead = expected_aead();
    for (x, y, want) in [(h1, h2, aead), (h1, h3, "nacl"), (h2, h3, "nacl")] {
        for (from, to) in [(x, y), (y, x)] {
            let got = wait_for("the pair's cipher", CONNECT, || cipher(from, to));
            assert_eq!(got, want, "{} -> {}", from.nickname(), to.nickname());
        }
    }
    let text = h1.weave(&["status", "connections"]).stdout;
    assert!(text.contains(&format!("cipher={aead}")), "{text}");
    assert!(text.contains("cipher=nacl"), "{text}");

    let ca = h1.container("ca", &["10.32.0.1/12"]);
    let cb = h2.container("cb", &["10.32.0.2/12"]);
    let cc = h3.container("cc", &["10.32.0.3/12"]);
    let all = [(&ca, "10.32.0.1"), (&cb, "10.32.0.2"), (&cc, "10.32.0.3")];

    // Capture the sleeve's UDP on the underlay while every pair pings with a marker pattern.
    let pcap = format!("/tmp/{}-underlay.pcap", c.underlay.name);
    let dump = Background::spawn(
        &c.underlay,
        "tcpdump",
        &["-i", "br0", "--immediate-mode", "-U", "-w", &pcap, "udp", "port", "6783"],
    );
    let marker = "5ec7e75ec7e75ec7";
    // An echo request in a sleeve packet: sender name, 24 bytes of seq and tag, frame header,
    // 98-byte frame, whichever the cipher.
    let request_len = 6 + 24 + 14 + 98;
    let hosts = [h1, h2, h3];
    wait_for("every pair's encrypted echo requests in the capture", CONNECT, || {
        for (from, _) in &all {
            for (_, to) in &all {
                ping(from, to, marker)?;
            }
        }
        let packets = udp_payloads(&std::fs::read(&pcap).unwrap_or_default());
        for x in hosts {
            for y in hosts.iter().filter(|y| y.addr != x.addr) {
                let (s, d) = (x.addr.octets(), y.addr.octets());
                if !packets.iter().any(|(ps, pd, pl)| *ps == s && *pd == d && pl.len() == request_len) {
                    return Err(format!("none yet from {} to {}", x.nickname(), y.nickname()));
                }
            }
        }
        Ok(())
    });
    dump.stop();
    let bytes = std::fs::read(&pcap).expect("capture written");
    let _ = std::fs::remove_file(&pcap);
    let pattern: Vec<u8> =
        (0..marker.len() / 2).map(|i| u8::from_str_radix(&marker[2 * i..2 * i + 2], 16).unwrap()).collect();
    let pattern = pattern.repeat(2);
    assert!(
        !bytes.windows(pattern.len()).any(|w| w == pattern.as_slice()),
        "the marker must never cross the underlay in clear"
    );

    // A TCP transfer on every pair, each way.
    for (from, _) in &all {
        for (to, addr) in &all {
            if from.name != to.name {
                tcp_transfer(from, to, addr, 2);
            }
        }
    }
    // /metrics counts the sleeve's bytes by cipher: h1 has moved traffic with both.
    for cipher in [aead, "nacl"] {
        for dir in ["tx", "rx"] {
            assert!(sleeve_bytes(h1, cipher, dir) > 2_000_000, "{cipher} {dir}");
        }
    }
}
