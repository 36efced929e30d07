//! The task of one sleeve connection: it feeds the forwarder's core
//! (`weave_overlay::sleeve::control`, which decides) with the mesh's messages, what the
//! datapath hands over and its timers, and does what the core asks: sending special frames,
//! updating the forwarder the datapath reads, reading the kernel's path MTU.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use weave_netdev::udp::path_mtu;
use weave_overlay::forwarder::{Ctl, Up};
use weave_overlay::sleeve::control::{Action, Control, Special};
use weave_overlay::sleeve::datapath::Shared;
use weave_overlay::sleeve::forwarder::{DataEvent, ForwarderRef};
use weave_overlay::sleeve::port::SendError;

/// Runs until the control channel closes (connection stopped) or the data path fails.
pub async fn run(
    fwd: ForwarderRef,
    sh: Arc<Shared>,
    mut ctl: mpsc::Receiver<Ctl>,
    mut data: mpsc::Receiver<DataEvent>,
    up: mpsc::Sender<Up>,
) {
    let mut core = Control::start(fwd.conn_uid, fwd.addr(), fwd.overhead_df() as u32);
    let failed = loop {
        if let Err(e) = perform(&mut core, &fwd, &sh, &up).await {
            break Some(e);
        }
        let far = Instant::now() + Duration::from_secs(3600);
        let deadline = tokio::time::Instant::from_std(core.next_deadline().unwrap_or(far));
        tokio::select! {
            c = ctl.recv() => match c {
                None => break None,
                Some(Ctl::Confirm) => core.confirm(Instant::now()),
                Some(Ctl::Control { tag, payload }) => core.control(Instant::now(), tag, &payload),
            },
            d = data.recv() => match d {
                None => break None,
                Some(DataEvent::Special { from, frame }) => core.special(Instant::now(), from, &frame),
                Some(DataEvent::TooBig) => core.too_big(Instant::now(), pmtu(&fwd)),
            },
            _ = tokio::time::sleep_until(deadline) => core.tick(Instant::now()),
        }
    };
    unregister(&fwd, &sh);
    if let Some(e) = failed {
        let _ = up.send(Up::Failed(e)).await;
    }
}

/// The kernel's path MTU to the peer, or why it could not be read.
fn pmtu(fwd: &ForwarderRef) -> Result<u32, String> {
    let addr = fwd.addr().ok_or("the peer's UDP address is not known yet")?;
    path_mtu(SocketAddr::V4(addr)).map_err(|e| e.to_string())
}

fn log_prefix(fwd: &ForwarderRef) -> String {
    let addr = fwd.addr().map(|a| a.to_string()).unwrap_or_else(|| "<nil>".into());
    format!("sleeve ->[{addr}|{}]:", fwd.remote)
}

/// Does what the core asks until it asks nothing more; an error: the connection's sleeve is dead.
async fn perform(
    core: &mut Control,
    fwd: &ForwarderRef,
    sh: &Arc<Shared>,
    up: &mpsc::Sender<Up>,
) -> Result<(), String> {
    loop {
        let actions = core.take_actions();
        if actions.is_empty() {
            return Ok(());
        }
        for a in actions {
            match a {
                Action::Up(u) => {
                    // Attributes are status: never wait for the switch to take them.
                    if matches!(u, Up::Attrs(_)) {
                        let _ = up.try_send(u);
                    } else {
                        let _ = up.send(u).await;
                    }
                }
                Action::Register => sh.register(fwd.clone()),
                Action::SetAddr(a) => {
                    if fwd.addr().is_some_and(|old| old != a) {
                        tracing::info!("{} Peer UDP address changed to {a}", log_prefix(fwd));
                    }
                    fwd.addr.store(Some(Arc::new(a)));
                }
                Action::Send(s) => {
                    if send_special(fwd, sh, s)? {
                        core.too_big(Instant::now(), pmtu(fwd));
                    }
                }
                Action::SetMtu(m) => fwd.mtu.store(m, Ordering::Relaxed),
                Action::SetMaxPayload(p) => fwd.max_payload.store(p, Ordering::Relaxed),
                Action::SetStackFrag(on) => fwd.stack_frag.store(on, Ordering::Relaxed),
                Action::Fail(e) => return Err(e),
            }
        }
    }
}

/// Sends one special frame alone in a packet on its path; true when the kernel refused it as
/// bigger than the path MTU.
fn send_special(fwd: &ForwarderRef, sh: &Shared, s: Special) -> Result<bool, String> {
    let Some(addr) = fwd.addr() else { return Ok(false) };
    let buf = fwd.special_packet(sh.us, s.df(), &s.frame(fwd.conn_uid))?;
    let (mut too_big, mut other) = (false, None);
    sh.underlay.send(s.df(), &[(addr, &buf)], &mut |_, e| match e {
        SendError::TooBig => too_big = true,
        SendError::Other(e) => other = Some(e.to_string()),
    });
    if let Some(e) = other {
        // Unreachable peers are normal while a connection comes up; heartbeats time out.
        tracing::debug!("{} send: {e}", log_prefix(fwd));
    }
    Ok(too_big)
}

/// Takes the forwarder out of the datapath's table (another confirmed one of the peer's takes
/// its place), and its byte counts into the retired totals, under their lock so a reader never
/// sees them twice or not at all.
fn unregister(fwd: &ForwarderRef, sh: &Shared) {
    let mut retired = sh.retired.lock().unwrap_or_else(|e| e.into_inner());
    let t = retired.entry(fwd.cipher_name()).or_default();
    t[0] += fwd.counters.tx_bytes.load(Ordering::Relaxed);
    t[1] += fwd.counters.rx_bytes.load(Ordering::Relaxed);
    sh.unregister(fwd);
}
