//! `weave report -f TEMPLATE` and Weave's `GET /report?format=`: Go's template language
//! (via gtmpl) over the report, with Weave's `json` function.
//!
//! A format may come from anyone who reaches the API, so it runs within [`Limits`]: its shape is
//! checked first ([`check`]: no template that calls itself, bounded nesting, a bounded worst case
//! of steps), `printf` pads to at most [`MAX_PRINTF_WIDTH`], and the output goes to a writer that
//! stops the render past the output cap or the deadline. Callers on an async runtime run
//! [`render`] on a blocking thread.

mod check;

use crate::Report;
use gtmpl_value::{FuncError, Number, Value};
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Widest `printf` padding or precision accepted.
pub const MAX_PRINTF_WIDTH: usize = 1000;

/// What one render may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest template text.
    pub text: usize,
    /// Worst-case steps (actions, texts and calls, every range taken as many times as the
    /// report's longest list has items).
    pub steps: u64,
    /// Deepest nesting of blocks and template calls.
    pub depth: usize,
    /// Most output bytes.
    pub output: usize,
    /// Longest time spent rendering.
    pub time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { text: 16 << 10, steps: 2_000_000, depth: 32, output: 8 << 20, time: Duration::from_secs(2) }
    }
}

/// Renders `format` against the report within the default [`Limits`]. Errors name what was
/// wrong with the template.
pub fn render(report: &Report, format: &str) -> Result<String, String> {
    render_within(report, format, &Limits::default())
}

/// Renders `format` against the report within `limits`.
pub fn render_within(report: &Report, format: &str, limits: &Limits) -> Result<String, String> {
    if format.len() > limits.text {
        return Err(format!("template: {} bytes long, more than the {} allowed", format.len(), limits.text));
    }
    let data = serde_json::to_value(report).map_err(|e| e.to_string())?;
    check::check(format, longest_list(&data), limits.steps, limits.depth).map_err(|e| prefixed(&e))?;
    let mut t = gtmpl::Template::default();
    t.add_func("json", json);
    t.add_func("printf", printf);
    // `call` runs function values, which a report has none of.
    t.funcs.remove("call");
    t.parse(format).map_err(|e| format!("template: {e}"))?;
    let mut out =
        Bounded { buf: Vec::new(), limit: limits.output, deadline: Instant::now() + limits.time, over: None };
    if let Err(e) = t.execute(&mut out, &gtmpl::Context::from(to_gtmpl(&data))) {
        return Err(match out.over {
            Some(Over::Output) => format!("template: the output would exceed {} bytes", limits.output),
            Some(Over::Time) => {
                format!("template: rendering took longer than {} s", limits.time.as_secs_f32())
            }
            None => format!("template: {e}"),
        });
    }
    String::from_utf8(out.buf).map_err(|e| format!("template: output is not UTF-8: {e}"))
}

fn prefixed(e: &str) -> String {
    if e.starts_with("template:") {
        e.to_string()
    } else {
        format!("template: {e}")
    }
}

/// Items of the longest list or map anywhere in `v` (what a `range` can run over).
fn longest_list(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => a.iter().map(longest_list).fold(a.len(), usize::max),
        serde_json::Value::Object(o) => o.values().map(longest_list).fold(o.len(), usize::max),
        _ => 0,
    }
}

/// Why the writer stopped a render.
enum Over {
    Output,
    Time,
}

/// The render's output: refuses bytes past the cap or the deadline, which ends the render.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
    deadline: Instant,
    over: Option<Over>,
}

impl Write for Bounded {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > self.limit {
            self.over = Some(Over::Output);
            return Err(std::io::Error::other("template output cap"));
        }
        if Instant::now() > self.deadline {
            self.over = Some(Over::Time);
            return Err(std::io::Error::other("template time limit"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// gtmpl's `printf`, refusing paddings and precisions that would build huge strings (or make
/// Rust's formatter panic: it takes at most 65535).
fn printf(args: &[Value]) -> Result<Value, FuncError> {
    if let Some(Value::String(format)) = args.first() {
        check_printf(format).map_err(FuncError::Generic)?;
    }
    gtmpl::funcs::printf(args)
}

fn check_printf(format: &str) -> Result<(), String> {
    let b = format.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        while i < b.len() && b"+-# 0".contains(&b[i]) {
            i += 1;
        }
        // Width, then precision: digits, or `*` (taken from an argument: refused).
        for part in 0..2 {
            if part == 1 {
                if b.get(i) != Some(&b'.') {
                    break;
                }
                i += 1;
            }
            if b.get(i) == Some(&b'*') {
                return Err("printf: widths and precisions from arguments (*) are not supported".into());
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n: usize = format[start..i].parse().unwrap_or(if i > start { usize::MAX } else { 0 });
            if n > MAX_PRINTF_WIDTH {
                return Err(format!(
                    "printf: width or precision {} is more than {MAX_PRINTF_WIDTH}",
                    &format[start..i]
                ));
            }
        }
    }
    Ok(())
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

    /// `t0` writes nothing; each `tN` calls `tN-1` twice: 2^n calls for `{{template "tn"}}`.
    fn exponential(n: usize) -> String {
        let mut t = String::from(r#"{{define "t0"}}{{end}}"#);
        for i in 1..=n {
            t.push_str(&format!(
                r#"{{{{define "t{i}"}}}}{{{{template "t{}"}}}}{{{{template "t{}"}}}}{{{{end}}}}"#,
                i - 1,
                i - 1
            ));
        }
        t.push_str(&format!(r#"{{{{template "t{n}"}}}}"#));
        t
    }

    #[test]
    fn a_template_that_calls_itself_is_refused() {
        let e = render(&report(), r#"{{define "a"}}{{template "a"}}{{end}}{{template "a"}}"#).unwrap_err();
        assert!(e.contains("calls itself"), "{e}");
        let e = render(&report(), r#"{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{if 1}}{{template "a"}}{{end}}{{end}}{{template "a"}}"#)
            .unwrap_err();
        assert!(e.contains("calls itself"), "{e}");
    }

    #[test]
    fn an_exponential_template_is_refused() {
        // 2^25 calls, within the nesting allowed: refused for the work.
        let e = render(&report(), &exponential(25)).unwrap_err();
        assert!(e.contains("too much work"), "{e}");
        // 2^40 calls nest deeper than allowed: refused for that first.
        let e = render(&report(), &exponential(40)).unwrap_err();
        assert!(e.contains("41 deep"), "{e}");
        // Ranges nested deep over the report's lists: as many steps as the product.
        let mut t = String::new();
        for _ in 0..24 {
            t.push_str("{{range $.Router.Peers}}");
        }
        for _ in 0..24 {
            t.push_str("{{end}}");
        }
        let e = render(&report(), &t).unwrap_err();
        assert!(e.contains("too much work"), "{e}");
        // A few levels are fine.
        assert_eq!(render(&report(), &exponential(3)).unwrap(), "");
    }

    #[test]
    fn output_and_time_are_capped() {
        let r = report();
        let limits = Limits { output: 100, ..Limits::default() };
        let e = render_within(&r, "{{json .}}", &limits).unwrap_err();
        assert!(e.contains("exceed 100 bytes"), "{e}");
        let limits = Limits { time: std::time::Duration::ZERO, ..Limits::default() };
        let e = render_within(&r, "{{range .Router.Peers}}{{.NickName}}{{end}}", &limits).unwrap_err();
        assert!(e.contains("longer than"), "{e}");
        let e = render_within(&r, &"x".repeat(20_000), &Limits::default()).unwrap_err();
        assert!(e.contains("20000 bytes long"), "{e}");
    }

    #[test]
    fn printf_cannot_pad_to_gigabytes() {
        for t in [
            r#"{{printf "%999999999d" 1}}"#,
            r#"{{printf "%*d" 999999999 1}}"#,
            r#"{{printf "%.999999999f" 1.5}}"#,
        ] {
            let e = render(&report(), t).unwrap_err();
            assert!(e.contains("printf"), "{t}: {e}");
        }
        assert_eq!(
            render(&report(), r#"{{printf "%5d|%-4s|%.2f" 42 "ab" 1.5}}"#).unwrap(),
            "   42|ab  |1.50"
        );
    }
}
