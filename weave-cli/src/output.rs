//! How the CLI reports results and failures: data on stdout, one line per failure on stderr.

use weave_api::ClientError;

/// Exit status when the feature is disabled in the daemon, as Weave.
pub const EXIT_DISABLED: i32 = 4;

/// A failed command: the line to print and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: 1 }
    }

    pub fn disabled(message: impl Into<String>) -> Failure {
        Failure { message: message.into(), code: EXIT_DISABLED }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Failure {
        match &e {
            ClientError::Unreachable { addr } => {
                Failure::new(format!("no weave daemon answers at {addr}: start one with `weave launch`"))
            }
            ClientError::Disabled(msg) => Failure::disabled(msg.clone()),
            _ => match e.hint() {
                Some(hint) => Failure::new(format!("{e}: {hint}")),
                None => Failure::new(e.to_string()),
            },
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::new(e.to_string())
    }
}

pub type CmdResult = Result<(), Failure>;

/// Pretty JSON with Go's 4-space indent, as Weave prints its report.
pub fn json<T: serde::Serialize>(v: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("API types serialise");
    String::from_utf8(out).expect("JSON is UTF-8")
}
