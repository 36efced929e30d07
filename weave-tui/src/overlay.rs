//! What a connection's overlay details mean to an operator: why it is not on fastdp when fastdp
//! was tried, and its traffic over both overlays together.

use weave_api::{Connection, Traffic};

/// Why a connection is not on fastdp although fastdp was tried: its forwarder's failure, else
/// the reason of the last switch to the overlay in use, else fastdp's state. `None` when it is on
/// fastdp, or fastdp was never tried (a daemon without it, or an older one without the fields).
pub fn fallback(c: &Connection) -> Option<String> {
    if c.overlay.as_deref() == Some("fastdp") {
        return None;
    }
    let fastdp = c.forwarders.iter().find(|f| f.name == "fastdp")?;
    if fastdp.state == "established" {
        return None;
    }
    fastdp
        .reason
        .clone()
        .or_else(|| {
            let last = c.switches.iter().rev().find(|s| s.to == c.overlay)?;
            Some(last.reason.clone())
        })
        .or_else(|| Some(format!("fastdp is {}", fastdp.state)))
}

/// Traffic to and from the peer over sleeve and the fastdp device together, so rates stay right
/// across a switch between them.
pub fn total_traffic(c: &Connection) -> Traffic {
    let mut t = c.traffic.clone();
    if let Some(f) = &c.fastdp {
        t.tx_packets += f.tx_packets;
        t.tx_bytes += f.tx_bytes;
        t.rx_packets += f.rx_packets;
        t.rx_bytes += f.rx_bytes;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use weave_api::{FastdpDevice, Forwarder, OverlaySwitch};

    fn conn(overlay: &str, fastdp_state: Option<(&str, Option<&str>)>) -> Connection {
        let mut c = crate::fixtures::conn("10.0.0.2:6783", "established", Some(("p", "n")), 100, 10);
        c.overlay = Some(overlay.into());
        c.forwarders = fastdp_state
            .into_iter()
            .map(|(state, reason)| Forwarder {
                name: "fastdp".into(),
                state: state.into(),
                reason: reason.map(String::from),
            })
            .collect();
        c
    }

    #[test]
    fn a_failed_fastdp_forwarder_is_a_fallback_with_its_reason() {
        let c = conn("sleeve", Some(("failed", Some("no fastdp heartbeat for 15 s"))));
        assert_eq!(fallback(&c).as_deref(), Some("no fastdp heartbeat for 15 s"));
        assert_eq!(fallback(&conn("fastdp", Some(("failed", Some("x"))))), None);
    }

    #[test]
    fn without_a_reason_the_last_switch_or_the_state_says_why() {
        assert_eq!(fallback(&conn("sleeve", None)), None, "fastdp never tried");
        let mut c = conn("sleeve", Some(("unhealthy", None)));
        assert_eq!(fallback(&c).as_deref(), Some("fastdp is unhealthy"));
        c.switches.push(OverlaySwitch {
            at: "2026-11-28T00:00:00Z".into(),
            from: Some("fastdp".into()),
            to: Some("sleeve".into()),
            reason: "MTU check failed".into(),
        });
        assert_eq!(fallback(&c).as_deref(), Some("MTU check failed"));
    }

    #[test]
    fn traffic_counts_both_overlays() {
        let mut c = conn("fastdp", None);
        c.fastdp = Some(FastdpDevice {
            device: "vethwe-vx1".into(),
            on_bridge: true,
            tx_packets: 1,
            tx_bytes: 1000,
            rx_packets: 2,
            rx_bytes: 2000,
        });
        let t = total_traffic(&c);
        assert_eq!((t.tx_bytes, t.rx_bytes, t.rx_packets), (1010, 2100, 2));
    }
}
