//! The library half of weave-cli: the CNI plugins `weave-net` and `weave-ipam`, whose thin
//! binaries live in `src/bin/`. The `weave` command itself is `src/main.rs`.

pub mod cni;
