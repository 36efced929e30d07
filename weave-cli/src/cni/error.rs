//! CNI errors: the spec's well-known codes, the plugins' own (100 and up, as the spec leaves
//! 0-99 to itself), and the error object printed on stdout.
//!
//! `msg` says what went wrong and `details` what to do about it; runtimes show both
//! (libcni prints `msg; details`).

use super::version::Version;
use serde::Serialize;

/// Incompatible CNI version.
pub const INCOMPATIBLE_VERSION: u32 = 1;
/// Unsupported field in the network configuration (the message names key and value).
pub const UNSUPPORTED_FIELD: u32 = 2;
/// Container unknown or does not exist: the runtime need not clean up.
pub const UNKNOWN_CONTAINER: u32 = 3;
/// Invalid or missing environment variables (the message names them).
pub const INVALID_ENV: u32 = 4;
/// I/O failure, e.g. reading stdin.
pub const IO_FAILURE: u32 = 5;
/// The input could not be decoded.
pub const DECODE_FAILURE: u32 = 6;
/// Invalid network configuration.
pub const INVALID_CONFIG: u32 = 7;
/// A transient condition: try again later.
pub const TRY_AGAIN_LATER: u32 = 11;
/// STATUS: the plugin cannot serve ADD now.
pub const NOT_AVAILABLE: u32 = 50;

/// CHECK: the interface is missing from the container.
pub const INTERFACE_MISSING: u32 = 100;
/// CHECK: an address is missing from the interface or no longer reserved in IPAM.
pub const ADDRESS_MISMATCH: u32 = 101;
/// CHECK: a route is missing.
pub const ROUTE_MISSING: u32 = 102;
/// ADD: no free address is left in the subnet.
pub const RANGE_EXHAUSTED: u32 = 103;
/// The daemon failed to do what was asked (its log says more).
pub const DAEMON_FAILURE: u32 = 104;
/// CHECK: the host side of the interface is not on the weave bridge.
pub const UNPLUGGED: u32 = 105;
/// A delegated plugin (IPAM) could not be run or answered nonsense.
pub const DELEGATE_FAILURE: u32 = 106;
/// ADD: the attachment conflicts with what exists (the interface is already in the container,
/// an address is in use, the container is attached under another interface name).
pub const CONFLICT: u32 = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError { code, msg: msg.into(), details: details.into() }
    }

    pub fn incompatible_version(details: impl Into<String>) -> CniError {
        CniError::new(INCOMPATIBLE_VERSION, "incompatible CNI version", details)
    }

    pub fn unsupported_field(key: &str, value: impl std::fmt::Display, what_to_do: &str) -> CniError {
        CniError::new(UNSUPPORTED_FIELD, format!("unsupported field {key}={value}"), what_to_do)
    }

    pub fn invalid_env(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::new(INVALID_ENV, msg, details)
    }

    pub fn decode(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::new(DECODE_FAILURE, msg, details)
    }

    pub fn invalid_config(msg: impl Into<String>, details: impl Into<String>) -> CniError {
        CniError::new(INVALID_CONFIG, msg, details)
    }

    /// The error object as the spec prints it, for the version in use.
    pub fn to_json(&self, version: Version) -> serde_json::Value {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            cni_version: &'a str,
            code: u32,
            msg: &'a str,
            #[serde(skip_serializing_if = "str::is_empty")]
            details: &'a str,
        }
        serde_json::to_value(Out {
            cni_version: version.as_str(),
            code: self.code,
            msg: &self.msg,
            details: &self.details,
        })
        .expect("plain struct serialises")
    }
}

impl std::fmt::Display for CniError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.details.is_empty() {
            write!(f, "{}", self.msg)
        } else {
            write!(f, "{}; {}", self.msg, self.details)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_object_is_the_specs() {
        // The spec's example error, field for field.
        let e = CniError::invalid_config(
            "Invalid Configuration",
            "Network 192.168.0.0/31 too small to allocate from.",
        );
        assert_eq!(
            e.to_json(Version::V1_1_0),
            serde_json::json!({"cniVersion": "1.1.0", "code": 7, "msg": "Invalid Configuration",
                "details": "Network 192.168.0.0/31 too small to allocate from."})
        );
        let bare = CniError::new(TRY_AGAIN_LATER, "busy", "");
        assert_eq!(
            bare.to_json(Version::V0_3_1),
            serde_json::json!({"cniVersion": "0.3.1", "code": 11, "msg": "busy"})
        );
        assert_eq!(
            e.to_string(),
            "Invalid Configuration; Network 192.168.0.0/31 too small to allocate from."
        );
    }

    #[test]
    fn codes_keep_to_the_specs_ranges() {
        assert_eq!([INCOMPATIBLE_VERSION, UNSUPPORTED_FIELD, UNKNOWN_CONTAINER, INVALID_ENV], [1, 2, 3, 4]);
        assert_eq!(
            [IO_FAILURE, DECODE_FAILURE, INVALID_CONFIG, TRY_AGAIN_LATER, NOT_AVAILABLE],
            [5, 6, 7, 11, 50]
        );
        for own in [
            INTERFACE_MISSING,
            ADDRESS_MISMATCH,
            ROUTE_MISSING,
            RANGE_EXHAUSTED,
            DAEMON_FAILURE,
            UNPLUGGED,
            DELEGATE_FAILURE,
            CONFLICT,
        ] {
            assert!(own >= 100, "plugin-specific codes start at 100");
        }
    }
}
