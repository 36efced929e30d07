//! The control side of one fastdp connection, as Weave's `fastDatapathForwarder`: make (or
//! adopt) the peer's VXLAN device, send heartbeats through it (fast until acknowledged, then
//! slow), acknowledge the peer's, and put the device on the bridge only while the path is
//! established and healthy. With a weave peer (both sent `FastDPHeartbeat`) every heartbeat is
//! acknowledged and the timings are short, so a path that dies in either direction is noticed
//! by both ends within seconds; with a Weave Net peer, Weave's 60 s rule applies.

use super::device::DeviceSpec;
use super::heartbeat::{self, MISSED, OUR_INTERVAL, WEAVE_FAST, WEAVE_SLOW, WEAVE_TIMEOUT};
use super::Fastdp;
use crate::overlay::forwarder::{Ctl, Up};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use weave_netdev::PacketSocket;
use weave_wire::PeerName;

/// fastdp control message sub-tags (Weave's).
pub const HEARTBEAT_ACK: u8 = 0;
pub const CRYPTO_INIT_SA_REMOTE: u8 = 1;
/// How often the device's place on the bridge is checked against what it should be (someone
/// may have changed it behind our back).
const RECHECK: Duration = Duration::from_secs(5);

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
    /// The peer's `FastDPHeartbeat` interval: it is a weave peer that acknowledges every
    /// heartbeat.
    pub peer_interval: Option<Duration>,
}

struct Task {
    fd: Arc<Fastdp>,
    p: FwdParams,
    up: mpsc::Sender<Up>,
    spec: Option<DeviceSpec>,
    sock: Option<AsyncFd<PacketSocket>>,
    interval: Duration,
    slow: Duration,
    timeout: Duration,
    next_heartbeat: Option<Instant>,
    last_rx: Instant,
    last_ack: Option<Instant>,
    acked_first: bool,
    established: bool,
    healthy: bool,
    attached: bool,
    next_recheck: Instant,
    buf: Vec<u8>,
    rbuf: Vec<u8>,
}

/// Runs until the control channel closes (the connection stopped) or fastdp fails. The device
/// outlives the connection: if the peer's daemon died, its kernel still sends to us.
pub async fn run(fd: Arc<Fastdp>, p: FwdParams, mut ctl: mpsc::Receiver<Ctl>, up: mpsc::Sender<Up>) {
    let (slow, timeout) = match p.peer_interval {
        Some(theirs) => {
            let slow = theirs.max(OUR_INTERVAL);
            (slow, slow * MISSED)
        }
        None => (WEAVE_SLOW, WEAVE_TIMEOUT),
    };
    let now = Instant::now();
    let mut t = Task {
        fd,
        p,
        up,
        spec: None,
        sock: None,
        interval: WEAVE_FAST,
        slow,
        timeout,
        next_heartbeat: None,
        last_rx: now,
        last_ack: None,
        acked_first: false,
        established: false,
        healthy: true,
        attached: false,
        next_recheck: now + RECHECK,
        buf: Vec::new(),
        rbuf: vec![0; 65536],
    };
    let _ = t.up.send(Up::Attrs(attrs(t.fd.mtu))).await;
    let result = async {
        loop {
            let deadline = t.next_deadline();
            tokio::select! {
                c = ctl.recv() => match c {
                    None => return Ok(()),
                    Some(Ctl::Confirm) => t.confirm().await?,
                    Some(Ctl::Control { tag, payload }) => t.control(tag, &payload).await?,
                },
                _ = sleep_until(deadline) => t.tick().await?,
                r = readable(&t.sock) => {
                    if let Ok(mut guard) = r {
                        guard.clear_ready();
                        t.receive().await;
                    }
                }
            }
        }
    }
    .await;
    if let Some(spec) = &t.spec {
        t.fd.unclaim(&spec.name(), t.p.conn_uid);
    }
    if let Err(e) = result {
        let _ = t.up.send(Up::Failed(e)).await;
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

fn attrs(mtu: u32) -> BTreeMap<String, serde_json::Value> {
    BTreeMap::from([("name".into(), "fastdp".into()), ("mtu".into(), mtu.into())])
}

impl Task {
    fn next_deadline(&self) -> Instant {
        let mut d = self.next_recheck;
        if let Some(h) = self.next_heartbeat {
            d = d.min(h);
            if self.healthy {
                d = d.min(self.last_rx + self.timeout);
                if let (Some(ack), true) = (self.last_ack, self.p.peer_interval.is_some()) {
                    d = d.min(ack + self.timeout);
                }
            }
        }
        d
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

    async fn confirm(&mut self) -> Result<(), String> {
        if self.p.encrypted {
            return Err(self.fd.encrypted_unavailable.clone());
        }
        let spec = self.current_spec()?;
        self.open(spec).await?;
        let now = Instant::now();
        self.last_rx = now;
        self.next_heartbeat = Some(now);
        Ok(())
    }

    /// Makes or adopts the device for `spec` and listens for heartbeats on it.
    async fn open(&mut self, spec: DeviceSpec) -> Result<(), String> {
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
        // An adopted device stays where it is until heartbeats say otherwise.
        self.attached = attached;
        self.fd.sleeve.set_kernel_flood(self.p.remote, attached);
        let sock = PacketSocket::zero_dst(ensured.index).map_err(|e| e.to_string())?;
        // SAFETY: the PacketSocket owns its descriptor, which stays open and the same until
        // the AsyncFd (its only owner) drops it.
        let sock = unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) };
        self.sock = Some(sock.map_err(|e| e.to_string())?);
        self.spec = Some(spec);
        Ok(())
    }

    async fn tick(&mut self) -> Result<(), String> {
        let now = Instant::now();
        if self.next_heartbeat.is_some_and(|h| now >= h) {
            // Short ids can change (a collision, a restarted peer): the VNIs change with them.
            match self.current_spec() {
                Ok(spec) if Some(&spec) != self.spec.as_ref() => {
                    tracing::info!(peer = %self.p.remote, "fastdp: short ids changed; remaking the device");
                    self.set_attached(false).await;
                    self.open(spec).await?;
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            self.send_heartbeat();
            self.next_heartbeat = Some(now + self.interval);
        }
        self.evaluate().await;
        if now >= self.next_recheck {
            self.next_recheck = now + RECHECK;
            self.recheck_attachment().await;
        }
        Ok(())
    }

    fn send_heartbeat(&mut self) {
        let Some(sock) = &self.sock else { return };
        heartbeat::frame(self.p.conn_uid, self.fd.mtu, &mut self.buf);
        if let Err(e) = sock.get_ref().send(&self.buf) {
            tracing::debug!(peer = %self.p.remote, "fastdp heartbeat not sent: {e}");
        }
    }

    async fn receive(&mut self) {
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
        if got {
            self.heartbeat_received().await;
        }
    }

    async fn heartbeat_received(&mut self) {
        self.last_rx = Instant::now();
        // Weave acknowledges the first heartbeat only; a weave peer wants every one.
        if !self.acked_first || self.p.peer_interval.is_some() {
            self.acked_first = true;
            let _ = self.up.send(Up::SendControl { tag: HEARTBEAT_ACK, payload: Vec::new() }).await;
        }
        self.evaluate().await;
    }

    /// Why the path is unhealthy now, if it is: no heartbeat from the peer lately or, with a
    /// weave peer, no acknowledgement of ours (the path may have died in one direction only).
    fn unhealthy_reason(&self, now: Instant) -> Option<String> {
        let since_rx = now.saturating_duration_since(self.last_rx);
        if since_rx >= self.timeout {
            return Some(format!("no fastdp heartbeat from the peer for {}s", since_rx.as_secs()));
        }
        if let (Some(ack), Some(_)) = (self.last_ack, self.p.peer_interval) {
            let since_ack = now.saturating_duration_since(ack);
            if since_ack >= self.timeout {
                return Some(format!(
                    "the peer has not acknowledged our fastdp heartbeats for {}s",
                    since_ack.as_secs()
                ));
            }
        }
        None
    }

    /// Re-judges health after a heartbeat, an acknowledgement or a timeout.
    async fn evaluate(&mut self) {
        if self.next_heartbeat.is_none() {
            return; // not confirmed yet
        }
        let reason = self.unhealthy_reason(Instant::now());
        if reason.is_none() == self.healthy {
            return;
        }
        self.healthy = reason.is_none();
        let reason = match reason {
            Some(r) => {
                tracing::info!(peer = %self.p.remote, "fastdp unhealthy: {r}");
                // Weave: no aggressive heartbeats while the peer is not answering.
                self.interval = self.slow;
                r
            }
            None => {
                tracing::info!(peer = %self.p.remote, "fastdp healthy again");
                "fastdp heartbeats resumed".to_string()
            }
        };
        self.sync_attachment().await;
        let _ = self.up.send(Up::Health { healthy: self.healthy, reason }).await;
    }

    async fn control(&mut self, tag: u8, _payload: &[u8]) -> Result<(), String> {
        match tag {
            HEARTBEAT_ACK => {
                self.last_ack = Some(Instant::now());
                if !self.established {
                    self.established = true;
                    let _ = self.up.send(Up::Established).await;
                    self.sync_attachment().await;
                }
                self.interval = self.slow;
                self.evaluate().await;
                Ok(())
            }
            CRYPTO_INIT_SA_REMOTE => {
                Err(format!("the peer wants encrypted fastdp: {}", self.fd.encrypted_unavailable))
            }
            _ => {
                tracing::info!(peer = %self.p.remote, "fastdp: ignoring unknown control message {tag}");
                Ok(())
            }
        }
    }

    /// The device belongs on the bridge exactly while fastdp is established and healthy.
    async fn sync_attachment(&mut self) {
        let want = self.established && self.healthy;
        if want != self.attached {
            self.set_attached(want).await;
        }
    }

    async fn set_attached(&mut self, on: bool) {
        let Some(spec) = &self.spec else { return };
        // Order so a moment of change duplicates a broadcast rather than losing it: sleeve
        // starts flooding to the peer before the kernel stops, and stops after it starts.
        if !on {
            self.fd.sleeve.set_kernel_flood(self.p.remote, false);
        }
        let fd = self.fd.clone();
        let name = spec.name();
        let peer = self.p.remote;
        let result = tokio::task::spawn_blocking(move || {
            fd.devices.attach(&name, on)?;
            if on {
                let macs: Vec<[u8; 6]> =
                    fd.sleeve.macs().entries().into_iter().filter(|e| e.1 == peer).map(|e| e.0).collect();
                fd.devices.take_macs(&name, &macs)?;
            }
            Ok::<(), String>(())
        })
        .await;
        match result {
            Ok(Ok(())) => {
                self.attached = on;
                if on {
                    self.fd.sleeve.set_kernel_flood(self.p.remote, true);
                }
                tracing::info!(peer = %self.p.remote, "fastdp device {} the bridge", if on { "joined" } else { "left" });
            }
            Ok(Err(e)) => tracing::warn!(peer = %self.p.remote, "fastdp: {e}"),
            Err(e) => tracing::warn!(peer = %self.p.remote, "fastdp: {e}"),
        }
    }

    /// Puts the device back where it belongs if something else moved it.
    async fn recheck_attachment(&mut self) {
        let Some(spec) = &self.spec else { return };
        let fd = self.fd.clone();
        let name = spec.name();
        let actual = tokio::task::spawn_blocking(move || fd.devices.attached(&name)).await.ok().flatten();
        match actual {
            None => {
                tracing::warn!(peer = %self.p.remote, "fastdp: device {} disappeared; remaking it", spec.name());
                let spec = spec.clone();
                self.attached = false;
                if let Err(e) = self.open(spec).await {
                    tracing::warn!(peer = %self.p.remote, "fastdp: {e}");
                }
                self.sync_attachment().await;
            }
            Some(actual) if actual != self.attached => {
                self.attached = actual;
                self.sync_attachment().await;
            }
            Some(_) => {}
        }
    }
}
