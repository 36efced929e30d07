//! `weave-daemon`: parse flags, set up logging, run the daemon, map errors to exit status 1.

use clap::Parser;
use std::io::IsTerminal;
use weave_daemon::config::Config;

fn main() {
    let mut config = match Config::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            // clap's first line names the flag and the value; the rest is boilerplate.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("weave-daemon: {}", first.trim_start_matches("error: "));
            std::process::exit(1);
        }
    };
    // Logging first: the checks warn (a short password, a seed list without this peer).
    init_logging(&config.log_level);
    if let Err(e) = config.validate() {
        eprintln!("weave-daemon: {e}");
        std::process::exit(1);
    }
    if let Err(e) = weave_daemon::daemon::run(config) {
        eprintln!("weave-daemon: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging(level: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("WEAVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},hyper=warn,h2=warn")));
    // The Docker client logs every request and answer body at debug; that is its own level.
    if !std::env::var("WEAVE_LOG").unwrap_or_default().contains("bollard") {
        filter = filter.add_directive("bollard=info".parse().expect("constant directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
