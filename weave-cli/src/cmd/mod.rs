//! One module per subcommand; each has an `exec` returning success or a [`Failure`].

mod attach;
mod cni;
mod connect;
mod demo;
mod dns;
mod env;
mod ipam;
mod launch;
mod policy;
mod reset;
mod service;
mod status;
mod stop;
mod top;
mod version;

use crate::cli::{Cli, Command, IpamAction};
use crate::output::Failure;
use weave_api::Client;

pub async fn run(cli: Cli) -> i32 {
    let client = Client::new(&cli.http_addr);
    let result = match cli.command {
        Command::Launch { args } => launch::exec(&client, args).await,
        Command::Stop => stop::exec(&client).await,
        Command::Status { view, output } => status::exec(&client, view, output.output).await,
        Command::Report { format } => status::report(&client, format.as_deref()).await,
        Command::Version { output } => version::exec(&client, output.output).await,
        Command::Connect { replace, peers } => connect::connect(&client, &peers, replace).await,
        Command::Forget { peers } => connect::forget(&client, &peers).await,
        Command::Attach { without_dns, no_multicast_route, namespace, labels, ports, args } => {
            let meta = attach::Meta { namespace, labels, ports };
            attach::attach(&client, args, without_dns, no_multicast_route, meta).await
        }
        Command::Detach { args } => attach::detach(&client, args).await,
        Command::Expose { fqdn, without_masquerade, addrs } => {
            attach::expose(&client, addrs, fqdn, without_masquerade).await
        }
        Command::Hide { addrs } => attach::hide(&client, addrs).await,
        Command::Ps { targets, output } => attach::ps(&client, &targets, output.output).await,
        Command::Prime => ipam::prime(&client).await,
        Command::Rmpeer { force, peers } => ipam::rmpeer(&client, &peers, force).await,
        Command::Reset { force, data_dir, cni } => reset::exec(&client, force, &data_dir, &cni).await,
        Command::SetupCni { cni: dirs } => cni::setup(&dirs.cni_bin_dir, &dirs.cni_conf_dir),
        Command::Ipam { action: IpamAction::Check { output } } => ipam::check(&client, output.output).await,
        Command::Demo { action } => demo::exec(action).await,
        Command::Top => top::exec(&client),
        Command::Service { action } => service::exec(&client, action).await,
        Command::Policy { action } => policy::exec(&client, action).await,
        Command::DnsAdd { args } => dns::add(&client, &args).await,
        Command::DnsRemove { args } => dns::remove(&client, &args).await,
        Command::DnsLookup { name } => dns::lookup(&client, &name).await,
        Command::Env { restore } => env::env(&client, restore).await,
        Command::Config => env::config(&client).await,
        Command::DnsArgs => env::dns_args(&client).await,
    };
    match result {
        Ok(()) => 0,
        Err(Failure { message, code }) => {
            eprintln!("weave: {message}");
            code
        }
    }
}
