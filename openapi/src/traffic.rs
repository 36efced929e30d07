//! What `GET /api/v1/events` reads once a second besides the changes it is told of: every
//! connection's traffic counters, so a dashboard or a CI job can compute rates without polling,
//! and the overlay switches that happened since (a second late at most).

use crate::mesh::{Event, Traffic};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Anything `GET /api/v1/events` sends: a change ([`Event`]), the traffic counters, or an
/// overlay switch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(untagged)]
pub enum StreamEvent {
    Change(Event),
    Traffic(TrafficEvent),
    Overlay(OverlayEvent),
}

impl StreamEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            StreamEvent::Change(e) => e.kind(),
            StreamEvent::Traffic(t) => t.kind(),
            StreamEvent::Overlay(o) => o.kind(),
        }
    }
}

/// `overlay_switched`: a connection changed the overlay it uses (as in its `switches` in
/// `/api/v1/connections`), e.g. fastdp to sleeve when fastdp heartbeats stop.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OverlayEvent {
    OverlaySwitched {
        /// The remote peer's name.
        peer: String,
        /// RFC 3339 time of the switch.
        at: String,
        /// The overlay before (absent at the start).
        from: Option<String>,
        /// The overlay after (absent when none is usable).
        to: Option<String>,
        reason: String,
    },
}

impl OverlayEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        "overlay_switched"
    }
}

/// `traffic`, sent once a second (and once as soon as the stream opens): the counters of every
/// established connection, cumulative, so a missed event loses no bytes. Rates are differences
/// between two events divided by the difference of their `at_ms`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrafficEvent {
    Traffic {
        /// Unix time of the sample, in milliseconds.
        at_ms: u64,
        connections: Vec<ConnectionTraffic>,
    },
}

impl TrafficEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        "traffic"
    }
}

/// One connection's overlay counters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConnectionTraffic {
    /// The remote peer's name.
    pub peer: String,
    /// The connection's address (`IP:port`), as in `/api/v1/connections`.
    pub address: String,
    /// The overlay in use: `sleeve`, `fastdp`, or absent.
    pub overlay: Option<String>,
    /// Sleeve's counters since the connection started.
    pub sleeve: Traffic,
    /// The kernel's counters of the peer's fastdp VXLAN device (no drops), when there is one;
    /// they start when the device is made, which may be before this connection.
    #[serde(default)]
    pub fastdp: Option<Traffic>,
}

impl ConnectionTraffic {
    /// Both overlays together: what went to and came from the peer.
    pub fn total(&self) -> Traffic {
        let f = self.fastdp.clone().unwrap_or_default();
        Traffic {
            tx_packets: self.sleeve.tx_packets + f.tx_packets,
            tx_bytes: self.sleeve.tx_bytes + f.tx_bytes,
            rx_packets: self.sleeve.rx_packets + f.rx_packets,
            rx_bytes: self.sleeve.rx_bytes + f.rx_bytes,
            drops: self.sleeve.drops + f.drops,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_and_changes_come_apart_by_their_type() {
        let t = r#"{"type":"traffic","at_ms":5,"connections":[{"peer":"p","address":"a:1","overlay":"fastdp",
            "sleeve":{"tx_packets":1,"tx_bytes":10,"rx_packets":2,"rx_bytes":20,"drops":1},
            "fastdp":{"tx_packets":3,"tx_bytes":30,"rx_packets":4,"rx_bytes":40,"drops":0}}]}"#;
        let StreamEvent::Traffic(TrafficEvent::Traffic { at_ms, connections }) =
            serde_json::from_str(t).unwrap()
        else {
            panic!("a traffic event")
        };
        assert_eq!((at_ms, connections[0].total().rx_bytes, connections[0].total().drops), (5, 60, 1));
        let c: StreamEvent = serde_json::from_str(r#"{"type":"routes_changed"}"#).unwrap();
        assert_eq!(c, StreamEvent::Change(Event::RoutesChanged));
        let o =
            r#"{"type":"overlay_switched","peer":"p","at":"t","from":"fastdp","to":"sleeve","reason":"r"}"#;
        assert!(matches!(serde_json::from_str(o).unwrap(), StreamEvent::Overlay(_)));
    }
}
