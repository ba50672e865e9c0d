//! The `rhizome` command line: `keygen`, `id`, `listen`, `dial`, `demo`.
//!
//! `listen` and `dial` always print JSON lines (every line has `"event"` and
//! `"impl":"rhizome"`), because scripts and test harnesses read them; the other
//! commands print text on a terminal and JSON lines with `--json` or when piped.
//! Diagnostics go to stderr. Exit codes: 0 success, 1 failure, 2 bad arguments.

#![allow(unreachable_pub)] // binary-support crate: items are `pub` for the modules, not for users

mod args;
mod demo;
mod dial;
mod kad;
mod keys;
mod listen;
mod output;
mod peer;
mod swarm;
mod swarm_io;

use std::process::ExitCode;

use clap::Parser as _;

pub use args::{Cli, Command, SwarmCommand};
pub use peer::{ECHO_BYTES, ECHO_PROTOCOL};

fn init_logging(verbose: u8) {
    // The yamux crate logs a remote's protocol violations at ERROR; our driver closes
    // such a connection and logs it once at debug, so the crate's lines stay below -v.
    let default = match verbose {
        0 => "warn,yamux=off",
        1 => "debug,yamux=warn",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse(); // exits with code 2 on bad arguments
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rhizome: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let ok = runtime.block_on(run(cli));
    // Background tasks of dropped nodes must not hold the process open.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Runs a parsed command; returns whether it succeeded.
pub async fn run(cli: Cli) -> bool {
    let out = output::Out::new(cli.json);
    let result = match cli.command {
        Command::Keygen { out: path, force } => keys::keygen(&path, force, out),
        Command::Id(args) => keys::id(&args, cli.json),
        Command::Listen(args) => listen::run(args, output::Out::json()).await,
        Command::Dial(args) => return dial::run(args, output::Out::json()).await,
        Command::Demo => demo::run(out).await,
        Command::Swarm(cmd) => return swarm::run(cmd, output::Out::json()).await,
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            eprintln!("rhizome: {e:#}");
            false
        }
    }
}
