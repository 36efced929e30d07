//! The daemon's answers as CNI errors: each failure of the REST API becomes the CNI code a
//! runtime acts on, with the daemon's own explanation and hint.

use super::env::Command;
use super::error::{self, CniError};
use weave_api::ClientError;

/// `e` from the daemon during `cmd`.
pub fn cni_error(e: ClientError, cmd: Command) -> CniError {
    match e {
        ClientError::Unreachable { addr } => {
            // STATUS says "not available" so runtimes wait; the others ask to be retried.
            let code = if cmd == Command::Status { error::NOT_AVAILABLE } else { error::TRY_AGAIN_LATER };
            CniError::new(
                code,
                format!("weave is not running: no weave daemon answers at {addr}"),
                "start it (`weave launch`, or the weave pod of the DaemonSet) and retry; STATUS reports when it is ready (WEAVE_HTTP_ADDR names another address)",
            )
        }
        ClientError::Disabled(msg) => CniError::invalid_config(
            format!("weave's IPAM is off: {msg}"),
            "give the network's ipam a \"type\" (such as host-local) with its own addresses, or run weave with an --ipalloc-range",
        ),
        ClientError::Api { status, error } => {
            let hint = error.hint.clone().unwrap_or_default();
            let code = match error.kind.as_deref() {
                Some("exhausted") => error::RANGE_EXHAUSTED,
                Some("unreachable_peers") | Some("not_ready") | Some("stopping") => {
                    if cmd == Command::Status {
                        error::NOT_AVAILABLE
                    } else {
                        error::TRY_AGAIN_LATER
                    }
                }
                Some("unknown_container") => error::UNKNOWN_CONTAINER,
                Some("conflict") => error::CONFLICT,
                Some("invalid") => error::INVALID_CONFIG,
                _ => match status {
                    400 => error::INVALID_CONFIG,
                    404 | 422 => error::UNKNOWN_CONTAINER,
                    409 => error::CONFLICT,
                    503 => error::TRY_AGAIN_LATER,
                    _ => error::DAEMON_FAILURE,
                },
            };
            let details = if hint.is_empty() && code == error::DAEMON_FAILURE {
                "the weave daemon's log says more (weave-daemon.log in its data directory)".to_string()
            } else {
                hint
            };
            CniError::new(code, error.error, details)
        }
        ClientError::Transport { addr, source } => CniError::new(
            error::IO_FAILURE,
            format!("talking to the weave daemon at {addr}: {source}"),
            "retry; if it persists, check the daemon's log",
        ),
        ClientError::Stalled { addr, secs } => CniError::new(
            if cmd == Command::Status { error::NOT_AVAILABLE } else { error::TRY_AGAIN_LATER },
            format!("the weave daemon at {addr} stopped answering for {secs} s"),
            "retry; if it persists, check the daemon's log",
        ),
        ClientError::Decode { addr, detail } => CniError::new(
            error::DAEMON_FAILURE,
            format!("the weave daemon at {addr} answered something this plugin does not understand: {detail}"),
            "install the weave-net and weave-ipam of the daemon's release (`weave setup-cni`)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weave_api::ApiError;

    fn api(status: u16, kind: Option<&str>) -> ClientError {
        ClientError::Api {
            status,
            error: ApiError {
                error: "boom".into(),
                hint: Some("do this".into()),
                kind: kind.map(String::from),
            },
        }
    }

    #[test]
    fn daemon_failures_become_the_codes_runtimes_act_on() {
        let down = || ClientError::Unreachable { addr: "127.0.0.1:6784".into() };
        assert_eq!(cni_error(down(), Command::Status).code, 50);
        let e = cni_error(down(), Command::Add);
        assert_eq!(e.code, 11);
        assert!(e.msg.contains("not running") && e.details.contains("weave launch"), "{e:?}");
        assert_eq!(cni_error(api(503, Some("exhausted")), Command::Add).code, 103);
        assert_eq!(cni_error(api(503, Some("unreachable_peers")), Command::Add).code, 11);
        assert_eq!(cni_error(api(503, Some("unreachable_peers")), Command::Status).code, 50);
        assert_eq!(cni_error(api(422, None), Command::Add).code, 3);
        assert_eq!(cni_error(api(400, None), Command::Add).code, 7);
        assert_eq!(cni_error(api(409, None), Command::Add).code, error::CONFLICT);
        let internal = cni_error(api(500, None), Command::Del);
        assert_eq!((internal.code, internal.details.as_str()), (104, "do this"));
        assert_eq!(cni_error(ClientError::Disabled("IPAM is disabled".into()), Command::Add).code, 7);
    }
}
