//! The `signet` binary: parse the command line, load configuration, run.

use std::process::ExitCode;

use clap::Parser;
use signet::cli::{self, Cli, Command};
use signet::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Cli::parse();
    let config = match Config::load(args.config.as_deref()) {
        Ok(config) => config,
        Err(error) => return fail(&error.to_string(), 1),
    };
    let command = args.command.unwrap_or(Command::Serve);
    init_logs(&config, matches!(command, Command::Serve));
    match cli::run(config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string(), error.exit_code()),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("signet: {message}");
    ExitCode::from(code)
}

/// The server logs per configuration; other commands log warnings only, to
/// stderr, so their standard output stays clean for scripts.
fn init_logs(config: &Config, serving: bool) {
    let filter = if serving { config.log.as_str() } else { "warn" };
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}
