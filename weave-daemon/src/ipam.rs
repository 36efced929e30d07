//! IPAM's service is the crate `weave-ipam-service`, re-exported here under its old path. What
//! stays in the daemon: IPAM's configuration from the flags, the addresses found in the kernel
//! at start, and the mesh handle IPAM gossips through.

pub use weave_ipam_service::*;

use crate::config::Config;
use crate::mesh::router::MeshHandle;
use crate::mesh::GossipData;
use tokio::sync::broadcast;
use weave_ipam::allocator::PreClaim;
use weave_ipam::PeerName;
use weave_mesh::MeshEvent;

/// IPAM's configuration from the daemon's flags (`None`: IPAM is disabled); `peers` are the
/// peers given at launch (the default quorum is derived from them as Weave: (peers + 1) / 2 + 1).
pub fn config_from_flags(
    config: &Config,
    name: PeerName,
    uid: u64,
    nickname: &str,
    peers: usize,
) -> Option<IpamConfig> {
    let range = config.ipalloc_range.0?;
    let universe = to_cidr(range);
    let default_subnet = config.ipalloc_default_subnet.map(to_cidr).unwrap_or(universe);
    let init = IpallocInit::mode(config.ipalloc_init.as_ref(), peers, config.peers_file.is_some());
    Some(IpamConfig {
        name,
        uid,
        nickname: nickname.to_string(),
        universe,
        default_subnet,
        init,
        pre_claims: vec![],
    })
}

/// Addresses already in use at start, to be claimed: the bridge's (`weave:expose`) and those
/// of attached targets (by target id).
pub fn find_pre_claims(kernel: &impl crate::attach::kernel::Kernel) -> Vec<PreClaim> {
    let mut out = Vec::new();
    match kernel.bridge() {
        Ok(e) => out.extend(e.addrs.iter().map(|a| PreClaim {
            ident: "weave:expose".into(),
            is_container: false,
            cidr: to_cidr(*a),
        })),
        Err(e) => tracing::warn!("reading the bridge's addresses: {e}"),
    }
    match kernel.list(&Default::default()) {
        Ok(list) => {
            for t in list {
                out.extend(t.addrs.iter().map(|a| PreClaim {
                    ident: t.id.clone(),
                    is_container: true,
                    cidr: to_cidr(*a),
                }))
            }
        }
        Err(e) => tracing::warn!("listing attached targets: {e}"),
    }
    out
}

impl Mesh for MeshHandle {
    fn peer_names(&self) -> Vec<PeerName> {
        self.snapshot().peer_names().collect()
    }

    fn events(&self) -> broadcast::Receiver<MeshEvent> {
        MeshHandle::events(self)
    }

    fn gossip_broadcast<'a>(
        &'a self,
        channel: &'a str,
        data: Box<dyn GossipData>,
    ) -> weave_ipam_service::mesh::Sending<'a, ()> {
        Box::pin(MeshHandle::gossip_broadcast(self, channel, data))
    }

    fn gossip_unicast<'a>(
        &'a self,
        channel: &'a str,
        dst: PeerName,
        payload: Vec<u8>,
    ) -> weave_ipam_service::mesh::Sending<'a, Result<(), String>> {
        Box::pin(MeshHandle::gossip_unicast(self, channel, dst, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use weave_ipam::InitMode;

    fn init(args: &[&str], peers: usize) -> InitMode {
        let mut all = vec!["weave-daemon"];
        all.extend_from_slice(args);
        let c = Config::try_parse_from(all).unwrap();
        config_from_flags(&c, PeerName(1), 1, "n", peers).unwrap().init
    }

    #[test]
    fn the_quorum_follows_weave() {
        // Without N: (peers given + 1) / 2 + 1, as Weave's determineQuorum.
        assert_eq!([0, 1, 2, 3, 4].map(quorum), [1, 2, 2, 3, 3]);
        assert_eq!(init(&[], 2), InitMode::Consensus { quorum: 2 });
        assert_eq!(init(&["--ipalloc-init", "consensus"], 4), InitMode::Consensus { quorum: 3 });
        // consensus=N: N / 2 + 1.
        assert_eq!(init(&["--ipalloc-init", "consensus=3"], 0), InitMode::Consensus { quorum: 2 });
        // A peers file lists every node, this one too (weave-kube's consensus=<#peers>).
        assert_eq!(init(&["--peers-file", "/p"], 3), InitMode::Consensus { quorum: 2 });
        assert_eq!(init(&["--peers-file", "/p"], 0), InitMode::Consensus { quorum: 1 });
        assert_eq!(init(&["--ipalloc-init", "consensus=4"], 0), InitMode::Consensus { quorum: 3 });
        assert_eq!(init(&["--ipalloc-init", "observer"], 5), InitMode::Observer);
        assert_eq!(
            init(&["--ipalloc-init", "seed=::1,::2"], 5),
            InitMode::Seed(vec![PeerName(1), PeerName(2)])
        );
        let off = Config::try_parse_from(["weave-daemon", "--ipalloc-range", ""]).unwrap();
        assert!(config_from_flags(&off, PeerName(1), 1, "n", 0).is_none());
        let sub =
            Config::try_parse_from(["weave-daemon", "--ipalloc-default-subnet", "10.32.1.0/24"]).unwrap();
        let cfg = config_from_flags(&sub, PeerName(1), 1, "n", 0).unwrap();
        assert_eq!(
            (cfg.universe.to_string(), cfg.default_subnet.to_string()),
            ("10.32.0.0/12".into(), "10.32.1.0/24".into())
        );
    }
}
