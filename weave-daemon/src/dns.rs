//! weaveDNS's service is the crate `weave-dns-service`, re-exported here under its old path.
//! What stays in the daemon: its configuration from the flags and the mesh handle it gossips
//! through.

pub use weave_dns_service::*;

use crate::mesh::router::MeshHandle;
use crate::mesh::GossipData;

/// weaveDNS's configuration from the daemon's flags.
pub fn config_from_flags(c: &crate::config::Config) -> DnsConfig {
    DnsConfig {
        domain: c.dns_domain.clone(),
        ttl: c.dns_ttl,
        listen: c.dns_listen_address,
        resolv_conf: c.resolv_conf.clone(),
        state_file: Some(persist::path(&c.data_dir)),
        allow_from: c.ipalloc_range.0.iter().chain(&c.dns_allow_from).map(|n| (*n).into()).collect(),
        bridges: std::iter::once(crate::BRIDGE)
            .chain(
                if c.docker_api.is_empty() { &[][..] } else { &crate::docker::BRIDGES[..] }.iter().copied(),
            )
            .map(str::to_string)
            .collect(),
    }
}

impl Mesh for MeshHandle {
    fn gossip_broadcast<'a>(
        &'a self,
        channel: &'a str,
        data: Box<dyn GossipData>,
    ) -> weave_dns_service::mesh::Sending<'a> {
        Box::pin(MeshHandle::gossip_broadcast(self, channel, data))
    }
}
