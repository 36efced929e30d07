//! Polls the daemon's REST API on a thread of its own, once a second or sooner when the events
//! stream says something changed, and turns each answer into an [`Event`]. Rendering never waits
//! on this: the UI thread only receives what it sends.

use crate::app::Event;
use crate::eventlog::clock_now;
use crate::model::{dns_from_report, Avail, IpamData, PolicyData, Snapshot};
use std::future::Future;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};
use weave_api::{Client, ClientError, IpamCheck, Report};

/// A poll that takes longer than this counts as a failure (a hung daemon is a down daemon).
const TIMEOUT: Duration = Duration::from_secs(3);
/// The IPAM check lists attached targets in the kernel: run it less often than the rest.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Polls woken by events are spaced at least this far apart, so a burst costs one poll.
const MIN_GAP: Duration = Duration::from_millis(200);

/// Starts the poller; the returned sender wakes it early.
pub fn spawn(addr: String, tx: SyncSender<Event>, every: Duration) -> std::io::Result<SyncSender<()>> {
    let (poke_tx, poke_rx) = mpsc::sync_channel(1);
    std::thread::Builder::new().name("weave-top-poll".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("poller: tokio runtime: {e}");
                return;
            }
        };
        let client = Client::new(&addr);
        let mut check = CheckCache::default();
        // Log transitions only: a daemon that stays down would flood the file.
        let mut last_error: Option<String> = None;
        loop {
            let started = Instant::now();
            let ev = match rt.block_on(poll(&client, &mut check)) {
                Ok(s) => {
                    if last_error.take().is_some() {
                        tracing::info!(addr, "daemon answers again");
                    }
                    Event::Snapshot(Box::new(s), clock_now())
                }
                Err(e) => {
                    if last_error.as_ref() != Some(&e) {
                        tracing::warn!(addr, "poll failed: {e}");
                        last_error = Some(e.clone());
                    }
                    Event::Unreachable(e, clock_now())
                }
            };
            if tx.send(ev).is_err() {
                return; // the dashboard quit
            }
            wait(&poke_rx, started, every);
        }
    })?;
    Ok(poke_tx)
}

/// Sleeps until the next poll is due or a poke arrives.
fn wait(pokes: &Receiver<()>, started: Instant, every: Duration) {
    match pokes.recv_timeout(every.saturating_sub(started.elapsed())) {
        Ok(()) => {
            std::thread::sleep(MIN_GAP.saturating_sub(started.elapsed()));
            while pokes.try_recv().is_ok() {}
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        // No events reader (any more): keep the plain rhythm.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            std::thread::sleep(every.saturating_sub(started.elapsed()))
        }
    }
}

#[derive(Default)]
struct CheckCache {
    last: Option<(Instant, Option<IpamCheck>)>,
}

async fn timed<T>(f: impl Future<Output = Result<T, ClientError>>) -> Result<T, Failure> {
    match tokio::time::timeout(TIMEOUT, f).await {
        Ok(r) => r.map_err(Failure::Client),
        Err(_) => Err(Failure::Timeout),
    }
}

enum Failure {
    Client(ClientError),
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Client(e) => e.fmt(f),
            Failure::Timeout => write!(f, "the daemon did not answer within {} s", TIMEOUT.as_secs()),
        }
    }
}

async fn poll(c: &Client, check: &mut CheckCache) -> Result<Snapshot, String> {
    let (status, report, connections, routes) =
        tokio::join!(timed(c.status()), timed(c.report()), timed(c.connections()), timed(c.routes()));
    let text = |e: Failure| e.to_string();
    let (status, report, connections) =
        (status.map_err(text)?, report.map_err(text)?, connections.map_err(text)?);
    // Only the map's paths need them: without, it falls back to the report's next hops.
    let routes = routes.map_err(|e| tracing::debug!("routes: {e}")).ok();
    let ipam = ipam(c, &report, check).await;
    let dns = dns_from_report(&report);
    let policy = policy(c).await;
    Ok(Snapshot { at: Instant::now(), status, report, connections, routes, ipam, dns, policy })
}

/// The policies and the latest drops; missing from a daemon (or Weave Net) without them.
async fn policy(c: &Client) -> Avail<PolicyData> {
    let (policies, drops) = tokio::join!(timed(c.policies()), timed(c.policy_drops()));
    match (policies, drops) {
        (Ok(p), Ok(d)) => Avail::Ready(PolicyData::new(p, d)),
        (Err(Failure::Client(ClientError::Disabled(_))), _) => Avail::Disabled,
        (Err(Failure::Client(ClientError::Api { status: 404, .. })), _) => Avail::Missing,
        (Err(e), _) | (_, Err(e)) => Avail::Failed(e.to_string()),
    }
}

/// IPAM from its own endpoints; from Weave's report when the daemon has none.
async fn ipam(c: &Client, report: &Report, check: &mut CheckCache) -> Avail<IpamData> {
    let info = match timed(c.ipam()).await {
        Ok(i) => i,
        Err(Failure::Client(ClientError::Disabled(_))) => return Avail::Disabled,
        Err(Failure::Client(ClientError::Api { status: 404, .. })) => {
            return match &report.ipam {
                Some(s) => Avail::Ready(IpamData::from_status(s)),
                None => Avail::Missing,
            }
        }
        Err(e) => return Avail::Failed(e.to_string()),
    };
    let allocations = match timed(c.ipam_allocations()).await {
        Ok(a) => a,
        Err(e) => return Avail::Failed(format!("allocations: {e}")),
    };
    if check.last.as_ref().is_none_or(|(at, _)| at.elapsed() >= CHECK_EVERY) {
        let found = timed(c.ipam_check()).await.map_err(|e| tracing::debug!("ipam check: {e}")).ok();
        check.last = Some((Instant::now(), found));
    }
    let found = check.last.as_ref().and_then(|(_, c)| c.as_ref());
    Avail::Ready(IpamData::from_api(&info, &allocations, found))
}
