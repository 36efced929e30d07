//! A typed async client of the daemon's `/api/v1` REST API.

use crate::cni::{
    CniAddRequest, CniAttachment, CniCheckRequest, CniCheckResult, CniDeleted, CniGcRequest, CniGcResult,
    CniIpamRequest, CniStatus,
};
use crate::dns::{DnsAddRequest, DnsChange, DnsInfo, DnsRemoveRequest};
use crate::events::{Events, SseParser, IDLE};
use crate::policy::{
    NamespaceLabels, PolicyApplied, PolicyApplyRequest, PolicyDeleted, PolicyDrop, PolicyInfo, PolicyTarget,
    PolicyVerdict, TargetLabels,
};
use crate::{
    AllocateRequest, Allocated, Allocation, ApiError, AttachRequest, AttachedTarget, ClaimRequest,
    ConnectRequest, Connection, DetachRequest, DetachResult, ExposeRequest, ForgetRequest, FreeRequest,
    Freed, HideRequest, IpamCheck, IpamInfo, Peer, Primed, Report, ResetResult, ResolveRequest,
    ResolvedTarget, RmpeerRequest, RmpeerResult, Routes, Service, ServiceRemoved, ServiceRequest,
    ShutdownAccepted, Status, Targets, VersionInfo,
};
use serde::de::DeserializeOwned;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the address: the daemon is not running (or listens elsewhere).
    #[error("no weave daemon answers at {addr}")]
    Unreachable { addr: String },
    /// The daemon answered with an error.
    #[error("{}", .error.error)]
    Api { status: u16, error: ApiError },
    /// The feature is disabled in the daemon (Weave's exit status 4).
    #[error("{0}")]
    Disabled(String),
    #[error("talking to the weave daemon at {addr}: {source}")]
    Transport { addr: String, source: reqwest::Error },
    /// A stream the daemon should keep busy went quiet: the daemon hangs or the link is gone.
    #[error("the weave daemon at {addr} sent nothing for {secs} s")]
    Stalled { addr: String, secs: u64 },
    #[error("the weave daemon at {addr} sent a response this client does not understand: {detail}")]
    Decode { addr: String, detail: String },
}

impl ClientError {
    /// The hint the daemon gave, if any.
    pub fn hint(&self) -> Option<&str> {
        match self {
            ClientError::Api { error, .. } => error.hint.as_deref(),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Client {
    addr: String,
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of the daemon at `addr` (`host:port`, as `--http-addr`).
    pub fn new(addr: &str) -> Client {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .no_proxy()
            .build()
            .expect("reqwest client without TLS builds");
        Client { addr: addr.to_string(), base: format!("http://{addr}"), http }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/api/v1/status").await
    }

    pub async fn report(&self) -> Result<Report, ClientError> {
        self.get("/api/v1/report").await
    }

    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        self.get("/api/v1/version").await
    }

    pub async fn shutdown(&self) -> Result<ShutdownAccepted, ClientError> {
        self.send(self.post_empty("/api/v1/shutdown")).await
    }

    pub async fn peers(&self) -> Result<Vec<Peer>, ClientError> {
        self.get("/api/v1/peers").await
    }

    pub async fn connections(&self) -> Result<Vec<Connection>, ClientError> {
        self.get("/api/v1/connections").await
    }

    pub async fn routes(&self) -> Result<Routes, ClientError> {
        self.get("/api/v1/routes").await
    }

    pub async fn targets(&self) -> Result<Targets, ClientError> {
        self.get("/api/v1/targets").await
    }

    /// Adds connection targets (replaces them all with `replace`).
    pub async fn connect(&self, peers: &[String], replace: bool) -> Result<Targets, ClientError> {
        let body = ConnectRequest { peers: peers.to_vec(), replace };
        self.send(self.http.post(self.url("/api/v1/targets")).json(&body)).await
    }

    /// Removes connection targets.
    pub async fn forget(&self, peers: &[String]) -> Result<Targets, ClientError> {
        let body = ForgetRequest { peers: peers.to_vec() };
        self.send(self.http.post(self.url("/api/v1/targets/forget")).json(&body)).await
    }

    pub async fn attach(&self, req: &AttachRequest) -> Result<AttachedTarget, ClientError> {
        self.send(self.http.post(self.url("/api/v1/attach")).json(req)).await
    }

    pub async fn detach(&self, req: &DetachRequest) -> Result<DetachResult, ClientError> {
        self.send(self.http.post(self.url("/api/v1/detach")).json(req)).await
    }

    /// Exposes the host; the answer's `addrs` are the addresses of this request.
    pub async fn expose(&self, req: &ExposeRequest) -> Result<AttachedTarget, ClientError> {
        self.send(self.http.post(self.url("/api/v1/expose")).json(req)).await
    }

    pub async fn hide(&self, req: &HideRequest) -> Result<DetachResult, ClientError> {
        self.send(self.http.post(self.url("/api/v1/hide")).json(req)).await
    }

    /// What a TARGET names: its id and default DNS name.
    pub async fn resolve(&self, target: &str) -> Result<ResolvedTarget, ClientError> {
        let req = ResolveRequest { target: target.to_string() };
        self.send(self.http.post(self.url("/api/v1/resolve")).json(&req)).await
    }

    pub async fn ps(&self) -> Result<Vec<AttachedTarget>, ClientError> {
        self.get("/api/v1/ps").await
    }

    /// CNI ADD: an interface on the weave network for a container.
    pub async fn cni_add(&self, req: &CniAddRequest) -> Result<CniAttachment, ClientError> {
        self.send(self.http.post(self.url("/api/v1/cni/attachments")).json(req)).await
    }

    /// CNI ADD of `weave-ipam`: an address only.
    pub async fn cni_ipam(&self, req: &CniIpamRequest) -> Result<CniAttachment, ClientError> {
        self.send(self.http.post(self.url("/api/v1/cni/ipam")).json(req)).await
    }

    /// CNI attachments on this host.
    pub async fn cni_attachments(&self) -> Result<Vec<CniAttachment>, ClientError> {
        self.get("/api/v1/cni/attachments").await
    }

    /// CNI CHECK: what is wrong with an attachment, compared with what the runtime expects.
    pub async fn cni_check(
        &self,
        container_id: &str,
        ifname: &str,
        req: &CniCheckRequest,
    ) -> Result<CniCheckResult, ClientError> {
        let url = self.attachment_url(container_id, ifname, Some("check"))?;
        self.send(self.http.post(url).json(req)).await
    }

    /// CNI DEL: removes an attachment; succeeds when it does not exist.
    pub async fn cni_del(&self, container_id: &str, ifname: &str) -> Result<CniDeleted, ClientError> {
        let url = self.attachment_url(container_id, ifname, None)?;
        self.send(self.http.delete(url)).await
    }

    /// CNI GC: removes the attachments of a network that are not in `valid`.
    pub async fn cni_gc(&self, req: &CniGcRequest) -> Result<CniGcResult, ClientError> {
        self.send(self.http.post(self.url("/api/v1/cni/gc")).json(req)).await
    }

    /// CNI STATUS: whether ADD can be served now.
    pub async fn cni_status(&self) -> Result<CniStatus, ClientError> {
        self.get("/api/v1/cni/status").await
    }

    /// `/api/v1/cni/attachments/{container_id}/{ifname}[/{tail}]`, each segment escaped.
    fn attachment_url(
        &self,
        container_id: &str,
        ifname: &str,
        tail: Option<&str>,
    ) -> Result<reqwest::Url, ClientError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| self.decode(format!("address {}: {e}", self.addr)))?;
        {
            let mut segs = url
                .path_segments_mut()
                .map_err(|_| self.decode(format!("address {} cannot carry a path", self.addr)))?;
            segs.extend(["api", "v1", "cni", "attachments", container_id, ifname]);
            segs.extend(tail);
        }
        Ok(url)
    }

    /// IPAM as this peer sees it.
    pub async fn ipam(&self) -> Result<IpamInfo, ClientError> {
        self.get("/api/v1/ipam").await
    }

    /// Addresses this peer has handed out, by owner.
    pub async fn ipam_allocations(&self) -> Result<Vec<Allocation>, ClientError> {
        self.get("/api/v1/ipam/allocations").await
    }

    /// Allocates an address; waits until the ring exists and space is available.
    pub async fn ipam_allocate(&self, req: &AllocateRequest) -> Result<Allocated, ClientError> {
        self.send(self.http.post(self.url("/api/v1/ipam/allocate")).json(req)).await
    }

    pub async fn ipam_claim(&self, req: &ClaimRequest) -> Result<Allocated, ClientError> {
        self.send(self.http.post(self.url("/api/v1/ipam/claim")).json(req)).await
    }

    pub async fn ipam_free(&self, req: &FreeRequest) -> Result<Freed, ClientError> {
        self.send(self.http.post(self.url("/api/v1/ipam/free")).json(req)).await
    }

    /// Waits until IPAM consensus is reached.
    pub async fn ipam_prime(&self) -> Result<Primed, ClientError> {
        self.send(self.post_empty("/api/v1/ipam/prime")).await
    }

    /// Takes over the IPAM space of a dead peer (name or nickname).
    pub async fn ipam_rmpeer(&self, peer: &str, force: bool) -> Result<RmpeerResult, ClientError> {
        let body = RmpeerRequest { peer: peer.to_string(), force };
        self.send(self.http.post(self.url("/api/v1/ipam/rmpeer")).json(&body)).await
    }

    /// Space owned by unreachable peers, orphaned addresses and refused gossip, with fixes.
    pub async fn ipam_check(&self) -> Result<IpamCheck, ClientError> {
        self.get("/api/v1/ipam/check").await
    }

    /// Hands IPAM space to a live peer, removes weave's devices, rules and data, and stops.
    pub async fn reset(&self) -> Result<ResetResult, ClientError> {
        self.send(self.post_empty("/api/v1/reset")).await
    }

    /// Services of this host.
    pub async fn services(&self) -> Result<Vec<Service>, ClientError> {
        self.get("/api/v1/services").await
    }

    /// Creates a service (an identical one already there is answered as it is).
    pub async fn service_add(&self, req: &ServiceRequest) -> Result<Service, ClientError> {
        self.send(self.http.post(self.url("/api/v1/services")).json(req)).await
    }

    /// Removes a service: its rules, its weave address and name.
    pub async fn service_rm(&self, id: &str) -> Result<ServiceRemoved, ClientError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| self.decode(format!("address {}: {e}", self.addr)))?;
        url.path_segments_mut()
            .map_err(|_| self.decode(format!("address {} cannot carry a path", self.addr)))?
            .extend(["api", "v1", "services", id]);
        self.send(self.http.delete(url)).await
    }

    /// Applies NetworkPolicy documents (all or none), cluster-wide.
    pub async fn policy_apply(&self, manifest: &str) -> Result<PolicyApplied, ClientError> {
        let req = PolicyApplyRequest { manifest: manifest.to_string() };
        self.send(self.http.post(self.url("/api/v1/policies")).json(&req)).await
    }

    /// Every policy of the cluster.
    pub async fn policies(&self) -> Result<Vec<PolicyInfo>, ClientError> {
        self.get("/api/v1/policies").await
    }

    /// Deletes a policy (`NAME`, in namespace `default`, or `NAMESPACE/NAME`), cluster-wide.
    pub async fn policy_delete(&self, name: &str) -> Result<PolicyDeleted, ClientError> {
        let url = self.path_url(&["api", "v1", "policies", name])?;
        self.send(self.http.delete(url)).await
    }

    /// Whether a connection is allowed, and by which rule. `src`/`dst`: target ids or addresses.
    pub async fn policy_why(
        &self,
        src: &str,
        dst: &str,
        port: Option<u16>,
        proto: &str,
    ) -> Result<PolicyVerdict, ClientError> {
        let mut url = self.path_url(&["api", "v1", "policies", "why"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("src", src).append_pair("dst", dst).append_pair("proto", proto);
            if let Some(p) = port {
                q.append_pair("port", &p.to_string());
            }
        }
        self.send(self.http.get(url)).await
    }

    /// The packets this host's policy rules dropped lately, oldest first.
    pub async fn policy_drops(&self) -> Result<Vec<PolicyDrop>, ClientError> {
        self.get("/api/v1/policies/drops").await
    }

    /// Sets the labels (and namespace, named ports) of a target of this host.
    pub async fn target_labels(&self, id: &str, req: &TargetLabels) -> Result<PolicyTarget, ClientError> {
        let url = self.path_url(&["api", "v1", "targets", id, "labels"])?;
        self.send(self.http.put(url).json(req)).await
    }

    /// Sets a namespace's labels, cluster-wide.
    pub async fn namespace_labels(
        &self,
        name: &str,
        req: &NamespaceLabels,
    ) -> Result<NamespaceLabels, ClientError> {
        let url = self.path_url(&["api", "v1", "namespaces", name, "labels"])?;
        self.send(self.http.put(url).json(req)).await
    }

    /// The address with these path segments, each escaped.
    fn path_url(&self, segments: &[&str]) -> Result<reqwest::Url, ClientError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| self.decode(format!("address {}: {e}", self.addr)))?;
        url.path_segments_mut()
            .map_err(|_| self.decode(format!("address {} cannot carry a path", self.addr)))?
            .extend(segments);
        Ok(url)
    }

    /// weaveDNS: configuration and entries.
    pub async fn dns(&self) -> Result<DnsInfo, ClientError> {
        self.get("/api/v1/dns").await
    }

    pub async fn dns_add(&self, req: &DnsAddRequest) -> Result<DnsChange, ClientError> {
        self.send(self.http.post(self.url("/api/v1/dns/entries")).json(req)).await
    }

    pub async fn dns_remove(&self, req: &DnsRemoveRequest) -> Result<DnsChange, ClientError> {
        self.send(self.http.post(self.url("/api/v1/dns/remove")).json(req)).await
    }

    /// Follows `GET /api/v1/events`: every change, the traffic counters once a second and
    /// each overlay switch, until the daemon stops. Reconnecting is the caller's choice.
    pub async fn events(&self) -> Result<Events, ClientError> {
        // Its own HTTP client: a read timeout tells a dead stream from a quiet one (the
        // daemon sends a keep-alive every 15 s), and the other calls must not have one.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(IDLE)
            .no_proxy()
            .build()
            .expect("reqwest client without TLS builds");
        let req = http.get(self.url("/api/v1/events")).header("accept", "text/event-stream");
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() && !e.is_connect() => {
                return Err(ClientError::Stalled { addr: self.addr.clone(), secs: IDLE.as_secs() })
            }
            Err(e) => return Err(self.transport(e)),
        };
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.map_err(|e| self.transport(e))?;
            return Err(self.api_error(status, &body));
        }
        Ok(Events { addr: self.addr.clone(), resp, parser: SseParser::default(), ready: Default::default() })
    }

    /// The OpenAPI document the daemon serves.
    pub async fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/api/v1/openapi.json").await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A POST without a body: still typed JSON, as the daemon requires of `/api/v1` changes
    /// (a web page on another site cannot send that type).
    fn post_empty(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).header(reqwest::header::CONTENT_TYPE, "application/json")
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.send(self.http.get(self.url(path))).await
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.transport(e))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| self.decode(e.to_string()));
        }
        Err(self.api_error(status, &body))
    }

    /// The error a failed request's status and body say.
    fn api_error(&self, status: reqwest::StatusCode, body: &[u8]) -> ClientError {
        let error = serde_json::from_slice::<ApiError>(body).unwrap_or_else(|_| ApiError {
            error: format!("HTTP {status}: {}", String::from_utf8_lossy(body).trim()),
            hint: None,
            kind: None,
        });
        if status.as_u16() == 404 && error.hint.as_deref() == Some(DISABLED_HINT) {
            return ClientError::Disabled(error.error);
        }
        ClientError::Api { status: status.as_u16(), error }
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        if e.is_connect() || e.is_timeout() {
            ClientError::Unreachable { addr: self.addr.clone() }
        } else {
            ClientError::Transport { addr: self.addr.clone(), source: e }
        }
    }

    fn decode(&self, detail: String) -> ClientError {
        ClientError::Decode { addr: self.addr.clone(), detail }
    }
}

/// The hint the daemon attaches to 404s for subsystems switched off by a flag.
pub const DISABLED_HINT: &str = "the feature is disabled by a daemon flag";
