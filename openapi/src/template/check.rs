//! The shape of a report template, checked before gtmpl parses or runs it. gtmpl has no budget
//! of its own: it recurses as deep as a template's calls go (a template calling itself overflows
//! the stack) and loops as long as its ranges and calls multiply. So this scanner reads the
//! template's actions as Go's lexer does (strings, raw strings, characters, comments, trim
//! markers), rebuilds its block structure, and refuses:
//! * a template that calls itself, directly or through others, and template names that are not
//!   plain strings (they could name anything at run time);
//! * nesting of blocks and calls deeper than `max_depth`, parentheses deeper than `MAX_PARENS`;
//! * more than `max_steps` steps in the worst case, where every `range` runs as many times as
//!   the largest list or map in the data has items.
//!
//! Whatever the scanner cannot place (an unclosed action, a stray `end`) is refused too, so a
//! template it misreads is refused rather than run unchecked.

use std::collections::HashMap;

/// Deepest parenthesised pipeline accepted.
const MAX_PARENS: usize = 16;

/// What one template body does, as far as cost and depth go.
#[derive(Debug, Default)]
struct Body {
    items: Vec<Item>,
}

#[derive(Debug)]
enum Item {
    /// An action or a piece of text.
    Step,
    /// `{{template "name"}}` (or the call a `block` makes).
    Call(String),
    /// `if`/`with` (`times` 1) or `range` (`times` the largest collection): the body, then the
    /// `else` branch (run at most once).
    Nest { repeats: bool, body: Body, other: Body },
}

/// An open block while scanning.
struct Frame {
    /// `define`/`block` name, for the body it collects.
    defines: Option<String>,
    /// `block` also calls what it defines where it stands.
    calls: bool,
    repeats: bool,
    body: Body,
    other: Body,
    in_else: bool,
    /// Opened by `{{else if}}`: the same `{{end}}` closes it and the block it continues.
    chained: bool,
}

impl Frame {
    fn new(defines: Option<String>, calls: bool, repeats: bool) -> Frame {
        Frame {
            defines,
            calls,
            repeats,
            body: Body::default(),
            other: Body::default(),
            in_else: false,
            chained: false,
        }
    }

    fn push(&mut self, item: Item) {
        if self.in_else { &mut self.other } else { &mut self.body }.items.push(item);
    }
}

/// Refuses templates that could recurse without end or take more than `max_steps` steps, given
/// that no list or map in the data has more than `max_items` items.
pub(super) fn check(text: &str, max_items: usize, max_steps: u64, max_depth: usize) -> Result<(), String> {
    let templates = structure(text)?;
    let mut eval = Eval {
        templates: &templates,
        times: max_items.max(1) as u64,
        memo: HashMap::new(),
        path: Vec::new(),
    };
    let (steps, depth) = eval.template("")?;
    if depth > max_depth {
        return Err(format!(
            "blocks and template calls nest {depth} deep, more than the {max_depth} allowed"
        ));
    }
    if steps > max_steps {
        return Err(format!(
            "the template could take too much work: up to {steps} steps with {max_items} items per list, \
             more than the {max_steps} allowed (nest fewer ranges or template calls)"
        ));
    }
    Ok(())
}

/// Every template body by name; the top level is `""` (gtmpl's name for it).
fn structure(text: &str) -> Result<HashMap<String, Body>, String> {
    let mut templates: HashMap<String, Body> = HashMap::new();
    let mut stack = vec![Frame::new(Some(String::new()), false, false)];
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            top(&mut stack).push(Item::Step);
        }
        let (action, after) = action(&rest[start + 2..])?;
        rest = after;
        let Some(action) = action else { continue };
        let (word, args) = split_word(action);
        match word {
            "if" | "with" | "range" => stack.push(Frame::new(None, false, word == "range")),
            "else" => {
                let chained = split_word(args).0;
                let f = top(&mut stack);
                if f.defines.is_some() || f.in_else {
                    return Err("template: unexpected {{else}}".into());
                }
                f.in_else = true;
                // `{{else if X}}` is `{{else}}{{if X}}` whose `{{end}}` closes both.
                if matches!(chained, "if" | "with") {
                    let mut inner = Frame::new(None, false, false);
                    inner.chained = true;
                    stack.push(inner);
                }
            }
            "end" => loop {
                if stack.len() == 1 {
                    return Err("template: unexpected {{end}}".into());
                }
                let f = stack.pop().unwrap_or_else(|| Frame::new(None, false, false));
                let chained = f.chained;
                match f.defines {
                    Some(name) => {
                        if f.calls {
                            top(&mut stack).push(Item::Call(name.clone()));
                        }
                        if templates.insert(name.clone(), f.body).is_some() {
                            return Err(format!("template: {name:?} is defined twice"));
                        }
                    }
                    None => {
                        top(&mut stack).push(Item::Nest { repeats: f.repeats, body: f.body, other: f.other })
                    }
                }
                if !chained {
                    break;
                }
            },
            "define" | "block" => {
                if word == "define" && stack.len() > 1 {
                    return Err("template: {{define}} is allowed only at the top level".into());
                }
                let name = name(args, word)?;
                if name.is_empty() || templates.contains_key(&name) {
                    return Err(format!("template: {name:?} is defined twice"));
                }
                stack.push(Frame::new(Some(name), word == "block", false));
            }
            "template" => {
                let name = name(args, word)?;
                top(&mut stack).push(Item::Call(name));
            }
            _ => top(&mut stack).push(Item::Step),
        }
    }
    if !rest.is_empty() {
        top(&mut stack).push(Item::Step);
    }
    if stack.len() > 1 {
        return Err("template: unexpected EOF (a block has no {{end}})".into());
    }
    let root = stack.pop().map(|f| f.body).unwrap_or_default();
    templates.insert(String::new(), root);
    Ok(templates)
}

fn top(stack: &mut [Frame]) -> &mut Frame {
    let last = stack.len() - 1;
    &mut stack[last]
}

/// Reads one action after its `{{`: its words (`None` for a comment) and the text after `}}`.
fn action(s: &str) -> Result<(Option<&str>, &str), String> {
    let unclosed = || "template: unclosed action".to_string();
    // A trim marker is "-" then a space.
    let body = match s.strip_prefix('-') {
        Some(r) if r.starts_with([' ', '\t', '\r', '\n']) => r,
        _ => s,
    };
    let trimmed = body.trim_start();
    if let Some(c) = trimmed.strip_prefix("/*") {
        let end = c.find("*/").ok_or_else(unclosed)?;
        let after = c[end + 2..].trim_start();
        let after = after.strip_prefix('-').unwrap_or(after);
        let after = after
            .strip_prefix("}}")
            .ok_or_else(|| "template: comment ends before closing delimiter".to_string())?;
        return Ok((None, after));
    }
    let bytes = body.as_bytes();
    let (mut i, mut parens, mut deepest) = (0, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return Err(unclosed());
                }
            }
            b'`' => {
                i += 1 + body[i + 1..].find('`').ok_or_else(unclosed)?;
            }
            b'(' => {
                parens += 1;
                deepest = deepest.max(parens);
            }
            b')' => parens = parens.saturating_sub(1),
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                if deepest > MAX_PARENS {
                    return Err(format!("template: parentheses nest deeper than {MAX_PARENS}"));
                }
                let words = body[..i].trim();
                let words = words.strip_suffix('-').map(str::trim_end).unwrap_or(words);
                return Ok((Some(words), &body[i + 2..]));
            }
            _ => {}
        }
        i += 1;
    }
    Err(unclosed())
}

/// The first word of an action (a keyword, if any) and the rest.
fn split_word(action: &str) -> (&str, &str) {
    let end = action.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(action.len());
    (&action[..end], action[end..].trim_start())
}

/// The plain string naming a template after `define`, `block` or `template`.
fn name(args: &str, keyword: &str) -> Result<String, String> {
    let plain = |q: char| {
        let inner = args.strip_prefix(q)?;
        let end = inner.find(q)?;
        let name = &inner[..end];
        (!name.contains('\\')).then(|| name.to_string())
    };
    plain('"').or_else(|| plain('`')).ok_or_else(|| {
        format!("template: {{{{{keyword}}}}} needs the template's name as a plain quoted string")
    })
}

/// Worst-case steps and depth of each template, once each; a template met again while its own
/// cost is being worked out calls itself.
struct Eval<'t> {
    templates: &'t HashMap<String, Body>,
    times: u64,
    memo: HashMap<&'t str, (u64, usize)>,
    path: Vec<&'t str>,
}

impl<'t> Eval<'t> {
    fn template(&mut self, name: &'t str) -> Result<(u64, usize), String> {
        if let Some(&done) = self.memo.get(name) {
            return Ok(done);
        }
        if let Some(at) = self.path.iter().position(|&n| n == name) {
            let cycle: Vec<String> =
                self.path[at..].iter().chain([&name]).map(|n| format!("{n:?}")).collect();
            return Err(format!("template {name:?} calls itself ({})", cycle.join(" -> ")));
        }
        let Some(body) = self.templates.get(name) else {
            return Ok((1, 0)); // gtmpl reports the missing template when it gets there
        };
        self.path.push(name);
        let done = self.body(body);
        self.path.pop();
        let done = done?;
        self.memo.insert(name, done);
        Ok(done)
    }

    fn body(&mut self, body: &'t Body) -> Result<(u64, usize), String> {
        let (mut steps, mut depth) = (0u64, 0usize);
        for item in &body.items {
            let (s, d) = match item {
                Item::Step => (1, 0),
                Item::Call(name) => {
                    let (s, d) = self.template(name)?;
                    (s.saturating_add(1), d + 1)
                }
                Item::Nest { repeats, body, other } => {
                    let (bs, bd) = self.body(body)?;
                    let (os, od) = self.body(other)?;
                    let times = if *repeats { self.times } else { 1 };
                    (bs.saturating_mul(times).saturating_add(os).saturating_add(1), 1 + bd.max(od))
                }
            };
            steps = steps.saturating_add(s);
            depth = depth.max(d);
        }
        Ok((steps, depth))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Result<(), String> {
        check(t, 10, 100_000, 32)
    }

    #[test]
    fn actions_are_read_as_go_reads_them() {
        ok(r#"{{printf "}}{{template \"x\"}}" 1}} {{/* {{template "x"}} */}} {{- .A -}} {{`}}`}}"#).unwrap();
        ok(r#"{{if .A}}a{{else if .B}}b{{else if .C}}c{{else}}d{{end}}{{range $i, $v := .L}}{{$i}}{{end}}"#)
            .unwrap();
        assert!(ok("{{if .A}}a{{else}}b{{else}}c{{end}}").unwrap_err().contains("unexpected"));
        ok(r#"{{block "b" .}}x{{end}}{{template "b"}}"#).unwrap();
        assert!(ok("{{if .A}}").unwrap_err().contains("EOF"));
        assert!(ok("{{end}}").unwrap_err().contains("unexpected"));
        assert!(ok("{{.A").unwrap_err().contains("unclosed"));
        assert!(ok(r#"{{template .Name}}"#).unwrap_err().contains("plain quoted string"));
        assert!(ok(r#"{{define "a"}}{{end}}{{define "a"}}{{end}}"#).unwrap_err().contains("twice"));
        assert!(ok(r#"{{if 1}}{{define "a"}}{{end}}{{end}}"#).unwrap_err().contains("top level"));
        assert!(ok(&format!("{{{{{}.A{}}}}}", "(".repeat(20), ")".repeat(20)))
            .unwrap_err()
            .contains("parentheses"));
    }

    #[test]
    fn recursion_through_the_top_level_or_a_block_is_found() {
        assert!(ok(r#"{{template ""}}"#).unwrap_err().contains("calls itself"));
        assert!(ok(r#"{{block "b" .}}{{template "b"}}{{end}}"#).unwrap_err().contains("calls itself"));
    }

    #[test]
    fn cost_multiplies_through_ranges_and_calls() {
        // 3 nested ranges over 10 items, 1 action inside: 10 * (1 + 10 * (1 + 10 * 1 + ...)).
        assert!(
            check("{{range .A}}{{range .A}}{{range .A}}{{.}}{{end}}{{end}}{{end}}", 10, 1_200, 32).is_ok()
        );
        assert!(
            check("{{range .A}}{{range .A}}{{range .A}}{{.}}{{end}}{{end}}{{end}}", 10, 1_000, 32).is_err()
        );
        let deep = format!("{}{}", "{{if 1}}".repeat(40), "{{end}}".repeat(40));
        assert!(ok(&deep).unwrap_err().contains("40 deep"));
    }
}
