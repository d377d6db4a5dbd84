//! The `pregon` binary: server, worker, migrations, tenants, and the operator CLI.

use std::process::ExitCode;

/// mimalloc: the dispatcher allocates and frees small buffers for every request from many
/// threads, where it is markedly cheaper than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory, Parser, Subcommand};
use pregon::clock::{Clock, SystemClock};
use pregon::config::{DatabaseArgs, Limits, LogFormat, ServeArgs, WorkerArgs};
use pregon::config_file::{self, Applied, ConfigFile, ConfigFileError, Settings};
use pregon::startup::{self, AppConfig, Application, Background};
use pregon_cli::{CampaignCommand, ClientArgs, MessageCommand};

/// pregon: a durable dispatcher for WhatsApp Business campaigns.
#[derive(Parser, Debug)]
#[command(name = "pregon", version, about, propagate_version = true)]
struct Cli {
    /// A settings file (TOML): each key is a `PREGON_…` variable without its prefix, in
    /// lower case. The environment overrides it, and flags override both.
    #[arg(long, global = true, env = "PREGON_CONFIG", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// How logs are written to standard error: `text` for people, `json` for one JSON
    /// object a line (with the request id of each HTTP request and the sender and batch of
    /// each dispatch).
    #[arg(long, global = true, env = "PREGON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP API and a dispatcher.
    Serve(ServeArgs),
    /// Run a dispatcher only (scale-out).
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Write a consistent copy of the SQLite database to a new file, while pregon runs
    /// (a PostgreSQL database is backed up with pg_dump).
    Backup {
        #[command(flatten)]
        db: DatabaseArgs,
        /// The file to write; it must not exist yet.
        #[arg(long, short)]
        output: std::path::PathBuf,
    },
    /// Run a provider simulator: the Meta Cloud API and Twilio wire formats on loopback, with
    /// latency, an error mix, rate limits and signed status webhooks, for trying pregon
    /// without a provider account, for tests and for benchmarks.
    Simulate(Box<pregon_simulator::SimulateArgs>),
    /// Check a settings file, or print one with every setting.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage the people who sign in to the console (on the database directly).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Show every dispatcher sharing the database (id, host, pid, senders, rate) and the queue.
    System {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create, follow and steer campaigns through a running server's API.
    Campaign {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: CampaignCommand,
    },
    /// Send, list and cancel single (and scheduled) messages through a running server's API.
    Message {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: MessageCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Check the settings `pregon serve` would run with (the `--config` file, then the
    /// environment): every problem, naming the file's key; exits 2 on any.
    Check,
    /// Print a settings file with every setting, commented out at its default.
    Example,
}

#[derive(Subcommand, Debug)]
enum TenantCommand {
    /// Create a tenant with a sandbox sender; its API key is the last line of output.
    Create {
        /// The tenant's name.
        name: String,
        #[command(flatten)]
        db: DatabaseArgs,
        /// Credential encryption key (64 hex characters).
        #[arg(long, env = "PREGON_MASTER_KEY", hide_env_values = true)]
        master_key: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user. Its password is `PREGON_USER_PASSWORD` when set, else generated and
    /// printed once.
    Create {
        /// The email the user signs in with.
        email: String,
        /// viewer, operator, admin or owner.
        #[arg(long, value_parser = ["viewer", "operator", "admin", "owner"])]
        role: String,
        /// The user's name (default: the email's local part).
        #[arg(long)]
        name: Option<String>,
        /// The tenant (needed when there are several).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// List a tenant's users.
    List {
        /// The tenant (needed when there are several).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PREGON_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => fmt.init(),
        // The event's own fields, and every span it is in (the request's `request_id`, the
        // dispatch `batch`), each with its fields.
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
}

/// mimalloc's defaults trade memory for speed in ways that cost pregon memory and buy it
/// nothing measurable: arenas committed eagerly (so freed pages are only reset and stay in
/// the RSS), and freed pages kept for 1 s (10 s in arenas) before they go back to the OS.
/// An import of 100,000 contacts peaked at 147 MiB with them and at 69 MiB without, at the
/// same throughput (BENCHMARKS.md). The first arena is reserved before `main`, so lazy
/// commit is a build-time default (`.cargo/config.toml`); here both options are set for
/// whatever comes later. Either stays as the environment sets it
/// (`MIMALLOC_ARENA_EAGER_COMMIT`, `MIMALLOC_PURGE_DELAY`).
#[allow(unsafe_code)]
fn tune_allocator() {
    for (variable, option) in [
        ("MIMALLOC_ARENA_EAGER_COMMIT", allocator_option::ARENA_EAGER_COMMIT),
        ("MIMALLOC_PURGE_DELAY", allocator_option::PURGE_DELAY),
    ] {
        if std::env::var_os(variable).is_none() {
            // SAFETY: `mi_option_set` stores a number in mimalloc's option table, which the
            // allocator reads atomically; it takes no pointers and is callable at any time.
            unsafe { libmimalloc_sys::mi_option_set(option, 0) };
        }
    }
}

/// Values of `mi_option_t` in mimalloc 3's `mimalloc.h`: libmimalloc-sys leaves them out of
/// its constants on purpose, so Cargo.lock pins the version they are read from and a test
/// checks them against the options' known defaults.
mod allocator_option {
    pub const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    pub const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
}

fn main() -> ExitCode {
    tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main())
}

/// Reads the settings file, if one is named, into the environment, before the command
/// line is parsed (flags > environment > file > defaults). A bad file stops every command
/// but `config check`, which reports it.
fn read_settings_file() -> Result<Option<(ConfigFile, Applied)>, ConfigFileError> {
    let args: Vec<_> = std::env::args_os().collect();
    let path = match config_file::named_file(&args) {
        Ok(Some(path)) => path,
        Ok(None) => return Ok(None),
        // clap reports a flag without its value in its own words.
        Err(_) => return Ok(None),
    };
    let settings = Settings::of(&Cli::command());
    let file = settings.load(&path)?;
    let applied = file.apply(&settings);
    Ok(Some((file, applied)))
}

/// `pregon serve`'s settings alone, for `config check` to parse from the environment.
#[derive(Parser, Debug)]
struct ServeOnly {
    #[command(flatten)]
    args: ServeArgs,
}

/// `pregon config check`: the file was read without problems if we got here with `Ok`; now
/// every value the environment gives, and what only a whole set of settings can tell.
fn check_settings(file: Option<&(ConfigFile, Applied)>) -> anyhow::Result<()> {
    let serve = match ServeOnly::try_parse_from(["pregon serve"]) {
        Ok(ServeOnly { args }) => args,
        Err(e) => anyhow::bail!(
            "{}",
            e.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
        ),
    };
    let mut problems = Vec::new();
    if let Err(e) = std::net::ToSocketAddrs::to_socket_addrs(serve.listen.as_str()) {
        problems.push(format!(
            "listen = {:?}: not an address to listen on ({e})",
            serve.listen
        ));
    }
    let url = &serve.db.database_url;
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|p| url.starts_with(p))
    {
        problems.push("database_url: must start with sqlite:, postgres:// or postgresql://".to_string());
    }
    if let Some(key) = serve.dispatch.master_key.as_deref() {
        if pregon::crypto::MasterKey::from_hex(key).is_err() {
            problems.push("master_key: must be 64 hexadecimal characters".to_string());
        }
    }
    if !problems.is_empty() {
        anyhow::bail!("{} problem(s):\n  - {}", problems.len(), problems.join("\n  - "));
    }
    match file {
        Some((file, applied)) => {
            println!(
                "ok: {} — {} setting(s) from the file{}",
                file.path.display(),
                applied.from_file.len(),
                if applied.overridden.is_empty() {
                    String::new()
                } else {
                    format!(", overridden by the environment: {}", applied.overridden.join(", "))
                }
            );
        }
        None => println!("ok: no settings file (--config or PREGON_CONFIG); the environment and defaults"),
    }
    Ok(())
}

async fn async_main() -> ExitCode {
    let file = match read_settings_file() {
        Ok(file) => file,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Config {
            command: ConfigCommand::Check,
        } => match check_settings(file.as_ref()) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(2);
            }
        },
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", Settings::of(&Cli::command()).example());
            return ExitCode::SUCCESS;
        }
        Command::Campaign { client, command } => pregon_cli::run_campaign(&client, command).await,
        Command::System { client } => pregon_cli::run_system(&client).await,
        Command::Message { client, command } => pregon_cli::run_message(&client, command).await,
        other => {
            init_tracing(cli.log_format);
            run(other).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let text = format!("{e:#}");
            if text.starts_with("error:") {
                eprintln!("{text}");
            } else {
                eprintln!("error: {text}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let config = AppConfig {
                database_url: args.db.database_url.clone(),
                listen: args.listen.clone(),
                dispatch: args.dispatch.dispatch_config(),
                limits: Limits {
                    max_body_bytes: args.max_body_bytes,
                    max_contacts: args.max_contacts,
                    api_rate_limit: args.api_rate_limit,
                },
                master_key: args.dispatch.master_key.clone(),
                bootstrap_api_key: args.bootstrap.api_key.clone(),
                bootstrap_email: args.bootstrap.email.clone().filter(|e| !e.trim().is_empty()),
                bootstrap_password: args.bootstrap.password.clone().filter(|p| !p.is_empty()),
                background: if args.no_dispatcher {
                    Background::Off
                } else {
                    Background::Run
                },
                clock: std::sync::Arc::new(SystemClock),
                reports: args.reports.report_config(args.dispatch.public_url.as_deref()),
                retention: args.retention.retention_config(),
            };
            let app = Application::build(config).await?;
            // Before the first line a supervisor may wait for: SIGTERM from then on is graceful.
            let shutdown = startup::shutdown_on_signals();
            if app.bootstrap_key.is_some() || app.bootstrap_webhook_secret.is_some() {
                println!("Created tenant \"default\" with a sandbox sender as its default.");
            }
            if let Some(secret) = &app.bootstrap_webhook_secret {
                println!("Its webhook secret (the key of X-Pregon-Signature), shown only this once:");
                println!("{secret}");
            }
            if let Some((email, password)) = &app.bootstrap_owner {
                match password {
                    Some(password) => {
                        println!("Sign in to the console as {email} with this password, shown only this once:");
                        println!("{password}");
                    }
                    None => println!("Sign in to the console as {email} with PREGON_BOOTSTRAP_PASSWORD."),
                }
            }
            if let Some(key) = &app.bootstrap_key {
                println!("Its API key (an owner's), shown only this once:");
                println!("{key}");
            }
            println!("Console: http://{0}/  API reference: http://{0}/docs", app.local_addr());
            println!("pregon listening on http://{}", app.local_addr());
            app.run_until_stopped(shutdown).await
        }
        Command::Worker(args) => {
            let shutdown = startup::shutdown_on_signals();
            startup::run_worker(
                &args.db.database_url,
                args.dispatch.dispatch_config(),
                args.dispatch.master_key.as_deref(),
                args.retention.retention_config(),
                shutdown,
            )
            .await
        }
        Command::Simulate(args) => pregon_simulator::run(*args, startup::shutdown_on_signals()).await,
        Command::Migrate(db) => {
            startup::open_store(&db.database_url).await?;
            println!("migrations applied to {}", db.database_url);
            Ok(())
        }
        Command::Backup { db, output } => {
            use pregon_store::SystemStore;
            if output.exists() {
                anyhow::bail!("{} exists already: a backup is written to a new file", output.display());
            }
            let Some(path) = output.to_str() else {
                anyhow::bail!("the output path must be UTF-8");
            };
            // Connected, not migrated: a backup copies the database as it is.
            let store = pregon_store::SqlStore::connect(&db.database_url, 1).await?;
            store.backup_to(path).await?;
            let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            println!(
                "backup of {} written to {} ({bytes} bytes)",
                db.database_url,
                output.display()
            );
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::Create { name, db, master_key },
        } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                anyhow::bail!("the tenant name must be 1 to 100 characters");
            }
            let store = startup::open_store(&db.database_url).await?;
            let key = pregon::crypto::MasterKey::load(master_key.as_deref(), &db.database_url)?;
            let (tenant, api_key) = startup::create_tenant(
                store.as_ref(),
                &key,
                name,
                None,
                SystemClock.now_millis(),
                pregon::accounts::cli_actor(),
            )
            .await?;
            println!(
                "Created tenant {:?} ({}) with a sandbox sender as its default.",
                tenant.name, tenant.id
            );
            println!("Its webhook secret (the key of X-Pregon-Signature), shown only this once:");
            println!("{}", tenant.webhook_secret);
            println!("Its API key, shown only this once:");
            println!("{api_key}");
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    role,
                    name,
                    tenant,
                    db,
                },
        } => {
            let store = startup::open_store(&db.database_url).await?;
            let tenant = pregon::accounts::tenant_named(store.as_ref(), tenant.as_deref()).await?;
            let role = role
                .parse()
                .map_err(|_| anyhow::anyhow!("the role must be viewer, operator, admin or owner"))?;
            let password = std::env::var("PREGON_USER_PASSWORD").ok();
            let person = pregon::accounts::Person {
                email: &email,
                name: name.as_deref(),
                role,
                password,
            };
            let (user, generated) = pregon::accounts::create_user(
                store.as_ref(),
                &tenant,
                person,
                pregon::accounts::cli_actor(),
                SystemClock.now_millis(),
            )
            .await?;
            println!(
                "Created user {} ({}, {}) of tenant {:?}.",
                user.email, user.role, user.id, tenant.name
            );
            if let Some(password) = generated {
                println!("Its password, shown only this once:");
                println!("{password}");
            }
            Ok(())
        }
        Command::User {
            command: UserCommand::List { tenant, db },
        } => {
            let store = startup::open_store(&db.database_url).await?;
            let tenant = pregon::accounts::tenant_named(store.as_ref(), tenant.as_deref()).await?;
            let users = pregon::accounts::list_users(store.as_ref(), &tenant).await?;
            println!("{:<34}  {:<8}  {:<24}  EMAIL", "ID", "ROLE", "NAME");
            for u in users {
                println!("{:<34}  {:<8}  {:<24}  {}", u.id, u.role.as_str(), u.name, u.email);
            }
            Ok(())
        }
        Command::Campaign { .. } | Command::System { .. } | Command::Message { .. } | Command::Config { .. } => {
            unreachable!("handled before tracing is set up")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::allocator_option::*;

    /// The option numbers name the options meant, and this build commits arenas on demand
    /// (`.cargo/config.toml`). Before `tune_allocator` runs, purge delay has mimalloc's
    /// default of 1,000 ms, and no other option near it has that value.
    #[test]
    #[allow(unsafe_code)]
    fn allocator_options_are_the_ones_meant() {
        // SAFETY: reading an option takes no pointers.
        let get = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(PURGE_DELAY), 1_000, "option {PURGE_DELAY} is not the purge delay");
            assert_ne!(get(PURGE_DELAY - 1), 1_000);
        }
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            assert_eq!(
                get(ARENA_EAGER_COMMIT),
                0,
                "mimalloc was built without MI_DEFAULT_ARENA_EAGER_COMMIT=0 (build from the repository root)"
            );
        }
    }
}
