//! The command line: what each command takes, and where it goes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pitboss_auth::Scopes;
use pitboss_store::Db;

use crate::config::{Overrides, Settings};

#[derive(Parser, Debug)]
#[command(name = "pitboss", version, about = "The back office and CRM of an online casino")]
pub struct Cli {
    /// Configuration file (TOML). Default: ./pitboss.toml if it exists. Also PITBOSS_CONFIG.
    #[arg(long, global = true, env = "PITBOSS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives: the same flags for every command that touches it.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite store (PITBOSS_DATA_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL; wins over --data-dir (PITBOSS_DATABASE_URL).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server with the chosen modules.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on (PITBOSS_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// all, or a comma list of: ingest, players, payments, segments, ops (PITBOSS_TARGETS).
        #[arg(long)]
        target: Option<String>,
    },
    /// Create a store, seed a believable casino, stream live events, and serve it.
    Demo(crate::demo::DemoArgs),
    /// Bring the database schema up to date, then exit.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Send synthetic casino traffic to a running server.
    Simulate(crate::simulate::SimulateArgs),
    /// Measure throughput, latency and segment speed.
    Bench {
        #[command(subcommand)]
        what: crate::bench::BenchCommand,
    },
    /// Manage API keys for machine clients.
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyCommand,
    },
    /// Check the ledger: every balance against its postings, every transaction balanced.
    LedgerVerify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write the JSON Schemas of the events (one bundle) to a file, or print them.
    EventSchemas {
        /// Output file; standard output if left out.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Validate the access policies against their schema, without starting a server.
    Policy {
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// The tamper-evident audit log: verify, checkpoint, export, purge.
    Audit {
        #[command(subcommand)]
        action: crate::audit_cmd::AuditCommand,
    },
    /// Churn and lifetime value models: fit a CSV transaction log, or refit the database's.
    Model {
        #[command(subcommand)]
        action: crate::model_cmd::ModelCommand,
    },
    /// Print the effective configuration, secrets redacted.
    Config {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Parse and validate the schema and every policy; name the file and line of each error.
    Check {
        /// A policy directory (pitboss.cedarschema and *.cedar); default: the policy_dir setting,
        /// else the built-in policies.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create a key and print it (it is shown only this once).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// A name saying who uses the key, e.g. "casino-platform".
        #[arg(long)]
        name: String,
        /// Comma list of: events:write, players:read, players:write, ledger:read, ledger:write, admin.
        #[arg(long, default_value = "events:write")]
        scopes: String,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub fn settings(cli_config: Option<&std::path::Path>, store: &StoreArgs, extra: Overrides) -> anyhow::Result<Settings> {
    let overrides = Overrides { data_dir: store.data_dir.clone(), database_url: store.database_url.clone(), ..extra };
    Settings::load(cli_config, &overrides)
}

pub async fn open(settings: &Settings) -> anyhow::Result<Db> {
    Db::open(&settings.store()).await.with_context(|| match &settings.database_url {
        Some(url) => format!("opening PostgreSQL at {}", crate::config::redact_url(url)),
        None => format!("opening the embedded store in {}", settings.data_dir.display()),
    })
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve { store, listen, target } => {
            let s = settings(config, &store, Overrides { listen, targets: target, ..Default::default() })?;
            crate::telemetry::init(&s);
            crate::serve::run(s).await
        }
        Command::Demo(args) => crate::demo::run(config, args).await,
        Command::Migrate { store } => {
            let s = settings(config, &store, Overrides::default())?;
            let db = open(&s).await?;
            println!("the {} schema is up to date", db.engine().name());
            Ok(())
        }
        Command::Simulate(args) => crate::simulate::run(args).await,
        Command::Bench { what } => crate::bench::run(config, what).await,
        Command::ApiKey { action } => match action {
            ApiKeyCommand::Create { store, name, scopes } => {
                let s = settings(config, &store, Overrides::default())?;
                let scopes: Scopes = scopes.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
                let db = open(&s).await?;
                let (info, secret) = pitboss_auth::api_key::create(&db, &name, scopes, "cli").await?;
                eprintln!("created API key '{}' ({}) with scopes {}", info.name, info.id, info.scopes);
                eprintln!("it is shown only now; store it safely:");
                println!("{secret}");
                Ok(())
            }
            ApiKeyCommand::List { store } => {
                let s = settings(config, &store, Overrides::default())?;
                let db = open(&s).await?;
                for k in pitboss_auth::api_key::list(&db).await? {
                    let state = if k.is_revoked() { "revoked" } else { "active" };
                    println!("{}  {:<24} {:<8} {}  {}", k.id, k.name, state, k.prefix, k.scopes);
                }
                Ok(())
            }
        },
        Command::LedgerVerify { store } => {
            let s = settings(config, &store, Overrides::default())?;
            let db = open(&s).await?;
            let report = pitboss_payments::queries::verify(&db).await?;
            println!("{} accounts and {} transactions checked", report.accounts_checked, report.transactions_checked);
            if report.problems.is_empty() {
                println!("the ledger is sound");
                Ok(())
            } else {
                for p in &report.problems {
                    println!("PROBLEM: {p}");
                }
                anyhow::bail!("{} problems found", report.problems.len())
            }
        }
        Command::EventSchemas { out } => {
            let text = serde_json::to_string_pretty(&pitboss_web::openapi::event_schemas())?;
            match out {
                Some(path) => {
                    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?
                }
                None => println!("{text}"),
            }
            Ok(())
        }
        Command::Audit { action } => crate::audit_cmd::run(config, action).await,
        Command::Model { action } => crate::model_cmd::run(config, action).await,
        Command::Config { store } => {
            let s = settings(config, &store, Overrides::default())?;
            print!("{}", s.describe());
            Ok(())
        }
        Command::Policy { action: PolicyCommand::Check { dir } } => {
            let mut s = settings(config, &StoreArgs::default(), Overrides::default())?;
            if dir.is_some() {
                s.policy_dir = dir;
            }
            let policies = crate::security::policies(&s)?;
            println!("{}: {} policies, valid against the schema", policies.source, policies.count);
            Ok(())
        }
    }
}
