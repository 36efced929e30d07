//! What the attach service needs from IPAM and weaveDNS, as traits so its unit tests can fail
//! each step on purpose; [`IpamBook`] and [`DnsNames`] are the daemon's.

use super::error::AttachError;
use crate::dns::Dns;
use crate::ipam::{to_cidr, to_net, Ipam, IpamFailure};
use ipnet::Ipv4Net;
use std::future::Future;
use std::sync::Arc;
use weave_ipam::{Cidr, OpError};

/// Addresses and their owners (IPAM, or nothing when it is off).
pub trait AddressBook: Send + Sync + 'static {
    /// The owner's addresses, as IPAM lists them (none when IPAM is off).
    fn owned(&self, id: &str) -> Vec<Ipv4Net>;
    /// The owner's addresses in `subnet` (the default subnet when `None`), for `net:` arguments
    /// of detach and hide.
    fn lookup(&self, id: &str, subnet: Option<Cidr>) -> Result<Vec<Ipv4Net>, AttachError>;
    /// An address in `subnet` (the default subnet when `None`): the one the owner has there
    /// already, if any. Durable before it returns.
    fn allocate(
        &self,
        id: &str,
        subnet: Option<Cidr>,
    ) -> impl Future<Output = Result<Ipv4Net, AttachError>> + Send;
    /// Records an explicit address for the owner (nothing when IPAM is off).
    fn claim(&self, id: &str, addr: Ipv4Net) -> impl Future<Output = Result<(), AttachError>> + Send;
    /// Releases those of `addrs` the owner has; returns them.
    fn release(
        &self,
        id: &str,
        addrs: &[Ipv4Net],
    ) -> impl Future<Output = Result<Vec<Ipv4Net>, AttachError>> + Send;
    /// Releases every address of the owner; returns them.
    fn release_all(&self, id: &str) -> impl Future<Output = Result<Vec<Ipv4Net>, AttachError>> + Send;
}

/// Names of targets (weaveDNS, or nothing when it is off).
pub trait Names: Send + Sync + 'static {
    /// The name a target called `hostname` gets by default; `None` with DNS off.
    fn target_name(&self, hostname: &str) -> Option<String>;
    /// A name given explicitly (`expose -h`), qualified and checked against the domain.
    fn check_name(&self, name: &str) -> Result<String, AttachError>;
    /// Registers `fqdn` for `addr` of `id`.
    fn add(
        &self,
        fqdn: &str,
        id: &str,
        addr: Ipv4Net,
    ) -> impl Future<Output = Result<(), AttachError>> + Send;
    /// Removes the names of `addr` of `id`.
    fn remove(&self, id: &str, addr: Ipv4Net) -> impl Future<Output = ()> + Send;
    /// Removes every name of `id` (its target is gone).
    fn forget(&self, id: &str) -> impl Future<Output = ()> + Send;
}

/// The daemon's IPAM; `None` with `--ipalloc-range ""`.
pub struct IpamBook(pub Option<Arc<Ipam>>);

impl IpamBook {
    fn ipam(&self) -> Result<&Arc<Ipam>, AttachError> {
        self.0.as_ref().ok_or(AttachError::IpamDisabled)
    }
}

impl AddressBook for IpamBook {
    fn owned(&self, id: &str) -> Vec<Ipv4Net> {
        let Some(ipam) = &self.0 else { return vec![] };
        ipam.owned_by(id).into_iter().map(to_net).collect()
    }

    fn lookup(&self, id: &str, subnet: Option<Cidr>) -> Result<Vec<Ipv4Net>, AttachError> {
        let ipam = self.ipam()?;
        let subnet = subnet.unwrap_or(ipam.default_subnet());
        Ok(ipam.lookup(id, subnet).into_iter().map(to_net).collect())
    }

    async fn allocate(&self, id: &str, subnet: Option<Cidr>) -> Result<Ipv4Net, AttachError> {
        let ipam = self.ipam()?;
        let subnet = subnet.unwrap_or(ipam.default_subnet());
        Ok(to_net(ipam.allocate_or_explain(id, subnet, true).await?))
    }

    async fn claim(&self, id: &str, addr: Ipv4Net) -> Result<(), AttachError> {
        match &self.0 {
            Some(ipam) => Ok(ipam.claim(id, to_cidr(addr), true, true).await?),
            None => Ok(()),
        }
    }

    async fn release(&self, id: &str, addrs: &[Ipv4Net]) -> Result<Vec<Ipv4Net>, AttachError> {
        let Some(ipam) = &self.0 else { return Ok(vec![]) };
        let mine = ipam.owned_by(id);
        let mut out = Vec::new();
        for a in addrs {
            let addr = to_cidr(*a).addr;
            let Some(c) = mine.iter().find(|c| c.addr == addr) else { continue };
            match ipam.free(id, addr).await {
                Ok(()) => out.push(to_net(*c)),
                Err(IpamFailure::Op(OpError::NotFound { .. })) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    async fn release_all(&self, id: &str) -> Result<Vec<Ipv4Net>, AttachError> {
        let Some(ipam) = &self.0 else { return Ok(vec![]) };
        match ipam.delete(id).await {
            Ok(cidrs) => Ok(cidrs.into_iter().map(to_net).collect()),
            Err(IpamFailure::Op(OpError::NoAddresses(_))) => Ok(vec![]),
            Err(e) => Err(e.into()),
        }
    }
}

/// The daemon's weaveDNS; `None` with `--no-dns`.
pub struct DnsNames(pub Option<Arc<Dns>>);

impl Names for DnsNames {
    fn target_name(&self, hostname: &str) -> Option<String> {
        self.0.as_ref().map(|d| d.target_name(hostname))
    }

    fn check_name(&self, name: &str) -> Result<String, AttachError> {
        let dns = self.0.as_ref().ok_or(AttachError::DnsDisabled)?;
        dns.name_in_domain(name).map_err(AttachError::BadName)
    }

    async fn add(&self, fqdn: &str, id: &str, addr: Ipv4Net) -> Result<(), AttachError> {
        let Some(dns) = &self.0 else { return Ok(()) };
        if dns.add(fqdn, id, addr.addr()).await.is_none() {
            tracing::info!(%fqdn, "not registering a name outside the DNS domain");
        }
        Ok(())
    }

    async fn remove(&self, id: &str, addr: Ipv4Net) {
        if let Some(dns) = &self.0 {
            dns.delete(None, Some(id), Some(addr.addr())).await;
        }
    }

    async fn forget(&self, id: &str) {
        if let Some(dns) = &self.0 {
            dns.forget_target(id).await;
        }
    }
}
