//! weavewait (`../weavewait`), built statically by build.rs and embedded here, and the host
//! directory the proxy binds read-only at `/w` in its containers.

use std::path::{Path, PathBuf};

/// The static executable.
pub const BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/weavewait"));

/// Writes weavewait as `DIR/w` (replaced atomically: running containers may have it open)
/// and the `nomcast` marker when containers get no multicast route; returns `DIR`.
pub fn install(dir: &Path, multicast_route: bool) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let op = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    std::fs::create_dir_all(dir).map_err(|e| op("create", dir, e))?;
    let tmp = dir.join(".w.new");
    std::fs::write(&tmp, BINARY).map_err(|e| op("write", &tmp, e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| op("chmod", &tmp, e))?;
    let w = dir.join("w");
    std::fs::rename(&tmp, &w).map_err(|e| op("rename to", &w, e))?;
    let marker = dir.join("nomcast");
    if multicast_route {
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(op("remove", &marker, e)),
            _ => {}
        }
    } else {
        std::fs::write(&marker, b"").map_err(|e| op("write", &marker, e))?;
    }
    Ok(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_a_static_executable_and_the_marker() {
        let dir = std::env::temp_dir().join(format!("weavewait-test-{}", std::process::id()));
        let got = install(&dir, false).unwrap();
        let w = std::fs::read(got.join("w")).unwrap();
        assert_eq!(&w[..4], b"\x7fELF");
        // No PT_INTERP program header: no dynamic loader needed (static).
        let u16_at = |o: usize| u16::from_le_bytes([w[o], w[o + 1]]) as usize;
        let phoff = u64::from_le_bytes(w[0x20..0x28].try_into().unwrap()) as usize;
        let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
        assert!(phnum > 0);
        for i in 0..phnum {
            let at = phoff + i * phentsize;
            let p_type = u32::from_le_bytes(w[at..at + 4].try_into().unwrap());
            assert_ne!(p_type, 3, "weavewait has a PT_INTERP header: it is not static");
        }
        assert!(got.join("nomcast").exists());
        install(&dir, true).unwrap();
        assert!(!got.join("nomcast").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
