//! weavewait (`/w/w` in a container of the Docker API proxy): blocks until the container's
//! weave interface `ethwe` is up with an IPv4 address (and carries the multicast route, unless
//! a file `nomcast` sits next to this binary), then becomes the container's command through
//! execve, so signals and the exit status are the command's own.
//!
//! Standard library only and statically linked (see Cargo.toml): it must run in images without
//! a libc. It reads `/proc/net/route` of its own network namespace: the kernel lists a route
//! through an interface only once the interface is up with an address on it.

use std::os::unix::process::CommandExt;
use std::time::Duration;

const IFACE: &str = "ethwe";
const POLL: Duration = Duration::from_millis(20);
/// 224.0.0.0/4 as `/proc/net/route` writes it (little-endian hex).
const MCAST_DEST: &str = "000000E0";
const MCAST_MASK: &str = "000000F0";
const RTF_UP: u32 = 0x1;

/// What `/proc/net/route` says about `iface`: a route of its own (an address on an up link),
/// and the multicast route.
fn routes(table: &str, iface: &str) -> (bool, bool) {
    let (mut any, mut mcast) = (false, false);
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || f[0] != iface {
            continue;
        }
        let up = u32::from_str_radix(f[3], 16).is_ok_and(|flags| flags & RTF_UP != 0);
        if !up {
            continue;
        }
        if f[1] == MCAST_DEST && f[7] == MCAST_MASK {
            mcast = true;
        } else {
            any = true;
        }
    }
    (any, mcast)
}

fn ready(want_mcast: bool) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/route") else { return false };
    let (any, mcast) = routes(&table, IFACE);
    any && (mcast || !want_mcast)
}

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args.is_empty() {
        eprintln!("weavewait: no command given: usage: /w/w COMMAND [ARG...]");
        std::process::exit(2);
    }
    let want_mcast = !std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("nomcast")))
        .is_some_and(|p| p.exists());
    while !ready(want_mcast) {
        std::thread::sleep(POLL);
    }
    let err = std::process::Command::new(&args[0]).args(&args[1..]).exec();
    eprintln!("weavewait: running {}: {err}", args[0].to_string_lossy());
    std::process::exit(if err.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
ethwe\t0000200A\t00000000\t0001\t0\t0\t0\t0000F0FF\t0\t0\t0
ethwe\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0
";

    #[test]
    fn reads_the_interfaces_routes() {
        assert_eq!(routes(TABLE, "ethwe"), (true, true));
        assert_eq!(routes(TABLE, "eth0"), (true, false));
        assert_eq!(routes(TABLE, "ethwe0"), (false, false));
        // Only the multicast route: no address yet.
        let only_mcast: String =
            TABLE.lines().filter(|l| !l.contains("0000200A")).map(|l| format!("{l}\n")).collect();
        assert_eq!(routes(&only_mcast, "ethwe"), (false, true));
        // A route that is not up does not count; a short line is skipped.
        let down = TABLE.replace("ethwe\t0000200A\t00000000\t0001", "ethwe\t0000200A\t00000000\t0000");
        assert_eq!(routes(&(down + "ethwe 1 2\n"), "ethwe"), (false, true));
    }
}
