//! weaveDNS. So far: reading the upstream servers from resolv.conf.

pub mod resolv;
