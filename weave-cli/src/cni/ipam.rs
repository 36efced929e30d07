//! `weave-ipam`: addresses from weave's IPAM for other interface plugins (or for weave-net
//! with `ipam.type` set), keyed by the container id as Weave's. ADD returns the address with
//! the configuration's gateway and routes, DEL releases it, CHECK asks whether IPAM still
//! reserves it, GC releases what the runtime no longer lists, STATUS says whether IPAM runs.

use super::daemon::cni_error;
use super::env::Command;
use super::error::{self, CniError};
use super::types::{CniResult, IpConfig};
use super::Invocation;
use weave_api::{CniAttachmentKey, CniCheckRequest, CniGcRequest, CniIpamRequest};

pub async fn exec(inv: &Invocation) -> Result<Option<CniResult>, CniError> {
    let ipam = inv.conf.ipam.clone().unwrap_or_default();
    if let Some(subnet) = ipam.subnet.as_deref() {
        if subnet.parse::<ipnet::Ipv4Net>().is_err() {
            return Err(CniError::invalid_config(
                format!("ipam.subnet {subnet:?} is not an IPv4 CIDR"),
                "give a subnet of weave's range, such as 10.32.0.0/12",
            ));
        }
    }
    let client = inv.client();
    let (id, ifname) = (inv.env.container_id(), inv.env.ifname());
    match inv.env.command {
        Command::Add => {
            let req = CniIpamRequest {
                network: inv.network().to_string(),
                container_id: id.to_string(),
                ifname: ifname.to_string(),
                subnet: ipam.subnet.clone(),
            };
            let a = client.cni_ipam(&req).await.map_err(|e| cni_error(e, Command::Add))?;
            let mut out = CniResult::default();
            for ip in &a.ips {
                let address = ip.address.parse().map_err(|_| {
                    CniError::new(
                        error::DAEMON_FAILURE,
                        format!("the daemon gave a bad address {:?}", ip.address),
                        "",
                    )
                })?;
                out.ips.push(IpConfig { address, gateway: ipam.gateway, interface: None });
            }
            out.routes = ipam.routes.clone().unwrap_or_default();
            out.dns = inv.conf.dns.clone().unwrap_or_default();
            Ok(Some(out))
        }
        Command::Del => {
            client.cni_del(id, ifname).await.map_err(|e| cni_error(e, Command::Del))?;
            Ok(None)
        }
        Command::Check => {
            let prev = inv.prev_result()?.ok_or_else(|| {
                CniError::invalid_config(
                    "CHECK needs the prevResult of ADD",
                    "the runtime passes the result of the last ADD as prevResult",
                )
            })?;
            let req = CniCheckRequest {
                netns: None,
                addresses: prev
                    .ips
                    .iter()
                    .filter(|i| i.address.addr().is_ipv4())
                    .map(|i| i.address.to_string())
                    .collect(),
                routes: vec![],
                ipam_only: true,
            };
            let found = client.cni_check(id, ifname, &req).await.map_err(|e| cni_error(e, Command::Check))?;
            if let Some(first) = found.problems.first() {
                let code = match first.kind {
                    weave_api::CniProblemKind::UnknownAttachment => error::UNKNOWN_CONTAINER,
                    _ => error::ADDRESS_MISMATCH,
                };
                let all: Vec<&str> = found.problems.iter().map(|p| p.detail.as_str()).collect();
                return Err(CniError::new(code, all.join("; "), "delete and re-add the container's network"));
            }
            Ok(None)
        }
        Command::Gc => {
            let valid = inv.conf.valid_attachments.as_ref().ok_or_else(|| {
                CniError::invalid_config(
                    "GC needs cni.dev/valid-attachments",
                    "the runtime lists the attachments that are still valid (an empty list releases them all)",
                )
            })?;
            let req = CniGcRequest {
                network: inv.network().to_string(),
                valid: valid
                    .iter()
                    .map(|a| CniAttachmentKey {
                        container_id: a.container_id.clone(),
                        ifname: a.ifname.clone(),
                    })
                    .collect(),
            };
            let done = client.cni_gc(&req).await.map_err(|e| cni_error(e, Command::Gc))?;
            if !done.errors.is_empty() {
                return Err(CniError::new(
                    error::DAEMON_FAILURE,
                    format!("GC could not release everything: {}", done.errors.join("; ")),
                    "the rest was released; the runtime's next GC tries again",
                ));
            }
            Ok(None)
        }
        Command::Status => {
            let s = client.cni_status().await.map_err(|e| cni_error(e, Command::Status))?;
            if !s.ready || !s.ipam {
                let reason = s.reason.unwrap_or_else(|| "weave's IPAM is off (empty --ipalloc-range)".into());
                return Err(CniError::new(
                    error::NOT_AVAILABLE,
                    format!("weave is not ready: {reason}"),
                    s.hint.unwrap_or_else(|| "run weave with an --ipalloc-range".into()),
                ));
            }
            Ok(None)
        }
        Command::Version => unreachable!("VERSION is answered before the configuration is read"),
    }
}
