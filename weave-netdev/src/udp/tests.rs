use super::*;
use std::time::Duration;

fn loopback(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), port)
}

/// A reuseport pair on loopback (as the sleeve binds), non-blocking for the tests.
fn pair() -> (UdpSocket, UdpSocket, SocketAddrV4) {
    let a = bind(loopback(0), false).unwrap();
    let port = a.local_addr().unwrap().port();
    let b = bind(loopback(port), true).unwrap();
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    }
    (a, b, loopback(port))
}

/// Everything that arrives on either socket within a few rounds, GRO runs split.
fn drain(socks: [&UdpSocket; 2], want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch = RecvBatch::new(16, 65536);
    for _ in 0..20 {
        for s in socks {
            if batch.recv(s).is_ok() {
                let (buf, datagrams) = batch.parts();
                for d in datagrams {
                    let whole = &buf[d.offset..d.offset + d.len];
                    if d.seg == 0 {
                        got.push(whole.to_vec());
                    } else {
                        got.extend(whole.chunks(d.seg).map(|c| c.to_vec()));
                    }
                }
            }
        }
        if got.len() >= want {
            break;
        }
    }
    got
}

#[test]
fn a_batch_goes_out_and_comes_back_on_loopback() {
    let (rx_a, rx_b, dst) = pair();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    // Runs of equal sizes (GSO sends) and odd ones, more than one sendmmsg's worth.
    let payloads: Vec<Vec<u8>> = (0..150u32).map(|i| vec![i as u8; 100 + (i as usize / 10) * 7]).collect();
    let msgs: Vec<(SocketAddrV4, &[u8])> = payloads.iter().map(|p| (dst, p.as_slice())).collect();
    send_batch(&tx, &msgs, &mut |i, e| panic!("message {i}: {e}"));
    let mut got = drain([&rx_a, &rx_b], payloads.len());
    got.sort();
    let mut want = payloads.clone();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn gathered_datagrams_are_headers_followed_by_payloads_left_in_place() {
    let (rx_a, rx_b, dst) = pair();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = 100;
    let heads: Vec<u8> = (0..n).flat_map(|i| [i as u8; 4]).collect();
    let data: Vec<u8> = (0..n * 50 - 20).map(|i| (i % 251) as u8).collect();
    let payload = |i: usize| &data[i * 50..((i + 1) * 50).min(data.len())];
    send_gathered(&tx, dst, &heads, n, &payload, &mut |i, e| panic!("datagram {i}: {e}"));
    let mut got = drain([&rx_a, &rx_b], n);
    got.sort();
    let mut want: Vec<Vec<u8>> = (0..n).map(|i| [&heads[i * 4..i * 4 + 4], payload(i)].concat()).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn oversized_df_sends_are_reported_as_too_big_and_the_others_still_go() {
    let (rx_a, rx_b, dst) = pair();
    let big = vec![0u8; 65535 - 28 + 1];
    let small = vec![1u8; 10];
    let mut errs = vec![];
    send_batch(&rx_b, &[(dst, &small), (dst, &big), (dst, &small)], &mut |i, e| {
        errs.push((i, is_too_big(e)))
    });
    assert_eq!(errs, vec![(1, true)]);
    assert_eq!(drain([&rx_a, &rx_b], 2).len(), 2);
    // Loopback's MTU (65536; 65535 once a PMTU entry is cached).
    assert!(path_mtu(SocketAddr::V4(dst)).unwrap() >= 65535);
}

#[test]
fn binding_a_taken_port_outside_the_group_names_the_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let e = bind(loopback(port), false).unwrap_err().to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}")) && e.contains("bind"), "{e}");
}
