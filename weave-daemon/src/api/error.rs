//! Turning failures into `{"error", "hint"}` JSON with a fitting status, in one place: the
//! status of every [`AttachError`] and [`IpamFailure`] is decided here.

use crate::attach::AttachError;
use crate::ipam::{IpamFailure, Stuck};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use weave_api::ApiError;

/// A failed `/api/v1` request.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: StatusCode,
    pub error: String,
    pub hint: Option<String>,
    /// A stable word for programs that act on the failure (see `ApiError::kind`).
    pub kind: Option<&'static str>,
}

impl ApiFailure {
    pub fn new(status: StatusCode, error: impl Into<String>) -> ApiFailure {
        ApiFailure { status, error: error.into(), hint: None, kind: None }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> ApiFailure {
        self.hint = Some(hint.into());
        self
    }

    pub fn kind(mut self, kind: &'static str) -> ApiFailure {
        self.kind = Some(kind);
        self
    }

    pub fn bad_request(error: impl Into<String>) -> ApiFailure {
        ApiFailure::new(StatusCode::BAD_REQUEST, error)
    }
}

/// The HTTP status of an IPAM failure.
pub fn ipam_status(e: &IpamFailure) -> StatusCode {
    use weave_ipam::OpError;
    match e {
        IpamFailure::Op(
            OpError::OutOfBounds { .. } | OpError::NotASubnet(_) | OpError::SubnetTooSmall(_),
        ) => StatusCode::BAD_REQUEST,
        IpamFailure::Op(OpError::NoAddresses(_) | OpError::NotFound { .. }) => StatusCode::NOT_FOUND,
        IpamFailure::Op(_) => StatusCode::CONFLICT,
        IpamFailure::Stopping | IpamFailure::Stuck(_) => StatusCode::SERVICE_UNAVAILABLE,
        IpamFailure::Persist(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn ipam_hint(e: &IpamFailure) -> Option<String> {
    use weave_ipam::OpError;
    Some(match e {
        IpamFailure::Op(OpError::OutOfBounds { universe, .. }) => {
            format!("allocate within the IPAM range {universe} (--ipalloc-range)")
        }
        IpamFailure::Op(OpError::OwnedByOtherPeer { .. }) => {
            "the address belongs to another peer's range; pick another address or net:default".into()
        }
        IpamFailure::Op(OpError::NoAddresses(_) | OpError::NotFound { .. }) => {
            "GET /api/v1/ipam/allocations lists what this peer has handed out".into()
        }
        IpamFailure::Stuck(Stuck::Exhausted { .. }) => {
            "release addresses with weave detach (weave ipam check lists orphans), or allocate from another subnet"
                .into()
        }
        IpamFailure::Stuck(Stuck::Unreachable { names, .. }) => {
            format!("if they are gone for good: weave rmpeer {}", names.join(" "))
        }
        IpamFailure::Persist(_) => "the daemon stops; check the disk under --data-dir, then launch it again".into(),
        _ => return None,
    })
}

/// The stable word for an IPAM failure that programs act on (`ApiError::kind`).
fn ipam_kind(e: &IpamFailure) -> Option<&'static str> {
    match e {
        IpamFailure::Stuck(Stuck::Exhausted { .. }) => Some("exhausted"),
        IpamFailure::Stuck(Stuck::Unreachable { .. }) => Some("unreachable_peers"),
        IpamFailure::Stopping => Some("stopping"),
        IpamFailure::Op(weave_ipam::OpError::OutOfBounds { .. }) => Some("invalid"),
        _ => None,
    }
}

impl From<IpamFailure> for ApiFailure {
    fn from(e: IpamFailure) -> ApiFailure {
        ApiFailure { status: ipam_status(&e), hint: ipam_hint(&e), kind: ipam_kind(&e), error: e.to_string() }
    }
}

/// The HTTP status of an attach failure.
pub fn attach_status(e: &AttachError) -> StatusCode {
    match e {
        AttachError::BadTarget { .. }
        | AttachError::NotANamespace { .. }
        | AttachError::BadAddress(_)
        | AttachError::BadName(_)
        | AttachError::DnsDisabled => StatusCode::BAD_REQUEST,
        AttachError::UnknownTarget { .. }
        | AttachError::NoNamespace { .. }
        | AttachError::NothingToDetach { .. }
        | AttachError::IpamDisabled => StatusCode::NOT_FOUND,
        AttachError::Unreachable { .. }
        | AttachError::ContainerNotRunning { .. }
        | AttachError::TargetGone { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AttachError::ContainersUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AttachError::InterfaceExists { .. } | AttachError::AlreadyAttached { .. } => StatusCode::CONFLICT,
        AttachError::Kernel(k) => match k.errno() {
            Some(libc::EEXIST) | Some(libc::EBUSY) | Some(libc::EADDRINUSE) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        AttachError::NoBridge(_) => StatusCode::SERVICE_UNAVAILABLE,
        AttachError::Ipam(f) => ipam_status(f),
        AttachError::Journal { .. } | AttachError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<AttachError> for ApiFailure {
    fn from(e: AttachError) -> ApiFailure {
        let hint = match &e {
            AttachError::Ipam(f) => ipam_hint(f),
            // The CLI exits 4 on this hint, as Weave's does when IPAM is off.
            AttachError::IpamDisabled => Some(weave_api::client::DISABLED_HINT.into()),
            e => e.hint(),
        };
        let kind = match &e {
            AttachError::Ipam(f) => ipam_kind(f),
            AttachError::UnknownTarget { .. }
            | AttachError::NoNamespace { .. }
            | AttachError::Unreachable { .. } => Some("unknown_container"),
            AttachError::InterfaceExists { .. } | AttachError::AlreadyAttached { .. } => Some("conflict"),
            AttachError::NoBridge(_) => Some("not_ready"),
            _ => None,
        };
        ApiFailure { status: attach_status(&e), error: e.to_string(), hint, kind }
    }
}

impl From<crate::cni::CniFailure> for ApiFailure {
    fn from(e: crate::cni::CniFailure) -> ApiFailure {
        use weave_cni::CniFailure;
        match e {
            // IPAM's failures come wrapped as the attach service's, answered alike.
            CniFailure::Backend(a) => a.into(),
            CniFailure::IpamDisabled => AttachError::IpamDisabled.into(),
            CniFailure::Internal(m) => AttachError::Internal(m).into(),
            CniFailure::Invalid(m) => ApiFailure::bad_request(m).kind("invalid"),
            CniFailure::Conflict(m) => ApiFailure::new(StatusCode::CONFLICT, m)
                .kind("conflict")
                .hint("delete the attachment first (CNI DEL), then add it again"),
            CniFailure::Store(s) => ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, s.to_string())
                .hint("check the disk under --data-dir"),
        }
    }
}

impl From<crate::services::ServiceError> for ApiFailure {
    fn from(e: crate::services::ServiceError) -> ApiFailure {
        use crate::services::ServiceError as E;
        let (status, kind) = match &e {
            E::Attach(a) => return ApiFailure::from(AttachErrorRef(a)).with_error(e.to_string()),
            E::Ipam(_) => {
                let E::Ipam(i) = e else { unreachable!() };
                return i.into();
            }
            E::Invalid(_) | E::OutOfRange { .. } | E::BadName(_) | E::DnsDisabled | E::NeedsIpam(_) => {
                (StatusCode::BAD_REQUEST, Some("invalid"))
            }
            E::UnknownTarget { .. } => (StatusCode::NOT_FOUND, Some("unknown_container")),
            E::NotFound(_) => (StatusCode::NOT_FOUND, Some("not_found")),
            E::Conflict(_) => (StatusCode::CONFLICT, Some("conflict")),
            E::Kernel(k) => match k.errno() {
                Some(libc::EEXIST) | Some(libc::EADDRINUSE) => (StatusCode::CONFLICT, Some("conflict")),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
            },
            E::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        ApiFailure { status, hint: e.hint(), kind, error: e.to_string() }
    }
}

/// An attach failure seen through a service (the status and hint are the attach's).
struct AttachErrorRef<'a>(&'a AttachError);

impl From<AttachErrorRef<'_>> for ApiFailure {
    fn from(a: AttachErrorRef<'_>) -> ApiFailure {
        ApiFailure { status: attach_status(a.0), error: a.0.to_string(), hint: a.0.hint(), kind: None }
    }
}

impl ApiFailure {
    fn with_error(mut self, error: String) -> ApiFailure {
        self.error = error;
        self
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ApiError { error: self.error, hint: self.hint, kind: self.kind.map(String::from) }),
        )
            .into_response()
    }
}

/// Unknown paths: JSON under `/api/`, Go's plain text elsewhere (as Weave's mux).
/// Errors under `/api/v1` are JSON whoever made them: the framework's own refusals of a
/// malformed body, query or path (plain text, 422 for JSON of the wrong shape) become an
/// [`ApiError`] with status 400, so a client meets one shape and one status for bad input.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/v1/");
    let resp = next.run(req).await;
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !api || !plain || !resp.status().is_client_error() {
        return resp;
    }
    let status = match resp.status() {
        StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
        s => s,
    };
    // The framework's messages are one short line.
    let text = match axum::body::to_bytes(resp.into_body(), 64 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => "the request was refused".to_string(),
    };
    let hint = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "send a smaller body",
        StatusCode::METHOD_NOT_ALLOWED => "see /api/v1/openapi.json for the methods each path takes",
        _ => "see /api/v1/openapi.json for what this endpoint takes",
    };
    ApiFailure::new(status, text).hint(hint).into_response()
}

pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiFailure::new(StatusCode::NOT_FOUND, format!("no such endpoint: {}", uri.path()))
            .hint("see /api/v1/openapi.json for the endpoints this daemon serves")
            .into_response()
    } else {
        (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
    }
}
