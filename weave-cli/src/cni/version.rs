//! CNI spec versions: which ones the plugins speak and what each allows.

use super::error::CniError;
use std::fmt;

/// A spec version a runtime may ask for. Ordered oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V0_1_0,
    V0_2_0,
    V0_3_0,
    V0_3_1,
    V0_4_0,
    V1_0_0,
    V1_1_0,
}

impl Version {
    pub const ALL: [Version; 7] = [
        Version::V0_1_0,
        Version::V0_2_0,
        Version::V0_3_0,
        Version::V0_3_1,
        Version::V0_4_0,
        Version::V1_0_0,
        Version::V1_1_0,
    ];
    /// The newest version, answered when a request names none that can be read.
    pub const CURRENT: Version = Version::V1_1_0;

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
            Version::V0_3_0 => "0.3.0",
            Version::V0_3_1 => "0.3.1",
            Version::V0_4_0 => "0.4.0",
            Version::V1_0_0 => "1.0.0",
            Version::V1_1_0 => "1.1.0",
        }
    }

    /// The version a configuration declares. An absent or empty `cniVersion` means 0.1.0,
    /// as libcni reads it; anything not in [`Version::ALL`] is refused with code 1.
    pub fn from_config(declared: Option<&str>) -> Result<Version, CniError> {
        let s = declared.unwrap_or("");
        if s.is_empty() {
            return Ok(Version::V0_1_0);
        }
        Version::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            CniError::incompatible_version(format!(
                "the configuration declares cniVersion {s:?}, which this plugin does not speak; it speaks {}: declare one of those in the network configuration",
                supported().join(", ")
            ))
        })
    }

    /// The result has `interfaces` and `ips` (0.3.0 on) rather than `ip4`/`ip6`.
    pub fn has_rich_result(self) -> bool {
        self >= Version::V0_3_0
    }

    /// `ips` entries carry `version` ("4"/"6") before 1.0.0.
    pub fn ips_have_version(self) -> bool {
        (Version::V0_3_0..Version::V1_0_0).contains(&self)
    }

    /// CHECK exists from 0.4.0.
    pub fn has_check(self) -> bool {
        self >= Version::V0_4_0
    }

    /// STATUS and GC exist from 1.1.0, as do interface `mtu`/`socketPath`/`pciID` and the
    /// route fields beyond `dst` and `gw`.
    pub fn has_status_and_gc(self) -> bool {
        self >= Version::V1_1_0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every version the plugins speak, as VERSION lists them.
pub fn supported() -> Vec<&'static str> {
    Version::ALL.iter().map(|v| v.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_released_version_is_spoken_and_nothing_else() {
        assert_eq!(supported(), ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
        for v in Version::ALL {
            assert_eq!(Version::from_config(Some(v.as_str())).unwrap(), v);
        }
        assert_eq!(Version::from_config(None).unwrap(), Version::V0_1_0);
        assert_eq!(Version::from_config(Some("")).unwrap(), Version::V0_1_0);
        for bad in ["0.3.2", "1.2.0", "2.0.0", "v1.0.0", "1.0"] {
            let e = Version::from_config(Some(bad)).unwrap_err();
            assert_eq!(e.code, 1, "{bad}");
            assert!(e.details.contains("1.1.0"), "{e:?}");
        }
    }

    #[test]
    fn features_follow_the_spec_history() {
        assert!(!Version::V0_2_0.has_rich_result() && Version::V0_3_0.has_rich_result());
        assert!(Version::V0_4_0.ips_have_version() && !Version::V1_0_0.ips_have_version());
        assert!(!Version::V0_3_1.has_check() && Version::V0_4_0.has_check());
        assert!(!Version::V1_0_0.has_status_and_gc() && Version::V1_1_0.has_status_and_gc());
    }
}
