//! The API as its typed client sees it, over a real socket: two test daemons whose meshes
//! connect over loopback, and `weave_api::Client` reading the connection (with the kernel's RTT
//! of its TCP socket) and following the typed events stream.

use super::testkit::{self, With};
use std::time::Duration;
use weave_api::{Client, StreamEvent, StreamItem, TrafficEvent};

/// Serves `t`'s API on a loopback port until it shuts down; returns the address.
async fn serve(t: &testkit::TestDaemon) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(super::serve(listener, t.daemon.clone()));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sees_a_connections_rtt_and_its_events_2() {
    let a = testkit::daemon("client-a", &[], With::Nothing).await;
    let client = Client::new(&serve(&a).await);
    let mut events = client.events().await.expect("the events stream opens");
    let a_mesh = a.daemon.mesh.listen_addr().to_string();
    let b = testkit::daemon_as("client-b", ("02:00:00:00:00:0b", "hostB"), &[&a_mesh], With::Nothing).await;

    // The connection from B, established, with the kernel's RTT of its socket.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let conn = loop {
        let conns = client.connections().await.expect("GET /api/v1/connections");
        let found = conns.into_iter().find(|c| c.peer.as_deref() == Some("02:00:00:00:00:0b"));
        match found {
            Some(c) if c.state == "established" && c.rtt_us.is_some() => break c,
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no established connection with an RTT: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let rtt = conn.rtt_us.unwrap();
    assert!(rtt > 0 && rtt < 1_000_000, "a loopback RTT in microseconds: {rtt}");

    // The stream says so in typed events: the connection, then its counters once a second.
    let (mut established, mut traffic) = (false, false);
    while !(established && traffic) {
        let item = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("events within 20 s")
            .expect("the stream stays up")
            .expect("the stream does not end");
        match item {
            StreamItem::Event(StreamEvent::Change(weave_api::Event::ConnectionEstablished {
                peer, ..
            })) => established |= peer == "02:00:00:00:00:0b",
            StreamItem::Event(StreamEvent::Traffic(TrafficEvent::Traffic { connections, .. })) => {
                traffic |= connections.iter().any(|c| c.peer == "02:00:00:00:00:0b")
            }
            _ => {}
        }
    }
    drop(b);
}

#[tokio::test]
async fn following_events_where_no_daemon_answers_says_so() {
    // A port nothing listens on: bound, then closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    match Client::new(&addr).events().await {
        Err(weave_api::ClientError::Unreachable { addr: a }) => assert_eq!(a, addr),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a stream from nowhere"),
    }
}

/// Polls `check` with what the client reads until it gives a value; fails after 20 s with the
/// last thing it saw.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(t) => return t,
            Err(last) => {
                assert!(tokio::time::Instant::now() < deadline, "{what}: {last}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_carry_whole_paths_and_a_failing_target_names_its_peer_3() {
    // A - B - C in a line (no discovery): A reaches C through B.
    let (a_name, b_name, c_name) = ("02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c");
    let b = testkit::daemon_as("paths-b", (b_name, "hostB"), &["--no-discovery"], With::Nothing).await;
    let b_mesh = b.daemon.mesh.listen_addr().to_string();
    let a =
        testkit::daemon_as("paths-a", (a_name, "hostA"), &["--no-discovery", &b_mesh], With::Nothing).await;
    let _c =
        testkit::daemon_as("paths-c", (c_name, "hostC"), &["--no-discovery", &b_mesh], With::Nothing).await;
    let client = Client::new(&serve(&a).await);
    let hop = eventually("A's route to C through B", || async {
        let routes = client.routes().await.map_err(|e| e.to_string())?;
        let hop = routes.unicast.into_iter().find(|u| u.dest == c_name);
        match hop {
            Some(h) if !h.path.is_empty() => Ok(h),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!((hop.via.as_str(), hop.path.clone()), (b_name, vec![b_name.to_string(), c_name.to_string()]));
    let routes = client.routes().await.unwrap();
    let to_b = routes.unicast.iter().find(|u| u.dest == b_name).expect("a route to B");
    assert_eq!(to_b.path, [b_name], "a neighbour is one hop");
    let to_a = routes.unicast.iter().find(|u| u.dest == a_name).expect("A's own entry");
    assert!(to_a.path.is_empty(), "no path to ourselves: {to_a:?}");
    // While connected, the connection names its peer; no target is pending.
    let conns = client.connections().await.unwrap();
    assert!(conns.iter().all(|c| c.expected_peer.is_none()), "{conns:?}");

    // B goes away: A's target at B's address keeps saying it is B.
    drop(b);
    let target = eventually("A's target for B, down", || async {
        let conns = client.connections().await.map_err(|e| e.to_string())?;
        let t = conns.into_iter().find(|c| c.address == b_mesh && c.state != "established");
        t.ok_or_else(|| "still established".to_string())
    })
    .await;
    assert_eq!(target.peer, None, "no handshake told us: {target:?}");
    assert_eq!(target.expected_peer.as_deref(), Some(b_name), "{target:?}");
}
