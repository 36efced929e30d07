//! `weave prime`, `weave rmpeer` and `weave ipam check`.

use crate::cli::Output;
use crate::output::{json, CmdResult, Failure};
use weave_api::{Client, ClientError, IpamCheck};

/// Waits until IPAM consensus is reached.
pub async fn prime(client: &Client) -> CmdResult {
    client.ipam_prime().await?;
    Ok(())
}

/// Takes over each peer's space in turn; every failure is reported, the others go ahead.
pub async fn rmpeer(client: &Client, peers: &[String], force: bool) -> CmdResult {
    let mut last = None;
    for peer in peers {
        match client.ipam_rmpeer(peer, force).await {
            Ok(r) => println!("{} IPs taken over from {}", r.taken_over, r.peer),
            Err(e @ (ClientError::Disabled(_) | ClientError::Unreachable { .. })) => return Err(e.into()),
            Err(e) => {
                if let Some(Failure { message, .. }) = last.replace(Failure::from(e)) {
                    eprintln!("weave: {message}");
                }
            }
        }
    }
    last.map_or(Ok(()), Err)
}

pub async fn check(client: &Client, output: Output) -> CmdResult {
    let c = client.ipam_check().await?;
    if output == Output::Json {
        println!("{}", json(&c));
    } else {
        print!("{}", render(&c));
    }
    Ok(())
}

/// The check as text: one block per kind of problem, each line ending with its fix.
fn render(c: &IpamCheck) -> String {
    use std::fmt::Write;
    if c.ok {
        return "IPAM: no problems found\n".into();
    }
    let mut s = String::new();
    if !c.unreachable.is_empty() {
        s.push_str("Space owned by unreachable peers (take it over once the peer is known to be dead):\n");
        for u in &c.unreachable {
            let who = format!("{}({})", u.peer, u.nickname);
            let _ = writeln!(s, "  {who:<37} {:>8} IPs   fix: {}", u.ips, u.fix);
        }
    }
    if !c.orphans.is_empty() {
        s.push_str("Addresses held for targets that no longer exist or no longer carry them:\n");
        for o in &c.orphans {
            let _ = writeln!(s, "  {} {} ({})   fix: {}", o.ident, o.addrs.join(" "), o.reason, o.fix);
        }
    }
    if !c.errors.is_empty() {
        s.push_str("IPAM gossip refused (the connection is closed and retried):\n");
        for e in &c.errors {
            let from = e.peer.as_deref().map(|p| format!("from {p}: ")).unwrap_or_default();
            let times = if e.count > 1 { format!(" ({} times)", e.count) } else { String::new() };
            let _ = writeln!(s, "  {from}{}{times}", e.error);
            if e.error.contains("seeded by different peers")
                || e.error.contains("Incompatible IP allocation ranges")
            {
                s.push_str(
                    "    fix: the peers formed separate rings; `weave reset` the peers of one ring, then launch them again with peers of the other\n",
                );
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use weave_api::{OrphanAllocation, UnreachableSpace};

    #[test]
    fn renders_each_problem_with_its_fix() {
        assert_eq!(render(&IpamCheck { ok: true, ..Default::default() }), "IPAM: no problems found\n");
        let c = IpamCheck {
            ok: false,
            unreachable: vec![UnreachableSpace {
                peer: "02:00:00:00:00:01".into(),
                nickname: "host1".into(),
                ips: 524288,
                fix: "weave rmpeer 02:00:00:00:00:01".into(),
            }],
            orphans: vec![OrphanAllocation {
                ident: "netns:c1".into(),
                addrs: vec!["10.32.0.1/12".into()],
                reason: "the target no longer exists".into(),
                fix: "weave detach netns:c1".into(),
            }],
            errors: vec![],
        };
        let text = render(&c);
        assert!(
            text.contains(
                "02:00:00:00:00:01(host1)                524288 IPs   fix: weave rmpeer 02:00:00:00:00:01"
            ),
            "{text}"
        );
        assert!(
            text.contains("netns:c1 10.32.0.1/12 (the target no longer exists)   fix: weave detach netns:c1"),
            "{text}"
        );
    }
}
