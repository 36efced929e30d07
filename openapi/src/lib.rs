//! weave-api: everything a client knows about the weave daemon.
//!
//! The request/response types of the REST API (`/api/v1/...`), Weave Net's `WeaveStatus`
//! report with Weave's field names, the pure formatters that render Weave's plain-text
//! status views, and a typed async client (the events stream included). The CLI and the TUI
//! link only this crate.
#![forbid(unsafe_code)]

pub mod attach;
pub mod client;
pub mod cni;
pub mod dns;
pub mod events;
mod go_json;
pub mod ipam;
pub mod mesh;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod services;
pub mod status;
pub mod template;
pub mod text;
pub mod traffic;

pub use attach::*;
pub use client::{Client, ClientError};
pub use cni::*;
pub use dns::*;
pub use events::{Events, StreamItem};
pub use ipam::*;
pub use mesh::*;
pub use policy::*;
pub use report::*;
pub use services::*;
pub use status::*;
pub use traffic::*;

/// The address the daemon's REST API listens on unless told otherwise.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:6784";
/// Environment variable naming the REST API address, as Weave.
pub const HTTP_ADDR_ENV: &str = "WEAVE_HTTP_ADDR";
