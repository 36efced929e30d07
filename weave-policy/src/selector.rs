//! Label selectors (`matchLabels` and `matchExpressions`), compiled once and matched against a
//! label map, with Kubernetes' semantics: every requirement must hold; an empty selector
//! matches everything; `NotIn` and `DoesNotExist` hold where the key is absent.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    pub key: String,
    pub op: Operator,
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.key);
        match &self.op {
            Operator::In(vals) => v.is_some_and(|v| vals.contains(v)),
            Operator::NotIn(vals) => v.is_none_or(|v| !vals.contains(v)),
            Operator::Exists => v.is_some(),
            Operator::DoesNotExist => v.is_none(),
        }
    }
}

/// A compiled selector: the conjunction of its requirements, kept sorted so equal selectors
/// compare equal however they were written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Selector {
    reqs: Vec<Requirement>,
}

impl Selector {
    /// Matches everything (`{}`).
    pub fn everything() -> Selector {
        Selector::default()
    }

    pub fn new(mut reqs: Vec<Requirement>) -> Selector {
        reqs.sort();
        reqs.dedup();
        Selector { reqs }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|r| r.matches(labels))
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.reqs
    }
}

/// The selector in `kubectl`'s syntax (`app=web,tier in (a,b),!debug`); `<all>` when empty.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reqs.is_empty() {
            return f.write_str("<all>");
        }
        let join = |v: &BTreeSet<String>| v.iter().cloned().collect::<Vec<_>>().join(",");
        let parts: Vec<String> = self
            .reqs
            .iter()
            .map(|r| match &r.op {
                Operator::In(v) if v.len() == 1 => format!("{}={}", r.key, join(v)),
                Operator::In(v) => format!("{} in ({})", r.key, join(v)),
                Operator::NotIn(v) => format!("{} notin ({})", r.key, join(v)),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_operator_matches_as_kubernetes_defines_it() {
        let req = |op| Requirement { key: "tier".into(), op };
        let web = labels(&[("tier", "web")]);
        let db = labels(&[("tier", "db")]);
        let none = labels(&[]);
        let cases: &[(Operator, [bool; 3])] = &[
            (Operator::In(set(&["web", "api"])), [true, false, false]),
            (Operator::NotIn(set(&["web"])), [false, true, true]),
            (Operator::Exists, [true, true, false]),
            (Operator::DoesNotExist, [false, false, true]),
        ];
        for (op, want) in cases {
            let r = req(op.clone());
            assert_eq!([r.matches(&web), r.matches(&db), r.matches(&none)], *want, "{op:?}");
        }
    }

    #[test]
    fn all_requirements_must_hold_and_empty_matches_everything() {
        assert!(Selector::everything().matches(&labels(&[])));
        let s = Selector::new(vec![
            Requirement { key: "app".into(), op: Operator::In(set(&["web"])) },
            Requirement { key: "debug".into(), op: Operator::DoesNotExist },
        ]);
        assert!(s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("debug", "1")])));
        assert!(!s.matches(&labels(&[("app", "db")])));
        assert_eq!(s.to_string(), "app=web,!debug");
    }
}
