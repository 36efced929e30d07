//! The targets policy follows: what the attach service announces when a target comes or goes
//! ([`TargetEvent`], with the target's policy facts, [`TargetMeta`]), and the trait through
//! which the daemon's attach service is reached ([`Targets`]).

use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::future::Future;
use tokio::sync::broadcast;

/// A target's policy-relevant facts (Kubernetes' namespace, labels and named ports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetMeta {
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Named ports: name -> (port, protocol).
    pub ports: BTreeMap<String, (u16, String)>,
}

/// The Kubernetes label kubelet puts on a pod's containers naming the pod's namespace.
const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// At most this many of a container's labels reach policy (gossiped to every peer).
const MAX_CONTAINER_LABELS: usize = 64;

impl TargetMeta {
    /// This meta, with a container's labels where the request gave none: those that are
    /// valid Kubernetes labels (others, such as long descriptions, cannot be selected on and
    /// are left out), and the pod's namespace from kubelet's label where none was given.
    pub fn with_container_labels(&self, labels: &BTreeMap<String, String>) -> TargetMeta {
        let mut m = self.clone();
        if m.namespace.is_none() {
            m.namespace = labels
                .get(POD_NAMESPACE_LABEL)
                .filter(|n| weave_policy::validate::dns_label(n).is_ok())
                .cloned();
        }
        if m.labels.is_empty() {
            m.labels = labels
                .iter()
                .filter(|(k, v)| {
                    weave_policy::validate::label_key(k, "").is_ok()
                        && weave_policy::validate::label_value(v, "").is_ok()
                })
                .take(MAX_CONTAINER_LABELS)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
        }
        m
    }
}

/// Targets coming and going, for subsystems that follow them (policy, services).
#[derive(Debug, Clone, PartialEq)]
pub enum TargetEvent {
    Attached { id: String, addrs: Vec<Ipv4Net>, meta: TargetMeta },
    Detached { id: String, removed: Vec<Ipv4Net> },
}

/// The attach service, as policy follows it.
pub trait Targets: Send + Sync + 'static {
    /// Why the targets could not be listed.
    type Error: std::fmt::Display;
    /// Targets attached and detached from now on.
    fn subscribe(&self) -> broadcast::Receiver<TargetEvent>;
    /// Every target attached on this host now: its id and addresses.
    fn list(&self) -> impl Future<Output = Result<Vec<(String, Vec<Ipv4Net>)>, Self::Error>> + Send;
    /// Whether `id` names a container: those stay when missed, since the container runtime's
    /// watcher reports their going (and listing them needs it).
    fn is_container(&self, id: &str) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_labels_reach_policy_where_the_request_gave_none_and_only_valid_ones() {
        let labels: BTreeMap<String, String> = [
            ("app", "web"),
            ("io.kubernetes.pod.namespace", "shop"),
            ("com.example.description", "a long sentence with spaces"),
            ("bad key!", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let m = TargetMeta::default().with_container_labels(&labels);
        assert_eq!(m.namespace.as_deref(), Some("shop"), "kubelet's label names the namespace");
        let keys: Vec<&str> = m.labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["app", "io.kubernetes.pod.namespace"], "only valid Kubernetes labels");
        // What the request says wins.
        let asked = TargetMeta {
            namespace: Some("prod".into()),
            labels: [("tier".to_string(), "db".to_string())].into(),
            ..TargetMeta::default()
        };
        let m = asked.with_container_labels(&labels);
        assert_eq!((m.namespace.as_deref(), m.labels.len()), (Some("prod"), 1));
        assert_eq!(m.labels["tier"], "db");
    }
}
