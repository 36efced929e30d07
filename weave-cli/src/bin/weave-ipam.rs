//! `weave-ipam`: the CNI IPAM plugin that hands out addresses from weave's IPAM.

fn main() {
    weave_cli::cni::main(weave_cli::cni::Plugin::Ipam)
}
