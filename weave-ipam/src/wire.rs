//! Weave's gob shapes for IPAM, field for field (names and order as the Go structs declare them;
//! struct type names as weaver announces them, some empty). Peer names are plain `uint64` here;
//! the domain modules convert to and from their own types.

use std::collections::BTreeMap;

use weave_wire::gob_struct;

gob_struct! {
    /// `ipam.gossipState`.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct GossipStateW = "gossipState" {
        pub now: i64 = "Now",
        pub nicknames: Option<BTreeMap<u64, String>> = "Nicknames",
        pub paxos: Option<BTreeMap<NodeIdW, NodeClaimsW>> = "Paxos",
        pub ring: Option<RingW> = "Ring",
    }
}

gob_struct! {
    /// `paxos.NodeID` (sent with an empty type name).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
    pub struct NodeIdW = "" {
        pub name: u64 = "Name",
        pub uid: u64 = "UID",
    }
}

gob_struct! {
    /// `paxos.NodeClaims` (sent with an empty type name).
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct NodeClaimsW = "" {
        pub promise: ProposalIdW = "Promise",
        pub accepted: ProposalIdW = "Accepted",
        pub accepted_val: AcceptedValueW = "AcceptedVal",
    }
}

gob_struct! {
    /// `paxos.ProposalID`.
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct ProposalIdW = "ProposalID" {
        pub round: u64 = "Round",
        pub proposer: NodeIdW = "Proposer",
    }
}

gob_struct! {
    /// `paxos.AcceptedValue`.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct AcceptedValueW = "AcceptedValue" {
        pub value: Vec<u64> = "Value",
        pub origin: ProposalIdW = "Origin",
    }
}

gob_struct! {
    /// `ring.Ring`.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct RingW = "Ring" {
        pub start: u32 = "Start",
        pub end: u32 = "End",
        pub peer: u64 = "Peer",
        pub entries: Vec<EntryW> = "Entries",
        pub seeds: Vec<u64> = "Seeds",
    }
}

gob_struct! {
    /// `ring.entry` (sent with an empty type name).
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct EntryW = "" {
        pub token: u32 = "Token",
        pub peer: u64 = "Peer",
        pub version: u32 = "Version",
        pub free: u32 = "Free",
    }
}

gob_struct! {
    /// `address.Range`, the body of SpaceRequest / SpaceRequestDenied.
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct RangeW = "Range" {
        pub start: u32 = "Start",
        pub end: u32 = "End",
    }
}

gob_struct! {
    /// `address.CIDR`, as stored in Weave's `ownedAddresses` db value.
    #[derive(Debug, Clone, Copy, PartialEq, Default)]
    pub struct CidrW = "CIDR" {
        pub addr: u32 = "Addr",
        pub prefix_len: i64 = "PrefixLen",
    }
}

gob_struct! {
    /// `ipam.ownedData`.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct OwnedDataW = "ownedData" {
        pub is_container: bool = "IsContainer",
        pub cidrs: Vec<CidrW> = "Cidrs",
    }
}

gob_struct! {
    /// Our persisted state in one gob value: Weave's three db values (`peername`, `ring`,
    /// `ownedAddresses`) as fields.
    #[derive(Debug, Clone, PartialEq, Default)]
    pub struct PersistedW = "ipamPersisted" {
        pub peer_name: u64 = "PeerName",
        pub ring: Option<RingW> = "Ring",
        pub owned: Option<BTreeMap<String, OwnedDataW>> = "Owned",
    }
}
