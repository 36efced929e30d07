//! Packets the firewall logs to an NFLOG group (nfnetlink_log), read from a netlink socket in
//! the caller's network namespace: how weave records the packets its policy rules drop.

use crate::NetdevError;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    config_request, ConfigCmd, ConfigMode, CopyMode, PacketNla, ULogMessage,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{constants::NETLINK_NETFILTER, Socket};

/// One logged packet: the rule's prefix and the start of the packet (from the IP header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedPacket {
    pub prefix: String,
    pub payload: Vec<u8>,
}

/// A socket bound to one NFLOG group.
pub struct Nflog {
    sock: Socket,
    buf: Vec<u8>,
}

fn err(op: &str, e: impl std::fmt::Display) -> NetdevError {
    NetdevError::new(op, std::io::Error::other(e.to_string()))
}

impl Nflog {
    /// Binds `group`, copying at most `copy` bytes of each packet.
    pub fn bind(group: u16, copy: u32) -> Result<Nflog, NetdevError> {
        let op = format!("bind NFLOG group {group}");
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| NetdevError::new(&op, e))?;
        sock.bind_auto().map_err(|e| NetdevError::new(&op, e))?;
        let mut me = Nflog { sock, buf: vec![0; 65536] };
        me.request(&op, config_request(NetfilterProtoFamily::IPv4, group, vec![ConfigCmd::Bind.into()]))?;
        me.request(
            &op,
            config_request(
                NetfilterProtoFamily::Unspec,
                group,
                vec![ConfigMode::new(copy, CopyMode::Packet).into()],
            ),
        )?;
        Ok(me)
    }

    fn request(&mut self, op: &str, msg: NetlinkMessage<NetfilterMessage>) -> Result<(), NetdevError> {
        let mut out = vec![0; msg.header.length as usize];
        msg.serialize(&mut out);
        self.sock.send(&out, 0).map_err(|e| NetdevError::new(op, e))?;
        let n = self.sock.recv(&mut &mut self.buf[..], 0).map_err(|e| NetdevError::new(op, e))?;
        let reply =
            NetlinkMessage::<NetfilterMessage>::deserialize(&self.buf[..n]).map_err(|e| err(op, e))?;
        if let NetlinkPayload::Error(e) = reply.payload {
            if let Some(code) = e.code {
                return Err(NetdevError::new(op, std::io::Error::from_raw_os_error(-code.get())));
            }
        }
        Ok(())
    }

    /// Blocks until packets arrive; returns those of one datagram. A receive queue overflow
    /// (the kernel dropped log messages) returns an empty list: logging is best effort.
    pub fn recv(&mut self) -> Result<Vec<LoggedPacket>, NetdevError> {
        let n = match self.sock.recv(&mut &mut self.buf[..], 0) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(vec![]),
            Err(e) => return Err(NetdevError::new("receive NFLOG packets", e)),
        };
        let mut out = Vec::new();
        let mut off = 0;
        while off < n {
            let Ok(msg) = NetlinkMessage::<NetfilterMessage>::deserialize(&self.buf[off..n]) else { break };
            let len = msg.header.length as usize;
            if let NetlinkPayload::InnerMessage(NetfilterMessage {
                inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
                ..
            }) = msg.payload
            {
                let mut p = LoggedPacket { prefix: String::new(), payload: Vec::new() };
                for nla in nlas {
                    match nla {
                        PacketNla::Prefix(s) => p.prefix = s.to_string_lossy().into_owned(),
                        PacketNla::Payload(b) => p.payload = b,
                        _ => {}
                    }
                }
                out.push(p);
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
        Ok(out)
    }
}
