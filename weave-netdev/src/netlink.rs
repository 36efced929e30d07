//! A minimal synchronous rtnetlink client: send one request, collect the ACK or the dump.

use crate::netns::Netns;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;

/// A failed kernel operation: what we tried and what the kernel said.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct NetdevError {
    pub op: String,
    #[source]
    pub source: io::Error,
}

impl NetdevError {
    pub fn new(op: impl Into<String>, source: io::Error) -> NetdevError {
        NetdevError { op: op.into(), source }
    }

    /// The errno, when the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// The file given as a network namespace exists but is something else (a FIFO, a device,
    /// an ordinary file, another kind of namespace).
    pub fn is_not_a_namespace(&self) -> bool {
        self.source.raw_os_error().is_none() && self.source.kind() == io::ErrorKind::InvalidInput
    }
}

/// An rtnetlink socket in the network namespace of the thread that opened it. The socket keeps
/// that namespace for its whole life, whichever thread uses it later.
pub struct Netlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    pub fn open() -> Result<Netlink, NetdevError> {
        let op = |e| NetdevError::new("open rtnetlink socket", e);
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(op)?;
        sock.bind_auto().map_err(op)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(op)?;
        sock.set_ext_ack(true).ok();
        Ok(Netlink { sock, seq: 0, buf: vec![0; 64 * 1024] })
    }

    /// A socket bound in `ns`, opened on a thread that joined it (see [`Netns::run`]).
    pub fn open_in(ns: &Netns) -> Result<Netlink, NetdevError> {
        ns.run(Netlink::open)?.map_err(|e| {
            NetdevError::new(format!("open rtnetlink socket in network namespace {}", ns.label()), e.source)
        })
    }

    /// Sends a request that changes state and waits for the kernel's ACK.
    pub(crate) fn execute(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &dyn Fn() -> String,
    ) -> Result<(), NetdevError> {
        self.send(msg, NLM_F_REQUEST | NLM_F_ACK | flags, op)?;
        self.receive(op).map(|_| ())
    }

    /// Sends a dump request and returns every message of the reply.
    pub(crate) fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
        op: &dyn Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, NetdevError> {
        self.send(msg, NLM_F_REQUEST | NLM_F_DUMP, op)?;
        self.receive(op)
    }

    /// Sends a request that answers with one message (or an error).
    pub(crate) fn query(
        &mut self,
        msg: RouteNetlinkMessage,
        op: &dyn Fn() -> String,
    ) -> Result<Vec<RouteNetlinkMessage>, NetdevError> {
        self.send(msg, NLM_F_REQUEST, op)?;
        self.receive(op)
    }

    fn send(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &dyn Fn() -> String,
    ) -> Result<(), NetdevError> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock.send(&out, 0).map_err(|e| NetdevError::new(op(), e))?;
        Ok(())
    }

    /// Reads replies to the last request until its ACK, error or end of dump.
    fn receive(&mut self, op: &dyn Fn() -> String) -> Result<Vec<RouteNetlinkMessage>, NetdevError> {
        let mut out = Vec::new();
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0).map_err(|e| NetdevError::new(op(), e))?;
            let mut offset = 0;
            while offset < n {
                let bytes = &self.buf[offset..n];
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).map_err(|e| {
                    NetdevError::new(op(), io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                })?;
                let len = msg.header.length as usize;
                let seq = msg.header.sequence_number;
                let multipart = msg.header.flags & netlink_packet_core::NLM_F_MULTIPART != 0;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if seq != self.seq {
                    continue; // a late reply to an earlier request
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => {
                                Err(NetdevError::new(op(), io::Error::from_raw_os_error(-code.get())))
                            }
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if !multipart {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
