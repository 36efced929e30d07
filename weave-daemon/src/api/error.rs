//! Turning failures into `{"error", "hint"}` JSON with a fitting status, in one place.

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
pub async fn not_found(uri: Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiFailure::new(StatusCode::NOT_FOUND, format!("no such endpoint: {}", uri.path()))
            .hint("see /api/v1/openapi.json for the endpoints this daemon serves")
            .into_response()
    } else {
        (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
    }
}
