//! The address arguments of attach, detach, expose and hide, as Weave: `net:default`,
//! `net:CIDR` (from IPAM), `ip:CIDR` or `CIDR` (explicit).

use super::error::AttachError;
use crate::ipam::parse_subnet;
use weave_ipam::Cidr;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AddrSpec {
    /// `net:default`: an address in IPAM's default subnet.
    Default,
    /// `net:CIDR`: an address in that subnet.
    Net(Cidr),
    /// An explicit address with its prefix length.
    Ip(Cidr),
}

pub fn parse_spec(s: &str) -> Result<AddrSpec, AttachError> {
    if s == "net:default" {
        return Ok(AddrSpec::Default);
    }
    if let Some(net) = s.strip_prefix("net:") {
        return parse_subnet(net)
            .map(AddrSpec::Net)
            .map_err(|e| AttachError::BadAddress(format!("{s}: {e}")));
    }
    let cidr = s.strip_prefix("ip:").unwrap_or(s);
    cidr.parse::<Cidr>().map(AddrSpec::Ip).map_err(|_| {
        AttachError::BadAddress(format!(
            "invalid address {s:?}: expected net:default, net:CIDR, ip:CIDR or CIDR, such as 10.32.0.5/12"
        ))
    })
}

pub fn parse_specs(specs: &[String]) -> Result<Vec<AddrSpec>, AttachError> {
    specs.iter().map(|s| parse_spec(s)).collect()
}

/// For attach and expose: no address given means `net:default`.
pub fn parse_specs_or_default(specs: &[String]) -> Result<Vec<AddrSpec>, AttachError> {
    if specs.is_empty() {
        return Ok(vec![AddrSpec::Default]);
    }
    parse_specs(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_arguments_parse_as_weave() {
        assert_eq!(parse_spec("net:default").unwrap(), AddrSpec::Default);
        assert_eq!(parse_spec("net:10.32.0.0/24").unwrap(), AddrSpec::Net("10.32.0.0/24".parse().unwrap()));
        assert_eq!(parse_spec("ip:10.32.0.5/12").unwrap(), AddrSpec::Ip("10.32.0.5/12".parse().unwrap()));
        assert_eq!(parse_spec("10.32.0.5/12").unwrap(), AddrSpec::Ip("10.32.0.5/12".parse().unwrap()));
        let err = |s: &str| parse_spec(s).unwrap_err().to_string();
        assert!(err("net:10.32.0.1/24").contains("bits after network prefix are not all zero"));
        assert!(err("net:10.32.0.0/31").contains("smaller than minimum size 4"));
        assert!(err("10.32.0.5").contains("expected net:default"));
        assert!(parse_spec("ip:999.1.1.1/8").is_err());
        assert_eq!(parse_specs_or_default(&[]).unwrap(), [AddrSpec::Default]);
    }
}
