//! Weave's form values, as Go's `ParseForm` reads them for its text endpoints: the urlencoded
//! body's pairs first, then the query's. A body with a broken `%` escape is refused, as Go
//! refuses it (serde_urlencoded alone would keep the text as it is).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub struct Form(Vec<(String, String)>);

impl Form {
    /// The pairs of `query` and `body`, or a 400 in Weave's plain text.
    #[allow(clippy::result_large_err)]
    pub fn parse(query: Vec<(String, String)>, body: &str) -> Result<Form, Response> {
        let b = body.as_bytes();
        let broken = (0..b.len()).find(|&i| {
            b[i] == b'%' && !(i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
        });
        if let Some(i) = broken {
            let bad: String = body[i..].chars().take(3).collect();
            let msg = format!("unable to parse form: invalid URL escape {bad:?}\n");
            return Err((StatusCode::BAD_REQUEST, msg).into_response());
        }
        let mut all: Vec<(String, String)> = serde_urlencoded::from_str(body).unwrap_or_default();
        all.extend(query);
        Ok(Form(all))
    }

    /// The first value of `key`, "" when there is none (Go's `FormValue`).
    pub fn value(&self, key: &str) -> &str {
        self.0.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn values(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Form;

    #[test]
    fn body_first_then_query_and_broken_escapes_refused() {
        let f = Form::parse(vec![("peer".into(), "q".into())], "peer=b%20c&x=1").unwrap();
        assert_eq!(f.values("peer"), ["b c", "q"]);
        assert_eq!((f.value("x"), f.value("none")), ("1", ""));
        for bad in ["peer=%", "peer=%z1", "a=%4"] {
            assert!(Form::parse(vec![], bad).is_err(), "{bad}");
        }
    }
}
