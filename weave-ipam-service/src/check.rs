//! `weave ipam check`: what keeps addresses from being used, each with the command that fixes
//! it. Space owned by peers that are not reachable (`weave rmpeer`, once they are known to be
//! dead), and addresses this peer handed out to targets that no longer exist or no longer
//! carry them (`weave detach`, which releases them in IPAM even when the target is gone).

use super::{to_cidr, Ipam};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use weave_api::{IpamCheck, OrphanAllocation, UnreachableSpace};

/// How long a refused gossip message counts as a current problem.
const RECENT_SECS: u64 = 300;

/// Builds the report from IPAM's state and the targets attached now (`attach::list`: each
/// target's id and the addresses on its weave interface). `id_exists` says whether the target
/// an id names still exists (`None` for ids of other kinds: containers, `weave:expose`).
pub fn check(
    ipam: &Ipam,
    attached: &[(&str, &[Ipv4Net])],
    id_exists: impl Fn(&str) -> Option<bool>,
) -> IpamCheck {
    let status = ipam.status();
    let us = ipam.our_name().to_string();
    let mut unreachable: BTreeMap<String, UnreachableSpace> = BTreeMap::new();
    for e in status.entries.iter().filter(|e| !e.is_known_peer && e.peer != us && e.size > 0) {
        let u = unreachable.entry(e.peer.clone()).or_insert_with(|| UnreachableSpace {
            peer: e.peer.clone(),
            nickname: e.nickname.clone(),
            ips: 0,
            fix: format!("weave rmpeer {}", e.peer),
        });
        u.ips += u64::from(e.size);
    }

    let mut orphans = Vec::new();
    for (ident, data) in ipam.owned() {
        // Owners whose target kind this check cannot see (containers, `weave:expose`).
        let Some(exists) = id_exists(&ident) else { continue };
        let addrs: Vec<String> = data.cidrs.iter().map(|c| c.to_string()).collect();
        if !exists {
            orphans.push(OrphanAllocation {
                ident: ident.clone(),
                addrs,
                reason: "the target no longer exists".into(),
                fix: format!("weave detach {ident}"),
            });
            continue;
        }
        let carried: Vec<_> = attached
            .iter()
            .find(|(id, _)| *id == ident)
            .map(|(_, addrs)| addrs.iter().map(|n| to_cidr(*n)).collect())
            .unwrap_or_default();
        let missing: Vec<String> =
            data.cidrs.iter().filter(|c| !carried.contains(c)).map(|c| c.to_string()).collect();
        if !missing.is_empty() {
            orphans.push(OrphanAllocation {
                ident: ident.clone(),
                fix: format!("weave detach {} {ident}", missing.join(" ")),
                addrs: missing,
                reason: "the target exists but does not carry these addresses on its weave interface".into(),
            });
        }
    }
    // Refused gossip counts while it is recent; a past incident that stopped is no problem now.
    let recent = super::now().as_secs().saturating_sub(RECENT_SECS);
    let errors: Vec<_> = ipam.errors().into_iter().filter(|e| e.at >= recent).collect();
    IpamCheck {
        ok: unreachable.is_empty() && orphans.is_empty() && errors.is_empty(),
        unreachable: unreachable.into_values().collect(),
        orphans,
        errors,
    }
}
