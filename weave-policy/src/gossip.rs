//! The cluster-wide policy state as gossip on a mesh channel of its own ([`CHANNEL`]): every
//! policy, every target's labels and addresses, every namespace's labels, each entry stamped
//! with a version (a Lamport counter and the peer that wrote it). Merging keeps the higher
//! version, so any order of delivery, partitions and heals converge to the same state.
//! Deletions are tombstones (an entry with no value) so they win over older copies.
//!
//! Weave Net peers do not know the channel: their surrogate gossiper relays it unread, so
//! a weave peer behind a Weave Net peer still converges.
//!
//! Encoding: JSON (the channel is ours alone), decoded within a size budget; every policy is
//! validated again on receipt and an invalid one is refused with the message it came in.

use crate::parse::PolicyError;
use crate::types::{Policy, PolicyId, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The mesh channel name.
pub const CHANNEL: &str = "weave-policy";
/// The largest gossip message decoded.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Who wrote an entry and when: higher counter wins, the peer name breaks ties.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    pub counter: u64,
    pub peer: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    pub version: Version,
    /// `None`: deleted.
    pub value: Option<T>,
}

/// The replicated state (also the gossip message: a full state or a delta of it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Keyed `namespace/name`; values are the policy objects as JSON.
    #[serde(default)]
    pub policies: BTreeMap<String, Versioned<serde_json::Value>>,
    /// Keyed by target id.
    #[serde(default)]
    pub targets: BTreeMap<String, Versioned<Target>>,
    /// Keyed by namespace name; values are the namespace's own labels.
    #[serde(default)]
    pub namespaces: BTreeMap<String, Versioned<BTreeMap<String, String>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    #[error("policy gossip of {0} bytes is over the {MAX_MESSAGE} byte limit")]
    TooLarge(usize),
    #[error("policy gossip does not decode: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("policy gossip carries an invalid policy {id}: {err}")]
    Invalid { id: String, err: PolicyError },
}

impl State {
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.targets.is_empty() && self.namespaces.is_empty()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes a message and checks every live policy in it.
    pub fn decode(bytes: &[u8]) -> Result<State, GossipError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(GossipError::TooLarge(bytes.len()));
        }
        let s: State = serde_json::from_slice(bytes)?;
        for (id, v) in &s.policies {
            if let Some(value) = &v.value {
                let p = crate::parse::from_value(value.clone())
                    .map_err(|err| GossipError::Invalid { id: id.clone(), err })?;
                if p.id.to_string() != *id {
                    let err = PolicyError::new("metadata", format!("names {} but is keyed {id}", p.id));
                    return Err(GossipError::Invalid { id: id.clone(), err });
                }
            }
        }
        Ok(s)
    }

    /// The highest counter in the state (a Lamport clock reads it before writing).
    pub fn max_counter(&self) -> u64 {
        let p = self.policies.values().map(|v| v.version.counter);
        let t = self.targets.values().map(|v| v.version.counter);
        let n = self.namespaces.values().map(|v| v.version.counter);
        p.chain(t).chain(n).max().unwrap_or(0)
    }

    /// Merges `other` in; returns what was new to us (to relay), empty when nothing was.
    pub fn merge(&mut self, other: State) -> State {
        State {
            policies: merge_map(&mut self.policies, other.policies),
            targets: merge_map(&mut self.targets, other.targets),
            namespaces: merge_map(&mut self.namespaces, other.namespaces),
        }
    }

    /// The live policies, validated (entries that no longer validate are skipped).
    pub fn live_policies(&self) -> Vec<Policy> {
        self.policies
            .values()
            .filter_map(|v| v.value.clone())
            .filter_map(|value| crate::parse::from_value(value).ok())
            .collect()
    }

    /// Drops the targets a peer that left the cluster had (they went with it).
    pub fn peer_gone(&mut self, peer: &str) -> Vec<String> {
        let gone: Vec<String> = self
            .targets
            .iter()
            .filter(|(_, v)| v.value.as_ref().is_some_and(|t| t.host == peer))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.targets.remove(k);
        }
        gone
    }
}

fn merge_map<T: Clone>(
    mine: &mut BTreeMap<String, Versioned<T>>,
    theirs: BTreeMap<String, Versioned<T>>,
) -> BTreeMap<String, Versioned<T>> {
    let mut new = BTreeMap::new();
    for (k, v) in theirs {
        let newer = mine.get(&k).is_none_or(|m| v.version > m.version);
        if newer {
            mine.insert(k.clone(), v.clone());
            new.insert(k, v);
        }
    }
    new
}

/// This peer's writer: stamps local changes with versions above everything seen.
#[derive(Clone, Debug)]
pub struct Writer {
    pub peer: String,
}

impl Writer {
    fn next(&self, state: &State) -> Version {
        Version { counter: state.max_counter() + 1, peer: self.peer.clone() }
    }

    /// Adds or replaces policies; returns the delta to broadcast.
    pub fn put_policies(&self, state: &mut State, policies: &[Policy]) -> State {
        let version = self.next(state);
        let delta = State {
            policies: policies
                .iter()
                .map(|p| {
                    (p.id.to_string(), Versioned { version: version.clone(), value: Some(p.source.clone()) })
                })
                .collect(),
            ..State::default()
        };
        state.merge(delta.clone());
        delta
    }

    /// Deletes a policy; `None` when there is no such live policy.
    pub fn delete_policy(&self, state: &mut State, id: &PolicyId) -> Option<State> {
        let key = id.to_string();
        state.policies.get(&key)?.value.as_ref()?;
        let version = self.next(state);
        let delta =
            State { policies: [(key, Versioned { version, value: None })].into(), ..State::default() };
        state.merge(delta.clone());
        Some(delta)
    }

    /// Records a target of this host (or its removal with `None`).
    pub fn put_target(&self, state: &mut State, id: &str, target: Option<Target>) -> State {
        let version = self.next(state);
        let delta = State {
            targets: [(id.to_string(), Versioned { version, value: target })].into(),
            ..State::default()
        };
        state.merge(delta.clone());
        delta
    }

    /// Sets a namespace's own labels (empty: none).
    pub fn put_namespace(&self, state: &mut State, name: &str, labels: BTreeMap<String, String>) -> State {
        let version = self.next(state);
        let value = (!labels.is_empty()).then_some(labels);
        let delta = State {
            namespaces: [(name.to_string(), Versioned { version, value })].into(),
            ..State::default()
        };
        state.merge(delta.clone());
        delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, port: u16) -> Policy {
        crate::parse(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  podSelector: {{}}\n  ingress: [{{ports: [{{port: {port}}}]}}]\n"
        ))
        .unwrap()
        .remove(0)
    }

    #[test]
    fn concurrent_writes_and_partitions_converge_in_any_delivery_order() {
        let (a, b, c) =
            (Writer { peer: "a".into() }, Writer { peer: "b".into() }, Writer { peer: "c".into() });
        let (mut sa, mut sb, mut sc) = (State::default(), State::default(), State::default());
        let d1 = a.put_policies(&mut sa, &[policy("p", 80)]);
        sb.merge(d1.clone());
        sc.merge(d1);
        // Partition: a and b both change p; c deletes it after seeing b's write.
        let da = a.put_policies(&mut sa, &[policy("p", 81)]);
        let db = b.put_policies(&mut sb, &[policy("p", 82)]);
        sc.merge(db.clone());
        let dc = c.delete_policy(&mut sc, &policy("p", 1).id).unwrap();
        let dt = b.put_target(
            &mut sb,
            "t1",
            Some(Target { id: "t1".into(), host: "b".into(), ..Default::default() }),
        );
        // Heal: full states cross in different orders.
        let (fa, fb, fc) = (sa.clone(), sb.clone(), sc.clone());
        sa.merge(fc.clone());
        sa.merge(fb.clone());
        sb.merge(fa.clone());
        sb.merge(fc);
        sc.merge(fb);
        sc.merge(fa);
        assert_eq!(sa, sb);
        assert_eq!(sb, sc);
        // The delete was the latest write (it saw b's): p is gone everywhere; t1 is known.
        assert!(sa.live_policies().is_empty(), "{sa:?}");
        assert!(sa.targets.contains_key("t1"));
        // Re-delivering old deltas changes nothing and relays nothing.
        for d in [da, db, dc, dt] {
            assert!(sa.merge(d).is_empty());
        }
    }

    #[test]
    fn decoding_refuses_oversized_garbage_and_invalid_policies() {
        let w = Writer { peer: "a".into() };
        let mut s = State::default();
        w.put_policies(&mut s, &[policy("ok", 80)]);
        assert_eq!(State::decode(&s.encode()).unwrap(), s);
        assert!(matches!(State::decode(b"{nope"), Err(GossipError::Decode(_))));
        assert!(matches!(State::decode(&vec![b' '; MAX_MESSAGE + 1]), Err(GossipError::TooLarge(_))));
        let mut bad = s.clone();
        bad.policies.get_mut("default/ok").unwrap().value.as_mut().unwrap()["spec"]["policyTypes"] =
            serde_json::json!(["Sideways"]);
        assert!(matches!(State::decode(&bad.encode()), Err(GossipError::Invalid { .. })));
        let mut renamed = s.clone();
        let v = renamed.policies.remove("default/ok").unwrap();
        renamed.policies.insert("default/other".into(), v);
        assert!(matches!(State::decode(&renamed.encode()), Err(GossipError::Invalid { .. })));
    }

    #[test]
    fn a_departed_peers_targets_go_with_it() {
        let w = Writer { peer: "a".into() };
        let mut s = State::default();
        w.put_target(&mut s, "x", Some(Target { id: "x".into(), host: "gone".into(), ..Default::default() }));
        w.put_target(&mut s, "y", Some(Target { id: "y".into(), host: "here".into(), ..Default::default() }));
        assert_eq!(s.peer_gone("gone"), vec!["x".to_string()]);
        assert_eq!(s.targets.keys().collect::<Vec<_>>(), ["y"]);
    }
}
