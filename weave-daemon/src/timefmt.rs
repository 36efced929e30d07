//! Wall-clock formatting in the shapes Weave's outputs use (Go's `time.Time` formats), without a
//! calendar dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's method).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn parts(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, da) = civil((secs / 86_400) as i64);
    let s = secs % 86_400;
    (y, mo, da, s / 3600, (s / 60) % 60, s % 60, d.subsec_nanos())
}

/// Go's `Time.String()` in UTC: `2026-11-27 18:26:56.430120892 +0000 UTC`.
pub fn go_string(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ns) = parts(t);
    let frac = if ns == 0 { String::new() } else { format!(".{ns:09}").trim_end_matches('0').to_string() };
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}{frac} +0000 UTC")
}

/// RFC 3339 with nanoseconds, as Go's JSON encoding of `time.Time`.
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ns) = parts(t);
    let frac = if ns == 0 { String::new() } else { format!(".{ns:09}").trim_end_matches('0').to_string() };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_go() {
        // 2026-11-27T18:38:30.370038255Z, seen in the captured report.
        let t = UNIX_EPOCH + Duration::new(1_795_804_710, 370_038_255);
        assert_eq!(rfc3339(t), "2026-11-27T18:38:30.370038255Z");
        assert_eq!(go_string(t), "2026-11-27 18:38:30.370038255 +0000 UTC");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(go_string(UNIX_EPOCH + Duration::new(0, 500_000_000)), "1970-01-01 00:00:00.5 +0000 UTC");
    }
}
