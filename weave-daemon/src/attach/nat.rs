//! The kernel side of `weave expose` and `weave hide`: the host's own addresses on the bridge,
//! and Weave's NAT for them.
//!
//! The addresses live on the bridge, so `weave ps` and a restarted daemon read them from the
//! kernel. Which of them are masqueraded is kept in [`FILE`] under the data dir; the NAT rules are
//! rebuilt from that and the bridge's addresses at every change and at start. They sit in a table
//! of their own that exists only while something is masqueraded: a NAT hook switches connection
//! tracking on for every packet, which the fast datapath should not pay for when nothing needs it.

use super::error::AttachError;
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use weave_netdev::{arp, nft, sysctl, Netlink};

/// Per exposed CIDR, whether it is masqueraded (JSON).
pub const FILE: &str = "expose.json";
const TABLE: &str = "weave_expose";
/// The owner of the host's addresses in IPAM and DNS, as in Weave.
pub const ID: &str = "weave:expose";

/// Serialises the read-modify-write of [`FILE`] and the rebuild of the rules.
static STATE: Mutex<()> = Mutex::new(());

/// Puts `addrs` on the bridge (those it lacks), announces them with gratuitous ARP, and records
/// whether they are masqueraded; then rebuilds the NAT rules. Returns the addresses added.
pub fn expose(
    nl: &mut Netlink,
    bridge: &str,
    dir: &Path,
    addrs: &[Ipv4Net],
    masquerade: bool,
) -> Result<Vec<Ipv4Net>, AttachError> {
    let _guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let br = nl.link_by_name(bridge)?.ok_or_else(|| AttachError::NoBridge(bridge.to_string()))?;
    let existing = nl.addresses(br.index)?;
    let mut added = Vec::new();
    for a in addrs.iter().filter(|a| !existing.contains(a)) {
        nl.add_address(&br, *a)?;
        added.push(*a);
        if let Err(e) = arp::send_gratuitous_arp(bridge, a.addr(), br.mac.unwrap_or_default()) {
            tracing::debug!("gratuitous ARP for {a}: {e}");
        }
    }
    let mut masq = load(dir);
    for a in addrs {
        masq.insert(a.to_string(), masquerade);
    }
    save(dir, &masq)?;
    sync_locked(nl, bridge, dir)?;
    Ok(added)
}

/// Takes `addrs` off the bridge (all of its addresses when `None`) and returns those removed;
/// then rebuilds the NAT rules.
pub fn hide(
    nl: &mut Netlink,
    bridge: &str,
    dir: &Path,
    addrs: Option<&[Ipv4Net]>,
) -> Result<Vec<Ipv4Net>, AttachError> {
    let _guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    let Some(br) = nl.link_by_name(bridge)? else { return Ok(vec![]) };
    let existing = nl.addresses(br.index)?;
    let gone: Vec<Ipv4Net> = existing.into_iter().filter(|a| addrs.is_none_or(|w| w.contains(a))).collect();
    // Else deleting a subnet's first address deletes the others of the subnet with it.
    sysctl::write(&format!("net/ipv4/conf/{bridge}/promote_secondaries"), "1")?;
    for a in &gone {
        match nl.del_address(&br, *a) {
            Err(e) if e.errno() == Some(libc::EADDRNOTAVAIL) => {}
            r => r?,
        }
    }
    let mut masq = load(dir);
    for a in &gone {
        masq.remove(&a.to_string());
    }
    save(dir, &masq)?;
    sync_locked(nl, bridge, dir)?;
    Ok(gone)
}

/// Rebuilds the NAT rules from the bridge's addresses and [`FILE`] (at start).
pub fn sync(nl: &mut Netlink, bridge: &str, dir: &Path) -> Result<(), AttachError> {
    let _guard = STATE.lock().unwrap_or_else(|p| p.into_inner());
    sync_locked(nl, bridge, dir)
}

fn sync_locked(nl: &mut Netlink, bridge: &str, dir: &Path) -> Result<(), AttachError> {
    let on_bridge = match nl.link_by_name(bridge)? {
        Some(br) => nl.addresses(br.index)?,
        None => vec![],
    };
    let masq = load(dir);
    let mut subnets: Vec<Ipv4Net> =
        on_bridge.iter().filter(|a| masq.get(&a.to_string()) == Some(&true)).map(|a| a.trunc()).collect();
    subnets.sort();
    subnets.dedup();
    if subnets.is_empty() {
        return remove_nat();
    }
    Ok(nft::apply(&nat_script(&subnets))?)
}

/// Weave's NAT rules per exposed subnet: multicast leaves untouched; traffic entering the
/// subnet from elsewhere, and leaving it for elsewhere, is masqueraded.
fn nat_script(subnets: &[Ipv4Net]) -> String {
    let mut rules = String::new();
    for s in subnets {
        rules.push_str(&format!(
            "    ip saddr {s} ip daddr 224.0.0.0/4 return\n\
             \x20   ip daddr {s} ip saddr != {s} masquerade\n\
             \x20   ip saddr {s} ip daddr != {s} masquerade\n"
        ));
    }
    format!(
        "table ip {TABLE} {{}}\n\
         delete table ip {TABLE}\n\
         table ip {TABLE} {{\n\
           chain postrouting {{\n\
             type nat hook postrouting priority srcnat; policy accept;\n\
         {rules}\
           }}\n\
         }}\n"
    )
}

/// Removes the NAT table (nothing masqueraded, or `weave reset`).
pub fn remove_nat() -> Result<(), AttachError> {
    match nft::run(&["list", "table", "ip", TABLE]) {
        Ok(_) => Ok(nft::run(&["delete", "table", "ip", TABLE]).map(drop)?),
        Err(_) => Ok(()),
    }
}

/// The recorded settings; a missing or unreadable file counts as empty (logged), so a damaged
/// file costs at most the masquerading of what it listed, never the addresses.
fn load(dir: &Path) -> BTreeMap<String, bool> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "ignoring {}: {e}; exposed addresses are not masqueraded until exposed again",
                path.display()
            );
            BTreeMap::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
        Err(e) => {
            tracing::warn!("reading {}: {e}", path.display());
            BTreeMap::new()
        }
    }
}

fn save(dir: &Path, masq: &BTreeMap<String, bool>) -> Result<(), AttachError> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let json = serde_json::to_vec_pretty(masq).map_err(|e| AttachError::Internal(e.to_string()))?;
    std::fs::write(&tmp, json)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| AttachError::Internal(format!("write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nat_script_has_weaves_three_rules_per_subnet_and_replaces_the_table() {
        let s = nat_script(&["10.32.0.0/12".parse().unwrap()]);
        assert!(s.starts_with("table ip weave_expose {}\ndelete table ip weave_expose\n"), "{s}");
        assert!(s.contains("type nat hook postrouting priority srcnat"), "{s}");
        assert!(s.contains("ip saddr 10.32.0.0/12 ip daddr 224.0.0.0/4 return\n"), "{s}");
        assert!(s.contains("ip daddr 10.32.0.0/12 ip saddr != 10.32.0.0/12 masquerade\n"), "{s}");
        assert!(s.contains("ip saddr 10.32.0.0/12 ip daddr != 10.32.0.0/12 masquerade\n"), "{s}");
    }

    #[test]
    fn a_damaged_settings_file_reads_as_empty() {
        let dir = std::env::temp_dir().join(format!("weave-expose-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE), b"{not json").unwrap();
        assert!(load(&dir).is_empty());
        let m: BTreeMap<String, bool> = [("10.32.0.1/12".to_string(), true)].into();
        save(&dir, &m).unwrap();
        assert_eq!(load(&dir), m);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
