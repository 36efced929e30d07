//! `weave attach`, `weave detach`, `weave expose`, `weave hide` and `weave ps`.

use crate::cli::Output;
use crate::output::{json, CmdResult, Failure};
use weave_api::{AttachRequest, Client, DetachRequest, ExposeRequest, HideRequest};

/// Splits `ADDR... TARGET`.
fn split(mut args: Vec<String>) -> Result<(Vec<String>, String), Failure> {
    let target = args
        .pop()
        .ok_or_else(|| Failure::new("a TARGET is required (netns:NAME, pid:PID or a namespace path)"))?;
    Ok((args, target))
}

pub async fn attach(
    client: &Client,
    args: Vec<String>,
    without_dns: bool,
    no_multicast_route: bool,
) -> CmdResult {
    let (addrs, target) = split(args)?;
    let a = client.attach(&AttachRequest { target, addrs, without_dns, no_multicast_route }).await?;
    print_ips(&a.addrs);
    Ok(())
}

/// As Weave: the bare IPs, space-separated.
fn print_ips(cidrs: &[String]) {
    let ips: Vec<&str> = cidrs.iter().map(|c| c.split('/').next().unwrap_or(c)).collect();
    println!("{}", ips.join(" "));
}

pub async fn detach(client: &Client, args: Vec<String>) -> CmdResult {
    let (addrs, target) = split(args)?;
    let r = client.detach(&DetachRequest { target, addrs }).await?;
    print_ips(&r.removed);
    Ok(())
}

pub async fn expose(
    client: &Client,
    addrs: Vec<String>,
    fqdn: Option<String>,
    without_masquerade: bool,
) -> CmdResult {
    let a = client.expose(&ExposeRequest { addrs, fqdn, without_masquerade }).await?;
    print_ips(&a.addrs);
    Ok(())
}

pub async fn hide(client: &Client, addrs: Vec<String>) -> CmdResult {
    let r = client.hide(&HideRequest { addrs }).await?;
    print_ips(&r.removed);
    Ok(())
}

pub async fn ps(client: &Client, targets: &[String], output: Output) -> CmdResult {
    let list: Vec<_> =
        client.ps().await?.into_iter().filter(|t| targets.is_empty() || targets.contains(&t.id)).collect();
    if output == Output::Json {
        println!("{}", json(&list));
        return Ok(());
    }
    for t in list {
        let mut line = format!("{} {}", t.id, t.mac);
        for a in &t.addrs {
            line.push(' ');
            line.push_str(a);
        }
        println!("{line}");
    }
    Ok(())
}
