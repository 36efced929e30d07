//! `weave service export|import|bind|ls|rm`: services as REST resources (`/api/v1/services`).

use crate::cli::{Output, ServiceAction};
use crate::output::{json, CmdResult, Failure};
use weave_api::{Client, Protocol, Service, ServiceKind, ServiceRequest, ServiceState};

/// `ADDR:PORT[/tcp|udp]`, where ADDR may itself hold colons (`netns:web:80/udp`).
pub fn endpoint(s: &str) -> Result<(String, u32, Protocol), Failure> {
    let (rest, proto) = match s.rsplit_once('/') {
        Some((rest, p)) if p == "tcp" || p == "udp" => (rest, p.parse().map_err(Failure::new)?),
        _ => (s, Protocol::Tcp),
    };
    let (addr, port) = rest
        .rsplit_once(':')
        .filter(|(a, _)| !a.is_empty())
        .ok_or_else(|| Failure::new(format!("{s:?}: give TARGET:PORT[/tcp|udp]")))?;
    Ok((addr.to_string(), number(port, s)?, proto))
}

fn number(port: &str, whole: &str) -> Result<u32, Failure> {
    port.parse().map_err(|_| Failure::new(format!("{whole:?}: the port {port:?} is not a number")))
}

/// `[ADDR:]PORT`: the address, if any, and the port.
pub fn optional_addr(s: &str) -> Result<(Option<String>, u32), Failure> {
    match s.rsplit_once(':') {
        Some((a, p)) => Ok(((!a.is_empty()).then(|| a.to_string()), number(p, s)?)),
        None => Ok((None, number(s, s)?)),
    }
}

pub async fn exec(client: &Client, action: ServiceAction) -> CmdResult {
    let req = match action {
        ServiceAction::Ls { output } => return ls(client, output.output).await,
        ServiceAction::Rm { ids } => {
            for id in ids {
                client.service_rm(&id).await?;
                println!("{id}");
            }
            return Ok(());
        }
        ServiceAction::Export { target, publish } => {
            let (target, port, protocol) = endpoint(&target)?;
            let (publish_address, publish_port) = optional_addr(&publish)?;
            ServiceRequest::Export { target, port, protocol, publish_address, publish_port }
        }
        ServiceAction::Import { address, r#as, fqdn } => {
            let (address, port, protocol) = endpoint(&address)?;
            let (weave_address, weave_port) = optional_addr(&r#as)?;
            ServiceRequest::Import { address, port, protocol, weave_address, weave_port, fqdn }
        }
        ServiceAction::Bind { target, r#as, fqdn } => {
            let (target, port, protocol) = endpoint(&target)?;
            let (weave_address, weave_port) = optional_addr(&r#as)?;
            ServiceRequest::Bind { target, port, protocol, weave_address, weave_port, fqdn }
        }
    };
    let s = client.service_add(&req).await?;
    // The id, and the weave address it took (bare IP, as attach prints).
    let ip = s.weave_address.as_deref().and_then(|a| a.split('/').next()).unwrap_or_default();
    println!("{} {ip}", s.id);
    Ok(())
}

async fn ls(client: &Client, output: Output) -> CmdResult {
    let list = client.services().await?;
    if output == Output::Json {
        println!("{}", json(&list));
        return Ok(());
    }
    for s in &list {
        println!("{}", line(s));
    }
    Ok(())
}

/// One service per line: `ID KIND PROTO WHAT STATE`.
pub fn line(s: &Service) -> String {
    let ip = |a: &Option<String>| a.as_deref().and_then(|a| a.split('/').next()).unwrap_or("?").to_string();
    let to = match &s.target_address {
        Some(a) if *a != s.target => format!("{}:{} ({a}:{})", s.target, s.port, s.port),
        _ => format!("{}:{}", s.target, s.port),
    };
    let what = match s.kind {
        ServiceKind::Export => format!(
            "{}:{} -> {to} via {}",
            s.publish_address.as_deref().unwrap_or(""),
            s.publish_port.unwrap_or_default(),
            ip(&s.weave_address)
        ),
        ServiceKind::Import | ServiceKind::Bind => format!(
            "{}:{}{} -> {to}",
            ip(&s.weave_address),
            s.weave_port.unwrap_or_default(),
            s.fqdn.as_deref().map(|f| format!(" ({f})")).unwrap_or_default()
        ),
    };
    let state = match (s.state, &s.reason) {
        (ServiceState::Active, _) => "active".to_string(),
        (ServiceState::Broken, Some(r)) => format!("broken: {r}"),
        (ServiceState::Broken, None) => "broken".to_string(),
    };
    format!("{} {} {} {what} {state}", s.id, s.kind.as_str(), s.protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_at_the_last_colon_and_take_a_protocol() {
        assert_eq!(endpoint("netns:web:80").unwrap(), ("netns:web".into(), 80, Protocol::Tcp));
        assert_eq!(endpoint("10.32.0.1:53/udp").unwrap(), ("10.32.0.1".into(), 53, Protocol::Udp));
        assert_eq!(endpoint("/run/netns/x:7/tcp").unwrap(), ("/run/netns/x".into(), 7, Protocol::Tcp));
        assert!(endpoint("web").unwrap_err().message.contains("TARGET:PORT"));
        assert!(endpoint(":80").is_err());
        assert!(endpoint("web:http").unwrap_err().message.contains("not a number"));
        // Out of range is the daemon's to say (it names the limit).
        assert_eq!(endpoint("web:70000").unwrap().1, 70000);
        assert_eq!(optional_addr("8080").unwrap(), (None, 8080));
        assert_eq!(optional_addr(":8080").unwrap(), (None, 8080));
        assert_eq!(optional_addr("10.99.0.1:80").unwrap(), (Some("10.99.0.1".into()), 80));
        assert_eq!(optional_addr("10.32.9.9/12:80").unwrap(), (Some("10.32.9.9/12".into()), 80));
    }
}
