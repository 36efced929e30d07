//! Who this peer is: its name (as Weave Net derives it), nickname and per-start UID.

use rand::RngExt;
use sha2::{Digest, Sha256};
use std::path::Path;
use weave_wire::PeerName;

/// The identity of this daemon incarnation.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: PeerName,
    pub nickname: String,
    /// Random and non-zero on every start, so peers can tell a restart from a stale peer.
    pub uid: u64,
}

impl Identity {
    pub fn new(name: PeerName, nickname: String) -> Identity {
        Identity { name, nickname, uid: random_uid() }
    }
}

pub fn random_uid() -> u64 {
    let mut rng = rand::rng();
    loop {
        let uid: u64 = rng.random();
        if uid != 0 {
            return uid;
        }
    }
}

/// Weave's default peer name when no `--name` is given and no bridge exists: SHA-256 of a salt,
/// the machine id and the system UUID, the first six bytes as a unicast, locally administered
/// MAC. Falls back to a random name where the machine has no ids at all.
pub fn system_peer_name(root: &Path) -> PeerName {
    let read = |p: &str| std::fs::read(root.join(p.trim_start_matches('/'))).ok();
    let machine_id = read("/etc/machine-id").or_else(|| read("/var/lib/dbus/machine-id"));
    let uuid = read("/sys/class/dmi/id/product_uuid").or_else(|| read("/sys/hypervisor/uuid"));
    let mut seed = machine_id.unwrap_or_default();
    seed.extend(uuid.unwrap_or_default());
    if seed.is_empty() {
        let mut mac: [u8; 6] = rand::rng().random();
        mac[0] = (mac[0] & 0xfe) | 0x02;
        return PeerName::from_bytes(mac);
    }
    name_from_system_id(&seed)
}

fn name_from_system_id(seed: &[u8]) -> PeerName {
    let mut h = Sha256::new();
    h.update(b"9oBJ0Jmip-");
    h.update(seed);
    let sum = h.finalize();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&sum[..6]);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    PeerName::from_bytes(mac)
}

/// The host name, Weave's default nickname.
pub fn hostname() -> String {
    weave_netdev::hostname().unwrap_or_else(|_| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_name_is_a_local_unicast_mac_derived_as_weave() {
        // The same machine id always gives the same name, with byte 0 marked local unicast.
        let a = name_from_system_id(b"0123456789abcdef0123456789abcdef\n");
        let b = name_from_system_id(b"0123456789abcdef0123456789abcdef\n");
        assert_eq!(a, b);
        assert_eq!(a.bytes()[0] & 0x03, 0x02);
        assert_ne!(a, name_from_system_id(b"another machine\n"));
        // SHA-256("9oBJ0Jmip-") of an empty id, computed independently.
        let expect = {
            let sum = Sha256::digest(b"9oBJ0Jmip-x");
            let mut m = [0u8; 6];
            m.copy_from_slice(&sum[..6]);
            m[0] = (m[0] & 0xfe) | 0x02;
            PeerName::from_bytes(m)
        };
        assert_eq!(name_from_system_id(b"x"), expect);
    }

    #[test]
    fn uid_is_never_zero() {
        assert!((0..1000).all(|_| random_uid() != 0));
    }
}
