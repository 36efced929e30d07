//! `/api/v1/policies` types: network policy in Kubernetes' NetworkPolicy format, its verdicts
//! and drops, and the namespace, labels and named ports targets are selected by.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /api/v1/policies`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyApplyRequest {
    /// One or more `networking.k8s.io/v1` NetworkPolicy documents, YAML or JSON (a YAML
    /// stream, or a `List`). Applied all or none.
    pub manifest: String,
}

/// What an apply added or replaced.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyApplied {
    /// `namespace/name` of each policy.
    #[serde(default)]
    pub applied: Vec<String>,
}

/// One policy, as `weave policy ls` lists it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyInfo {
    /// `namespace/name`.
    pub name: String,
    /// Its podSelector, as Kubernetes prints selectors (empty: every target of the namespace).
    #[serde(default)]
    pub selector: String,
    /// Ingress rules; absent when the policy does not isolate for ingress.
    #[serde(default)]
    pub ingress_rules: Option<usize>,
    /// Egress rules; absent when the policy does not isolate for egress.
    #[serde(default)]
    pub egress_rules: Option<usize>,
    /// Targets it selects, cluster-wide.
    #[serde(default)]
    pub selected: usize,
    /// The policy as applied.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub source: serde_json::Value,
}

/// `DELETE /api/v1/policies/{name}`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyDeleted {
    pub name: String,
}

/// One direction of a verdict.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DirectionVerdict {
    /// `open` (no policy of this direction selects the target), `allowed` or `denied`.
    pub verdict: String,
    /// The policy that allows it (`allowed`).
    #[serde(default)]
    pub policy: Option<String>,
    /// The index of the rule in that policy's list (`allowed`).
    #[serde(default)]
    pub rule: Option<usize>,
    /// The policies that isolate the target (`denied`).
    #[serde(default)]
    pub isolating: Vec<String>,
}

/// `GET /api/v1/policies/why`: whether a connection is allowed, and by which rule.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyVerdict {
    pub allowed: bool,
    pub src: String,
    pub dst: String,
    /// The source's egress.
    pub egress: DirectionVerdict,
    /// The destination's ingress.
    pub ingress: DirectionVerdict,
}

/// A packet the policy rules of this host dropped.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyDrop {
    /// Unix seconds.
    pub time: u64,
    pub src: String,
    pub dst: String,
    /// `tcp`, `udp`, `sctp`, `icmp` or the IP protocol number.
    pub protocol: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// `ingress` (the destination refused) or `egress` (the source may not send).
    pub direction: String,
    /// The policies that isolated that side.
    #[serde(default)]
    pub isolating: Vec<String>,
}

/// A named port of a target, as a pod's container port.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NamedPort {
    pub name: String,
    pub port: u16,
    /// `tcp` (the default), `udp` or `sctp`.
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "tcp".into()
}

/// `PUT /api/v1/targets/{id}/labels`: what network policy selects a target of this host by.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TargetLabels {
    /// Its namespace; unchanged when absent (`default` for a new target).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The labels; they replace the target's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Named ports; unchanged when absent.
    #[serde(default)]
    pub ports: Option<Vec<NamedPort>>,
}

/// A target's policy view.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyTarget {
    pub id: String,
    pub namespace: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<NamedPort>,
    #[serde(default)]
    pub addrs: Vec<String>,
}

/// `PUT /api/v1/namespaces/{name}/labels`: a namespace's labels, cluster-wide
/// (`kubernetes.io/metadata.name` is always there, as in Kubernetes).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NamespaceLabels {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Network policy on this host, in the report and `weave status`; absent while no policy exists.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyStatus {
    /// Policies in force, cluster-wide.
    pub policies: usize,
    /// Targets policy knows, cluster-wide.
    pub targets: usize,
    /// Of those, the ones on this host (whose traffic this host's kernel checks).
    pub local_targets: usize,
    /// Drops this host's drop log recorded since the daemon started (logging is rate-limited:
    /// the counters count every packet).
    pub drops_logged: u64,
    /// The kernel's counters, read every few seconds.
    #[serde(default)]
    pub counters: Vec<PolicyCounter>,
}

/// One kernel counter of a policy: packets a rule allowed, or packets dropped because the
/// policy isolated the target in that direction.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PolicyCounter {
    /// `namespace/name`.
    pub policy: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// The index of the allowing rule in the policy's list; absent for the drop counter.
    #[serde(default)]
    pub rule: Option<usize>,
    pub packets: u64,
    pub bytes: u64,
}
