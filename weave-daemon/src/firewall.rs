//! Weave's forwarding rules, in nftables.
//!
//! Weave's rules live in a table of our own (`inet weave`, unhooked: see `script`). One thing a
//! table of our own cannot do is override another table's drop: an nftables `accept` only ends
//! its own chain. Docker sets
//! the FORWARD policy to DROP, and with bridge netfilter on that policy sees every frame the
//! `weave` bridge forwards. So where a FORWARD chain in `ip filter` drops by default, weave adds
//! two rules to it, marked with comments: what comes from the bridge passes (Weave Net's
//! `-i weave -o weave` and `-i weave ! -o weave` accepts), and so does what is routed into it
//! (Weave Net's accepts for exposed subnets and for replies: a host routes into the bridge only
//! towards subnets `weave expose` gave it). A check every 10 s puts them back if a firewall
//! reload removed them; `weave reset` removes them.
//! The check runs when the kernel says the ruleset changed (see [`ruleset_changes`]), and every
//! few minutes besides; where the kernel will not say, every 10 s.

use std::time::Duration;
use tokio::sync::watch;
use weave_netdev::nft;
use weave_netdev::nft_events::RulesetEvents;

const TABLE: &str = "weave";
/// The comments marking the rules we add to a foreign chain, and the direction each accepts.
const RULES: [(&str, &str); 2] = [("weave-in", "iifname"), ("weave-out", "oifname")];
/// What earlier versions marked their one rule with (removed when found).
const OLD_MARK: &str = "weave";
const RECHECK: Duration = Duration::from_secs(10);
/// With change events: the check after a change waits this long for the rest of a burst (a
/// reload is many changes), and runs this often regardless.
const SETTLE: Duration = Duration::from_secs(1);
const SAFETY_NET: Duration = Duration::from_secs(300);

/// Our own table: the rules Weave installs, with the bridge's name filled in, in a chain that no
/// hook runs. Hooked, in a chain whose policy accepts, they would change no verdict yet cost every
/// bridged frame an evaluation: 3-7% of fastdp's single-stream throughput, where the receiving
/// bridge forwards a million MTU-sized frames a second. (The rule that lets traffic through a
/// dropping FORWARD chain is the one we add to that chain.) Weave's
/// `-o weave -m state --state RELATED,ESTABLISHED -j ACCEPT` is left out for the same reason, and
/// because a `ct` expression anywhere switches connection tracking on for every frame.
fn script(bridge: &str) -> String {
    format!(
        "table inet {TABLE} {{}}\n\
         delete table inet {TABLE}\n\
         table inet {TABLE} {{\n\
           chain forward {{\n\
             iifname \"{bridge}\" oifname \"{bridge}\" accept\n\
             iifname \"{bridge}\" oifname != \"{bridge}\" accept\n\
           }}\n\
         }}\n"
    )
}

/// Installs our table and, where a foreign FORWARD chain drops by default, the one rule that
/// lets bridged weave traffic through it.
pub fn install(bridge: &str) -> Result<(), String> {
    nft::apply(&script(bridge)).map_err(|e| e.to_string())?;
    ensure_foreign_accept(bridge)
}

fn ensure_foreign_accept(bridge: &str) -> Result<(), String> {
    let Some(chain) = nft::chain("ip", "filter", "FORWARD").map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let items = chain["nftables"].as_array().cloned().unwrap_or_default();
    if !items.iter().any(|i| i["chain"]["policy"] == "drop") {
        return Ok(());
    }
    let has = |mark: &str| items.iter().any(|i| i["rule"]["comment"] == mark);
    if has(OLD_MARK) {
        delete_marked(&[OLD_MARK])?;
    }
    for (mark, dir) in RULES.iter().filter(|(mark, _)| !has(mark)) {
        tracing::info!("FORWARD drops by default (Docker?): adding a rule so traffic {dir} {bridge} passes");
        nft::run(&[
            "insert",
            "rule",
            "ip",
            "filter",
            "FORWARD",
            dir,
            bridge,
            "counter",
            "accept",
            "comment",
            &format!("\"{mark}\""),
        ])
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Deletes the rules of the foreign FORWARD chain carrying one of `marks`.
fn delete_marked(marks: &[&str]) -> Result<(), String> {
    let Some(chain) = nft::chain("ip", "filter", "FORWARD").map_err(|e| e.to_string())? else {
        return Ok(());
    };
    for item in chain["nftables"].as_array().into_iter().flatten() {
        let marked = item["rule"]["comment"].as_str().is_some_and(|c| marks.contains(&c));
        if let (true, Some(h)) = (marked, item["rule"]["handle"].as_u64()) {
            nft::run(&["delete", "rule", "ip", "filter", "FORWARD", "handle", &h.to_string()])
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Removes our table and the rules we added to a foreign chain.
pub fn remove() -> Result<(), String> {
    let _ = nft::run(&["delete", "table", "inet", TABLE]);
    // Earlier versions kept fastdp heartbeats off the bridge with a bridge table; the bridge
    // drops them itself (their source MAC is zero), so only remove a leftover one.
    let _ = nft::run(&["delete", "table", "bridge", TABLE]);
    delete_marked(&[RULES[0].0, RULES[1].0, OLD_MARK])
}

/// A counter that goes up when this namespace's nftables ruleset changes; `None` when the
/// kernel will not say (keepers of rules then check every [`RECHECK`]). Call in the daemon's
/// namespace.
pub fn ruleset_changes() -> Option<watch::Receiver<u64>> {
    let mut events = match RulesetEvents::subscribe() {
        Ok(e) => e,
        Err(e) => {
            tracing::info!("{e}: checking weave's nftables rules every {}s instead", RECHECK.as_secs());
            return None;
        }
    };
    let (tx, rx) = watch::channel(0u64);
    let spawned = std::thread::Builder::new().name("nft-events".into()).spawn(move || {
        while events.wait().is_ok() && !tx.is_closed() {
            tx.send_modify(|n| *n += 1);
        }
    });
    spawned.ok().map(|_| rx)
}

/// When rules are next worth checking: [`SETTLE`] after a change, else a while after the last
/// check. Waiting is cancel-safe (a caller may select on it in a loop).
pub struct Recheck {
    changes: Option<watch::Receiver<u64>>,
    due: tokio::time::Instant,
}

impl Recheck {
    pub fn new(changes: Option<watch::Receiver<u64>>) -> Recheck {
        let mut r = Recheck { changes, due: tokio::time::Instant::now() };
        r.due += r.interval();
        r
    }

    fn interval(&self) -> Duration {
        if self.changes.is_some() {
            SAFETY_NET
        } else {
            RECHECK
        }
    }

    /// Resolves when a check is due.
    pub async fn wait(&mut self) {
        loop {
            let due = self.due;
            let changed = async {
                match self.changes.as_mut() {
                    Some(rx) => rx.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break,
                ok = changed => {
                    if !ok {
                        self.changes = None;
                    }
                    self.due = self.due.min(tokio::time::Instant::now() + SETTLE);
                }
            }
        }
        self.due = tokio::time::Instant::now() + self.interval();
    }
}

/// Keeps the rules in place: re-installs when a firewall reload removed them, with the NAT
/// rules of exposed addresses (kept under `data_dir`).
pub async fn keep(bridge: &'static str, data_dir: std::path::PathBuf, changes: Option<watch::Receiver<u64>>) {
    let mut recheck = Recheck::new(changes);
    loop {
        recheck.wait().await;
        let present = tokio::task::spawn_blocking(move || -> Result<bool, String> {
            let table = nft::chain("inet", TABLE, "forward").map_err(|e| e.to_string())?.is_some();
            ensure_foreign_accept(bridge)?;
            Ok(table)
        })
        .await;
        match present {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => {
                tracing::info!("weave's nftables table is gone; putting it back");
                let dir = data_dir.clone();
                let reinstall = move || {
                    install(bridge)?;
                    let mut nl = weave_netdev::Netlink::open().map_err(|e| e.to_string())?;
                    crate::attach::nat::sync(&mut nl, bridge, &dir).map_err(|e| e.to_string())
                };
                if let Err(e) = tokio::task::spawn_blocking(reinstall).await.unwrap_or(Ok(())) {
                    tracing::warn!("re-installing forwarding rules: {e}");
                }
            }
            Ok(Err(e)) => tracing::warn!("checking forwarding rules: {e}"),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_names_the_bridge_and_is_idempotent() {
        let s = super::script("weave");
        assert!(s.starts_with("table inet weave {}\ndelete table inet weave\n"), "{s}");
        assert!(s.contains("iifname \"weave\" oifname \"weave\" accept"));
        assert!(!s.contains("hook"), "no frame pays for rules that change no verdict: {s}");
    }
}
