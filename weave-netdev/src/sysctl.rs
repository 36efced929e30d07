//! Kernel parameters under /proc/sys.
//!
//! /proc/sys/net resolves against the network namespace of the thread that opens the file, so
//! `ns.run(|| sysctl::write(...))` changes another namespace's settings.

use crate::netlink::NetdevError;
use std::fs;
use std::io;
use std::path::PathBuf;

/// `path` is relative to /proc/sys with slashes ("net/ipv4/conf/ethwe/arp_ignore"); dots are
/// not translated because interface names may contain them. A leading "/proc/sys/" is accepted.
fn full_path(path: &str) -> PathBuf {
    let rel = path.strip_prefix("/proc/sys/").unwrap_or(path).trim_start_matches('/');
    PathBuf::from("/proc/sys").join(rel)
}

/// Refuses paths that would leave /proc/sys.
fn check(path: &str, op: impl Fn() -> String) -> Result<(), NetdevError> {
    if path.split('/').any(|c| c == "..") {
        return Err(NetdevError::new(
            op(),
            io::Error::new(io::ErrorKind::InvalidInput, "path leaves /proc/sys"),
        ));
    }
    Ok(())
}

/// Sets a kernel parameter.
pub fn write(path: &str, value: &str) -> Result<(), NetdevError> {
    let p = full_path(path);
    check(path, || format!("write {value:?} to {}", p.display()))?;
    fs::write(&p, value).map_err(|e| NetdevError::new(format!("write {value:?} to {}", p.display()), e))
}

/// Reads a kernel parameter, without the trailing newline.
pub fn read(path: &str) -> Result<String, NetdevError> {
    let p = full_path(path);
    check(path, || format!("read {}", p.display()))?;
    let s = fs::read_to_string(&p).map_err(|e| NetdevError::new(format!("read {}", p.display()), e))?;
    Ok(s.trim_end_matches('\n').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_under_proc_sys() {
        assert_eq!(full_path("net/ipv4/ip_forward"), PathBuf::from("/proc/sys/net/ipv4/ip_forward"));
        assert_eq!(
            full_path("/proc/sys/net/ipv4/ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            full_path("/net/ipv4/conf/eth0.5/rp_filter"),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.5/rp_filter")
        );
    }

    #[test]
    fn errors_name_the_path() {
        let e = read("net/nonexistent/thing").unwrap_err();
        assert_eq!(
            e.to_string(),
            "read /proc/sys/net/nonexistent/thing: No such file or directory (os error 2)"
        );
        let e = write("net/../../etc/passwd", "x").unwrap_err();
        assert!(e.to_string().contains("path leaves /proc/sys"), "{e}");
    }
}
