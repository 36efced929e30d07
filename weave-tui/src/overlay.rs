//! What a connection says about its overlays beyond the typed `Connection`: the forwarders the
//! overlay switch runs (fastdp, sleeve) with their health, and the history of switches between
//! them. Read leniently from the JSON, so a daemon that does not report them yet (or reports
//! more) still works, and the dashboard needs no change when the typed API grows these fields.

use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OverlayInfo {
    /// In preference order.
    pub forwarders: Vec<Forwarder>,
    /// Oldest first.
    pub switches: Vec<Switch>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Forwarder {
    pub name: String,
    /// `pending`, `established`, `unhealthy` or `failed`.
    pub state: String,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Switch {
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: String,
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(String::from)
}

impl OverlayInfo {
    /// From one element of `GET /api/v1/connections`.
    pub fn from_json(v: &Value) -> OverlayInfo {
        let list = |k: &str| v.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        OverlayInfo {
            forwarders: list("forwarders")
                .iter()
                .filter_map(|f| {
                    Some(Forwarder {
                        name: text(f, "name")?,
                        state: text(f, "state").unwrap_or_default(),
                        reason: text(f, "reason"),
                    })
                })
                .collect(),
            switches: list("switches")
                .iter()
                .filter_map(|s| {
                    Some(Switch { from: text(s, "from"), to: text(s, "to"), reason: text(s, "reason")? })
                })
                .collect(),
        }
    }

    /// Why a connection now on `overlay` is not on fastdp although fastdp was tried: its
    /// forwarder's failure, else the reason of the last switch to `overlay`.
    pub fn fallback(&self, overlay: Option<&str>) -> Option<String> {
        if overlay == Some("fastdp") {
            return None;
        }
        let fastdp = self.forwarders.iter().find(|f| f.name == "fastdp")?;
        if fastdp.state == "established" {
            return None;
        }
        fastdp
            .reason
            .clone()
            .or_else(|| {
                let last = self.switches.iter().rev().find(|s| s.to.as_deref() == overlay)?;
                Some(last.reason.clone())
            })
            .or_else(|| Some(format!("fastdp is {}", fastdp.state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fastdp_forwarder_is_a_fallback_with_its_reason() {
        let v: Value = serde_json::from_str(
            r#"{"overlay":"sleeve","forwarders":[{"name":"fastdp","state":"failed","reason":"no fastdp heartbeat for 15 s"},
                {"name":"sleeve","state":"established","reason":null}],
                "switches":[{"at":1,"from":"fastdp","to":"sleeve","reason":"fastdp unhealthy"}]}"#,
        )
        .unwrap();
        let o = OverlayInfo::from_json(&v);
        assert_eq!(o.forwarders.len(), 2);
        assert_eq!(o.switches[0].to.as_deref(), Some("sleeve"));
        assert_eq!(o.fallback(Some("sleeve")).as_deref(), Some("no fastdp heartbeat for 15 s"));
        assert_eq!(o.fallback(Some("fastdp")), None);
    }

    #[test]
    fn without_the_fields_there_is_nothing_to_say() {
        let o = OverlayInfo::from_json(&serde_json::json!({"overlay": "sleeve"}));
        assert_eq!(o, OverlayInfo::default());
        assert_eq!(o.fallback(Some("sleeve")), None);
        let pending = r#"{"forwarders":[{"name":"fastdp","state":"unhealthy"}],"switches":[]}"#;
        let o = OverlayInfo::from_json(&serde_json::from_str(pending).unwrap());
        assert_eq!(o.fallback(Some("sleeve")).as_deref(), Some("fastdp is unhealthy"));
    }
}
