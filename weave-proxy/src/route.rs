//! Which Docker API calls the proxy intercepts; everything else is [`Route::Pass`].

use http::Method;

#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// `POST /containers/create`
    Create,
    /// `POST /containers/{id}/start` and `/restart`
    Start(String),
    /// `POST /containers/{id}/exec`
    Exec(String),
    /// `GET /containers/{id}/json`
    Inspect(String),
    Pass,
}

/// The path without a leading API version (`/v1.41/containers/...`).
pub fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let ver = rest.split('/').next().unwrap_or_default();
        let numeric =
            !ver.is_empty() && ver.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if numeric {
            return &path[2 + ver.len()..];
        }
    }
    path
}

pub fn route(method: &Method, path: &str) -> Route {
    let path = strip_version(path);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["containers", "create"]) => Route::Create,
        ("POST", ["containers", id, "start" | "restart"]) if !id.is_empty() => Route::Start(id.to_string()),
        ("POST", ["containers", id, "exec"]) if !id.is_empty() => Route::Exec(id.to_string()),
        ("GET", ["containers", id, "json"]) if !id.is_empty() => Route::Inspect(id.to_string()),
        _ => Route::Pass,
    }
}

/// A query parameter's value, percent-decoded (`name` of a create).
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_a_version() {
        assert_eq!(route(&Method::POST, "/v1.41/containers/create"), Route::Create);
        assert_eq!(route(&Method::POST, "/containers/create"), Route::Create);
        assert_eq!(route(&Method::POST, "/v1.24/containers/abc/start"), Route::Start("abc".into()));
        assert_eq!(route(&Method::POST, "/containers/abc/restart"), Route::Start("abc".into()));
        assert_eq!(route(&Method::POST, "/v1/containers/abc/exec"), Route::Exec("abc".into()));
        assert_eq!(route(&Method::GET, "/v1.41/containers/abc/json"), Route::Inspect("abc".into()));
        assert_eq!(route(&Method::GET, "/v1.41/containers/json"), Route::Pass);
        assert_eq!(route(&Method::GET, "/containers/create"), Route::Pass);
        assert_eq!(route(&Method::POST, "/vx/containers/create"), Route::Pass);
        assert_eq!(route(&Method::POST, "/v1.41/exec/abc/start"), Route::Pass);
    }

    #[test]
    fn query_names_are_decoded() {
        assert_eq!(query_param(Some("name=web&x=1"), "name"), Some("web".into()));
        assert_eq!(query_param(Some("x=1&name=a%2Fb"), "name"), Some("a/b".into()));
        assert_eq!(query_param(Some("name=bad%"), "name"), Some("bad%".into()));
        assert_eq!(query_param(Some("x=1"), "name"), None);
        assert_eq!(query_param(None, "name"), None);
    }
}
