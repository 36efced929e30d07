//! A TCP transfer between two namespaces, checked end to end.

use crate::{wait_for, Background, Netns};
use std::time::Duration;

/// Sends `mb` MB of random data from `from` to `to_addr`:5000, where `to` listens, and checks
/// that it arrived intact.
pub fn tcp_transfer(from: &Netns, to: &Netns, to_addr: &str, mb: u32) {
    let tag = &from.name;
    let (sent, got) = (format!("/tmp/{tag}-sent"), format!("/tmp/{tag}-got"));
    let server = Background::spawn(to, "sh", &["-c", &format!("busybox nc -l -p 5000 > {got}")]);
    wait_for("the receiver listens", Duration::from_secs(10), || {
        let ss = to.exec("ss", &["-ltn"]).stdout;
        if ss.contains(":5000") {
            Ok(())
        } else {
            Err(ss)
        }
    });
    let script = format!("head -c {mb}000000 /dev/urandom > {sent} && cat {sent} > /dev/tcp/{to_addr}/5000");
    let out = from.exec("bash", &["-c", &script]);
    assert!(out.ok(), "{out:?}");
    let (code, _) = server.finish(Duration::from_secs(30));
    assert_eq!(code, Some(0), "the receiver finished");
    let hash = |f: &str| {
        from.exec("sha256sum", &[f]).stdout.split_whitespace().next().unwrap_or_default().to_string()
    };
    let (h_sent, h_got) = (hash(&sent), hash(&got));
    let _ = std::fs::remove_file(&sent);
    let _ = std::fs::remove_file(&got);
    assert_eq!(h_sent, h_got, "{mb} MB arrived intact");
}
