//! The router over loopback, its peers played by the test with the real handshake and codec.

use super::handshake::{self, Established};
use super::router::{self, MeshHandle, RouterConfig};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use weave_mesh::{MeshConfig, MeshEvent, TOPOLOGY};
use weave_wire::protocol::{Features, GossipMsg, Message};
use weave_wire::topology::{encode_topology, ConnectionSummary, PeerSummary, PeerUpdate};
use weave_wire::PeerName;

const A: PeerName = PeerName(0x02_00_00_00_00_0a);
const HOSTILE: PeerName = PeerName(0x02_00_00_00_00_0b);
const HONEST: PeerName = PeerName(0x02_00_00_00_00_0c);
/// Known only through the honest peer's topology update.
const BEYOND: PeerName = PeerName(0x02_00_00_00_00_0d);

/// A router for peer A on loopback, without overlay or channels.
async fn router_a(stop: &CancellationToken) -> MeshHandle {
    let mesh = MeshConfig {
        name: A,
        nickname: "a".into(),
        uid: 1,
        short_id: 1,
        port: 0,
        conn_limit: 0,
        discovery: false,
        gossip_interval: Duration::from_secs(30),
        external_overlay: false,
    };
    let cfg = RouterConfig {
        mesh,
        host: Some([127, 0, 0, 1].into()),
        password: None,
        trusted_subnets: vec![],
        sleeve_offer: None,
        sleeve: None,
        fastdp: None,
    };
    router::start(cfg, vec![], vec![], |_| {}, stop.clone()).await.unwrap()
}

/// Dials `addr` as peer `name` and completes the handshake.
async fn peer(addr: SocketAddr, name: PeerName) -> (TcpStream, Established) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let ours = Features {
        name,
        nick_name: format!("p{}", name.0 & 0xff),
        short_id: Some((name.0 & 0xfff) as u16),
        uid: name.0,
        conn_id: name.0 * 7,
        trusted: false,
        overlays: None,
        fastdp_heartbeat_ms: None,
        sleeve_ciphers: None,
    };
    let est = handshake::handshake(&mut stream, &ours, None, true).await.unwrap();
    (stream, est)
}

fn summary(name: PeerName, version: u64, has_short_id: bool, conns: &[PeerName]) -> PeerUpdate {
    let peer = PeerSummary {
        name_byte: name.bytes().to_vec(),
        nick_name: format!("p{}", name.0 & 0xff),
        uid: name.0,
        version,
        short_id: (name.0 & 0xfff) as u16,
        has_short_id,
    };
    let conns = conns
        .iter()
        .map(|c| ConnectionSummary {
            name_byte: c.bytes().as_slice().into(),
            remote_tcp_addr: "127.0.0.1:6783".into(),
            outbound: true,
            established: true,
        })
        .collect();
    (peer, conns)
}

/// The framed topology gossip message carrying `payload`.
fn topology_frame(est: &mut Established, src: PeerName, payload: Vec<u8>) -> Vec<u8> {
    let body = Message::Gossip(GossipMsg { channel: TOPOLOGY.into(), src, payload }).encode();
    let mut frame = Vec::new();
    est.sealer.frame(&body, &mut frame);
    frame
}

/// Waits (at most a minute) for an event matching `want`.
async fn wait_event(
    events: &mut broadcast::Receiver<MeshEvent>,
    what: &str,
    want: impl Fn(&MeshEvent) -> bool,
) {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await {
                Ok(e) if want(&e) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the mesh stopped"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no {what} within a minute");
}

/// One peer streams topology gossip that costs the most to decode per byte and changes
/// nothing (its own summary, older than what A holds, repeated to 4 MiB a message); another
/// peer's update is applied while that stream is still being read, because decoding happens
/// on each connection's task and the hostile one is held back by its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_streaming_costly_gossip_does_not_hold_up_another() {
    let stop = CancellationToken::new();
    let a = router_a(&stop).await;
    let mut events = a.events();

    let (mut hostile, mut hostile_est) = peer(a.listen_addr(), HOSTILE).await;
    wait_event(
        &mut events,
        "connection from the hostile peer",
        |e| matches!(e, MeshEvent::ConnectionAdded { peer, .. } if *peer == HOSTILE),
    )
    .await;
    let useless = summary(HOSTILE, 0, false, &[]);
    let one = encode_topology(std::slice::from_ref(&useless)).len();
    let payload = encode_topology(&vec![useless; 4 * 1024 * 1024 / one]);
    let frame = topology_frame(&mut hostile_est, HOSTILE, payload);
    const MESSAGES: usize = 16;
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    let flood = tokio::spawn(async move {
        for _ in 0..MESSAGES {
            hostile.write_all(&frame).await.unwrap();
            w.fetch_add(1, Ordering::SeqCst);
        }
        hostile
    });
    // The stream has started: the first message is in.
    while written.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let (mut honest, mut honest_est) = peer(a.listen_addr(), HONEST).await;
    let update = encode_topology(&[summary(HONEST, 1, true, &[BEYOND]), summary(BEYOND, 1, true, &[HONEST])]);
    honest.write_all(&topology_frame(&mut honest_est, HONEST, update)).await.unwrap();
    wait_event(
        &mut events,
        "the honest peer's update",
        |e| matches!(e, MeshEvent::PeerAdded { name, .. } if *name == BEYOND),
    )
    .await;
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < MESSAGES,
        "the honest update was applied only after the whole hostile stream had been taken in ({sent} messages)"
    );
    // The hostile stream was valid: its connection is still up (the status follows events
    // within the mesh loop's snapshot spacing).
    let up = |c: &weave_api::LocalConnectionStatus| {
        c.state == "established" && c.info.contains(&HOSTILE.to_string())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !a.snapshot().connections().iter().any(up) {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", a.snapshot().connections());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    flood.abort();
}
