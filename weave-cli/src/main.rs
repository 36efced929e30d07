//! `weave`: the command line of weave. Every operation is a call to the daemon's REST API.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod output;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
            eprintln!("weave: {first} (see `weave --help`)");
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let code = rt.block_on(cmd::run(cli));
    std::process::exit(code);
}
