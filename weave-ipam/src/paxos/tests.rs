//! Weave's paxos_test.go model: nodes on a random graph gossip along "ready" links (a link is
//! ready when its source changed since it last gossiped along it) with random re-proposals and
//! isolations, until everyone agrees; nobody may ever see a different consensus.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::*;

struct TestNode {
    node: Node,
    links: Vec<usize>,
    isolated: bool,
    first: Option<AcceptedValue>,
}

struct Model {
    rng: StdRng,
    quorum: u32,
    nodes: Vec<TestNode>,
    ready: Vec<(usize, usize)>,
    ready_set: BTreeSet<(usize, usize)>,
}

struct Params {
    nodes: usize,
    connected: f64,
    repropose: f64,
    isolate: f64,
}

impl Model {
    fn new(p: &Params, seed: u64) -> Model {
        let mut rng = StdRng::seed_from_u64(seed);
        let quorum = (p.nodes / 2 + 1) as u32;
        let nodes = (0..p.nodes)
            .map(|i| {
                let mut node = Node::new(PeerName((i / 2 + 1) as u64), rng.random(), quorum);
                node.propose();
                TestNode { node, links: Vec::new(), isolated: false, first: None }
            })
            .collect();
        let mut m = Model { rng, quorum, nodes, ready: Vec::new(), ready_set: BTreeSet::new() };
        for i in 1..p.nodes {
            let mut connected = false;
            for j in 0..i {
                if m.rng.random_bool(p.connected) {
                    connected = true;
                    m.link(i, j);
                }
            }
            if !connected {
                let j = m.rng.random_range(0..i);
                m.link(i, j);
            }
        }
        m
    }

    fn link(&mut self, a: usize, b: usize) {
        if a == b || self.nodes[a].links.contains(&b) {
            return;
        }
        self.nodes[a].links.push(b);
        self.nodes[b].links.push(a);
        self.mark_ready(a, b);
        self.mark_ready(b, a);
    }

    fn mark_ready(&mut self, from: usize, to: usize) {
        if self.ready_set.insert((from, to)) {
            self.ready.push((from, to));
        }
    }

    fn changed(&mut self, n: usize) {
        for to in self.nodes[n].links.clone() {
            if !self.nodes[to].isolated {
                self.mark_ready(n, to);
            }
        }
    }

    fn pick(&mut self) -> usize {
        loop {
            let n = self.rng.random_range(0..self.nodes.len());
            if !self.nodes[n].isolated {
                return n;
            }
        }
    }

    fn isolate(&mut self, n: usize) {
        self.nodes[n].isolated = true;
        self.ready.retain(|&(a, b)| a != n && b != n);
        self.ready_set.retain(|&(a, b)| a != n && b != n);
        // Keep the rest connected: link the isolated node's neighbours in a chain.
        let links: Vec<usize> =
            self.nodes[n].links.iter().copied().filter(|&l| !self.nodes[l].isolated).collect();
        for w in links.windows(2) {
            self.link(w[0], w[1]);
        }
    }

    fn simulate(&mut self, p: &Params) -> bool {
        let mut left = self.nodes.len() as u32;
        for _ in 0..1_000_000 {
            if self.ready.is_empty() {
                if self.nodes.iter().any(|n| !n.isolated && n.node.consensus().is_some()) {
                    return true;
                }
                let n = self.pick();
                self.nodes[n].node.propose();
                self.changed(n);
            }
            let i = self.rng.random_range(0..self.ready.len());
            let (from, to) = self.ready.swap_remove(i);
            self.ready_set.remove(&(from, to));
            let state = self.nodes[from].node.gossip_state().clone();
            let t = &mut self.nodes[to];
            if t.node.update(&state) {
                t.node.think();
                if t.first.is_none() {
                    t.first = t.node.consensus();
                }
                self.changed(to);
            }
            if self.rng.random_bool(p.repropose) {
                let n = self.pick();
                self.nodes[n].node.propose();
                self.changed(n);
            }
            if left > self.quorum && self.rng.random_bool(p.isolate) {
                let n = self.pick();
                self.isolate(n);
                left -= 1;
                let n = self.pick();
                self.nodes[n].node.propose();
                self.changed(n);
            }
        }
        false
    }

    fn validate(&self) {
        let mut origin = None;
        for n in self.nodes.iter().filter(|n| !n.isolated) {
            let val = n.node.consensus().expect("every connected node knows the consensus");
            if let Some(first) = &n.first {
                assert_eq!(first.origin, val.origin, "a node saw two different consensus values");
            }
            assert_eq!(*origin.get_or_insert(val.origin), val.origin, "nodes disagree");
        }
    }
}

#[test]
fn single_node_reaches_consensus_alone() {
    let p = Params { nodes: 1, connected: 0.0, repropose: 0.0, isolate: 0.0 };
    let mut m = Model::new(&p, 1);
    assert!(m.simulate(&p));
    m.validate();
    let val = m.nodes[0].node.consensus().unwrap();
    assert_eq!(val.value, [PeerName(1)]);
}

#[test]
fn random_networks_agree() {
    let p = Params { nodes: 10, connected: 0.5, repropose: 0.01, isolate: 0.01 };
    for seed in 0..300 {
        let mut m = Model::new(&p, seed);
        assert!(m.simulate(&p), "seed {seed} did not converge");
        m.validate();
    }
}

#[test]
fn two_nodes_step_by_step() {
    let (a, b) = (PeerName(0xa), PeerName(0xb));
    let mut na = Node::new(a, 1, 2);
    let mut nb = Node::new(b, 2, 0);
    na.propose();
    let p1 = ProposalId { round: 1, proposer: na.id() };
    assert_eq!(na.gossip_state()[&na.id()].promise, p1);
    assert!(na.consensus().is_none());
    // B promises.
    assert!(nb.update(na.gossip_state()));
    assert!(nb.think());
    assert_eq!(nb.gossip_state()[&nb.id()].promise, p1);
    // A has a quorum of promises: accepts its own proposal with the peers it knows.
    assert!(na.update(nb.gossip_state()));
    assert!(na.think());
    let ours = &na.gossip_state()[&na.id()];
    assert_eq!(ours.accepted, p1);
    assert_eq!(ours.accepted_val, AcceptedValue { value: vec![a, b], origin: p1 });
    // B accepts; it has no quorum set, so it never sees consensus itself.
    nb.update(na.gossip_state());
    assert!(nb.think());
    assert!(nb.consensus().is_none());
    na.update(nb.gossip_state());
    assert!(!na.think());
    assert_eq!(na.consensus().unwrap().value, [a, b]);
    // Re-proposing goes to round 2.
    na.propose();
    assert_eq!(na.gossip_state()[&na.id()].promise.round, 2);
}

#[test]
fn observer_does_nothing() {
    let mut o = Participant::Observer;
    let n = Node::new(PeerName(1), 1, 1);
    assert!(o.gossip_state().is_none());
    assert!(!o.update(n.gossip_state()));
    o.set_quorum(1);
    o.propose();
    assert!(!o.think() && o.consensus().is_none() && !o.is_elector());
}

#[test]
fn quorum_zero_never_proposes_or_agrees() {
    let mut n = Node::new(PeerName(1), 1, 0);
    n.propose();
    assert!(n.gossip_state().is_empty());
    assert!(n.consensus().is_none());
    // Hostile rounds wrap rather than overflow.
    let mut state = GossipState::new();
    let id = NodeId { name: PeerName(2), uid: 2 };
    state.insert(
        id,
        NodeClaims { promise: ProposalId { round: u64::MAX, proposer: id }, ..Default::default() },
    );
    n.set_quorum(3);
    n.update(&state);
    n.propose();
}
