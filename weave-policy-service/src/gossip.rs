//! Channel `weave-policy` ([`weave_policy::gossip::CHANNEL`]): the mesh calls these on its own
//! task, so they only merge state and model; the kernel follows on the policy worker thread
//! ([`spawn_kernel_worker`]). Weave Net peers relay the channel unread (their surrogate
//! gossiper), so weave peers behind them still converge. Changes go out through [`Mesh`].

use super::service::PolicyService;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use weave_mesh::{GossipData, GossipError, Gossiper, Outbox};
use weave_policy::gossip::State;
use weave_wire::PeerName;

/// The mesh, as policy's changes go out on it (the daemon's router).
pub trait Mesh: Send + Sync + 'static {
    /// Queues `data` for every peer on gossip channel `channel`.
    fn gossip_broadcast(
        &self,
        channel: &'static str,
        data: Box<dyn GossipData>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Queued policy gossip; queued copies merge (newer versions win).
#[derive(Clone)]
pub struct PolicyData(pub State);

impl GossipData for PolicyData {
    fn encode(&self) -> Vec<Vec<u8>> {
        vec![self.0.encode()]
    }
    fn merge(&mut self, other: &dyn GossipData) {
        if let Some(o) = other.as_any().downcast_ref::<PolicyData>() {
            self.0.merge(o.0.clone());
        }
    }
    fn clone_box(&self) -> Box<dyn GossipData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl PolicyData {
    /// A delta the service returned (its own encoding), ready to queue.
    pub fn boxed(bytes: &[u8]) -> Option<Box<dyn GossipData>> {
        State::decode(bytes).ok().map(|s| Box::new(PolicyData(s)) as Box<dyn GossipData>)
    }
}

pub struct PolicyGossiper {
    service: PolicyService,
    kick: SyncSender<()>,
}

impl PolicyGossiper {
    pub fn new(service: PolicyService, kick: SyncSender<()>) -> PolicyGossiper {
        PolicyGossiper { service, kick }
    }

    fn merge(&mut self, update: Update) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        match update {
            Ok(incoming) => Ok(self.service.merge_state(incoming).map(|new| {
                let _ = self.kick.try_send(());
                Box::new(PolicyData(new)) as Box<dyn GossipData>
            })),
            Err(e) => {
                tracing::warn!("refusing policy gossip: {e}");
                Err(GossipError(e.to_string()))
            }
        }
    }
}

/// Policy gossip as the connection's task decodes it.
type Update = Result<State, weave_policy::gossip::GossipError>;

impl Gossiper for PolicyGossiper {
    type Update = Update;
    type Unicast = ();

    fn decode_update(payload: &[u8]) -> Update {
        State::decode(payload)
    }

    fn decode_unicast(_payload: &[u8]) {}

    fn on_gossip_unicast(&mut self, _src: PeerName, _msg: (), _out: &mut Outbox) -> Result<(), GossipError> {
        Ok(())
    }

    fn on_gossip_broadcast(
        &mut self,
        _src: PeerName,
        update: Update,
        _out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        self.merge(update)
    }

    fn gossip(&mut self) -> Option<Box<dyn GossipData>> {
        PolicyData::boxed(&self.service.gossip())
    }

    fn on_gossip(
        &mut self,
        update: Update,
        _out: &mut Outbox,
    ) -> Result<Option<Box<dyn GossipData>>, GossipError> {
        self.merge(update)
    }

    fn on_peers_removed(&mut self, peers: &[PeerName]) {
        let names: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        self.service.peers_gone(&names);
        let _ = self.kick.try_send(());
    }
}

/// How often the kernel worker reads the policy counters when it has nothing else to do.
const COUNTERS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// The thread that brings the kernel along after gossip, and reads the counters between;
/// returns the handle that wakes it.
pub fn spawn_kernel_worker(service: PolicyService) -> std::io::Result<SyncSender<()>> {
    let (tx, rx) = sync_channel::<()>(1);
    std::thread::Builder::new().name("policy-kernel".into()).spawn(move || loop {
        match rx.recv_timeout(COUNTERS_EVERY) {
            Ok(()) => {
                if let Err(e) = service.sync_pending() {
                    tracing::warn!("{e}");
                }
            }
            Err(RecvTimeoutError::Timeout) => service.refresh_counters(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    })?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mesh_task_merges_relays_new_gossip_once_and_refuses_bad_gossip() {
        let service = PolicyService::new("02:00:00:00:00:01", None);
        let (kick, woken) = sync_channel(1);
        let mut g = PolicyGossiper::new(service.clone(), kick);
        let other = weave_policy::gossip::Writer { peer: "02:00:00:00:00:02".into() };
        let mut theirs = State::default();
        let p = weave_policy::parse(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n",
        )
        .unwrap();
        let delta = other.put_policies(&mut theirs, &p).encode();
        let mut out = Outbox::default();
        let relay = g
            .on_gossip(PolicyGossiper::decode_update(&delta), &mut out)
            .unwrap()
            .expect("new gossip is relayed");
        assert_eq!(relay.encode(), vec![delta.clone()]);
        assert!(woken.try_recv().is_ok(), "the kernel worker is woken");
        assert_eq!(service.policy_count(), 1);
        assert!(
            g.on_gossip(PolicyGossiper::decode_update(&delta), &mut out).unwrap().is_none(),
            "old news is not relayed"
        );
        assert!(g.on_gossip(PolicyGossiper::decode_update(b"{\"policies\": 7}"), &mut out).is_err());
        // Our full state goes out periodically.
        let full = g.gossip().unwrap().encode();
        assert_eq!(State::decode(&full[0]).unwrap(), theirs);
    }
}
