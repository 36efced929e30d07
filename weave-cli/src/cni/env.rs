//! The CNI environment: `CNI_COMMAND` and the attachment parameters, checked as libcni's
//! skeleton checks them (same required variables per command, same name rules), with an
//! error naming each bad variable.

use super::error::CniError;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    fn parse(s: &str) -> Option<Command> {
        Some(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }
}

/// The `CNI_ARGS` this plugin understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CniArgs {
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
}

/// Keys of `CNI_ARGS` that are read or knowingly ignored.
const KNOWN_ARGS: [&str; 5] =
    ["IgnoreUnknown", "K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID"];

#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: Option<String>,
    pub netns: Option<String>,
    pub ifname: Option<String>,
    pub args: CniArgs,
    /// `CNI_PATH`: where delegated plugins are looked up.
    pub path: Vec<PathBuf>,
    /// Where the daemon's REST API is (`WEAVE_HTTP_ADDR`, as Weave's plugin).
    pub http_addr: String,
}

impl Env {
    /// Reads the environment through `get` (the process environment, or a test's map).
    pub fn read(get: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
        let var = |name: &str| get(name).filter(|v| !v.is_empty());
        let Some(raw) = var("CNI_COMMAND") else {
            return Err(CniError::invalid_env(
                "CNI_COMMAND is not set",
                "this is a CNI plugin: a container runtime runs it with CNI_COMMAND=ADD, DEL, CHECK, STATUS, GC or VERSION and the network configuration on stdin",
            ));
        };
        let command = Command::parse(&raw).ok_or_else(|| {
            CniError::invalid_env(
                format!("unknown CNI_COMMAND {raw:?}"),
                "CNI_COMMAND is one of ADD, DEL, CHECK, STATUS, GC, VERSION",
            )
        })?;
        let attachment = matches!(command, Command::Add | Command::Del | Command::Check);
        let needs_netns = matches!(command, Command::Add | Command::Check);
        let mut missing = Vec::new();
        let container_id = var("CNI_CONTAINERID");
        let netns = var("CNI_NETNS");
        let ifname = var("CNI_IFNAME");
        if attachment && container_id.is_none() {
            missing.push("CNI_CONTAINERID");
        }
        if needs_netns && netns.is_none() {
            missing.push("CNI_NETNS");
        }
        if attachment && ifname.is_none() {
            missing.push("CNI_IFNAME");
        }
        if !missing.is_empty() {
            return Err(CniError::invalid_env(
                format!("required environment variables [{}] missing", missing.join(",")),
                format!(
                    "{} needs CNI_CONTAINERID, CNI_IFNAME{}",
                    command.as_str(),
                    if needs_netns { " and CNI_NETNS" } else { "" }
                ),
            ));
        }
        if attachment {
            if let Some(id) = &container_id {
                valid_container_id(id)?;
            }
            if let Some(name) = &ifname {
                valid_ifname(name)?;
            }
            if let Some(ns) = &netns {
                if !ns.starts_with('/') {
                    return Err(CniError::invalid_env(
                        format!("CNI_NETNS={ns:?} is not a path"),
                        "CNI_NETNS is the path of the container's network namespace, such as /var/run/netns/blue",
                    ));
                }
            }
        }
        let args = parse_args(&var("CNI_ARGS").unwrap_or_default())?;
        let path = var("CNI_PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
        let http_addr =
            var(weave_api::HTTP_ADDR_ENV).unwrap_or_else(|| weave_api::DEFAULT_HTTP_ADDR.to_string());
        Ok(Env { command, container_id, netns, ifname, args, path, http_addr })
    }

    /// For commands that are only reached after [`Env::read`] checked these are set.
    pub fn container_id(&self) -> &str {
        self.container_id.as_deref().unwrap_or_default()
    }

    pub fn ifname(&self) -> &str {
        self.ifname.as_deref().unwrap_or_default()
    }
}

/// A container id or network name: an alphanumeric, then alphanumerics, `_`, `.` or `-`.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_container_id(id: &str) -> Result<(), CniError> {
    if id.len() > 256 || !valid_name(id) {
        return Err(CniError::invalid_env(
            format!("invalid characters in CNI_CONTAINERID {id:?}"),
            "a container id starts with a letter or digit, continues with letters, digits, '_', '.' or '-', and has at most 256 characters",
        ));
    }
    Ok(())
}

/// Linux interface names: 1-15 bytes, not `.` or `..`, no `/`, `:` or whitespace.
fn valid_ifname(name: &str) -> Result<(), CniError> {
    let bad = name.len() > 15
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    if bad {
        return Err(CniError::invalid_env(
            format!("CNI_IFNAME {name:?} is not a valid interface name"),
            "an interface name has 1 to 15 characters, is not . or .., and has no '/', ':' or whitespace",
        ));
    }
    Ok(())
}

/// `KEY=VALUE;KEY=VALUE`, as libcni: a malformed pair is an error, and so is an unknown key
/// unless `IgnoreUnknown` is true (runtimes set it when they pass args for other plugins).
fn parse_args(raw: &str) -> Result<CniArgs, CniError> {
    let mut out = CniArgs::default();
    if raw.is_empty() {
        return Ok(out);
    }
    let mut unknown = Vec::new();
    let mut ignore_unknown = false;
    for pair in raw.split(';') {
        let mut kv = pair.split('=');
        let (Some(k), Some(v), None) = (kv.next(), kv.next(), kv.next()) else {
            return Err(CniError::invalid_env(
                format!("CNI_ARGS has an invalid pair {pair:?}"),
                "CNI_ARGS is KEY=VALUE pairs separated by ';', such as IgnoreUnknown=1;K8S_POD_NAME=web",
            ));
        };
        match k {
            "IgnoreUnknown" => {
                ignore_unknown = match v.to_ascii_lowercase().as_str() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(CniError::invalid_env(
                            format!("CNI_ARGS: IgnoreUnknown={v:?} is not a boolean"),
                            "use IgnoreUnknown=1 or IgnoreUnknown=true",
                        ))
                    }
                }
            }
            "K8S_POD_NAME" => out.pod_name = Some(v.to_string()).filter(|v| !v.is_empty()),
            "K8S_POD_NAMESPACE" => out.pod_namespace = Some(v.to_string()).filter(|v| !v.is_empty()),
            _ if KNOWN_ARGS.contains(&k) => {}
            _ => unknown.push(pair),
        }
    }
    if !unknown.is_empty() && !ignore_unknown {
        return Err(CniError::invalid_env(
            format!("CNI_ARGS has unknown keys: {}", unknown.join(";")),
            format!("weave-net reads {}; add IgnoreUnknown=1 to pass others through", KNOWN_ARGS.join(", ")),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Result<Env, CniError> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::read(|k| m.get(k).cloned())
    }

    const ADD: [(&str, &str); 4] = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c1"),
        ("CNI_NETNS", "/run/netns/x"),
        ("CNI_IFNAME", "eth0"),
    ];

    #[test]
    fn an_add_environment_is_read() {
        let mut vars = ADD.to_vec();
        vars.push(("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;FOO=bar"));
        vars.push(("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"));
        vars.push(("WEAVE_HTTP_ADDR", "127.0.0.1:7000"));
        let e = env(&vars).unwrap();
        assert_eq!(e.command, Command::Add);
        assert_eq!((e.container_id(), e.ifname()), ("c1", "eth0"));
        assert_eq!(e.args, CniArgs { pod_name: Some("web".into()), pod_namespace: Some("default".into()) });
        assert_eq!(e.path, [PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]);
        assert_eq!(e.http_addr, "127.0.0.1:7000");
        assert_eq!(env(&ADD).unwrap().http_addr, "127.0.0.1:6784");
    }

    #[test]
    fn missing_variables_are_named() {
        let e = env(&[("CNI_COMMAND", "ADD")]).unwrap_err();
        assert_eq!(e.code, 4);
        assert!(e.msg.contains("CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME"), "{e:?}");
        // DEL does not need the namespace; STATUS, GC and VERSION need no attachment.
        assert!(env(&[("CNI_COMMAND", "DEL"), ("CNI_CONTAINERID", "c1"), ("CNI_IFNAME", "eth0")]).is_ok());
        for cmd in ["STATUS", "GC", "VERSION"] {
            assert!(env(&[("CNI_COMMAND", cmd)]).is_ok(), "{cmd}");
        }
        assert!(env(&[]).unwrap_err().msg.contains("CNI_COMMAND"));
        assert!(env(&[("CNI_COMMAND", "ATTACH")]).unwrap_err().msg.contains("ATTACH"));
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        let with = |k: &'static str, v: &'static str| {
            let mut vars = ADD.to_vec();
            vars.retain(|(n, _)| *n != k);
            vars.push((k, v));
            env(&vars).unwrap_err()
        };
        for (k, v, needle) in [
            ("CNI_CONTAINERID", "-bad", "CNI_CONTAINERID"),
            ("CNI_CONTAINERID", "a/b", "CNI_CONTAINERID"),
            ("CNI_IFNAME", "a-very-long-interface", "CNI_IFNAME"),
            ("CNI_IFNAME", "eth:0", "CNI_IFNAME"),
            ("CNI_IFNAME", "..", "CNI_IFNAME"),
            ("CNI_NETNS", "netns-name", "CNI_NETNS"),
            ("CNI_ARGS", "K8S_POD_NAME", "CNI_ARGS"),
            ("CNI_ARGS", "FOO=bar", "unknown keys"),
            ("CNI_ARGS", "IgnoreUnknown=maybe", "IgnoreUnknown"),
        ] {
            let e = with(k, v);
            assert_eq!(e.code, 4, "{k}={v}");
            assert!(e.msg.contains(needle), "{k}={v}: {e:?}");
        }
    }

    #[test]
    fn names_follow_libcni() {
        for ok in ["a", "0abc", "a_b.c-d", "5f3e0ab1c2"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "_a", ".a", "a b", "a/b", "a:b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
