//! The compiled model: policies, targets and namespaces in; named address sets and an ordered
//! list of allow rules out. The kernel rules are rendered from exactly this (sets become nft
//! sets, [`KRule`]s become nft rules) and [`Model::why`] evaluates the same sets and rules, so
//! what `weave policy why` says is what the kernel does.
//!
//! Isolation, as Kubernetes defines it: a target no policy of a direction selects is open in
//! that direction; a selected one allows only what some rule of a selecting policy allows; a
//! connection needs the source's egress and the destination's ingress to allow it; replies to
//! an allowed connection pass (connection tracking, in the kernel).
//!
//! Sets that hold selected targets are *hosted*: each host's kernel holds only its own targets
//! in them (a host enforces for what is attached to it), while the model knows them for every
//! host so `why` can answer for any pair. Target changes are incremental:
//! [`Model::upsert_target`] and [`Model::remove_target`] return just the element changes of
//! this host's kernel view.

use crate::types::NamespaceScope;
use crate::types::{
    Direction, NamedPort, Peer, Policy, PolicyId, PortMatch, Ports, Protocol, Target, NAMESPACE_NAME_LABEL,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// What a set holds, which decides its kernel type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SetKind {
    /// Addresses (`ipv4_addr`).
    Addr,
    /// Address ranges (`ipv4_addr`, interval): ipBlocks.
    Interval,
    /// Address and port pairs (`ipv4_addr . inet_service`): resolved named ports.
    AddrPort,
}

/// One element of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Elem {
    Addr(Ipv4Addr),
    Range(Ipv4Addr, Ipv4Addr),
    AddrPort(Ipv4Addr, u16),
}

/// What the other end of a rule must be.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerMatch {
    Any,
    /// Address in this set (of kind Addr or Interval).
    Set(String),
}

/// Which destination ports a rule allows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortSel {
    Any,
    Range(u16, u16),
    /// (destination address, destination port) in this AddrPort set.
    Named(String),
}

/// One allow rule as the kernel runs it. Egress rules match the source in `selected` and the
/// destination against `peer`; ingress rules the other way round.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KRule {
    pub policy: PolicyId,
    pub dir: Direction,
    /// Index of the rule in the policy's `ingress`/`egress` list.
    pub rule: usize,
    pub selected: String,
    pub peer: PeerMatch,
    pub protocol: Option<Protocol>,
    pub ports: PortSel,
    /// The named counter this rule counts into (one per policy rule).
    pub counter: String,
}

/// A policy as the kernel sees it: its short tag (used in set and counter names) and its types.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PolicyInfo {
    pub id: PolicyId,
    pub tag: u32,
    pub selected: String,
    pub ingress: bool,
    pub egress: bool,
}

impl PolicyInfo {
    /// The named counter that counts drops this policy isolated, per direction.
    pub fn drop_counter(&self, dir: Direction) -> String {
        format!("p{}_drop_{}", self.tag, dir_char(dir))
    }
}

/// This host's complete kernel view: every set with its elements, the rules, the policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelView {
    pub sets: BTreeMap<String, (SetKind, BTreeSet<Elem>)>,
    pub rules: Vec<KRule>,
    pub policies: Vec<PolicyInfo>,
}

/// One element change of this host's kernel view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElemChange {
    pub set: String,
    pub elem: Elem,
    pub add: bool,
}

/// The verdict of one direction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum DirVerdict {
    /// No policy of this direction selects the target (or it is not a weave target).
    Open,
    Allowed {
        policy: PolicyId,
        rule: usize,
    },
    Denied {
        isolating: Vec<PolicyId>,
    },
}

/// Both halves of a connection's verdict: the source's egress, the destination's ingress.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    pub egress: DirVerdict,
    pub ingress: DirVerdict,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        !matches!(self.egress, DirVerdict::Denied { .. })
            && !matches!(self.ingress, DirVerdict::Denied { .. })
    }
}

/// The names of the sets of local targets isolated in each direction.
pub const ISOLATED_INGRESS: &str = "iso_in";
pub const ISOLATED_EGRESS: &str = "iso_eg";
/// Local targets isolated in either direction: the kernel tracks connections only of these.
pub const ISOLATED_ANY: &str = "iso_any";
/// Who contributes static elements (ipBlocks) to a set.
const STATIC: &str = "";

#[derive(Clone, Debug)]
struct SetState {
    kind: SetKind,
    /// Only the contributing targets on the host asking count (selected targets).
    hosted: bool,
    elems: BTreeMap<Elem, BTreeSet<String>>,
}

#[derive(Clone, Debug)]
struct Entry {
    tag: u32,
    policy: Policy,
}

#[derive(Clone, Debug)]
pub struct Model {
    local: String,
    policies: BTreeMap<PolicyId, Entry>,
    next_tag: u32,
    targets: BTreeMap<String, Target>,
    by_addr: BTreeMap<Ipv4Addr, String>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    sets: BTreeMap<String, SetState>,
    rules: Vec<KRule>,
    /// Per target, the (set, element) pairs it contributes.
    contrib: BTreeMap<String, Vec<(String, Elem)>>,
}

fn dir_char(d: Direction) -> char {
    match d {
        Direction::Ingress => 'i',
        Direction::Egress => 'e',
    }
}

fn pods_set(tag: u32, d: Direction, r: usize) -> String {
    format!("p{tag}_{}{r}_pods", dir_char(d))
}
fn block_set(tag: u32, d: Direction, r: usize) -> String {
    format!("p{tag}_{}{r}_blk", dir_char(d))
}
fn named_set(tag: u32, d: Direction, r: usize, k: usize) -> String {
    format!("p{tag}_{}{r}_np{k}", dir_char(d))
}
fn selected_set(tag: u32) -> String {
    format!("p{tag}_sel")
}

impl Model {
    /// An empty model for the host named `local`.
    pub fn new(local: impl Into<String>) -> Model {
        let mut m = Model {
            local: local.into(),
            policies: BTreeMap::new(),
            next_tag: 1,
            targets: BTreeMap::new(),
            by_addr: BTreeMap::new(),
            namespaces: BTreeMap::new(),
            sets: BTreeMap::new(),
            rules: Vec::new(),
            contrib: BTreeMap::new(),
        };
        m.recompile();
        m
    }

    pub fn local_host(&self) -> &str {
        &self.local
    }

    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values().map(|e| &e.policy)
    }

    pub fn policy(&self, id: &PolicyId) -> Option<&Policy> {
        self.policies.get(id).map(|e| &e.policy)
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.values()
    }

    pub fn target(&self, id: &str) -> Option<&Target> {
        self.targets.get(id)
    }

    pub fn target_by_addr(&self, a: Ipv4Addr) -> Option<&Target> {
        self.by_addr.get(&a).and_then(|id| self.targets.get(id))
    }

    /// A namespace's labels, with the automatic name label.
    pub fn namespace_labels(&self, ns: &str) -> BTreeMap<String, String> {
        let mut l = self.namespaces.get(ns).cloned().unwrap_or_default();
        l.insert(NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
        l
    }

    /// Namespaces with labels of their own.
    pub fn namespaces(&self) -> &BTreeMap<String, BTreeMap<String, String>> {
        &self.namespaces
    }

    /// Replaces the whole policy set (a changed policy keeps its tag). Rules are rebuilt; the
    /// caller diffs [`Model::kernel_view`] against what the kernel has.
    pub fn set_policies(&mut self, policies: Vec<Policy>) {
        let mut next = BTreeMap::new();
        for p in policies {
            let tag = match self.policies.get(&p.id) {
                Some(e) => e.tag,
                None => {
                    self.next_tag += 1;
                    self.next_tag - 1
                }
            };
            next.insert(p.id.clone(), Entry { tag, policy: p });
        }
        self.policies = next;
        self.recompile();
    }

    /// Sets a namespace's own labels (the name label is automatic). Returns this host's element
    /// changes.
    pub fn set_namespace(&mut self, name: &str, labels: BTreeMap<String, String>) -> Vec<ElemChange> {
        if labels.is_empty() {
            self.namespaces.remove(name);
        } else {
            self.namespaces.insert(name.to_string(), labels);
        }
        let ids: Vec<String> =
            self.targets.values().filter(|t| t.namespace == name).map(|t| t.id.clone()).collect();
        let mut out = Vec::new();
        for id in ids {
            let t = self.targets[&id].clone();
            out.extend(self.upsert_target(t));
        }
        out
    }

    /// Adds or replaces a target. Returns this host's element changes.
    pub fn upsert_target(&mut self, t: Target) -> Vec<ElemChange> {
        let before = self.kernel_members(&t.id);
        self.withdraw(&t.id);
        for a in &t.addrs {
            self.by_addr.insert(*a, t.id.clone());
        }
        let contrib = self.contributions(&t);
        for (set, elem) in &contrib {
            if let Some(s) = self.sets.get_mut(set) {
                s.elems.entry(*elem).or_default().insert(t.id.clone());
            }
        }
        self.contrib.insert(t.id.clone(), contrib);
        self.targets.insert(t.id.clone(), t.clone());
        let after = self.kernel_members(&t.id);
        self.changes(before, after)
    }

    /// Removes a target. Returns this host's element changes.
    pub fn remove_target(&mut self, id: &str) -> Vec<ElemChange> {
        let before = self.kernel_members(id);
        self.withdraw(id);
        self.targets.remove(id);
        let after = self.kernel_members(id);
        self.changes(before, after)
    }

    /// Takes a target's contributions out of the sets.
    fn withdraw(&mut self, id: &str) {
        if let Some(old) = self.targets.get(id) {
            for a in &old.addrs {
                if self.by_addr.get(a).map(String::as_str) == Some(id) {
                    self.by_addr.remove(a);
                }
            }
        }
        for (set, elem) in self.contrib.remove(id).unwrap_or_default() {
            if let Some(s) = self.sets.get_mut(&set) {
                if let Some(who) = s.elems.get_mut(&elem) {
                    who.remove(id);
                    if who.is_empty() {
                        s.elems.remove(&elem);
                    }
                }
            }
        }
    }

    /// The (set, element) pairs in this host's kernel view that `id` contributes to (so their
    /// presence before and after a change can be compared).
    fn kernel_members(&self, id: &str) -> BTreeSet<(String, Elem)> {
        self.contrib
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(set, elem)| self.in_kernel(set, elem))
            .cloned()
            .collect()
    }

    fn changes(&self, before: BTreeSet<(String, Elem)>, after: BTreeSet<(String, Elem)>) -> Vec<ElemChange> {
        // An element another target still holds stays; recheck each against the current state.
        let mut out = Vec::new();
        for (set, elem) in before.difference(&after) {
            if !self.in_kernel(set, elem) {
                out.push(ElemChange { set: set.clone(), elem: *elem, add: false });
            }
        }
        for (set, elem) in after.difference(&before) {
            out.push(ElemChange { set: set.clone(), elem: *elem, add: true });
        }
        out
    }

    fn in_kernel(&self, set: &str, elem: &Elem) -> bool {
        self.has(set, elem, Some(&self.local))
    }

    /// Whether `set` holds `elem` in the view of `host` (None: a host with no targets).
    fn has(&self, set: &str, elem: &Elem, host: Option<&str>) -> bool {
        let Some(s) = self.sets.get(set) else { return false };
        let Some(who) = s.elems.get(elem) else { return false };
        if !s.hosted {
            return true;
        }
        who.iter().any(|id| self.targets.get(id).is_some_and(|t| Some(t.host.as_str()) == host))
    }

    fn pods_match(&self, peer: &Peer, t: &Target) -> bool {
        match peer {
            Peer::Block(_) => false,
            Peer::Pods { namespaces, pods } => {
                let ns_ok = match namespaces {
                    NamespaceScope::Own(ns) => *ns == t.namespace,
                    NamespaceScope::Selected(sel) => sel.matches(&self.namespace_labels(&t.namespace)),
                };
                ns_ok && pods.matches(&t.labels)
            }
        }
    }

    fn selects(&self, p: &Policy, t: &Target) -> bool {
        p.id.namespace == t.namespace && p.selector.matches(&t.labels)
    }

    /// Every (set, element) target `t` puts in the sets.
    fn contributions(&self, t: &Target) -> Vec<(String, Elem)> {
        let mut out = Vec::new();
        let addrs = |out: &mut Vec<(String, Elem)>, set: String| {
            out.extend(t.addrs.iter().map(|a| (set.clone(), Elem::Addr(*a))));
        };
        let (mut iso_in, mut iso_eg) = (false, false);
        for e in self.policies.values() {
            let p = &e.policy;
            let selected = self.selects(p, t);
            if selected {
                addrs(&mut out, selected_set(e.tag));
                iso_in |= p.ingress.is_some();
                iso_eg |= p.egress.is_some();
            }
            for dir in [Direction::Ingress, Direction::Egress] {
                for (r, rule) in p.rules(dir).unwrap_or_default().iter().enumerate() {
                    let peers = rule.peers.as_deref();
                    let peer_pod = peers.is_some_and(|ps| ps.iter().any(|peer| self.pods_match(peer, t)));
                    if peer_pod {
                        addrs(&mut out, pods_set(e.tag, dir, r));
                    }
                    for (k, pm) in rule.ports.iter().flatten().enumerate() {
                        let Ports::Named(name) = &pm.ports else { continue };
                        let Some(port) = t.named_port(name, pm.protocol) else { continue };
                        let set = named_set(e.tag, dir, r, k);
                        for a in &t.addrs {
                            let ok = match dir {
                                // The destination is the selected target itself.
                                Direction::Ingress => selected,
                                // The destination must be one of the rule's peers.
                                Direction::Egress => match peers {
                                    None => true,
                                    Some(ps) => {
                                        peer_pod
                                            || ps
                                                .iter()
                                                .any(|peer| matches!(peer, Peer::Block(b) if b.contains(*a)))
                                    }
                                },
                            };
                            if ok {
                                out.push((set.clone(), Elem::AddrPort(*a, port)));
                            }
                        }
                    }
                }
            }
        }
        if iso_in {
            addrs(&mut out, ISOLATED_INGRESS.to_string());
        }
        if iso_eg {
            addrs(&mut out, ISOLATED_EGRESS.to_string());
        }
        if iso_in || iso_eg {
            addrs(&mut out, ISOLATED_ANY.to_string());
        }
        out
    }

    /// Rebuilds sets and rules from scratch (policies changed).
    fn recompile(&mut self) {
        let mut sets = BTreeMap::new();
        let mut rules = Vec::new();
        let new_set = |sets: &mut BTreeMap<String, SetState>, name: &str, kind, hosted| {
            sets.insert(name.to_string(), SetState { kind, hosted, elems: BTreeMap::new() });
        };
        new_set(&mut sets, ISOLATED_INGRESS, SetKind::Addr, true);
        new_set(&mut sets, ISOLATED_EGRESS, SetKind::Addr, true);
        new_set(&mut sets, ISOLATED_ANY, SetKind::Addr, true);
        for e in self.policies.values() {
            let (p, tag) = (&e.policy, e.tag);
            let selected = selected_set(tag);
            new_set(&mut sets, &selected, SetKind::Addr, true);
            for dir in [Direction::Ingress, Direction::Egress] {
                for (r, rule) in p.rules(dir).unwrap_or_default().iter().enumerate() {
                    let counter = format!("p{tag}_{}{r}", dir_char(dir));
                    let mut peers = Vec::new();
                    match &rule.peers {
                        None => peers.push(PeerMatch::Any),
                        Some(ps) => {
                            if ps.iter().any(|p| matches!(p, Peer::Pods { .. })) {
                                let name = pods_set(tag, dir, r);
                                new_set(&mut sets, &name, SetKind::Addr, false);
                                peers.push(PeerMatch::Set(name));
                            }
                            let blocks: Vec<_> = ps
                                .iter()
                                .filter_map(|p| if let Peer::Block(b) = p { Some(b) } else { None })
                                .collect();
                            if !blocks.is_empty() {
                                let name = block_set(tag, dir, r);
                                let mut ranges: Vec<(u32, u32)> = blocks
                                    .iter()
                                    .flat_map(|b| b.ranges())
                                    .map(|(a, b)| (u32::from(a), u32::from(b)))
                                    .collect();
                                let elems = merge_ranges(&mut ranges)
                                    .into_iter()
                                    .map(|(a, b)| {
                                        (Elem::Range(a.into(), b.into()), [STATIC.to_string()].into())
                                    })
                                    .collect();
                                sets.insert(
                                    name.clone(),
                                    SetState { kind: SetKind::Interval, hosted: false, elems },
                                );
                                peers.push(PeerMatch::Set(name));
                            }
                        }
                    }
                    let ports: Vec<Option<&PortMatch>> = match &rule.ports {
                        None => vec![None],
                        Some(ps) => ps.iter().map(Some).collect(),
                    };
                    for (k, pm) in ports.into_iter().enumerate() {
                        let (protocol, sel) = match pm {
                            None => (None, PortSel::Any),
                            Some(pm) => (
                                Some(pm.protocol),
                                match &pm.ports {
                                    Ports::All => PortSel::Any,
                                    Ports::Range(a, b) => PortSel::Range(*a, *b),
                                    Ports::Named(_) => {
                                        let name = named_set(tag, dir, r, k);
                                        new_set(
                                            &mut sets,
                                            &name,
                                            SetKind::AddrPort,
                                            dir == Direction::Ingress,
                                        );
                                        PortSel::Named(name)
                                    }
                                },
                            ),
                        };
                        // An egress named port already holds only the rule's peers.
                        let peer_list = if dir == Direction::Egress && matches!(sel, PortSel::Named(_)) {
                            vec![PeerMatch::Any]
                        } else {
                            peers.clone()
                        };
                        for peer in peer_list {
                            rules.push(KRule {
                                policy: p.id.clone(),
                                dir,
                                rule: r,
                                selected: selected.clone(),
                                peer,
                                protocol,
                                ports: sel.clone(),
                                counter: counter.clone(),
                            });
                        }
                    }
                }
            }
        }
        self.sets = sets;
        self.rules = rules;
        self.contrib.clear();
        let targets: Vec<Target> = self.targets.values().cloned().collect();
        for t in targets {
            let contrib = self.contributions(&t);
            for (set, elem) in &contrib {
                if let Some(s) = self.sets.get_mut(set) {
                    s.elems.entry(*elem).or_default().insert(t.id.clone());
                }
            }
            self.contrib.insert(t.id.clone(), contrib);
        }
    }

    pub fn policy_infos(&self) -> Vec<PolicyInfo> {
        self.policies
            .values()
            .map(|e| PolicyInfo {
                id: e.policy.id.clone(),
                tag: e.tag,
                selected: selected_set(e.tag),
                ingress: e.policy.ingress.is_some(),
                egress: e.policy.egress.is_some(),
            })
            .collect()
    }

    pub fn rules(&self) -> &[KRule] {
        &self.rules
    }

    /// This host's kernel view.
    pub fn kernel_view(&self) -> KernelView {
        let sets = self
            .sets
            .iter()
            .map(|(name, s)| {
                let elems = s.elems.keys().filter(|e| self.in_kernel(name, e)).copied().collect();
                (name.clone(), (s.kind, elems))
            })
            .collect();
        KernelView { sets, rules: self.rules.clone(), policies: self.policy_infos() }
    }

    /// Whether `addr` is in `set` as the kernel of `host` holds it.
    fn addr_in(&self, set: &str, addr: Ipv4Addr, host: Option<&str>) -> bool {
        match self.sets.get(set).map(|s| s.kind) {
            Some(SetKind::Interval) => self.sets[set].elems.keys().any(|e| match e {
                Elem::Range(a, b) => *a <= addr && addr <= *b,
                _ => false,
            }),
            Some(_) => self.has(set, &Elem::Addr(addr), host),
            None => false,
        }
    }

    /// Evaluates the kernel rules for a new connection from `src` to `dst` (port and protocol;
    /// `None` for a protocol without ports): the egress half as `src`'s host runs it, the ingress
    /// half as `dst`'s host does.
    pub fn why(&self, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, port: Option<u16>) -> Verdict {
        let host_of = |a| self.target_by_addr(a).map(|t| t.host.clone());
        let (src_host, dst_host) = (host_of(src), host_of(dst));
        let egress = self.half(Direction::Egress, src, dst, proto, port, src_host.as_deref());
        let ingress = self.half(Direction::Ingress, src, dst, proto, port, dst_host.as_deref());
        Verdict { egress, ingress }
    }

    fn half(
        &self,
        dir: Direction,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        port: Option<u16>,
        host: Option<&str>,
    ) -> DirVerdict {
        let (me, other, iso) = match dir {
            Direction::Egress => (src, dst, ISOLATED_EGRESS),
            Direction::Ingress => (dst, src, ISOLATED_INGRESS),
        };
        if !self.addr_in(iso, me, host) {
            return DirVerdict::Open;
        }
        for r in self.rules.iter().filter(|r| r.dir == dir) {
            if self.rule_matches(r, me, other, dst, proto, port, host) {
                return DirVerdict::Allowed { policy: r.policy.clone(), rule: r.rule };
            }
        }
        let isolating = self
            .policies
            .values()
            .filter(|e| e.policy.rules(dir).is_some() && self.addr_in(&selected_set(e.tag), me, host))
            .map(|e| e.policy.id.clone())
            .collect();
        DirVerdict::Denied { isolating }
    }

    #[allow(clippy::too_many_arguments)]
    fn rule_matches(
        &self,
        r: &KRule,
        me: Ipv4Addr,
        other: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        port: Option<u16>,
        host: Option<&str>,
    ) -> bool {
        if !self.addr_in(&r.selected, me, host) {
            return false;
        }
        if let PeerMatch::Set(s) = &r.peer {
            if !self.addr_in(s, other, host) {
                return false;
            }
        }
        if let Some(p) = r.protocol {
            if p.number() != proto {
                return false;
            }
        }
        match &r.ports {
            PortSel::Any => true,
            PortSel::Range(a, b) => port.is_some_and(|p| *a <= p && p <= *b),
            PortSel::Named(s) => port.is_some_and(|p| self.has(s, &Elem::AddrPort(dst, p), host)),
        }
    }

    /// The policies that isolate `addr` in `dir` (for attributing a drop the kernel logged).
    pub fn isolating(&self, addr: Ipv4Addr, dir: Direction) -> Vec<PolicyId> {
        let host = self.target_by_addr(addr).map(|t| t.host.clone());
        self.policies
            .values()
            .filter(|e| {
                e.policy.rules(dir).is_some() && self.addr_in(&selected_set(e.tag), addr, host.as_deref())
            })
            .map(|e| e.policy.id.clone())
            .collect()
    }
}

/// Sorts and merges overlapping or adjacent ranges (an interval set refuses overlaps).
fn merge_ranges(r: &mut [(u32, u32)]) -> Vec<(u32, u32)> {
    r.sort();
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &(a, b) in r.iter() {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// A port a target declares, parsed from `NAME=PORT[/PROTO]` (the CLI's `--port`).
pub fn parse_named_port(s: &str) -> Result<NamedPort, String> {
    let (name, rest) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected NAME=PORT[/PROTO], such as http=8080/tcp"))?;
    crate::validate::port_name(name).map_err(|why| format!("port name {name:?} {why}"))?;
    let (num, proto) = rest.split_once('/').unwrap_or((rest, "tcp"));
    let port: u16 =
        num.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("{num:?} is not a port: 1 to 65535"))?;
    let protocol = Protocol::parse(&proto.to_ascii_uppercase())
        .ok_or_else(|| format!("{proto:?}: the protocol is tcp, udp or sctp"))?;
    Ok(NamedPort { name: name.to_string(), port, protocol })
}
