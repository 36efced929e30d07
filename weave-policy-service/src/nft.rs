//! Renders the policy model's kernel view as nftables commands (the `nftables` crate's typed
//! JSON schema, applied by `nft -j -f` in one transaction), and the batches that bring the
//! kernel from one view to the next: element adds and deletes when targets come and go, a
//! rebuild of the chains only when policies change.
//!
//! Table `inet weave_policy`, present only while some policy exists: its `ct` expression
//! switches connection tracking on for the whole namespace, which fastdp without policies must
//! not pay for. Where it exists, the raw chains keep connection tracking to what needs it:
//! bridged frames between weave ports (`vethwe*`: containers, fastdp, sleeve) that neither come
//! from nor go to a local isolated target, and the overlay's own UDP (fastdp's VXLAN and
//! sleeve, outer packets), are not tracked. Routed traffic (expose's NAT) is left alone.
//! Chains:
//! ```text
//! raw_pre  hook prerouting, priority raw:  udp dport {overlay ports} notrack
//!          iifname "vethwe*" ip saddr != @iso_any ip daddr != @iso_any notrack
//! raw_out  hook output, priority raw:      udp dport {overlay ports} notrack
//! forward  hook forward, priority filter, policy accept   (sees bridged frames: br_netfilter)
//!          ip daddr @iso_in goto check
//!          ip saddr @iso_eg goto check                    (everything else: one lookup each)
//! check    ct state established,related accept            (replies to allowed connections)
//!          ip saddr @iso_eg jump egress
//!          ip daddr @iso_in jump ingress
//!          accept
//! egress   <allow rules: ip saddr @pN_sel [ip daddr @peers] [l4proto, dport] counter return>
//!          ip saddr @pN_sel counter name pN_drop_e        (per isolating policy)
//!          limit log group 86 prefix "weave-policy egress" ; drop
//! ingress  <allow rules: ip daddr @pN_sel [ip saddr @peers] [...] counter accept>
//!          ip daddr @pN_sel counter name pN_drop_i ; limit log ... ; drop
//! ```

use nftables::batch::Batch;
use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, SetItem, CT};
use nftables::schema::{
    self, Chain, Counter, Element, FlushObject, NfCmd, NfListObject, Nftables, Set, SetFlag, SetType,
    SetTypeValue, Table,
};
use nftables::stmt::{self, JumpTarget, Log, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use std::borrow::Cow;
use std::collections::BTreeSet;
use weave_policy::{Direction, Elem, KRule, KernelView, PeerMatch, PortSel, SetKind};

pub const TABLE: &str = "weave_policy";
/// The NFLOG group drops are logged to (Weave Net's weave-npc used 86 too).
pub const LOG_GROUP: u16 = 86;
/// How many drops a second are logged (per direction); counters count them all.
pub const LOG_RATE: u32 = 50;
/// Bytes of each dropped packet copied to userspace: IP header and ports.
pub const LOG_SNAPLEN: u32 = 64;
pub const LOG_PREFIX: &str = "weave-policy ";
const CHAINS: [&str; 6] = ["raw_pre", "raw_out", "forward", "check", "egress", "ingress"];
/// The overlay's UDP ports by default (sleeve, fastdp).
pub const OVERLAY_PORTS: [u16; 2] = [6783, 6784];
const FAMILY: NfFamily = NfFamily::INet;

fn s(v: &str) -> Expression<'static> {
    Expression::String(Cow::Owned(v.to_string()))
}

fn set_ref(name: &str) -> Expression<'static> {
    s(&format!("@{name}"))
}

fn payload(proto: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: proto.into(),
        field: field.into(),
    })))
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn counter(name: &str) -> Statement<'static> {
    Statement::Counter(stmt::Counter::Named(Cow::Owned(name.to_string())))
}

fn jump(to: &str) -> Statement<'static> {
    Statement::Jump(JumpTarget { target: Cow::Owned(to.to_string()) })
}

fn goto(to: &str) -> Statement<'static> {
    Statement::Goto(JumpTarget { target: Cow::Owned(to.to_string()) })
}

fn table() -> Table<'static> {
    Table { family: FAMILY, name: TABLE.into(), handle: None }
}

fn chain(name: &str) -> Chain<'static> {
    let mut c = Chain {
        family: FAMILY,
        table: TABLE.into(),
        name: Cow::Owned(name.to_string()),
        ..Default::default()
    };
    let hook = match name {
        "forward" => Some((NfHook::Forward, 0)),
        "raw_pre" => Some((NfHook::Prerouting, -300)),
        "raw_out" => Some((NfHook::Output, -300)),
        _ => None,
    };
    if let Some((hook, prio)) = hook {
        c._type = Some(NfChainType::Filter);
        c.hook = Some(hook);
        c.prio = Some(prio);
        c.policy = Some(NfChainPolicy::Accept);
    }
    c
}

fn rule(chain: &str, expr: Vec<Statement<'static>>) -> NfCmd<'static> {
    NfCmd::Add(NfListObject::Rule(schema::Rule {
        family: FAMILY,
        table: TABLE.into(),
        chain: Cow::Owned(chain.to_string()),
        expr: expr.into(),
        ..Default::default()
    }))
}

fn elem_expr(e: &Elem) -> Expression<'static> {
    match e {
        Elem::Addr(a) => s(&a.to_string()),
        Elem::Range(a, b) if a == b => s(&a.to_string()),
        Elem::Range(a, b) => Expression::Range(Box::new(nftables::expr::Range {
            range: [s(&a.to_string()), s(&b.to_string())],
        })),
        Elem::AddrPort(a, p) => Expression::Named(NamedExpression::Concat(vec![
            s(&a.to_string()),
            Expression::Number(u32::from(*p)),
        ])),
    }
}

fn set_def(name: &str, kind: SetKind, elems: &BTreeSet<Elem>) -> Set<'static> {
    let (set_type, flags) = match kind {
        SetKind::Addr => (SetTypeValue::Single(SetType::Ipv4Addr), None),
        SetKind::Interval => (SetTypeValue::Single(SetType::Ipv4Addr), Some([SetFlag::Interval].into())),
        SetKind::AddrPort => {
            (SetTypeValue::Concatenated(vec![SetType::Ipv4Addr, SetType::InetService].into()), None)
        }
    };
    Set {
        family: FAMILY,
        table: TABLE.into(),
        name: Cow::Owned(name.to_string()),
        set_type,
        flags,
        elem: (!elems.is_empty()).then(|| elems.iter().map(elem_expr).collect::<Vec<_>>().into()),
        ..Default::default()
    }
}

fn element(set: &str, elems: Vec<Expression<'static>>) -> Element<'static> {
    Element { family: FAMILY, table: TABLE.into(), name: Cow::Owned(set.to_string()), elem: elems.into() }
}

fn named_counter(name: &str) -> Counter<'static> {
    Counter {
        family: FAMILY,
        table: TABLE.into(),
        name: Cow::Owned(name.to_string()),
        handle: None,
        packets: None,
        bytes: None,
    }
}

/// Every counter name the view uses.
fn counter_names(view: &KernelView) -> BTreeSet<String> {
    let mut c: BTreeSet<String> = view.rules.iter().map(|r| r.counter.clone()).collect();
    for p in &view.policies {
        if p.ingress {
            c.insert(p.drop_counter(Direction::Ingress));
        }
        if p.egress {
            c.insert(p.drop_counter(Direction::Egress));
        }
    }
    c
}

/// The statements of one allow rule.
fn allow_rule(r: &KRule) -> Vec<Statement<'static>> {
    let (me, other, verdict) = match r.dir {
        Direction::Egress => ("saddr", "daddr", Statement::Return(None)),
        Direction::Ingress => ("daddr", "saddr", Statement::Accept(None)),
    };
    let mut e = vec![eq(payload("ip", me), set_ref(&r.selected))];
    if let PeerMatch::Set(set) = &r.peer {
        e.push(eq(payload("ip", other), set_ref(set)));
    }
    if let Some(p) = r.protocol {
        e.push(eq(
            Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::L4proto })),
            Expression::Number(u32::from(p.number())),
        ));
    }
    match &r.ports {
        PortSel::Any => {}
        PortSel::Range(a, b) if a == b => {
            e.push(eq(payload("th", "dport"), Expression::Number(u32::from(*a))))
        }
        PortSel::Range(a, b) => e.push(eq(
            payload("th", "dport"),
            Expression::Range(Box::new(nftables::expr::Range {
                range: [Expression::Number(u32::from(*a)), Expression::Number(u32::from(*b))],
            })),
        )),
        PortSel::Named(set) => e.push(eq(
            Expression::Named(NamedExpression::Concat(vec![payload("ip", "daddr"), payload("th", "dport")])),
            set_ref(set),
        )),
    }
    e.push(counter(&r.counter));
    e.push(verdict);
    e
}

/// The rules of every chain, in order.
fn chain_rules(view: &KernelView, overlay_ports: &[u16]) -> Vec<NfCmd<'static>> {
    let iso_in = weave_policy::model::ISOLATED_INGRESS;
    let iso_eg = weave_policy::model::ISOLATED_EGRESS;
    let iso_any = weave_policy::model::ISOLATED_ANY;
    let ports = || {
        Expression::Named(NamedExpression::Set(
            overlay_ports.iter().map(|p| SetItem::Element(Expression::Number(u32::from(*p)))).collect(),
        ))
    };
    let ne = |left, right| Statement::Match(Match { left, right, op: Operator::NEQ });
    let mut out = vec![
        rule("raw_pre", vec![eq(payload("udp", "dport"), ports()), Statement::Notrack]),
        rule(
            "raw_pre",
            vec![
                eq(Expression::Named(NamedExpression::Meta(Meta { key: MetaKey::Iifname })), s("vethwe*")),
                ne(payload("ip", "saddr"), set_ref(iso_any)),
                ne(payload("ip", "daddr"), set_ref(iso_any)),
                Statement::Notrack,
            ],
        ),
        rule("raw_out", vec![eq(payload("udp", "dport"), ports()), Statement::Notrack]),
        rule("forward", vec![eq(payload("ip", "daddr"), set_ref(iso_in)), goto("check")]),
        rule("forward", vec![eq(payload("ip", "saddr"), set_ref(iso_eg)), goto("check")]),
        rule(
            "check",
            vec![
                Statement::Match(Match {
                    left: Expression::Named(NamedExpression::CT(CT {
                        key: "state".into(),
                        family: None,
                        dir: None,
                    })),
                    right: Expression::List(vec![s("established"), s("related")]),
                    op: Operator::IN,
                }),
                Statement::Accept(None),
            ],
        ),
        rule("check", vec![eq(payload("ip", "saddr"), set_ref(iso_eg)), jump("egress")]),
        rule("check", vec![eq(payload("ip", "daddr"), set_ref(iso_in)), jump("ingress")]),
        rule("check", vec![Statement::Accept(None)]),
    ];
    for (dir, chain, me) in [(Direction::Egress, "egress", "saddr"), (Direction::Ingress, "ingress", "daddr")]
    {
        for r in view.rules.iter().filter(|r| r.dir == dir) {
            out.push(rule(chain, allow_rule(r)));
        }
        for p in &view.policies {
            let has = match dir {
                Direction::Ingress => p.ingress,
                Direction::Egress => p.egress,
            };
            if has {
                out.push(rule(
                    chain,
                    vec![eq(payload("ip", me), set_ref(&p.selected)), counter(&p.drop_counter(dir))],
                ));
            }
        }
        out.push(rule(
            chain,
            vec![
                Statement::Limit(stmt::Limit {
                    rate: LOG_RATE,
                    rate_unit: None,
                    per: Some("second".into()),
                    burst: Some(LOG_RATE),
                    burst_unit: None,
                    inv: None,
                }),
                Statement::Log(Some(Log {
                    prefix: Some(Cow::Owned(format!("{LOG_PREFIX}{dir}"))),
                    snaplen: Some(LOG_SNAPLEN),
                    ..Log::new(Some(u32::from(LOG_GROUP)))
                })),
            ],
        ));
        out.push(rule(chain, vec![Statement::Drop(None)]));
    }
    out
}

/// The batch that brings the kernel from `prev` (`None`: unknown, so start from an empty
/// table) to `next`. `next` without policies removes the table.
pub fn transition(prev: Option<&KernelView>, next: &KernelView, overlay_ports: &[u16]) -> Nftables<'static> {
    let mut b = Batch::new();
    if next.policies.is_empty() {
        // `add` first, so the delete cannot fail on a table that is not there.
        b.add(NfListObject::Table(table()));
        b.delete(NfListObject::Table(table()));
        return b.to_nftables();
    }
    let prev = match prev {
        Some(p) if !p.policies.is_empty() => p,
        _ => {
            b.add(NfListObject::Table(table()));
            b.delete(NfListObject::Table(table()));
            b.add(NfListObject::Table(table()));
            for c in CHAINS {
                b.add(NfListObject::Chain(chain(c)));
            }
            for name in counter_names(next) {
                b.add(NfListObject::Counter(named_counter(&name)));
            }
            for (name, (kind, elems)) in &next.sets {
                b.add(NfListObject::Set(Box::new(set_def(name, *kind, elems))));
            }
            for cmd in chain_rules(next, overlay_ports) {
                b.add_cmd(cmd);
            }
            return b.to_nftables();
        }
    };
    let rules_changed = prev.rules != next.rules || prev.policies != next.policies;
    if rules_changed {
        // Flushing the chains first frees the sets and counters they referenced.
        for c in CHAINS {
            b.add_cmd(NfCmd::Flush(FlushObject::Chain(chain(c))));
        }
    }
    let (old_c, new_c) = (counter_names(prev), counter_names(next));
    for name in new_c.difference(&old_c) {
        b.add(NfListObject::Counter(named_counter(name)));
    }
    for (name, (kind, elems)) in &next.sets {
        match prev.sets.get(name) {
            None => b.add(NfListObject::Set(Box::new(set_def(name, *kind, elems)))),
            Some((old_kind, _)) if old_kind != kind => {
                b.delete(NfListObject::Set(Box::new(set_def(name, *old_kind, &BTreeSet::new()))));
                b.add(NfListObject::Set(Box::new(set_def(name, *kind, elems))));
            }
            Some((_, old)) if *kind == SetKind::Interval => {
                if old != elems {
                    b.add_cmd(NfCmd::Flush(FlushObject::Set(Box::new(set_def(
                        name,
                        *kind,
                        &BTreeSet::new(),
                    )))));
                    if !elems.is_empty() {
                        b.add(NfListObject::Element(element(name, elems.iter().map(elem_expr).collect())));
                    }
                }
            }
            Some((_, old)) => {
                let gone: Vec<_> = old.difference(elems).map(elem_expr).collect();
                let new: Vec<_> = elems.difference(old).map(elem_expr).collect();
                if !gone.is_empty() {
                    b.delete(NfListObject::Element(element(name, gone)));
                }
                if !new.is_empty() {
                    b.add(NfListObject::Element(element(name, new)));
                }
            }
        }
    }
    if rules_changed {
        for cmd in chain_rules(next, overlay_ports) {
            b.add_cmd(cmd);
        }
    }
    for (name, (kind, _)) in &prev.sets {
        if !next.sets.contains_key(name) {
            b.delete(NfListObject::Set(Box::new(set_def(name, *kind, &BTreeSet::new()))));
        }
    }
    for name in old_c.difference(&new_c) {
        b.delete(NfListObject::Counter(named_counter(name)));
    }
    b.to_nftables()
}

/// The batch for element changes (a target came, went or changed), or `None` when there is
/// nothing to do.
pub fn element_changes(changes: &[weave_policy::ElemChange]) -> Option<Nftables<'static>> {
    if changes.is_empty() {
        return None;
    }
    let mut b = Batch::new();
    // Deletes first: a target that moved address must not briefly hold both.
    for add in [false, true] {
        for c in changes.iter().filter(|c| c.add == add) {
            let e = element(&c.set, vec![elem_expr(&c.elem)]);
            if add {
                b.add(NfListObject::Element(e));
            } else {
                b.delete(NfListObject::Element(e));
            }
        }
    }
    Some(b.to_nftables())
}

/// Applies element changes to a view, as the kernel applies the batch.
pub fn apply_changes(view: &mut KernelView, changes: &[weave_policy::ElemChange]) {
    for c in changes {
        if let Some((_, set)) = view.sets.get_mut(&c.set) {
            if c.add {
                set.insert(c.elem);
            } else {
                set.remove(&c.elem);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(yaml: &str) -> (weave_policy::Model, KernelView) {
        let mut m = weave_policy::Model::new("h1");
        m.upsert_target(weave_policy::Target {
            id: "a".into(),
            namespace: "default".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            ports: vec![weave_policy::NamedPort {
                name: "http".into(),
                port: 8080,
                protocol: weave_policy::Protocol::Tcp,
            }],
            addrs: vec!["10.32.0.1".parse().unwrap()],
            host: "h1".into(),
        });
        m.set_policies(weave_policy::parse(yaml).unwrap());
        let v = m.kernel_view();
        (m, v)
    }

    const POLICY: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {}}, {ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]\n    ports: [{port: http}, {port: 80, endPort: 90, protocol: UDP}]\n";

    #[test]
    fn a_first_batch_builds_the_table_from_scratch_in_nfts_json() {
        let (_, v) = view(POLICY);
        let json = serde_json::to_string(&transition(None, &v, &OVERLAY_PORTS)).unwrap();
        for want in [
            r#"{"delete":{"table":{"family":"inet","name":"weave_policy"}}}"#,
            r#""hook":"forward""#,
            r#""right":"@iso_in""#,
            r#"{"ct":{"key":"state"}}"#,
            r#""flags":["interval"]"#,
            r#"{"range":["192.168.0.0","192.168.0.255"]}"#,
            r#"{"concat":[{"payload":{"protocol":"ip","field":"daddr"}},{"payload":{"protocol":"th","field":"dport"}}]}"#,
            r#"{"concat":["10.32.0.1",8080]}"#,
            r#""group":86"#,
            r#"{"counter":"p1_drop_i"}"#,
            r#""notrack"]"#,
            r#""right":{"set":[6783,6784]}"#,
        ] {
            assert!(json.contains(want), "missing {want} in {json}");
        }
    }

    #[test]
    fn a_target_change_is_element_commands_only_and_no_policy_removes_the_table() {
        let (mut m, v) = view(POLICY);
        let changes = m.upsert_target(weave_policy::Target {
            id: "b".into(),
            namespace: "default".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            addrs: vec!["10.32.0.2".parse().unwrap()],
            host: "h1".into(),
            ..Default::default()
        });
        let json = serde_json::to_string(&element_changes(&changes).unwrap()).unwrap();
        assert!(!json.contains("\"rule\"") && !json.contains("\"flush\""), "{json}");
        assert!(json.contains(r#""elem":["10.32.0.2"]"#), "{json}");
        // The same change through a full diff gives the same element commands.
        let mut applied = v.clone();
        apply_changes(&mut applied, &changes);
        assert_eq!(applied, m.kernel_view());
        let diff = serde_json::to_string(&transition(Some(&v), &m.kernel_view(), &OVERLAY_PORTS)).unwrap();
        assert!(!diff.contains("\"flush\""), "{diff}");
        m.set_policies(vec![]);
        let gone =
            serde_json::to_string(&transition(Some(&applied), &m.kernel_view(), &OVERLAY_PORTS)).unwrap();
        assert!(gone.contains(r#"{"delete":{"table""#), "{gone}");
    }
}
