//! Reading NetworkPolicy files: YAML or JSON, one or many documents (`---`), `List` and
//! `NetworkPolicyList` kinds, into `k8s-openapi`'s `NetworkPolicy` and then through
//! [`crate::validate`]. A file is taken whole or refused whole: the first problem is reported
//! with the document, the field path and the reason.
//!
//! YAML: `serde-saphyr` (pure Rust, panic-free, with explicit budgets on depth, nodes, aliases
//! and documents). `serde_yaml` is archived and `serde_yml` deprecated (unsound releases, now a
//! shim); `serde_norway` is a maintained fork of serde_yaml but carries C-translated unsafe code
//! and only a fixed recursion limit. JSON is YAML, so one parser reads both.
//!
//! Unknown fields are refused, as `kubectl apply` does with strict validation: `k8s-openapi`
//! ignores them, `serde_ignored` reports them with their path. Deserialisation errors carry
//! their path through `serde_path_to_error`.

use crate::types::Policy;
use crate::validate;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Deserialize;
use std::fmt;

/// The largest policy file accepted.
pub const MAX_INPUT: usize = 1 << 20;
/// The most policies one file may carry.
pub const MAX_POLICIES: usize = 1000;

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// 1-based document number in a multi-document file (0: the file as a whole).
    pub document: usize,
    /// The field path inside the document (`items[2].spec.ingress[0].ports[1].port`).
    pub path: String,
    pub reason: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.document > 0 {
            write!(f, "document {}", self.document)?;
            if !self.path.is_empty() {
                f.write_str(", ")?;
            }
        }
        if !self.path.is_empty() {
            write!(f, "{}", self.path)?;
        }
        if self.document > 0 || !self.path.is_empty() {
            f.write_str(": ")?;
        }
        f.write_str(&self.reason)
    }
}

impl PolicyError {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> PolicyError {
        PolicyError { document: 0, path: path.into(), reason: reason.into() }
    }

    fn in_document(mut self, n: usize) -> PolicyError {
        self.document = n;
        self
    }

    fn under(mut self, prefix: &str) -> PolicyError {
        self.path = join(prefix, &self.path);
        self
    }
}

pub(crate) fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (_, true) => prefix.to_string(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

/// Parses and validates every policy in `text`.
pub fn parse(text: &str) -> Result<Vec<Policy>, PolicyError> {
    if text.len() > MAX_INPUT {
        return Err(PolicyError::new(
            "",
            format!("the file has {} bytes, more than the {MAX_INPUT} accepted: split it", text.len()),
        ));
    }
    let mut options = serde_saphyr::Options::default();
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = MAX_POLICIES;
    budget.max_depth = 32;
    budget.max_aliases = 1000;
    options.budget = Some(budget);
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| {
            PolicyError::new("", format!("not valid YAML or JSON: {}", first_line(&e.to_string())))
        })?;
    let mut out = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue; // an empty document, as a trailing `---` makes
        }
        for p in objects(doc).map_err(|e| e.in_document(i + 1))? {
            out.push(p.map_err(|e| e.in_document(i + 1))?);
            if out.len() > MAX_POLICIES {
                return Err(PolicyError::new(
                    "",
                    format!("more than {MAX_POLICIES} policies in one file: split it"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(PolicyError::new("", "no NetworkPolicy in the file"));
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in &out {
        if !seen.insert(p.id.clone()) {
            return Err(PolicyError::new("", format!("policy {} appears twice in the file", p.id)));
        }
    }
    Ok(out)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The policies of one document: a NetworkPolicy, or a list of them.
fn objects(doc: serde_json::Value) -> Result<Vec<Result<Policy, PolicyError>>, PolicyError> {
    let kind = doc.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    match kind {
        "NetworkPolicy" => Ok(vec![from_value(doc)]),
        "List" | "NetworkPolicyList" => {
            let want = if kind == "List" { "v1" } else { "networking.k8s.io/v1" };
            let api = doc.get("apiVersion").and_then(|a| a.as_str()).unwrap_or("");
            if api != want {
                return Err(PolicyError::new("apiVersion", format!("{api:?}: a {kind} has apiVersion {want}")));
            }
            let Some(items) = doc.get("items").and_then(|i| i.as_array()) else {
                return Err(PolicyError::new("items", format!("a {kind} needs a list of items")));
            };
            Ok(items
                .iter()
                .enumerate()
                .map(|(n, item)| from_value(item.clone()).map_err(|e| e.under(&format!("items[{n}]"))))
                .collect())
        }
        "" => Err(PolicyError::new("kind", "missing: expected NetworkPolicy, NetworkPolicyList or List")),
        other => Err(PolicyError::new(
            "kind",
            format!("{other:?} is not a NetworkPolicy (weave policy takes NetworkPolicy, NetworkPolicyList or List)"),
        )),
    }
}

/// One NetworkPolicy object (also what gossip and the data dir carry), validated.
pub fn from_value(value: serde_json::Value) -> Result<Policy, PolicyError> {
    match value.get("apiVersion").and_then(|a| a.as_str()) {
        Some("networking.k8s.io/v1") => {}
        Some(other) => {
            return Err(PolicyError::new("apiVersion", format!("{other:?}: expected networking.k8s.io/v1")))
        }
        None => return Err(PolicyError::new("apiVersion", "missing: expected networking.k8s.io/v1")),
    }
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
    let de = serde_ignored::Deserializer::new(&value, &mut note);
    let np = match serde_path_to_error::deserialize::<_, NetworkPolicy>(de) {
        Ok(np) => np,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            return Err(PolicyError::new(path, e.into_inner().to_string()));
        }
    };
    if let Some(path) = unknown.into_iter().next() {
        return Err(PolicyError::new(path, "unknown field (check its spelling and indentation)"));
    }
    let source = serde_json::to_value(&np).map_err(|e| PolicyError::new("", e.to_string()))?;
    validate::policy(&np, source)
}

/// `spec.ingress[0].fromm`, the form serde_path_to_error gives too.
fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join(&ignored_path(parent), key),
        Path::Some { parent } | Path::NewtypeStruct { parent } | Path::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

/// Re-reads a policy that was stored or gossiped as [`Policy::source`].
pub fn from_source(bytes: &[u8]) -> Result<Policy, PolicyError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_json::Value::deserialize(&mut de).map_err(|e| PolicyError::new("", e.to_string()))?;
    from_value(value)
}
