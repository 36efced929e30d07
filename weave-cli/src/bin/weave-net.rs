//! `weave-net`: the CNI plugin that puts containers on the weave network.

fn main() {
    weave_cli::cni::main(weave_cli::cni::Plugin::Net)
}
