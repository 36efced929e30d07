//! The NAT rules of services, as nftables batches (the `nftables` crate's typed JSON, applied
//! by `nft -j -f` in one transaction, as the policy tables are). Pure: builds the batches;
//! [`super::kernel`] applies them.
//!
//! On the host, table `ip weave_services`, rebuilt whole at every change and present only
//! while an export or import is in force (a NAT hook switches connection tracking on for
//! every packet, which the fast datapath should not pay for when nothing needs it):
//! ```text
//! prerouting  nat, dstnat   export: [ip daddr HOST | fib daddr type local] PROTO dport PUB dnat to T:P
//! output      nat, dstnat   the same, for connections from the host itself (hairpin)
//!                           import: ip daddr W PROTO dport WP dnat to OUT:P
//! postrouting nat, srcnat   export: ct status dnat ip daddr T PROTO dport P ct original proto-dst PUB
//!                                   snat to W      (the target answers the host, which un-NATs)
//!                           import: ct status dnat ip daddr OUT PROTO dport P ct original ip daddr W
//!                                   masquerade     (the outside answers the host)
//! ```
//! In a bound target's namespace, table `ip weave_bind`: `ip daddr W PROTO dport WP redirect
//! to :P` in prerouting (clients) and output (the target itself).

use nftables::batch::Batch;
use nftables::expr::{
    CTDir, CTFamily, Expression, Fib, FibFlag, FibResult, NamedExpression, Payload, PayloadField, CT,
};
use nftables::schema::{self, Chain, NfCmd, NfListObject, Nftables, Table};
use nftables::stmt::{Match, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use std::borrow::Cow;
use std::net::Ipv4Addr;
use weave_api::Protocol;

pub const HOST_TABLE: &str = "weave_services";
pub const BIND_TABLE: &str = "weave_bind";

/// An export or import in force on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRule {
    Export {
        proto: Protocol,
        /// The host address published on; every local address when `None`.
        publish_addr: Option<Ipv4Addr>,
        publish_port: u16,
        target: Ipv4Addr,
        port: u16,
        /// The host's weave address the target sees the connections come from.
        snat: Ipv4Addr,
    },
    Import {
        proto: Protocol,
        weave: Ipv4Addr,
        weave_port: u16,
        addr: Ipv4Addr,
        port: u16,
    },
}

/// A bind in force in a target's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRule {
    pub proto: Protocol,
    pub weave: Ipv4Addr,
    pub weave_port: u16,
    pub port: u16,
}

fn s(v: impl ToString) -> Expression<'static> {
    Expression::String(Cow::Owned(v.to_string()))
}

fn payload(proto: &str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: Cow::Owned(proto.to_string()),
        field: field.into(),
    })))
}

fn ct(key: &'static str, family: Option<CTFamily>) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT { key: key.into(), family, dir: Some(CTDir::Original) }))
}

fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn daddr(a: Ipv4Addr) -> Statement<'static> {
    is(payload("ip", "daddr"), s(a))
}

fn dport(proto: Protocol, p: u16) -> Statement<'static> {
    is(payload(proto.as_str(), "dport"), Expression::Number(p.into()))
}

fn dnat_status() -> Statement<'static> {
    Statement::Match(Match {
        left: Expression::Named(NamedExpression::CT(CT { key: "status".into(), family: None, dir: None })),
        right: s("dnat"),
        op: Operator::IN,
    })
}

fn nat(addr: Option<Ipv4Addr>, port: u16) -> Option<NAT<'static>> {
    Some(NAT { addr: addr.map(s), family: None, port: Some(Expression::Number(port.into())), flags: None })
}

fn table(name: &'static str) -> NfListObject<'static> {
    NfListObject::Table(Table { family: NfFamily::IP, name: name.into(), handle: None })
}

fn chain(table: &'static str, name: &'static str, hook: NfHook, prio: i32) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family: NfFamily::IP,
        table: table.into(),
        name: name.into(),
        _type: Some(NfChainType::NAT),
        hook: Some(hook),
        prio: Some(prio),
        policy: Some(NfChainPolicy::Accept),
        ..Default::default()
    })
}

fn rule(table: &'static str, chain: &'static str, expr: Vec<Statement<'static>>) -> NfCmd<'static> {
    NfCmd::Add(NfListObject::Rule(schema::Rule {
        family: NfFamily::IP,
        table: table.into(),
        chain: chain.into(),
        expr: expr.into(),
        ..Default::default()
    }))
}

/// Replaces `table` with the chains and rules given, or removes it when `rules` is empty:
/// adding it first makes the delete succeed whether or not it existed, all in one transaction.
fn replace(
    table_name: &'static str,
    chains: &[(&'static str, NfHook, i32)],
    rules: Vec<NfCmd<'static>>,
) -> Nftables<'static> {
    let mut b = Batch::new();
    b.add(table(table_name));
    b.delete(table(table_name));
    if !rules.is_empty() {
        b.add(table(table_name));
        for (name, hook, prio) in chains {
            b.add(chain(table_name, name, *hook, *prio));
        }
        for r in rules {
            b.add_cmd(r);
        }
    }
    b.to_nftables()
}

/// The host's table for `rules` (none: the table goes).
pub fn host_batch(rules: &[HostRule]) -> Nftables<'static> {
    let t = HOST_TABLE;
    let mut cmds = Vec::new();
    for r in rules {
        match *r {
            HostRule::Export { proto, publish_addr, publish_port, target, port, snat } => {
                let to_host = match publish_addr {
                    Some(a) => daddr(a),
                    None => is(
                        Expression::Named(NamedExpression::Fib(Fib {
                            result: FibResult::Type,
                            flags: [FibFlag::Daddr].into(),
                        })),
                        s("local"),
                    ),
                };
                for c in ["prerouting", "output"] {
                    cmds.push(rule(
                        t,
                        c,
                        vec![
                            to_host.clone(),
                            dport(proto, publish_port),
                            Statement::DNAT(nat(Some(target), port)),
                        ],
                    ));
                }
                cmds.push(rule(
                    t,
                    "postrouting",
                    vec![
                        dnat_status(),
                        daddr(target),
                        dport(proto, port),
                        is(ct("proto-dst", None), Expression::Number(publish_port.into())),
                        Statement::SNAT(Some(NAT {
                            addr: Some(s(snat)),
                            family: None,
                            port: None,
                            flags: None,
                        })),
                    ],
                ));
            }
            HostRule::Import { proto, weave, weave_port, addr, port } => {
                for c in ["prerouting", "output"] {
                    cmds.push(rule(
                        t,
                        c,
                        vec![daddr(weave), dport(proto, weave_port), Statement::DNAT(nat(Some(addr), port))],
                    ));
                }
                cmds.push(rule(
                    t,
                    "postrouting",
                    vec![
                        dnat_status(),
                        daddr(addr),
                        dport(proto, port),
                        is(ct("daddr", Some(CTFamily::IP)), s(weave)),
                        Statement::Masquerade(None),
                    ],
                ));
            }
        }
    }
    replace(
        t,
        &[
            ("prerouting", NfHook::Prerouting, -100),
            ("output", NfHook::Output, -100),
            ("postrouting", NfHook::Postrouting, 100),
        ],
        cmds,
    )
}

/// A bound target's table for `rules` (none: the table goes).
pub fn bind_batch(rules: &[BindRule]) -> Nftables<'static> {
    let t = BIND_TABLE;
    let mut cmds = Vec::new();
    for r in rules {
        for c in ["prerouting", "output"] {
            cmds.push(rule(
                t,
                c,
                vec![daddr(r.weave), dport(r.proto, r.weave_port), Statement::Redirect(nat(None, r.port))],
            ));
        }
    }
    replace(t, &[("prerouting", NfHook::Prerouting, -100), ("output", NfHook::Output, -100)], cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(n: &Nftables) -> String {
        serde_json::to_string(n).unwrap()
    }

    #[test]
    fn an_export_dnats_on_every_local_address_and_snats_towards_the_target() {
        let n = host_batch(&[HostRule::Export {
            proto: Protocol::Udp,
            publish_addr: None,
            publish_port: 5353,
            target: "10.32.0.9".parse().unwrap(),
            port: 53,
            snat: "10.32.0.2".parse().unwrap(),
        }]);
        let j = json(&n);
        assert!(
            j.starts_with(
                r#"{"nftables":[{"add":{"table":{"family":"ip","name":"weave_services"}}},{"delete":{"table""#
            ),
            "{j}"
        );
        assert!(j.contains(r#""fib":{"result":"type","flags":["daddr"]}"#), "{j}");
        assert!(j.contains(r#"{"dnat":{"addr":"10.32.0.9","port":53}}"#), "{j}");
        assert!(j.contains(r#"{"snat":{"addr":"10.32.0.2"}}"#), "{j}");
        assert!(j.contains(r#"{"ct":{"key":"proto-dst","dir":"original"}}"#), "{j}");
        assert!(j.contains(r#""protocol":"udp","field":"dport""#), "{j}");
        assert_eq!(j.matches(r#""dnat":"#).count(), 2, "prerouting and output: {j}");
    }

    #[test]
    fn an_import_masquerades_what_was_sent_to_its_weave_address() {
        let j = json(&host_batch(&[HostRule::Import {
            proto: Protocol::Tcp,
            weave: "10.32.0.5".parse().unwrap(),
            weave_port: 80,
            addr: "192.168.77.2".parse().unwrap(),
            port: 8000,
        }]));
        assert!(j.contains(r#"{"ct":{"key":"daddr","family":"ip","dir":"original"}}"#), "{j}");
        assert!(j.contains(r#"{"masquerade":null}"#), "{j}");
        assert!(j.contains(r#"{"dnat":{"addr":"192.168.77.2","port":8000}}"#), "{j}");
    }

    #[test]
    fn no_rules_no_table_and_binds_redirect() {
        let j = json(&host_batch(&[]));
        assert_eq!(j.matches(r#""table""#).count(), 2, "add then delete, nothing else: {j}");
        assert!(!j.contains("chain"), "{j}");
        let j = json(&bind_batch(&[BindRule {
            proto: Protocol::Tcp,
            weave: "10.32.5.5".parse().unwrap(),
            weave_port: 80,
            port: 8080,
        }]));
        assert!(j.contains(r#"{"redirect":{"port":8080}}"#), "{j}");
        assert!(j.contains("weave_bind"), "{j}");
    }
}
