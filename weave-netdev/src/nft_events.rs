//! Changes to this namespace's nftables ruleset, as the kernel announces them on nftables'
//! netlink multicast group. Lets a keeper of rules re-check them when something changed (a
//! firewall reload, `nft flush ruleset`) instead of running `nft` every few seconds: in a big
//! mesh of small hosts those runs were most of an idle daemon's work.

use crate::NetdevError;
use netlink_sys::{constants::NETLINK_NETFILTER, Socket};

/// `NFNLGRP_NFTABLES` (linux/netfilter/nfnetlink.h).
const NFNLGRP_NFTABLES: u32 = 7;

pub struct RulesetEvents {
    sock: Socket,
    buf: Vec<u8>,
}

impl RulesetEvents {
    /// Subscribes to the ruleset changes of the calling thread's network namespace.
    pub fn subscribe() -> Result<RulesetEvents, NetdevError> {
        let op = "subscribe to nftables ruleset changes";
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| NetdevError::new(op, e))?;
        sock.bind_auto().map_err(|e| NetdevError::new(op, e))?;
        sock.add_membership(NFNLGRP_NFTABLES).map_err(|e| NetdevError::new(op, e))?;
        Ok(RulesetEvents { sock, buf: vec![0; 16 * 1024] })
    }

    /// Blocks until the ruleset changes. What changed is not decoded: callers re-read what
    /// they keep. A receive queue overflow counts as a change (some were missed).
    pub fn wait(&mut self) -> Result<(), NetdevError> {
        match self.sock.recv(&mut &mut self.buf[..], 0) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(()),
            Err(e) => Err(NetdevError::new("receive nftables ruleset changes", e)),
        }
    }
}
