//! `weave env [--restore]`, `weave config` and `weave dns-args`: Docker client settings for the
//! proxy and weaveDNS, printed as Weave's script prints them, from the daemon's report.

use crate::output::{CmdResult, Failure};
use weave_api::{Client, Report};

/// The first proxy address, a wildcard listen address replaced by `$PROXY_HOST` (default
/// 127.0.0.1), as Weave.
fn proxy_addr(r: &Report, proxy_host: &str) -> Result<String, Failure> {
    let first = r.proxy.as_ref().and_then(|p| p.addresses.first()).ok_or_else(|| {
        Failure::new(
            "the Docker API proxy is not running (the daemon runs with --no-proxy or without Docker)",
        )
    })?;
    Ok(first.replace("0.0.0.0", proxy_host))
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

pub async fn env(client: &Client, restore: bool) -> CmdResult {
    if restore {
        println!("{}", restore_line(&var("ORIG_DOCKER_HOST")));
        return Ok(());
    }
    let addr = proxy_addr(&client.report().await?, &proxy_host())?;
    if let Some(line) = env_line(&addr, &var("DOCKER_HOST")) {
        println!("{line}");
    }
    Ok(())
}

fn proxy_host() -> String {
    std::env::var("PROXY_HOST").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "127.0.0.1".into())
}

fn env_line(addr: &str, docker_host: &str) -> Option<String> {
    (addr != docker_host).then(|| format!("export DOCKER_HOST={addr} ORIG_DOCKER_HOST={docker_host}"))
}

fn restore_line(orig: &str) -> String {
    if orig.is_empty() {
        "unset DOCKER_HOST ORIG_DOCKER_HOST".to_string()
    } else {
        format!("export DOCKER_HOST={orig}; unset ORIG_DOCKER_HOST")
    }
}

pub async fn config(client: &Client) -> CmdResult {
    println!("-H={}", proxy_addr(&client.report().await?, &proxy_host())?);
    Ok(())
}

/// Nothing when weaveDNS is off, as Weave.
pub async fn dns_args(client: &Client) -> CmdResult {
    if let Some(line) = dns_line(&client.report().await?) {
        println!("{line}");
    }
    Ok(())
}

fn dns_line(r: &Report) -> Option<String> {
    let dns = r.dns.as_ref()?;
    let server = r.docker.as_ref().map(|d| d.dns_server.as_str()).filter(|s| !s.is_empty())?;
    Some(format!("--dns={server} --dns-search={}", dns.domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_weaves_script() {
        let mut r = Report::default();
        assert!(proxy_addr(&r, "127.0.0.1").unwrap_err().message.contains("not running"));
        r.proxy = Some(weave_api::ProxyStatus {
            addresses: vec!["tcp://0.0.0.0:12375".into(), "unix:///x".into()],
        });
        assert_eq!(proxy_addr(&r, "10.0.0.1").unwrap(), "tcp://10.0.0.1:12375");
        assert_eq!(
            env_line("unix:///var/run/weave/weave.sock", "unix:///var/run/docker.sock").unwrap(),
            "export DOCKER_HOST=unix:///var/run/weave/weave.sock ORIG_DOCKER_HOST=unix:///var/run/docker.sock"
        );
        assert_eq!(env_line("unix:///a", "unix:///a"), None);
        assert_eq!(restore_line(""), "unset DOCKER_HOST ORIG_DOCKER_HOST");
        assert_eq!(restore_line("tcp://h:2375"), "export DOCKER_HOST=tcp://h:2375; unset ORIG_DOCKER_HOST");
        assert_eq!(dns_line(&r), None);
        r.dns = Some(weave_api::DnsStatus { domain: "weave.local.".into(), ..Default::default() });
        r.docker = Some(weave_api::DockerStatus { dns_server: "172.17.0.1".into(), ..Default::default() });
        assert_eq!(dns_line(&r).unwrap(), "--dns=172.17.0.1 --dns-search=weave.local.");
    }
}
