//! The task of one fastdp connection: it feeds the forwarder's core
//! (`weave_overlay::fastdp::control`, which decides) with the mesh's messages, the heartbeats
//! that arrive and its timers, and does what the core asks with the peer's device (`device`)
//! and the heartbeat socket.

use super::heartbeat;
use super::Fastdp;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;
use weave_netdev::PacketSocket;
use weave_overlay::fastdp::control::{Action, Control, Params};
use weave_overlay::fastdp::spec::DeviceSpec;
use weave_overlay::forwarder::{Ctl, Up};
use weave_wire::PeerName;

/// What a fastdp connection needs to know.
#[derive(Clone, Debug)]
pub struct FwdParams {
    pub remote: PeerName,
    pub conn_uid: u64,
    /// The peer's VXLAN address.
    pub remote_addr: SocketAddrV4,
    pub local: Option<Ipv4Addr>,
    /// The connection is encrypted (password, not trusted).
    pub encrypted: bool,
    /// The peer's `FastDPHeartbeat` interval: it is a weave peer that acknowledges our
    /// heartbeats all along, not only the first.
    pub peer_interval: Option<Duration>,
}

/// The device and socket side of one fastdp connection.
struct Shell {
    fd: Arc<Fastdp>,
    p: FwdParams,
    up: mpsc::Sender<Up>,
    /// The device we hold (and have claimed).
    spec: Option<DeviceSpec>,
    sock: Option<AsyncFd<PacketSocket>>,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
}

/// Runs until the control channel closes (the connection stopped) or fastdp fails. The device
/// outlives the connection: if the peer's daemon died, its kernel still sends to us.
pub async fn run(fd: Arc<Fastdp>, p: FwdParams, mut ctl: mpsc::Receiver<Ctl>, up: mpsc::Sender<Up>) {
    let params = Params {
        remote: p.remote,
        peer_interval: p.peer_interval,
        mtu: fd.mtu,
        encrypted: p.encrypted.then(|| fd.encrypted_unavailable.clone()),
        encrypted_unavailable: fd.encrypted_unavailable.clone(),
    };
    let mut core = Control::start(Instant::now(), params);
    let mut sh = Shell { fd, p, up, spec: None, sock: None, buf: Vec::new(), rbuf: Vec::new() };
    // Sized for a heartbeat, not a jumbo frame: there is one per peer.
    sh.rbuf = vec![0; heartbeat::len(sh.fd.mtu) + 1];
    let failed = loop {
        if let Err(e) = sh.perform(&mut core).await {
            break Some(e);
        }
        let far = Instant::now() + Duration::from_secs(3600);
        let deadline = tokio::time::Instant::from_std(core.next_deadline().unwrap_or(far));
        tokio::select! {
            c = ctl.recv() => match c {
                None => break None,
                Some(Ctl::Confirm) => core.confirm(sh.current_spec()),
                Some(Ctl::Control { tag, payload }) => core.control(Instant::now(), tag, &payload),
            },
            _ = tokio::time::sleep_until(deadline) => core.tick(Instant::now(), || sh.current_spec()),
            r = readable(&sh.sock) => {
                if let Ok(mut guard) = r {
                    guard.clear_ready();
                    if sh.receive() {
                        core.heartbeat(Instant::now());
                    }
                }
            }
        }
    };
    if let Some(spec) = &sh.spec {
        sh.fd.unclaim(&spec.name(), sh.p.conn_uid);
    }
    if let Some(e) = failed {
        let _ = sh.up.send(Up::Failed(e)).await;
    }
}

async fn readable(
    sock: &Option<AsyncFd<PacketSocket>>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, PacketSocket>> {
    match sock {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

impl Shell {
    /// Does what the core asks, feeding back the answers, until it asks nothing more. An
    /// error: fastdp failed.
    async fn perform(&mut self, core: &mut Control) -> Result<(), String> {
        loop {
            let actions = core.take_actions();
            if actions.is_empty() {
                return Ok(());
            }
            for a in actions {
                match a {
                    Action::Up(u) => {
                        let _ = self.up.send(u).await;
                    }
                    Action::Open(spec) => {
                        let r = self.open(spec).await;
                        core.opened(Instant::now(), r);
                    }
                    Action::SetAttached(on) => {
                        let r = self.set_attached(on).await;
                        core.attached(on, r);
                    }
                    Action::SendHeartbeat => self.send_heartbeat(),
                    Action::CheckAttachment => {
                        let actual = self.attachment().await;
                        core.attachment(actual);
                    }
                    Action::Fail(e) => return Err(e),
                }
            }
        }
    }

    /// Our device spec from the current short ids; fails when either end has none.
    fn current_spec(&self) -> Result<DeviceSpec, String> {
        let ids = self.fd.short_ids.load();
        let our_short = *ids.get(&self.fd.us).ok_or("we have no short id yet")?;
        let peer_short = *ids.get(&self.p.remote).ok_or_else(|| {
            format!("peer {} has no short id (a Weave Net peer older than 1.9?)", self.p.remote)
        })?;
        Ok(DeviceSpec {
            peer: self.p.remote,
            peer_short,
            our_short,
            remote: self.p.remote_addr,
            local: self.p.local,
            listen_port: self.fd.listen_port,
            mtu: self.fd.mtu,
        })
    }

    /// Makes or adopts the device for `spec` and listens for heartbeats on it; whether it is on
    /// the bridge.
    async fn open(&mut self, spec: DeviceSpec) -> Result<bool, String> {
        if let Some(old) = self.spec.take() {
            self.fd.unclaim(&old.name(), self.p.conn_uid);
        }
        self.sock = None;
        let fd = self.fd.clone();
        let s = spec.clone();
        let (ensured, attached) = tokio::task::spawn_blocking(move || {
            let e = fd.devices.ensure(&s)?;
            Ok::<_, String>((e, fd.devices.attached(&s.name()).unwrap_or(false)))
        })
        .await
        .map_err(|e| e.to_string())??;
        let name = spec.name();
        self.fd.claim(&name, self.p.conn_uid);
        if ensured.adopted {
            tracing::info!(peer = %self.p.remote, device = name, attached, "fastdp: adopted the device there");
        }
        self.fd.sleeve.set_kernel_flood(self.p.remote, attached);
        let sock = PacketSocket::zero_dst(ensured.index).map_err(|e| e.to_string())?;
        let sock = weave_netdev::reactor::watch_packet_socket(sock)
            .map_err(|e| format!("watch the heartbeat socket of {name}: {e}"))?;
        self.sock = Some(sock);
        self.spec = Some(spec);
        Ok(attached)
    }

    fn send_heartbeat(&mut self) {
        let Some(sock) = &self.sock else { return };
        heartbeat::frame(self.p.conn_uid, self.fd.mtu, &mut self.buf);
        if let Err(e) = sock.get_ref().send(&self.buf) {
            tracing::debug!(peer = %self.p.remote, "fastdp heartbeat not sent: {e}");
        }
    }

    /// Reads what the socket has; whether a valid heartbeat of this connection was among it.
    fn receive(&mut self) -> bool {
        let mut got = false;
        while let Some(sock) = &self.sock {
            match sock.get_ref().recv(&mut self.rbuf) {
                Ok(n) => got |= heartbeat::valid(&self.rbuf[..n], self.p.conn_uid),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(peer = %self.p.remote, "fastdp heartbeat socket: {e}");
                    break;
                }
            }
        }
        got
    }

    /// Puts the device on the bridge or takes it off. Ordered so a moment of change duplicates
    /// a broadcast rather than losing it: sleeve starts flooding to the peer before the kernel
    /// stops, and stops after it starts.
    async fn set_attached(&mut self, on: bool) -> Result<(), String> {
        let Some(spec) = &self.spec else { return Err("there is no device".into()) };
        if !on {
            self.fd.sleeve.set_kernel_flood(self.p.remote, false);
        }
        let fd = self.fd.clone();
        let name = spec.name();
        let peer = self.p.remote;
        tokio::task::spawn_blocking(move || {
            fd.devices.attach(&name, on)?;
            if on {
                let macs: Vec<[u8; 6]> =
                    fd.sleeve.macs().entries().into_iter().filter(|e| e.1 == peer).map(|e| e.0).collect();
                fd.devices.take_macs(&name, &macs)?;
            }
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| e.to_string())??;
        if on {
            self.fd.sleeve.set_kernel_flood(self.p.remote, true);
        }
        Ok(())
    }

    /// Whether the device is on the bridge; `None` when it is gone.
    async fn attachment(&self) -> Option<bool> {
        let spec = self.spec.as_ref()?;
        let fd = self.fd.clone();
        let name = spec.name();
        tokio::task::spawn_blocking(move || fd.devices.attached(&name)).await.ok().flatten()
    }
}
