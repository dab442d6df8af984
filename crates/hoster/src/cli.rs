//! The `hoster` command line.

use std::io::IsTerminal;

use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{Config, LogFormat};

/// Hoster: a self-hosted deployment platform with a template marketplace.
#[derive(Debug, Parser)]
#[command(name = "hoster", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (every option also reads its HOSTER_* environment variable).
    Serve(Config),
}

/// Parses the command line; a bad option or variable ends the process with one clear line.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", one_line(&e));
            std::process::exit(2);
        }
    }
}

/// clap's first error line, with the environment variable behind the flag named, since that
/// is usually where a bad value came from.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: invalid arguments")
        .to_string();
    let command = Cli::command();
    for arg in command.get_subcommands().flat_map(|c| c.get_arguments()) {
        let (Some(long), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let flag = format!("'--{long} ");
        if let Some(start) = line.find(&flag)
            && let Some(len) = line[start + 1..].find('\'')
        {
            let named = format!("{} (--{long})", env.to_string_lossy());
            line.replace_range(start..start + len + 2, &named);
            break;
        }
    }
    line
}

/// An error and its causes on one line, without the repetition of errors that embed their source.
pub fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOSTER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
