//! The committed `openapi/weave.json` must be what the handlers generate.
//! Regenerate with: `WEAVE_UPDATE_OPENAPI=1 cargo test -p weave-daemon --test openapi_drift`.

use std::path::PathBuf;

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = weave_daemon::api::openapi().to_pretty_json().expect("document serialises") + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/weave.json");
    if std::env::var_os("WEAVE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/weave.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/weave.json is out of date with the handlers; regenerate it with \
         `WEAVE_UPDATE_OPENAPI=1 cargo test -p weave-daemon --test openapi_drift` and commit it"
    );
}
