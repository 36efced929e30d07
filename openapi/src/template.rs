//! `weave report -f TEMPLATE` and Weave's `GET /report?format=`: Go's template language
//! (via gtmpl) over the report, with Weave's `json` function.

use crate::Report;
use gtmpl_value::{FuncError, Number, Value};
use std::collections::HashMap;

/// Renders `format` against the report. Errors name what was wrong with the template.
pub fn render(report: &Report, format: &str) -> Result<String, String> {
    let data = serde_json::to_value(report).map_err(|e| e.to_string())?;
    let mut t = gtmpl::Template::default();
    t.add_func("json", json);
    t.parse(format).map_err(|e| format!("template: {e}"))?;
    t.render(&gtmpl::Context::from(to_gtmpl(&data))).map_err(|e| format!("template: {e}"))
}

/// JSON objects become gtmpl maps so both `.Field` and `range` work on them, as in Go.
fn to_gtmpl(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else {
                Value::Number(Number::from(n.as_f64().unwrap_or(0.0)))
            }
        }
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => Value::Array(a.iter().map(to_gtmpl).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(o.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect::<HashMap<_, _>>())
        }
    }
}

fn from_gtmpl(v: &Value) -> serde_json::Value {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into()
            } else if let Some(i) = n.as_i64() {
                i.into()
            } else {
                n.as_f64().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null)
            }
        }
        Value::Array(a) => serde_json::Value::Array(a.iter().map(from_gtmpl).collect()),
        Value::Object(m) | Value::Map(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), from_gtmpl(v))).collect())
        }
    }
}

/// Weave's template function `json`: the argument marshalled as compact JSON (keys sorted).
fn json(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [v] => Ok(Value::String(from_gtmpl(v).to_string())),
        _ => Err(FuncError::ExactlyXArgs("json".into(), 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/weave-2.8/http/A_report_json.body");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn renders_weaves_own_format_example() {
        // The request Weave answered with A_report_format.body.
        let expect = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/weave-2.8/http/A_report_format.body"
        ))
        .unwrap();
        assert_eq!(render(&report(), "{{.Router.Name}} {{.IPAM.DefaultSubnet}}").unwrap(), expect);
    }

    #[test]
    fn json_range_and_errors() {
        let r = report();
        let out = render(&r, "{{json .DNS.TTL}} {{range .Router.Peers}}{{.NickName}},{{end}}").unwrap();
        assert_eq!(out, "1 hostA,hostB,");
        let ipam: serde_json::Value = serde_json::from_str(&render(&r, "{{json .IPAM}}").unwrap()).unwrap();
        assert_eq!(ipam["Range"], "10.32.0.0/12");
        assert!(render(&r, "{{.Router.Name").unwrap_err().starts_with("template:"));
    }
}
