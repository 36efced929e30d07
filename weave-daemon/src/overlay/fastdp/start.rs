//! Starting fastdp from the daemon's flags: off with `--no-fastdp` (and then devices left by an
//! earlier run are removed), else on, with the sleeve's port isolated and heartbeats kept off
//! the bridge.

use super::{Fastdp, FastdpConfig};
use crate::config::Config;
use crate::overlay::sleeve::Sleeve;
use crate::overlay::tap::TAP_NAME;
use std::process::Command;
use std::sync::Arc;
use weave_netdev::Netlink;
use weave_wire::PeerName;

pub fn start(
    config: &Config,
    us: PeerName,
    mtu: u32,
    sleeve: &Arc<Sleeve>,
) -> anyhow::Result<Option<Arc<Fastdp>>> {
    if config.no_fastdp {
        Fastdp::remove_all(Netlink::open()?);
        return Ok(None);
    }
    let encrypted_unavailable = if config.password.is_some() { esp_unavailable() } else { String::new() };
    if config.password.is_some() {
        tracing::info!("encrypted connections use sleeve: {encrypted_unavailable}");
    }
    let cfg = FastdpConfig {
        us,
        listen_port: config.port.wrapping_add(1),
        mtu,
        bridge: crate::BRIDGE.to_string(),
        sleeve_port: TAP_NAME.to_string(),
        encrypted_unavailable,
    };
    let fd =
        Fastdp::start(Netlink::open()?, cfg, sleeve.clone()).map_err(|e| anyhow::anyhow!("fastdp: {e}"))?;
    Ok(Some(fd))
}

/// Why encrypted connections cannot use fastdp: Weave encrypts it with IPsec ESP
/// (rfc4106(gcm(aes)) in the kernel). Probes the kernel with a throwaway SA.
fn esp_unavailable() -> String {
    const SPI: &str = "0xfffffe01";
    let key = format!("0x{}", "00".repeat(36));
    let add = Command::new("ip")
        .args(["xfrm", "state", "add", "src", "127.0.0.1", "dst", "127.0.0.1", "proto", "esp", "spi", SPI])
        .args(["mode", "transport", "aead", "rfc4106(gcm(aes))", &key, "128"])
        .output();
    match add {
        Ok(out) if out.status.success() => {
            let _ = Command::new("ip")
                .args([
                    "xfrm",
                    "state",
                    "delete",
                    "src",
                    "127.0.0.1",
                    "dst",
                    "127.0.0.1",
                    "proto",
                    "esp",
                    "spi",
                    SPI,
                ])
                .status();
            "encrypted fastdp (IPsec ESP) is not implemented by this weave".into()
        }
        Ok(out) => format!(
            "encrypted fastdp needs IPsec ESP, which this kernel lacks ({})",
            String::from_utf8_lossy(&out.stderr).trim().trim_start_matches("Error: ").trim_end_matches('.')
        ),
        Err(e) => format!("encrypted fastdp needs IPsec ESP, and checking for it failed (ip xfrm: {e})"),
    }
}
