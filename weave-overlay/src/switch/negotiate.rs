//! Which overlays a connection runs, from both ends' `Overlays` features.

/// The agreed overlays, in the order both ends use (a control message names its forwarder by
/// its index in this list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Weave's compat mode (the peer sent no list): sleeve alone, with raw control tags 1-3.
    pub compat: bool,
    pub overlays: Vec<String>,
}

/// Control messages carry the forwarder's index in one byte.
const MAX_OVERLAYS: usize = 256;

/// The dialling side's preference among the overlays both offer, each once: a peer that lists
/// one twice must not get two forwarders of it (two sleeve forwarders on one connection would
/// share the session key and both count nonces from zero). Without the peer's list (Weave's
/// compat mode), sleeve.
pub fn negotiate(ours: &[String], theirs: Option<&[String]>, outbound: bool) -> Result<Negotiated, String> {
    let Some(theirs) = theirs else {
        return Ok(Negotiated { compat: true, overlays: vec!["sleeve".to_string()] });
    };
    let order = if outbound { ours } else { theirs };
    let mut overlays: Vec<String> = Vec::new();
    for o in order {
        if ours.contains(o) && theirs.contains(o) && !overlays.contains(o) && overlays.len() < MAX_OVERLAYS {
            overlays.push(o.clone());
        }
    }
    if overlays.is_empty() {
        return Err("no overlays in common with peer".into());
    }
    Ok(Negotiated { compat: false, overlays })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_duplicated_overlay_list_runs_each_overlay_once() {
        let ours = list(&["fastdp", "sleeve"]);
        for outbound in [false, true] {
            let theirs = list(&["sleeve", "fastdp", "sleeve", "fastdp", "sleeve"]);
            let got = negotiate(&ours, Some(&theirs), outbound).unwrap().overlays;
            let want = if outbound { list(&["fastdp", "sleeve"]) } else { list(&["sleeve", "fastdp"]) };
            assert_eq!(got, want, "outbound {outbound}");
        }
    }

    #[test]
    fn the_dialling_side_orders_and_no_fastdp_on_either_end_means_sleeve() {
        let both = list(&["fastdp", "sleeve"]);
        let sleeve = list(&["sleeve"]);
        let n =
            |ours: &[String], theirs: &[String], out| negotiate(ours, Some(theirs), out).unwrap().overlays;
        assert_eq!(n(&both, &both, true), both);
        assert_eq!(n(&both, &list(&["sleeve", "fastdp"]), false), list(&["sleeve", "fastdp"]));
        // --no-fastdp here, or there.
        for out in [false, true] {
            assert_eq!(n(&sleeve, &both, out), sleeve);
            assert_eq!(n(&both, &sleeve, out), sleeve);
        }
        assert_eq!(
            negotiate(&both, Some(&list(&["wireguard"])), true).unwrap_err(),
            "no overlays in common with peer"
        );
        let compat = negotiate(&both, None, false).unwrap();
        assert!(compat.compat);
        assert_eq!(compat.overlays, sleeve);
    }
}
