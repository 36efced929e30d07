//! The rewrites of Docker API bodies, as Weave's proxy makes them: which containers join weave
//! (and with which `WEAVE_CIDR` words), the create body (weavewait volume and entrypoint,
//! hostname in the weave domain, weaveDNS), the HostConfig older clients send on start, exec
//! commands and `--rewrite-inspect`. Pure functions over `serde_json::Value`, so fields this
//! code does not know pass through untouched.

use regex::Regex;
use serde_json::{json, Map, Value};
use std::net::Ipv4Addr;

/// weavewait inside a container; an entrypoint starting with it marks a container of the proxy.
pub const WEAVEWAIT: &str = "/w/w";
/// Where the weavewait directory is bound (read-only).
pub const WEAVEWAIT_MOUNT: &str = "/w";
/// Docker refuses longer hostname + domain (Weave's `MaxDockerHostname`).
const MAX_HOSTNAME: usize = 64;

/// How containers are rewritten (the proxy's flags).
#[derive(Debug, Clone)]
pub struct Rules {
    /// Host directory holding weavewait as `w`, bound at [`WEAVEWAIT_MOUNT`].
    pub weavewait_dir: String,
    /// weaveDNS's address for containers; `None` with `--without-dns` or weaveDNS off.
    pub dns_server: Option<Ipv4Addr>,
    /// The weave domain, e.g. `weave.local.`.
    pub domain: String,
    pub hostname_from_label: Option<String>,
    /// `--hostname-match` (default `^/?(.*)`) and `--hostname-replacement` (default `$1`).
    pub hostname_match: Regex,
    pub hostname_replacement: String,
    /// `--no-default-ipalloc`: only containers with a `WEAVE_CIDR` join.
    pub no_default_ipalloc: bool,
}

impl Rules {
    /// Weave's defaults with the given weavewait directory, DNS server and domain.
    pub fn new(weavewait_dir: &str, dns_server: Option<Ipv4Addr>, domain: &str) -> Rules {
        Rules {
            weavewait_dir: weavewait_dir.to_string(),
            dns_server,
            domain: domain.to_string(),
            hostname_from_label: None,
            hostname_match: Regex::new(DEFAULT_HOSTNAME_MATCH).expect("the default pattern compiles"),
            hostname_replacement: DEFAULT_HOSTNAME_REPLACEMENT.to_string(),
            no_default_ipalloc: false,
        }
    }
}

/// `--hostname-match`, compiled, or what is wrong with it.
pub fn compile_pattern(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| format!("not a regular expression: {e}"))
}

pub const DEFAULT_HOSTNAME_MATCH: &str = "^/?(.*)";
pub const DEFAULT_HOSTNAME_REPLACEMENT: &str = "$1";

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RewriteError {
    #[error("the request body is not a JSON object")]
    NotAnObject,
    #[error("{field} must be {what}")]
    Field { field: &'static str, what: &'static str },
    /// Weave's own wording.
    #[error("No command specified")]
    NoCommand,
}

/// A container's `WEAVE_CIDR` words (empty: `net:default`), or why it stays off weave, as
/// Weave: host, `container:` and plugin network modes stay off, as do `WEAVE_CIDR=none` and,
/// with `--no-default-ipalloc`, containers without a `WEAVE_CIDR`.
pub fn weave_cidrs(
    network_mode: &str,
    env: &[String],
    no_default_ipalloc: bool,
) -> Result<Vec<String>, String> {
    if !matches!(network_mode, "" | "default" | "bridge" | "none") {
        return Err(format!("the container has '--net={network_mode}'"));
    }
    for e in env {
        if let Some(v) = e.strip_prefix("WEAVE_CIDR=") {
            if v.trim() == "none" {
                return Err("the container was created with '-e WEAVE_CIDR=none'".into());
            }
            return Ok(v.split_whitespace().map(str::to_string).collect());
        }
    }
    if no_default_ipalloc {
        return Err("the container has no WEAVE_CIDR and the proxy runs with --no-default-ipalloc".into());
    }
    Ok(vec![])
}

/// Docker's "string or array of strings" (`Entrypoint`, `Cmd`); null or absent is empty.
pub fn str_slice(v: Option<&Value>, field: &'static str) -> Result<Vec<String>, RewriteError> {
    let bad = RewriteError::Field { field, what: "a string or an array of strings" };
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => {
            a.iter().map(|x| x.as_str().map(str::to_string).ok_or(bad.clone())).collect()
        }
        Some(_) => Err(bad),
    }
}

fn strings(v: Option<&Value>, field: &'static str) -> Result<Vec<String>, RewriteError> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or(RewriteError::Field { field, what: "an array of strings" }),
        Some(_) => Err(RewriteError::Field { field, what: "an array of strings" }),
    }
}

fn object(v: &mut Value) -> Result<&mut Map<String, Value>, RewriteError> {
    v.as_object_mut().ok_or(RewriteError::NotAnObject)
}

/// A create body's network mode and environment, for [`weave_cidrs`].
pub fn create_facts(body: &Value) -> Result<(String, Vec<String>), RewriteError> {
    let mode = match body.pointer("/HostConfig/NetworkMode") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(RewriteError::Field { field: "HostConfig.NetworkMode", what: "a string" }),
    };
    Ok((mode, strings(body.get("Env"), "Env")?))
}

/// The image to ask for its `Entrypoint`/`Cmd`, when the create body lacks them.
pub fn image_needed(body: &Value) -> Result<Option<String>, RewriteError> {
    let ep = str_slice(body.get("Entrypoint"), "Entrypoint")?;
    str_slice(body.get("Cmd"), "Cmd")?;
    if !ep.is_empty() {
        return Ok(None);
    }
    Ok(body.get("Image").and_then(Value::as_str).map(str::to_string))
}

/// An image's `Config.Entrypoint` and `Config.Cmd`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageCommand {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

impl ImageCommand {
    /// From `GET /images/{name}/json`.
    pub fn from_inspect(v: &Value) -> ImageCommand {
        let c = v.get("Config");
        ImageCommand {
            entrypoint: str_slice(c.and_then(|c| c.get("Entrypoint")), "Entrypoint").unwrap_or_default(),
            cmd: str_slice(c.and_then(|c| c.get("Cmd")), "Cmd").unwrap_or_default(),
        }
    }
}

/// Rewrites the body of `POST /containers/create?name=NAME` for a weave-eligible container:
/// weavewait in front of the command, the weavewait volume, the hostname and weaveDNS.
pub fn rewrite_create(
    body: &mut Value,
    name: Option<&str>,
    rules: &Rules,
    image: &ImageCommand,
) -> Result<(), RewriteError> {
    let o = object(body)?;
    let mut ep = str_slice(o.get("Entrypoint"), "Entrypoint")?;
    let mut cmd = str_slice(o.get("Cmd"), "Cmd")?;
    if ep.first().map(String::as_str) != Some(WEAVEWAIT) {
        // Docker runs the image's Cmd only when the create names no Entrypoint.
        if ep.is_empty() {
            ep = image.entrypoint.clone();
            if cmd.is_empty() {
                cmd = image.cmd.clone();
            }
        }
        if ep.is_empty() && cmd.is_empty() {
            return Err(RewriteError::NoCommand);
        }
        ep.insert(0, WEAVEWAIT.to_string());
        o.insert("Entrypoint".into(), json!(ep));
        o.insert("Cmd".into(), json!(cmd));
    }
    let hostname = set_hostname(o, name, rules)?;
    let hc = o.entry("HostConfig").or_insert_with(|| json!({}));
    if hc.is_null() {
        *hc = json!({});
    }
    inject_host_config(hc, rules, !hostname.is_empty())
}

/// Sets `Hostname`/`Domainname` from the name (or label) when the body has no hostname;
/// returns the container's hostname.
fn set_hostname(
    o: &mut Map<String, Value>,
    name: Option<&str>,
    rules: &Rules,
) -> Result<String, RewriteError> {
    let current = o.get("Hostname").and_then(Value::as_str).unwrap_or_default().to_string();
    if !current.is_empty() {
        return Ok(current);
    }
    let mut source = name.unwrap_or_default().to_string();
    if let Some(label) = &rules.hostname_from_label {
        if let Some(v) = o.get("Labels").and_then(|l| l.get(label)).and_then(Value::as_str) {
            source = v.to_string();
        }
    }
    let hostname =
        rules.hostname_match.replace_all(&source, rules.hostname_replacement.as_str()).into_owned();
    let domain = rules.domain.trim_end_matches('.');
    if hostname.is_empty() {
        return Ok(String::new());
    }
    if hostname.len() + domain.len() > MAX_HOSTNAME {
        tracing::warn!(%hostname, "container name too long to be used as hostname");
        return Ok(String::new());
    }
    o.insert("Hostname".into(), json!(hostname));
    o.insert("Domainname".into(), json!(domain));
    Ok(hostname)
}

/// The weavewait volume and weaveDNS in a HostConfig (create, and the one older clients send
/// on start). Idempotent.
pub fn inject_host_config(hc: &mut Value, rules: &Rules, has_hostname: bool) -> Result<(), RewriteError> {
    let o = hc.as_object_mut().ok_or(RewriteError::Field { field: "HostConfig", what: "an object" })?;
    let bind = format!("{}:{WEAVEWAIT_MOUNT}:ro", rules.weavewait_dir);
    let mut binds = strings(o.get("Binds"), "HostConfig.Binds")?;
    if !binds.iter().any(|b| b.split(':').nth(1) == Some(WEAVEWAIT_MOUNT)) {
        binds.push(bind);
    }
    o.insert("Binds".into(), json!(binds));
    if let Some(server) = rules.dns_server {
        let mut dns = strings(o.get("Dns"), "HostConfig.Dns")?;
        let server = server.to_string();
        if !dns.contains(&server) {
            dns.push(server);
        }
        o.insert("Dns".into(), json!(dns));
        let search = strings(o.get("DnsSearch"), "HostConfig.DnsSearch")?;
        if search.is_empty() {
            let s = if has_hostname { ".".to_string() } else { rules.domain.clone() };
            o.insert("DnsSearch".into(), json!([s]));
        }
    }
    Ok(())
}

/// `POST /containers/{id}/exec` of a weave container: the command runs through weavewait.
pub fn rewrite_exec(body: &mut Value) -> Result<(), RewriteError> {
    let o = object(body)?;
    let mut cmd = str_slice(o.get("Cmd"), "Cmd")?;
    if cmd.first().map(String::as_str) != Some(WEAVEWAIT) {
        cmd.insert(0, WEAVEWAIT.to_string());
        o.insert("Cmd".into(), json!(cmd));
    }
    Ok(())
}

/// Whether an inspected container (`GET /containers/{id}/json`) is one of the proxy's, and
/// its `WEAVE_CIDR` words when it is.
pub fn proxied(inspect: &Value, no_default_ipalloc: bool) -> Option<Vec<String>> {
    let ep = str_slice(inspect.pointer("/Config/Entrypoint"), "Entrypoint").ok()?;
    if ep.first().map(String::as_str) != Some(WEAVEWAIT) {
        return None;
    }
    let mode = inspect.pointer("/HostConfig/NetworkMode").and_then(Value::as_str).unwrap_or_default();
    let env = strings(inspect.pointer("/Config/Env"), "Env").ok()?;
    weave_cidrs(mode, &env, no_default_ipalloc).ok()
}

/// `--rewrite-inspect`: the weave interface's MAC and first address in `NetworkSettings`.
pub fn rewrite_inspect(inspect: &mut Value, mac: &str, ip: Ipv4Addr, prefix: u8) {
    if let Some(ns) = inspect.get_mut("NetworkSettings").and_then(Value::as_object_mut) {
        ns.insert("MacAddress".into(), json!(mac));
        ns.insert("IPAddress".into(), json!(ip.to_string()));
        ns.insert("IPPrefixLen".into(), json!(prefix));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new("/var/lib/weave/weavewait", Some("172.17.0.1".parse().unwrap()), "weave.local.")
    }

    fn env(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn eligibility_follows_network_mode_and_weave_cidr() {
        for mode in ["", "default", "bridge", "none"] {
            assert_eq!(weave_cidrs(mode, &[], false), Ok(vec![]), "mode {mode:?}");
        }
        for mode in ["host", "container:abc", "weave", "mynet"] {
            let e = weave_cidrs(mode, &[], false).unwrap_err();
            assert!(e.contains(&format!("--net={mode}")), "{e}");
        }
        assert!(weave_cidrs("", &env(&["WEAVE_CIDR=none"]), false).unwrap_err().contains("WEAVE_CIDR=none"));
        assert_eq!(
            weave_cidrs("", &env(&["A=1", "WEAVE_CIDR=net:10.40.1.0/24 ip:10.2.0.9/24"]), false),
            Ok(env(&["net:10.40.1.0/24", "ip:10.2.0.9/24"]))
        );
        assert!(weave_cidrs("", &[], true).unwrap_err().contains("--no-default-ipalloc"));
        assert_eq!(weave_cidrs("", &env(&["WEAVE_CIDR=10.2.0.9/24"]), true), Ok(env(&["10.2.0.9/24"])));
    }

    #[test]
    fn create_puts_weavewait_first_and_keeps_unknown_fields() {
        let mut b = json!({"Image": "busybox", "Cmd": ["ip", "addr"], "Future": {"x": 1},
                           "HostConfig": {"Binds": ["/a:/b"], "Dns": ["8.8.8.8"]}});
        rewrite_create(&mut b, Some("/web"), &rules(), &ImageCommand::default()).unwrap();
        assert_eq!(b["Entrypoint"], json!(["/w/w"]));
        assert_eq!(b["Cmd"], json!(["ip", "addr"]));
        assert_eq!(b["Future"], json!({"x": 1}));
        assert_eq!(b["HostConfig"]["Binds"], json!(["/a:/b", "/var/lib/weave/weavewait:/w:ro"]));
        assert_eq!(b["HostConfig"]["Dns"], json!(["8.8.8.8", "172.17.0.1"]));
        assert_eq!(b["HostConfig"]["DnsSearch"], json!(["."]));
        assert_eq!(b["Hostname"], json!("web"));
        assert_eq!(b["Domainname"], json!("weave.local"));
        // A second pass changes nothing.
        let before = b.clone();
        rewrite_create(&mut b, Some("/web"), &rules(), &ImageCommand::default()).unwrap();
        assert_eq!(b, before);
    }

    #[test]
    fn create_takes_the_image_command_as_docker_would() {
        let image = ImageCommand { entrypoint: env(&["/entry"]), cmd: env(&["arg"]) };
        let mut b = json!({"Image": "x"});
        assert_eq!(image_needed(&b), Ok(Some("x".into())));
        rewrite_create(&mut b, None, &rules(), &image).unwrap();
        assert_eq!((b["Entrypoint"].clone(), b["Cmd"].clone()), (json!(["/w/w", "/entry"]), json!(["arg"])));
        // The user's Cmd replaces the image's; the user's Entrypoint drops the image's Cmd.
        let mut b = json!({"Image": "x", "Cmd": "mine"});
        rewrite_create(&mut b, None, &rules(), &image).unwrap();
        assert_eq!((b["Entrypoint"].clone(), b["Cmd"].clone()), (json!(["/w/w", "/entry"]), json!(["mine"])));
        let mut b = json!({"Image": "x", "Entrypoint": ["/own"]});
        assert_eq!(image_needed(&b), Ok(None));
        rewrite_create(&mut b, None, &rules(), &image).unwrap();
        assert_eq!((b["Entrypoint"].clone(), b["Cmd"].clone()), (json!(["/w/w", "/own"]), json!([])));
        let mut b = json!({"Image": "x"});
        assert_eq!(
            rewrite_create(&mut b, None, &rules(), &ImageCommand::default()),
            Err(RewriteError::NoCommand)
        );
    }

    #[test]
    fn hostname_rules_and_dns_search() {
        let mut r = rules();
        // No name: no hostname, the weave domain is searched.
        let mut b = json!({"Cmd": ["sh"]});
        rewrite_create(&mut b, None, &r, &ImageCommand::default()).unwrap();
        assert!(b.get("Hostname").is_none());
        assert_eq!(b["HostConfig"]["DnsSearch"], json!(["weave.local."]));
        // A hostname given by the user stays.
        let mut b = json!({"Cmd": ["sh"], "Hostname": "mine"});
        rewrite_create(&mut b, Some("web"), &r, &ImageCommand::default()).unwrap();
        assert_eq!(b["Hostname"], json!("mine"));
        assert!(b.get("Domainname").is_none());
        // Label, match and replacement.
        r.hostname_from_label = Some("host".into());
        r.hostname_match = Regex::new("^aws-(.*)-(.*)$").unwrap();
        r.hostname_replacement = "my-$2-$1".into();
        let mut b = json!({"Cmd": ["sh"], "Labels": {"host": "aws-a-b"}});
        rewrite_create(&mut b, Some("ignored"), &r, &ImageCommand::default()).unwrap();
        assert_eq!(b["Hostname"], json!("my-b-a"));
        // Too long with the domain: left to Docker.
        let mut b = json!({"Cmd": ["sh"]});
        rewrite_create(&mut b, Some(&"n".repeat(60)), &rules(), &ImageCommand::default()).unwrap();
        assert!(b.get("Hostname").is_none());
        // Without DNS nothing DNS is touched.
        let mut r = rules();
        r.dns_server = None;
        let mut b = json!({"Cmd": ["sh"]});
        rewrite_create(&mut b, Some("web"), &r, &ImageCommand::default()).unwrap();
        assert!(b["HostConfig"].get("Dns").is_none() && b["HostConfig"].get("DnsSearch").is_none());
    }

    #[test]
    fn malformed_bodies_are_named() {
        let r = rules();
        assert_eq!(
            rewrite_create(&mut json!([1]), None, &r, &ImageCommand::default()),
            Err(RewriteError::NotAnObject)
        );
        let e = rewrite_create(&mut json!({"Cmd": 5}), None, &r, &ImageCommand::default()).unwrap_err();
        assert_eq!(e.to_string(), "Cmd must be a string or an array of strings");
        let e = rewrite_create(
            &mut json!({"Cmd": "x", "HostConfig": {"Binds": "x"}}),
            None,
            &r,
            &ImageCommand::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "HostConfig.Binds must be an array of strings");
        assert!(create_facts(&json!({"HostConfig": {"NetworkMode": 1}})).is_err());
    }

    #[test]
    fn exec_inspect_and_proxied() {
        let mut b = json!({"Cmd": ["ls"], "AttachStdout": true});
        rewrite_exec(&mut b).unwrap();
        rewrite_exec(&mut b).unwrap();
        assert_eq!(b["Cmd"], json!(["/w/w", "ls"]));
        let c = json!({"Config": {"Entrypoint": ["/w/w"], "Env": ["WEAVE_CIDR=ip:10.2.0.9/24"]},
                       "HostConfig": {"NetworkMode": "default"}, "NetworkSettings": {"IPAddress": "172.17.0.2"}});
        assert_eq!(proxied(&c, false), Some(env(&["ip:10.2.0.9/24"])));
        assert_eq!(proxied(&json!({"Config": {"Entrypoint": null}}), false), None);
        let mut c = c;
        rewrite_inspect(&mut c, "aa:bb:cc:dd:ee:ff", "10.2.0.9".parse().unwrap(), 24);
        assert_eq!(c["NetworkSettings"]["IPAddress"], json!("10.2.0.9"));
        assert_eq!(c["NetworkSettings"]["IPPrefixLen"], json!(24));
    }
}
