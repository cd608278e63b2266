use anyhow::Result;
use clap::{Parser, Subcommand};
use masthead::config::Config;
use masthead::connect::connect;
use masthead::roles;

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
    /// Benchmarks that print figures beside a same-run baseline.
    #[command(subcommand)]
    Bench(BenchCommand),
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
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Replay the stream into a fresh generation, then switch readers to it.
    Rebuild {
        /// The projection to rebuild. The read models (addresses,
        /// subscriptions, stats) share one checkpoint and are rebuilt together.
        #[arg(long, default_value = "read-models", value_parser = ["read-models", "addresses", "subscriptions", "stats"])]
        projection: String,
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

#[derive(Subcommand)]
enum BenchCommand {
    /// Intake over HTTP vs a bare axum handler vs raw JetStream publish.
    Intake {
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// `addresses import` of a generated base list beside publishing the same messages pre-encoded.
    Import {
        /// Rows to generate.
        #[arg(long, default_value_t = 90_000)]
        rows: usize,
        /// Import this CSV or JSONL file instead of generated rows.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// Seed of the generated rows.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Acks awaited at once, by the import and the ceiling alike.
        #[arg(long, default_value_t = masthead::import::ImportOptions::default().in_flight)]
        in_flight: usize,
        /// Threads preparing rows in the import.
        #[arg(long, default_value_t = masthead::import::ImportOptions::default().workers)]
        workers: usize,
        /// Rounds (fresh streams each); the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Also publish stripped variants of the messages (what each header costs the server).
        #[arg(long)]
        breakdown: bool,
    },
    /// The whole system in-process: import, then HTTP submit to confirmation mail at a fixed rate, then the ceiling.
    E2e {
        /// Base addresses to generate and import.
        #[arg(long, default_value_t = 90_000)]
        base: usize,
        /// Subscriptions per phase.
        #[arg(long, default_value_t = 10_000)]
        subscriptions: usize,
        /// Offered subscriptions per second in the steady phase.
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        /// Offered subscriptions per second in the ceiling phase (0: skip it).
        #[arg(long, default_value_t = 5_000.0)]
        ceiling_rate: f64,
        /// Requests awaiting their answer at once.
        #[arg(long, default_value_t = 1024)]
        max_in_flight: usize,
        /// Seconds a phase waits for its last confirmations.
        #[arg(long, default_value_t = 120)]
        drain_seconds: u64,
        /// Seed of the generated addresses.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
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
            Command::Bench(_) => "bench",
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let telemetry = masthead::telemetry::init(cli.command.role(), cli.config.log_format.as_deref());
    let result = run(cli).await;
    // Buffered spans are exported before the process ends, error or not.
    telemetry.shutdown().await;
    result
}

async fn run(cli: Cli) -> Result<()> {
    let shutdown = roles::shutdown_on_signals();
    let config = &cli.config;
    let nats = || async { connect(config, &config.nats_url_or_default()).await };
    // A long-running role's address file must not name the previous run's
    // port while this one starts (connecting, loading) before it listens.
    if matches!(cli.command, Command::Up | Command::Api | Command::Matcher | Command::Projector | Command::Mailer) {
        roles::forget_http_addr(config)?;
    }
    match cli.command {
        Command::Up => masthead::up::run(config, shutdown).await,
        Command::Api => roles::run_api(config, shutdown).await,
        Command::Matcher => roles::run_matcher(config, shutdown).await,
        Command::Projector => roles::run_projector(config, shutdown).await,
        Command::Mailer => roles::run_mailer(config, shutdown).await,
        Command::Setup => {
            nats().await?;
            println!("stream {} and its consumers and buckets are in place", config.stream);
            Ok(())
        }
        Command::Addresses(AddressesCommand::Import { file, strict }) => roles::run_import(config, &file, strict).await,
        Command::Projections(ProjectionsCommand::Rebuild { projection, until_seq, as_of, generation, readers }) => {
            if projection != "read-models" {
                eprintln!(
                    "note: {projection} shares its checkpoint with the other read models; rebuilding all of them"
                );
            }
            let options = masthead::projector::RebuildOptions {
                generation,
                until: masthead::projector::replay::Until { sequence: until_seq, time: as_of },
                progress: true,
                readers: readers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4)),
            };
            masthead::projector::rebuild(config, &nats().await?, options).await
        }
        Command::Dlq(DlqCommand::List { consumer }) => {
            masthead::operate::dlq_list(&nats().await?, consumer.as_deref()).await
        }
        Command::Dlq(DlqCommand::Replay { consumer, sequences }) => {
            masthead::operate::dlq_replay(&nats().await?, consumer.as_deref(), &sequences).await
        }
        Command::Mail(MailCommand::Resend { subscription_id }) => {
            masthead::operate::mail_resend(&nats().await?, &subscription_id).await
        }
        Command::Bench(BenchCommand::Intake { connections, seconds }) => {
            masthead::bench::intake::run(
                config,
                masthead::bench::intake::Options { connections, duration: std::time::Duration::from_secs(seconds) },
            )
            .await
        }
        Command::Bench(BenchCommand::Import { rows, file, seed, in_flight, workers, rounds, breakdown }) => {
            let options = masthead::bench::import::Options { rows, file, seed, in_flight, workers, rounds, breakdown };
            masthead::bench::import::run(config, options).await
        }
        Command::Bench(BenchCommand::E2e {
            base,
            subscriptions,
            rate,
            ceiling_rate,
            max_in_flight,
            drain_seconds,
            seed,
        }) => {
            let options = masthead::bench::e2e::Options {
                base,
                subscriptions,
                rate,
                ceiling_rate,
                max_in_flight,
                drain: std::time::Duration::from_secs(drain_seconds),
                seed,
            };
            masthead::bench::e2e::run(config, options).await
        }
    }
}
