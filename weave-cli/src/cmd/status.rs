//! `weave status [VIEW]` and `weave report`: Weave's text views, or JSON.

use crate::cli::{Output, StatusView};
use crate::output::{json, CmdResult, Failure};
use weave_api::{text, Client};

pub async fn exec(client: &Client, view: Option<StatusView>, output: Output) -> CmdResult {
    let Some(view) = view else {
        if output == Output::Json {
            println!("{}", json(&client.status().await?));
        } else {
            // Weave's script prints the summary between blank lines.
            print!("\n{}\n", text::status(&client.report().await?));
        }
        return Ok(());
    };
    let r = client.report().await?;
    let dns_off = || Failure::disabled("DNS is disabled in this daemon (it was started with --no-dns)");
    let ipam_off = || {
        Failure::disabled("IPAM is disabled in this daemon (it was started with an empty --ipalloc-range)")
    };
    match (view, output) {
        (StatusView::Targets, Output::Text) => print!("{}", text::targets(&r)),
        (StatusView::Targets, Output::Json) => println!("{}", json(&client.targets().await?)),
        (StatusView::Connections, Output::Text) => print!("{}", text::connections(&r)),
        (StatusView::Connections, Output::Json) => println!("{}", json(&client.connections().await?)),
        (StatusView::Peers, Output::Text) => print!("{}", text::peers(&r)),
        (StatusView::Peers, Output::Json) => println!("{}", json(&client.peers().await?)),
        (StatusView::Dns, _) if r.dns.is_none() => return Err(dns_off()),
        (StatusView::Dns, Output::Text) => print!("{}", text::dns(&r)),
        (StatusView::Dns, Output::Json) => {
            println!("{}", json(&r.dns.map(|d| d.entries).unwrap_or_default()))
        }
        (StatusView::Ipam, _) if r.ipam.is_none() => return Err(ipam_off()),
        (StatusView::Ipam, Output::Text) => print!("{}", text::ipam(&r)),
        (StatusView::Ipam, Output::Json) => println!("{}", json(&r.ipam)),
    }
    Ok(())
}

pub async fn report(client: &Client, format: Option<&str>) -> CmdResult {
    let r = client.report().await?;
    match format {
        None => println!("{}", json(&r)),
        Some(f) => print!("{}", weave_api::template::render(&r, f).map_err(Failure::new)?),
    }
    Ok(())
}
