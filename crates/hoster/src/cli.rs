//! The `hoster` command line.

use std::io::IsTerminal;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use hoster_core::access::Role;

use crate::config::{Config, LogFormat};
use crate::store::Store;
use crate::tokens;

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
    Serve(Box<Config>),
    /// Manage API tokens, directly on the database (the server may be running or not).
    Token(TokenArgs),
    /// Check what an operator gets wrong (engine, address pools, ports, paths, disk, public
    /// URL) with the settings `serve` would use; exits non-zero on a problem.
    Doctor(Box<Config>),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// SQLite database file of the Hoster whose tokens these are.
    #[arg(long, env = "HOSTER_DATABASE_PATH", default_value = "./hoster.db", global = true)]
    pub database_path: PathBuf,

    /// The key the database's secrets are sealed with, as for `hoster serve`.
    #[arg(long, env = "HOSTER_SECRET_KEY", hide_env_values = true, global = true)]
    pub secret_key: Option<String>,

    #[command(subcommand)]
    pub action: TokenAction,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token; the token itself is printed alone on the last line, this once.
    Create {
        #[arg(long, value_parser = ["admin", "creator", "customer"])]
        role: String,
        /// Whom it acts for: the creator_id or customer_id it owns.
        #[arg(long)]
        subject: String,
        /// A note shown in the token list.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (never their values).
    List,
    /// Revoke a token by id; it stops working at once.
    Revoke { id: String },
}

/// Runs a `hoster token` command; the output is for people and for scripts (`| tail -1`).
pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let store = Store::open_keyed(&args.database_path, args.secret_key.as_deref())
        .await
        .with_context(|| format!("cannot open the database at {}", args.database_path.display()))?;
    let result = async {
        match args.action {
            TokenAction::Create { role, subject, name } => {
                let role = Role::parse(&role).context("unknown role")?;
                let (record, token) = tokens::create(&store, role, &subject, &name, "cli").await?;
                println!("created {} ({} {})", record.id, record.role, record.subject);
                println!("{token}");
            }
            TokenAction::List => {
                for t in store.tokens().await? {
                    let state = t.revoked_at.map_or("live".to_string(), |at| format!("revoked {at}"));
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        t.id, t.role, t.subject, t.created_at, state, t.name
                    );
                }
            }
            TokenAction::Revoke { id } => {
                let revoked = match hoster_core::id::TokenId::parse(&id) {
                    Some(token) => tokens::revoke(&store, &token, "cli").await?,
                    None => false,
                };
                if !revoked {
                    anyhow::bail!("no live token with id `{id}`");
                }
                println!("revoked {id}");
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info,sqlx=warn"))
        // The engine client's debug records hold whole request bodies, containers'
        // environments (and so secret values) included: never below info, whatever HOSTER_LOG says.
        .add_directive("bollard=info".parse().expect("a valid directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
