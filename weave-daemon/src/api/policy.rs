//! `/api/v1/policies`, `/api/v1/targets/{id}/labels` and `/api/v1/namespaces/{name}/labels`:
//! network policy. Each handler is one call of the policy handle.

use super::{ApiFailure, AppState, PolicyApi};
use crate::policy::handle::{protocol, LabelChange};
use crate::policy::service::ServiceError;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use weave_api::*;
use weave_policy::{DirVerdict, PolicyId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, apply))
        .routes(routes!(why))
        .routes(routes!(drops))
        .routes(routes!(delete))
        .routes(routes!(target_labels))
        .routes(routes!(namespace_labels))
}

impl From<ServiceError> for ApiFailure {
    fn from(e: ServiceError) -> ApiFailure {
        match &e {
            ServiceError::Invalid(_) => ApiFailure::bad_request(e.to_string())
                .hint("fix the field named and apply the file again; nothing of it was applied"),
            ServiceError::Label(_) => ApiFailure::bad_request(e.to_string()),
            ServiceError::Gossip(_) => ApiFailure::bad_request(e.to_string()),
            ServiceError::NotFound(_) => ApiFailure::new(StatusCode::NOT_FOUND, e.to_string())
                .hint("`weave policy ls` lists the policies, `weave ps` the targets of this host"),
            ServiceError::Kernel(_) => ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

/// `NAME` (namespace `default`) or `NAMESPACE/NAME`.
fn policy_id(name: &str) -> PolicyId {
    match name.split_once('/') {
        Some((ns, n)) => PolicyId { namespace: ns.into(), name: n.into() },
        None => PolicyId { namespace: crate::policy::handle::DEFAULT_NAMESPACE.into(), name: name.into() },
    }
}

/// Every policy of the cluster, with the number of targets it selects.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policy",
    responses((status = 200, description = "The policies", body = Vec<PolicyInfo>)))]
async fn list(State(p): State<PolicyApi>) -> Json<Vec<PolicyInfo>> {
    let list = p.blocking(|s| s.list()).await;
    Json(
        list.into_iter()
            .map(|p| PolicyInfo {
                name: p.id.to_string(),
                selector: p.selector,
                ingress_rules: p.ingress_rules,
                egress_rules: p.egress_rules,
                selected: p.selected,
                source: p.source,
            })
            .collect(),
    )
}

/// Adds or replaces the NetworkPolicy documents of `manifest` on every host. A document that
/// is malformed or uses what is not supported refuses the whole request, naming the field and
/// the reason; nothing of it is applied. When the kernel refuses the rules, the previous ones
/// stay in force.
#[utoipa::path(post, path = "/api/v1/policies", tag = "policy", request_body = PolicyApplyRequest,
    responses(
        (status = 200, description = "The policies applied", body = PolicyApplied),
        (status = 400, description = "A document is malformed or unsupported: the field path and the reason", body = ApiError),
        (status = 500, description = "The kernel refused the rules (the previous ones stay)", body = ApiError)))]
async fn apply(
    State(p): State<PolicyApi>,
    Json(req): Json<PolicyApplyRequest>,
) -> Result<Json<PolicyApplied>, ApiFailure> {
    let ids = p.apply(req.manifest).await?;
    Ok(Json(PolicyApplied { applied: ids.iter().map(|i| i.to_string()).collect() }))
}

/// Deletes a policy on every host: `NAME` (namespace `default`) or `NAMESPACE%2FNAME`.
#[utoipa::path(delete, path = "/api/v1/policies/{name}", tag = "policy",
    params(("name" = String, Path, description = "`NAME` or `NAMESPACE/NAME` (escaped)")),
    responses((status = 200, description = "Deleted", body = PolicyDeleted),
        (status = 404, description = "No such policy", body = ApiError),
        (status = 500, description = "The kernel refused the rules (the previous ones stay)", body = ApiError)))]
async fn delete(
    State(p): State<PolicyApi>,
    Path(name): Path<String>,
) -> Result<Json<PolicyDeleted>, ApiFailure> {
    let id = policy_id(&name);
    p.delete(id.clone()).await?;
    Ok(Json(PolicyDeleted { name: id.to_string() }))
}

/// The query of `GET /api/v1/policies/why`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct WhyQuery {
    /// The source: a target id or an address.
    src: String,
    /// The destination: a target id or an address.
    dst: String,
    /// The destination port (absent: any port).
    #[serde(default)]
    port: Option<u16>,
    /// `tcp` (the default), `udp` or `sctp`.
    #[serde(default)]
    proto: Option<String>,
}

fn direction(v: DirVerdict) -> DirectionVerdict {
    match v {
        DirVerdict::Open => DirectionVerdict { verdict: "open".into(), ..Default::default() },
        DirVerdict::Allowed { policy, rule } => DirectionVerdict {
            verdict: "allowed".into(),
            policy: Some(policy.to_string()),
            rule: Some(rule),
            isolating: vec![],
        },
        DirVerdict::Denied { isolating } => DirectionVerdict {
            verdict: "denied".into(),
            isolating: isolating.iter().map(|i| i.to_string()).collect(),
            ..Default::default()
        },
    }
}

/// Whether a connection from `src` to `dst` would be allowed, and by which rule of which
/// policy (or which policies isolate the side that refuses it).
#[utoipa::path(get, path = "/api/v1/policies/why", tag = "policy", params(WhyQuery),
    responses((status = 200, description = "The verdict", body = PolicyVerdict),
        (status = 400, description = "A protocol that is not tcp, udp or sctp", body = ApiError),
        (status = 404, description = "A source or destination that is neither an address nor a known target", body = ApiError)))]
async fn why(
    State(p): State<PolicyApi>,
    Query(q): Query<WhyQuery>,
) -> Result<Json<PolicyVerdict>, ApiFailure> {
    let proto_name = q.proto.unwrap_or_else(|| "tcp".into());
    let proto = protocol(&proto_name)
        .ok_or_else(|| ApiFailure::bad_request(format!("protocol {proto_name:?} is not tcp, udp or sctp")))?;
    let v = p
        .blocking(move |s| {
            let src = s.resolve(&q.src).ok_or(q.src)?;
            let dst = s.resolve(&q.dst).ok_or(q.dst)?;
            Ok::<_, String>((src, dst, s.why(src, dst, proto.number(), q.port)))
        })
        .await;
    let (src, dst, v) = v.map_err(|what| {
        ApiFailure::new(StatusCode::NOT_FOUND, format!("{what} is neither an address nor a known target"))
            .hint("name a target by its id (as `weave ps` shows it) or by its weave address")
    })?;
    Ok(Json(PolicyVerdict {
        allowed: v.allowed(),
        src: src.to_string(),
        dst: dst.to_string(),
        egress: direction(v.egress),
        ingress: direction(v.ingress),
    }))
}

/// The packets this host's policy rules dropped lately (a bounded log), oldest first.
#[utoipa::path(get, path = "/api/v1/policies/drops", tag = "policy",
    responses((status = 200, description = "The drops", body = Vec<PolicyDrop>)))]
async fn drops(State(p): State<PolicyApi>) -> Json<Vec<PolicyDrop>> {
    let drops = p.blocking(|s| s.drops()).await;
    Json(drops.iter().map(crate::policy::handle::drop_view).collect())
}

fn named_ports(ports: Vec<NamedPort>) -> Result<Vec<weave_policy::NamedPort>, ApiFailure> {
    ports
        .into_iter()
        .map(|p| {
            let protocol = protocol(&p.protocol).ok_or_else(|| {
                ApiFailure::bad_request(format!(
                    "port {}: protocol {:?} is not tcp, udp or sctp",
                    p.name, p.protocol
                ))
            })?;
            Ok(weave_policy::NamedPort { name: p.name, port: p.port, protocol })
        })
        .collect()
}

/// Sets the labels (and, when given, the namespace and named ports) of a target attached on
/// this host; every host's rules follow.
#[utoipa::path(put, path = "/api/v1/targets/{id}/labels", tag = "policy", request_body = TargetLabels,
    params(("id" = String, Path, description = "The target's id, as `weave ps` shows it (escaped)")),
    responses((status = 200, description = "The target as policy sees it", body = PolicyTarget),
        (status = 400, description = "A label, namespace or port name Kubernetes would refuse", body = ApiError),
        (status = 404, description = "No such target attached on this host", body = ApiError)))]
async fn target_labels(
    State(p): State<PolicyApi>,
    Path(id): Path<String>,
    Json(req): Json<TargetLabels>,
) -> Result<Json<PolicyTarget>, ApiFailure> {
    let ports = req.ports.map(named_ports).transpose()?;
    let t = p.set_labels(id, LabelChange { namespace: req.namespace, labels: req.labels, ports }).await?;
    Ok(Json(PolicyTarget {
        id: t.id,
        namespace: t.namespace,
        labels: t.labels,
        ports: t
            .ports
            .into_iter()
            .map(|p| NamedPort {
                name: p.name,
                port: p.port,
                protocol: p.protocol.as_str().to_ascii_lowercase(),
            })
            .collect(),
        addrs: t.addrs.iter().map(|a| a.to_string()).collect(),
    }))
}

/// Sets a namespace's labels on every host (`kubernetes.io/metadata.name` is always there).
#[utoipa::path(put, path = "/api/v1/namespaces/{name}/labels", tag = "policy", request_body = NamespaceLabels,
    params(("name" = String, Path, description = "The namespace")),
    responses((status = 200, description = "The labels set", body = NamespaceLabels),
        (status = 400, description = "A name or label Kubernetes would refuse", body = ApiError)))]
async fn namespace_labels(
    State(p): State<PolicyApi>,
    Path(name): Path<String>,
    Json(req): Json<NamespaceLabels>,
) -> Result<Json<NamespaceLabels>, ApiFailure> {
    p.set_namespace(name, req.labels.clone()).await?;
    Ok(Json(req))
}
