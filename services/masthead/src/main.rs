use anyhow::Result;
use clap::{Parser, Subcommand};
use masthead::config::Config;
use masthead::curation_commands::{self, LineFlags};
use masthead::system::{self, Roles};
use masthead::{audit_commands, commands, review_commands};
use masthead_jetstream::replay::Until;

// glibc's allocator took a sixth of the CPU of a full run (malloc,
// consolidation and free of many short-lived buffers across threads);
// mimalloc's thread-local free lists avoid most of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "masthead",
    version,
    about = "Event-sourced magazine subscriptions with a duplicate-free address list"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: api, matcher, projector, mailer (and a local nats-server).
    Up,
    /// Serve the HTTP API and the web form.
    Api,
    /// Match new subscriptions' addresses (one active, others on standby).
    Matcher,
    /// Project the event stream into the read models.
    Projector,
    /// Send confirmation mails.
    Mailer,
    /// Create or update the JetStream stream, consumers and buckets, then exit.
    Setup,
    /// Base-address administration.
    #[command(subcommand)]
    Addresses(AddressesCommand),
    /// Read-model administration.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Dead-letter records.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Confirmation mail.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Bearer tokens signed with the shared secret.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Tamper evidence: audit keys, exports and their verification.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// A subscriber's rights: erasure and subject access.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// The address team's review queue.
    #[command(subcommand)]
    Reviews(ReviewsCommand),
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a token signed with MASTHEAD_AUTH_HS256_SECRET (or the data directory's local secret).
    Issue {
        /// viewer, curator, auditor or admin; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<masthead_auth::Role>,
        /// How long the token is valid: 8h, 30m, 7d, or seconds.
        #[arg(long, default_value = "8h", value_parser = masthead_auth::local::parse_ttl)]
        ttl: std::time::Duration,
        /// Who the token names (its `sub`), for logs and the pages.
        #[arg(long, default_value = "local-operator")]
        subject: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write a new audit key pair (audit.key, audit.pub) into DIR.
    Keygen { dir: std::path::PathBuf },
    /// Write the stream as JSON lines with its signed anchors.
    Export {
        /// Stop after this stream sequence.
        #[arg(long, conflicts_with = "as_of")]
        until_seq: Option<u64>,
        /// Include only events stored at or before this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Verify an export offline, or the live stream with --live. Exit code 0
    /// only when everything verifies.
    Verify {
        #[arg(required_unless_present = "live", conflicts_with = "live")]
        file: Option<std::path::PathBuf>,
        #[arg(long)]
        live: bool,
        /// An audit public key (PEM); repeat it for keys rotated out.
        #[arg(long = "public-key", required = true)]
        public_keys: Vec<std::path::PathBuf>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SubscriptionsCommand {
    /// Erase a subscriber's personal data (crypto-shredding). Twice is a no-op.
    Erase {
        id: String,
        /// Why (a ticket or request reference; never personal data).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Print a subject-access answer: the personal data and the history.
    PersonalData { id: String },
}

#[derive(Subcommand)]
enum AddressesCommand {
    /// Import base addresses from CSV (ref,street,postal_code,city,country) or JSONL.
    Import {
        file: std::path::PathBuf,
        /// Abort at the first broken line instead of skipping it.
        #[arg(long)]
        strict: bool,
    },
    /// Register a base address by hand; refused if the engine resolves it to an existing one.
    Register {
        #[command(flatten)]
        lines: LineFlags,
        #[command(flatten)]
        who: WhoFlags,
    },
    /// Correct the lines (or the reference) of a base address.
    Correct {
        /// The base address's id (a UUID).
        id: String,
        #[command(flatten)]
        lines: LineFlags,
        /// Empty this field (repeatable): postal-code, city or ref.
        #[arg(long, value_enum)]
        clear: Vec<curation_commands::Clearable>,
        #[command(flatten)]
        who: WhoFlags,
    },
    /// Merge a base address into a surviving one; its subscriptions move there.
    Merge {
        /// The base address's id (a UUID).
        id: String,
        /// The survivor's id.
        #[arg(long)]
        into: String,
        #[command(flatten)]
        who: WhoFlags,
    },
    /// Retire a base address (give --reason).
    Retire {
        /// The base address's id (a UUID).
        id: String,
        #[command(flatten)]
        who: WhoFlags,
    },
    /// Print a base address's history: every event with time, actor and reason.
    History {
        /// The base address's id (a UUID).
        id: String,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Scan the whole base list for near-duplicate pairs and queue each pair once for review.
    Dedupe {
        /// Merge pairs at or above this match probability (0 to 1) at once instead of queuing them.
        #[arg(long, value_parser = review_commands::parse_probability)]
        merge_above: Option<f64>,
    },
}

/// Who makes a curation change, and why; both go into the event.
#[derive(Debug, Clone, clap::Args)]
struct WhoFlags {
    /// Why, for the history.
    #[arg(long)]
    reason: Option<String>,
    /// Who the history names (default: cli:$USER).
    #[arg(long)]
    actor: Option<String>,
}

impl WhoFlags {
    fn actor(self) -> masthead_curation::Actor {
        curation_commands::actor(self.actor, self.reason)
    }
}

#[derive(Subcommand)]
enum ReviewsCommand {
    /// List the open review items, oldest first (--all: decided ones too).
    List {
        /// Decided items too, each with its status and decision.
        #[arg(long)]
        all: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Decide a review item: --merge-into ID, or --distinct.
    Decide {
        /// The review item's id.
        id: String,
        /// Merge the item's addresses into this one (an address of the item).
        #[arg(long, conflicts_with = "distinct")]
        merge_into: Option<String>,
        /// The item's addresses are different addresses: never queue the
        /// pair again.
        #[arg(long)]
        distinct: bool,
        #[command(flatten)]
        who: WhoFlags,
    },
    /// Write every decided review pair as labelled data (JSON lines).
    Export {
        /// The file to write (default: standard output).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Replay the stream into a fresh generation, then switch readers to it.
    Rebuild {
        /// Stop after this stream sequence (an auditor's past view; no switch).
        #[arg(long)]
        until_seq: Option<u64>,
        /// Include only events stored at or before this RFC 3339 time (no switch).
        #[arg(long, value_parser = parse_time)]
        as_of: Option<chrono::DateTime<chrono::Utc>>,
        /// Name of the new generation (default: r<timestamp>).
        #[arg(long)]
        generation: Option<String>,
        /// NATS connections reading the stream at once (default: one per core, at most 4).
        #[arg(long)]
        readers: Option<usize>,
        /// Also read the stream once without applying it and print the raw
        /// replay rate beside the rebuild's (a second full read).
        #[arg(long)]
        compare_raw: bool,
    },
    /// Replay the stream into a scratch generation and compare it with the
    /// live read models, document by document. Exit code 1 on any difference.
    Verify {
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("not an RFC 3339 time such as 2026-11-21T12:00:00Z: {e}"))
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List dead letters.
    List {
        #[arg(long)]
        consumer: Option<String>,
    },
    /// Ask the owning consumer to replay dead letters (all, or these sequences).
    Replay {
        #[arg(long)]
        consumer: Option<String>,
        sequences: Vec<u64>,
    },
}

#[derive(Subcommand)]
enum MailCommand {
    /// Send a subscription's confirmation again after a failure was fixed.
    Resend { subscription_id: String },
}

impl Command {
    /// The role in the default OpenTelemetry service name, `masthead-<role>`.
    fn role(&self) -> &'static str {
        match self {
            Command::Up => "up",
            Command::Api => "api",
            Command::Matcher => "matcher",
            Command::Projector => "projector",
            Command::Mailer => "mailer",
            Command::Setup => "setup",
            Command::Addresses(_) => "addresses",
            Command::Projections(_) => "projections",
            Command::Dlq(_) => "dlq",
            Command::Mail(_) => "mail",
            Command::Token(_) => "token",
            Command::Audit(_) => "audit",
            Command::Subscriptions(_) => "subscriptions",
            Command::Reviews(_) => "reviews",
        }
    }

    /// The roles a long-running command starts.
    fn roles(&self) -> Option<Roles> {
        let none = Roles::default();
        match self {
            Command::Up => Some(Roles::ALL),
            Command::Api => Some(Roles { api: true, ..none }),
            Command::Matcher => Some(Roles { matcher: true, ..none }),
            Command::Projector => Some(Roles { projector: true, ..none }),
            Command::Mailer => Some(Roles { mailer: true, ..none }),
            _ => None,
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let telemetry = masthead_telemetry::init(cli.command.role(), cli.config.log_format.map(Into::into));
    let result = run(cli).await;
    // Buffered spans are exported before the process ends, error or not.
    telemetry.shutdown().await;
    result
}

async fn run(cli: Cli) -> Result<()> {
    let config = &cli.config;
    if let Some(roles) = cli.command.roles() {
        // The address file must not name the previous run's port while
        // this one starts (connecting, loading) before it listens.
        system::forget_http_addr(config)?;
        let shutdown = system::shutdown_on_signals();
        let running = system::start(config, roles, shutdown.clone()).await?;
        // Shutdown may have come while it waited for the NATS cluster.
        if matches!(cli.command, Command::Up) && !shutdown.is_cancelled() {
            print_up(config, &running);
        }
        tracing::info!(addr = %running.http_addr, "listening");
        shutdown.cancelled().await;
        return running.wait().await;
    }
    match cli.command {
        Command::Setup => commands::setup(config).await,
        Command::Addresses(c) => addresses(config, c).await,
        Command::Reviews(c) => reviews(config, c).await,
        Command::Projections(ProjectionsCommand::Rebuild { until_seq, as_of, generation, readers, compare_raw }) => {
            let readers = readers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4));
            let until = Until { sequence: until_seq, time: as_of };
            commands::rebuild_projections(config, commands::Rebuild { until, generation, readers, compare_raw }).await
        }
        Command::Projections(ProjectionsCommand::Verify { json }) => {
            if !audit_commands::verify_projections(config, json).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Dlq(DlqCommand::List { consumer }) => commands::dlq_list(config, consumer.as_deref()).await,
        Command::Dlq(DlqCommand::Replay { consumer, sequences }) => {
            commands::dlq_replay(config, consumer.as_deref(), &sequences).await
        }
        Command::Mail(MailCommand::Resend { subscription_id }) => commands::mail_resend(config, &subscription_id).await,
        Command::Token(TokenCommand::Issue { roles, ttl, subject }) => {
            println!("{}", masthead::access::issue_token(config, &roles, &subject, ttl)?);
            Ok(())
        }
        Command::Audit(AuditCommand::Keygen { dir }) => audit_commands::keygen(&dir),
        Command::Audit(AuditCommand::Export { until_seq, as_of, out }) => {
            audit_commands::audit_export(config, Until { sequence: until_seq, time: as_of }, out).await
        }
        Command::Audit(AuditCommand::Verify { file, live: _, public_keys, json }) => {
            if !audit_commands::audit_verify(config, file.as_deref(), &public_keys, json).await? {
                // Not an error of the tool: the history did not verify.
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Subscriptions(SubscriptionsCommand::Erase { id, reason }) => {
            audit_commands::erase(config, &id, reason.as_deref()).await
        }
        Command::Subscriptions(SubscriptionsCommand::PersonalData { id }) => {
            audit_commands::personal_data(config, &id).await
        }
        Command::Up | Command::Api | Command::Matcher | Command::Projector | Command::Mailer => Ok(()),
    }
}

async fn addresses(config: &Config, command: AddressesCommand) -> Result<()> {
    match command {
        AddressesCommand::Import { file, strict } => commands::import_addresses(config, &file, strict).await,
        AddressesCommand::Register { lines, who } => curation_commands::register(config, &lines, who.actor()).await,
        AddressesCommand::Correct { id, lines, clear, who } => {
            curation_commands::correct(config, &id, &lines, &clear, who.actor()).await
        }
        AddressesCommand::Merge { id, into, who } => curation_commands::merge(config, &id, &into, who.actor()).await,
        AddressesCommand::Retire { id, who } => curation_commands::retire(config, &id, who.actor()).await,
        AddressesCommand::History { id, json } => curation_commands::history(config, &id, json).await,
        AddressesCommand::Dedupe { merge_above } => review_commands::dedupe(config, merge_above).await,
    }
}

async fn reviews(config: &Config, command: ReviewsCommand) -> Result<()> {
    match command {
        ReviewsCommand::List { all, json } => curation_commands::list_reviews(config, all, json).await,
        ReviewsCommand::Export { out } => review_commands::export(config, out).await,
        ReviewsCommand::Decide { id, merge_into, distinct, who } => {
            curation_commands::decide(config, &id, merge_into.as_deref(), distinct, who.actor()).await
        }
    }
}

fn print_up(config: &Config, running: &system::Running) {
    let outbox = match &config.smtp_url {
        Some(_) => "SMTP".to_owned(),
        None => config.data_dir.join("outbox").display().to_string(),
    };
    println!("masthead is up");
    println!("  web form   http://{}/", running.http_addr);
    println!("  API docs   http://{}/api/docs/", running.http_addr);
    println!("  dashboard  http://{}/dashboard", running.http_addr);
    println!("  NATS       {}", running.nats_url);
    println!("  mail       {outbox}");
    if let Some(ops) = running.ops_addr {
        println!("  metrics    http://{ops}/metrics");
    }
    if let Some(secret) = &running.local_secret {
        let state = if secret.created { "created" } else { "in" };
        println!("  tokens     signed with the local secret {state} {}", secret.path.display());
        // `token issue` must find the same secret: name a non-default data dir.
        let data_dir = match config.data_dir == std::path::Path::new("./.masthead") {
            true => String::new(),
            false => format!(" --data-dir {}", config.data_dir.display()),
        };
        println!("             a token for the dashboard: masthead token issue --role viewer{data_dir}");
        println!(
            "             then paste it at http://{}/sign-in (or send `Authorization: Bearer <token>`)",
            running.http_addr
        );
    }
    println!("Ctrl-C stops everything.");
}
