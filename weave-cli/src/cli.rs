//! The command line: global options and one subcommand per operation.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "weave",
    version,
    about = "Manage a weave network: one virtual Ethernet switch across hosts"
)]
pub struct Cli {
    /// Address of the daemon's REST API
    #[arg(long, global = true, env = weave_api::HTTP_ADDR_ENV, default_value = weave_api::DEFAULT_HTTP_ADDR)]
    pub http_addr: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start weave-daemon in the background and wait until it is ready
    #[command(disable_help_flag = true)]
    Launch {
        /// Flags for weave-daemon (see `weave-daemon --help`) and peers to connect to
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "DAEMON FLAGS] [PEER")]
        args: Vec<String>,
    },
    /// Stop the daemon; attached containers keep their interfaces and addresses
    Stop,
    /// Show the status of this peer, or one view of it
    Status {
        #[arg(value_enum)]
        view: Option<StatusView>,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Show the full state as Weave Net's report JSON, or through a Go template
    Report {
        /// A Go template over the report, e.g. '{{.Router.Name}}'
        #[arg(short = 'f', long = "format")]
        format: Option<String>,
    },
    /// Show the versions of this command and of the daemon
    Version {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Add connection targets (persisted); with --replace, make them the only ones
    Connect {
        #[arg(long)]
        replace: bool,
        /// HOST or HOST:PORT
        #[arg(value_name = "PEER")]
        peers: Vec<String>,
    },
    /// Remove connection targets (persisted); existing connections stay up
    Forget {
        #[arg(value_name = "PEER", required = true)]
        peers: Vec<String>,
    },
    /// Give TARGET an interface on the weave network; prints its addresses
    Attach {
        /// Do not register the target's name in weaveDNS
        #[arg(long)]
        without_dns: bool,
        /// Do not route multicast (224.0.0.0/4) over the weave interface
        #[arg(long)]
        no_multicast_route: bool,
        /// The target's namespace for network policy (default: `default`)
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// A label network policy selects the target by (repeatable)
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        /// A named port, for policies that name ports (repeatable)
        #[arg(long = "port", value_name = "NAME=PORT[/tcp|udp|sctp]")]
        ports: Vec<String>,
        /// ADDR... then TARGET: ADDR is net:default, net:CIDR, ip:CIDR or CIDR; TARGET is a
        /// Docker container (id, short id, name, or docker:NAME), netns:NAME, pid:PID or a
        /// network namespace path
        #[arg(value_name = "ADDR|TARGET", required = true)]
        args: Vec<String>,
    },
    /// Remove addresses (all when none are given) from TARGET
    Detach {
        #[arg(value_name = "ADDR|TARGET", required = true)]
        args: Vec<String>,
    },
    /// Give this host addresses on the weave network (net:default when none are given), with
    /// NAT; prints them
    #[command(disable_help_flag = true)]
    Expose {
        /// Register this name in weaveDNS for the addresses
        #[arg(short = 'h', long = "fqdn", value_name = "FQDN")]
        fqdn: Option<String>,
        /// Do not masquerade traffic between the exposed subnets and elsewhere
        #[arg(long)]
        without_masquerade: bool,
        /// net:default, net:CIDR, ip:CIDR or CIDR
        #[arg(value_name = "ADDR")]
        addrs: Vec<String>,
    },
    /// Take exposed addresses away from this host (all when none are given); prints them
    Hide {
        #[arg(value_name = "ADDR")]
        addrs: Vec<String>,
    },
    /// List attached targets: id, MAC, addresses
    Ps {
        #[arg(value_name = "TARGET")]
        targets: Vec<String>,
        #[command(flatten)]
        output: OutputArg,
    },
    /// Wait until IPAM consensus is reached
    Prime,
    /// Take over the IPAM space of dead peers; prints `N IPs taken over from PEER`
    Rmpeer {
        /// Take over even from a peer that is reachable (its connections will flap)
        #[arg(long)]
        force: bool,
        /// Peer name or nickname
        #[arg(value_name = "PEER", required = true)]
        peers: Vec<String>,
    },
    /// Hand IPAM space to a live peer, stop, and remove the bridge, devices, firewall rules
    /// and persisted data
    Reset {
        /// Clean up even when no daemon runs (its space cannot be handed over then)
        #[arg(long)]
        force: bool,
        /// Where the stopped daemon kept its data (with --force and no daemon running)
        #[arg(long, default_value = "/var/lib/weave")]
        data_dir: std::path::PathBuf,
        #[command(flatten)]
        cni: CniDirs,
    },
    /// Install the CNI plugins weave-net and weave-ipam and the network configuration
    /// 10-weave.conflist (network "weave"), for podman, Kubernetes and other CNI runtimes
    #[command(name = "setup-cni")]
    SetupCni {
        #[command(flatten)]
        cni: CniDirs,
    },
    /// IP address management
    Ipam {
        #[command(subcommand)]
        action: IpamAction,
    },
    /// A local cluster in network namespaces, for trying weave on one machine
    Demo {
        #[command(subcommand)]
        action: DemoAction,
    },
    /// A live full-screen dashboard of the network
    Top,
    /// Services: export a container's port to the outside, import an outside service into
    /// the weave network, bind a container's port to a weave address of its own
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Network policy in Kubernetes' NetworkPolicy format, on every host
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Register names in weaveDNS: [IP...] TARGET [-h FQDN], or IP... -h FQDN
    #[command(name = "dns-add", disable_help_flag = true)]
    DnsAdd {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "IP|TARGET|-h FQDN")]
        args: Vec<String>,
    },
    /// Remove names from weaveDNS: [IP...] TARGET [-h FQDN], or IP... -h FQDN
    #[command(name = "dns-remove", disable_help_flag = true)]
    DnsRemove {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "IP|TARGET|-h FQDN")]
        args: Vec<String>,
    },
    /// Ask weaveDNS for a name's addresses
    #[command(name = "dns-lookup")]
    DnsLookup { name: String },
    /// Print the shell commands that point Docker clients at the proxy: eval $(weave env)
    Env {
        /// Print the commands that point them back where they were
        #[arg(long)]
        restore: bool,
    },
    /// Print the docker flag that points at the proxy: docker $(weave config) ...
    Config,
    /// Print the docker flags that make weaveDNS a container's resolver
    #[command(name = "dns-args")]
    DnsArgs,
}

#[derive(Subcommand, Debug)]
pub enum DemoAction {
    /// Create N hosts, each with a weave daemon and a container, all connected
    Up {
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=20))]
        hosts: u8,
        /// Flags for every daemon (e.g. --password=secret)
        #[arg(long = "daemon-flag", value_name = "FLAG", allow_hyphen_values = true)]
        daemon_flags: Vec<String>,
    },
    /// Remove the demo cluster
    Down,
}

#[derive(Subcommand, Debug)]
pub enum ServiceAction {
    /// Let outside clients reach TARGET's port through this host; prints the id and the
    /// host's weave address towards the target
    Export {
        /// TARGET:PORT[/tcp|udp]; TARGET is a target attached here (netns:NAME, a container)
        /// or any container's weave address
        #[arg(value_name = "TARGET:PORT[/PROTO]")]
        target: String,
        /// [HOSTADDR:]PORT: the port on this host (on HOSTADDR only, when given)
        #[arg(long, value_name = "[HOSTADDR:]PORT")]
        publish: String,
    },
    /// Let containers on every host reach ADDR:PORT (reachable from this host) at a weave
    /// address and name; prints the id and the weave address
    #[command(disable_help_flag = true)]
    Import {
        #[arg(value_name = "ADDR:PORT[/PROTO]")]
        address: String,
        /// [WEAVEIP[/LEN]:]PORT: the weave address (from IPAM when left out) and port
        #[arg(long = "as", value_name = "[WEAVEIP:]PORT")]
        r#as: String,
        /// Register this name in weaveDNS for the weave address
        #[arg(short = 'h', long = "fqdn", value_name = "NAME")]
        fqdn: Option<String>,
    },
    /// Let TARGET's port also answer at a weave address of its own, on every host; prints
    /// the id and the weave address
    #[command(disable_help_flag = true)]
    Bind {
        /// TARGET:PORT[/tcp|udp]; TARGET is attached on this host
        #[arg(value_name = "TARGET:PORT[/PROTO]")]
        target: String,
        #[arg(long = "as", value_name = "[WEAVEIP:]PORT")]
        r#as: String,
        #[arg(short = 'h', long = "fqdn", value_name = "NAME")]
        fqdn: Option<String>,
    },
    /// List the services of this host
    Ls {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Remove services: their rules, weave addresses and names
    Rm {
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// Add or replace the NetworkPolicy documents of FILE (YAML or JSON; `-` reads stdin) on
    /// every host; all or none
    Apply {
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: String,
    },
    /// Delete policies on every host: NAME (namespace `default`) or NAMESPACE/NAME
    Delete {
        #[arg(value_name = "NAME", required = true)]
        names: Vec<String>,
    },
    /// List the policies: name, selector, rules, targets selected
    Ls {
        #[command(flatten)]
        output: OutputArg,
    },
    /// The packets this host's policy rules dropped lately
    Drops {
        #[command(flatten)]
        output: OutputArg,
    },
    /// Set an attached target's labels (replacing them) and, with --namespace, its namespace,
    /// on every host; prints the target as policy sees it
    Label {
        /// A target id as `weave ps` shows it (a container's id, netns:NAME, ...)
        target: String,
        /// The target's namespace for network policy
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// The labels; none removes them all
        #[arg(value_name = "K=V")]
        labels: Vec<String>,
    },
    /// Set a namespace's labels (replacing them), on every host, for namespaceSelector
    Namespace {
        name: String,
        #[arg(value_name = "K=V")]
        labels: Vec<String>,
    },
    /// Whether a connection from SRC to DST would be allowed, and by which rule
    Why {
        /// A target id (as `weave ps` shows it) or an address
        src: String,
        /// A target id or an address
        dst: String,
        #[arg(value_name = "PORT[/tcp|udp|sctp]")]
        port: String,
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum IpamAction {
    /// Find space owned by unreachable peers and addresses owned by targets that no longer
    /// exist, each with the command that fixes it
    Check {
        #[command(flatten)]
        output: OutputArg,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum StatusView {
    Targets,
    Connections,
    Peers,
    Dns,
    Ipam,
}

/// Where CNI plugins and network configurations live.
#[derive(Args, Debug, Clone)]
pub struct CniDirs {
    /// Directory of CNI plugin binaries
    #[arg(long, default_value = "/opt/cni/bin", value_name = "DIR")]
    pub cni_bin_dir: std::path::PathBuf,
    /// Directory of CNI network configurations
    #[arg(long, default_value = "/etc/cni/net.d", value_name = "DIR")]
    pub cni_conf_dir: std::path::PathBuf,
}

#[derive(Args, Debug, Clone, Copy)]
pub struct OutputArg {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Output {
    Text,
    Json,
}
