//! The `hoster` command line.

use std::io::IsTerminal;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use hoster_core::access::Role;

use crate::client::{self, Api};
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
    /// Manage templates through a running Hoster's API.
    Template(TemplateArgs),
    /// Check what an operator gets wrong (engine, address pools, ports, paths, disk, public
    /// URL) with the settings `serve` would use; exits non-zero on a problem.
    Doctor(Box<Config>),
    /// Back up Hoster's own database: a consistent copy of the live file, checked and sealed.
    Backup(BackupArgs),
    /// Put a backup of Hoster's database back (the server must be stopped).
    Restore(RestoreArgs),
    /// Create a deployment of a published template and start it (through the API).
    Deploy {
        /// The template's id.
        template: String,
        #[arg(long)]
        name: String,
        /// The customer it is for (a customer's token implies it).
        #[arg(long)]
        customer: Option<String>,
        /// A variable's value, NAME=VALUE; repeat for more.
        #[arg(long = "var")]
        vars: Vec<String>,
        #[command(flatten)]
        api: Api,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List deployments (through the API).
    Ps {
        #[command(flatten)]
        api: Api,
        #[arg(long)]
        json: bool,
    },
    /// Print a deployment's logs, every service merged in time order.
    Logs {
        deployment: String,
        /// Keep printing lines as they are written, until interrupted.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<u32>,
        /// One service only.
        #[arg(long)]
        service: Option<String>,
        #[command(flatten)]
        api: Api,
    },
    /// Start a deployment and wait until it runs.
    Start(Target),
    /// Stop a deployment and wait until it has stopped.
    Stop(Target),
    /// Restart a running deployment, or one of its services.
    Restart {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        service: Option<String>,
    },
    /// Delete a deployment and everything it has on the engine.
    Rm(Target),
    /// What deployments cost, through the API (an admin's token: everyone's).
    Usage(UsageArgs),
    /// The starter catalog shipped in the binary.
    Catalog(CatalogArgs),
}

#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[command(flatten)]
    pub api: Api,
    #[command(subcommand)]
    pub action: CatalogAction,
}

#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// List the starter templates (no server needed).
    List,
    /// Create and publish the starter templates for a creator through the API; those it has
    /// already (same name and version) are left as they are, published if they were not.
    Import {
        #[arg(long, required_unless_present = "list")]
        creator: Option<String>,
        /// Only list them, as `hoster catalog list` does.
        #[arg(long)]
        list: bool,
    },
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub api: Api,
    #[command(subcommand)]
    pub action: UsageAction,
}

#[derive(Debug, Subcommand)]
pub enum UsageAction {
    /// Each deployment's seconds and amount over a window, for a billing system: CSV (a
    /// header, then one line per deployment) or the API's JSON.
    Export {
        /// The window's start, RFC 3339 (included).
        #[arg(long)]
        from: String,
        /// The window's end, RFC 3339 (excluded).
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value_t = client::ExportFormat::Csv)]
        format: client::ExportFormat,
        /// One customer only.
        #[arg(long)]
        customer: Option<String>,
    },
}

/// One deployment, through the API.
#[derive(Debug, Args)]
pub struct Target {
    pub deployment: String,
    #[command(flatten)]
    pub api: Api,
    /// The API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TemplateArgs {
    #[command(flatten)]
    pub api: Api,
    #[command(subcommand)]
    pub action: TemplateAction,
}

#[derive(Debug, Subcommand)]
pub enum TemplateAction {
    /// Turn a compose file as found into a template (unpublished): FILE, or a DIR holding
    /// compose.yaml or docker-compose.yml. Files beside it that it binds (./nginx.conf) become
    /// config files. Prints what was converted and what stays refused; exits 1 when refused.
    Import {
        path: PathBuf,
        /// Creator the template belongs to (a creator's token implies it).
        #[arg(long)]
        creator: Option<String>,
        /// Template name; default the document's `name:`, else `imported`.
        #[arg(long)]
        name: Option<String>,
        /// Template version (default 1.0.0).
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub what: BackupWhat,
}

#[derive(Debug, Subcommand)]
pub enum BackupWhat {
    /// The database, while the server runs or not; prints where the archive went.
    Db {
        /// A directory or `s3://bucket/prefix`; default HOSTER_BACKUP_S3_URL, else
        /// HOSTER_BACKUP_DIR, else `backups` in the state directory.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        config: Box<Config>,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(subcommand)]
    pub what: RestoreWhat,
}

#[derive(Debug, Subcommand)]
pub enum RestoreWhat {
    /// The database from an archive (`PATH` or `s3://bucket/prefix/NAME.hbk`). It is opened and
    /// checked first; the database it replaces is kept beside it.
    Db {
        from: String,
        #[command(flatten)]
        config: Box<Config>,
    },
}

/// `hoster backup db`.
pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let BackupWhat::Db { to, config } = args.what;
    let destination = match to {
        Some(to) => crate::backup::destination::Destination::parse(&to)?,
        None => config.backup_destination().map_err(anyhow::Error::msg)?,
    };
    let sealer = crate::sealing::Sealer::load_existing(config.secret_key.as_deref(), &config.database_path)
        .map_err(anyhow::Error::msg)?;
    let taken = crate::backup::database::back_up(&config.database_path, &sealer, &destination).await?;
    let size: u64 = taken.manifest.files.iter().map(|f| f.size).sum();
    println!(
        "backed up {} (schema {}, {size} bytes, integrity ok) to {}",
        config.database_path.display(),
        taken.manifest.schema_version.unwrap_or_default(),
        taken.location
    );
    Ok(())
}

/// `hoster restore db`.
pub async fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let RestoreWhat::Db { from, config } = args.what;
    if crate::doctor::hoster_answers(config.server_port).await {
        anyhow::bail!(
            "a Hoster answers on port {}: stop it first (a restore replaces the database under it)",
            config.server_port
        );
    }
    let sealer = crate::sealing::Sealer::load_existing(config.secret_key.as_deref(), &config.database_path)
        .map_err(anyhow::Error::msg)?;
    let restored = crate::backup::database::restore(&config.database_path, &sealer, &from).await?;
    println!(
        "restored {} from {from} (taken {}, schema {})",
        config.database_path.display(),
        restored.manifest.created_at,
        restored.manifest.schema_version.unwrap_or_default()
    );
    if let Some(previous) = restored.previous {
        println!("the database it replaced is at {}", previous.display());
    }
    Ok(())
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
        #[arg(long, value_parser = ["admin", "creator", "customer", "metrics"])]
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

/// Runs one of the API client's commands (`deploy`, `ps`, `logs`, `start`, ...); `None` for
/// any other command.
pub async fn client_command(command: &Command) -> Option<anyhow::Result<()>> {
    Some(match command {
        Command::Deploy {
            template,
            name,
            customer,
            vars,
            api,
            json,
        } => {
            let deploy = client::Deploy {
                template: template.clone(),
                name: name.clone(),
                customer: customer.clone(),
                vars: vars.clone(),
            };
            client::deploy(api, deploy, *json).await
        }
        Command::Ps { api, json } => client::ps(api, *json).await,
        Command::Logs {
            deployment,
            follow,
            tail,
            service,
            api,
        } => client::logs(api, deployment, *follow, *tail, service.as_deref()).await,
        Command::Start(t) => client::act(&t.api, "start", &t.deployment, None, t.json).await,
        Command::Stop(t) => client::act(&t.api, "stop", &t.deployment, None, t.json).await,
        Command::Restart { target: t, service } => {
            client::act(&t.api, "restart", &t.deployment, service.as_deref(), t.json).await
        }
        Command::Rm(t) => client::act(&t.api, "rm", &t.deployment, None, t.json).await,
        Command::Usage(UsageArgs {
            api,
            action:
                UsageAction::Export {
                    from,
                    to,
                    format,
                    customer,
                },
        }) => client::usage_export(api, from, to, *format, customer.as_deref()).await,
        Command::Catalog(CatalogArgs {
            api,
            action:
                CatalogAction::Import {
                    creator: Some(creator),
                    list: false,
                },
        }) => client::catalog_import(api, creator).await,
        Command::Catalog(_) => {
            client::catalog_list();
            Ok(())
        }
        _ => return None,
    })
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
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut line = lines.next().unwrap_or("error: invalid arguments").to_string();
    // "... were not provided:" lists what on the indented lines below it.
    if line.ends_with(':') {
        let listed: Vec<&str> = lines.take_while(|l| l.starts_with(' ')).map(str::trim).collect();
        line = format!("{line} {}", listed.join(", "));
    }
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

/// Names a compose file has in a directory, in the order Compose looks for them.
const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
/// Files sent beside a compose file: at most this many, each at most this large, UTF-8 only.
const MAX_BESIDE_FILES: usize = 100;
const MAX_BESIDE_BYTES: u64 = 256 * 1024;

/// Runs a `hoster template` command against the API.
pub async fn template(args: TemplateArgs) -> anyhow::Result<bool> {
    let TemplateAction::Import {
        path,
        creator,
        name,
        version,
    } = args.action;
    let compose_path = if path.is_dir() {
        COMPOSE_FILES
            .iter()
            .map(|f| path.join(f))
            .find(|p| p.is_file())
            .with_context(|| format!("{} holds none of {}", path.display(), COMPOSE_FILES.join(", ")))?
    } else {
        path.clone()
    };
    let compose =
        std::fs::read_to_string(&compose_path).with_context(|| format!("cannot read {}", compose_path.display()))?;
    let dir = compose_path.parent().map(PathBuf::from).unwrap_or_default();
    let mut files = serde_json::Map::new();
    beside(&dir, &dir, &compose_path, 0, &mut files);
    let body = serde_json::json!({
        "compose": compose, "files": files, "creator_id": creator, "name": name, "version": version,
    });
    let (status, report) = args
        .api
        .json(hyper::Method::POST, "/api/v1/templates/import", Some(&body))
        .await?;
    for c in report["converted"].as_array().into_iter().flatten() {
        println!(
            "converted {}: {}",
            c["path"].as_str().unwrap_or_default(),
            c["note"].as_str().unwrap_or_default()
        );
    }
    for r in report["refused"].as_array().into_iter().flatten() {
        let at = r["path"].as_str().map(|p| format!("{}: ", p)).unwrap_or_default();
        println!("refused {}{}", at, r["message"].as_str().unwrap_or_default());
    }
    match status {
        201 => {
            println!(
                "created {} ({} {})",
                report["template"]["id"].as_str().unwrap_or_default(),
                report["template"]["name"].as_str().unwrap_or_default(),
                report["template"]["version"].as_str().unwrap_or_default()
            );
            Ok(true)
        }
        422 => Ok(false),
        _ => anyhow::bail!(
            "{}",
            report["error"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("the API answered {status}: {report}"))
        ),
    }
}

/// Text files under `dir` (not hidden, three levels deep), by path relative to `root`.
fn beside(
    root: &std::path::Path,
    dir: &std::path::Path,
    skip: &std::path::Path,
    depth: usize,
    out: &mut serde_json::Map<String, serde_json::Value>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if out.len() >= MAX_BESIDE_FILES || entry.file_name().to_string_lossy().starts_with('.') || path == skip {
            continue;
        }
        match entry.metadata() {
            Ok(m) if m.is_dir() && depth < 3 => beside(root, &path, skip, depth + 1, out),
            Ok(m) if m.is_file() && m.len() <= MAX_BESIDE_BYTES => {
                if let (Ok(text), Ok(relative)) = (std::fs::read_to_string(&path), path.strip_prefix(root)) {
                    out.insert(relative.to_string_lossy().into_owned(), text.into());
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_argument_is_named_on_the_one_line() {
        let e = Cli::try_parse_from(["hoster", "catalog", "import"]).unwrap_err();
        assert_eq!(
            one_line(&e),
            "error: the following required arguments were not provided: --creator <CREATOR>"
        );
        assert!(Cli::try_parse_from(["hoster", "catalog", "import", "--list"]).is_ok());
    }
}
