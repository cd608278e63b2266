use anyhow::Result;
use clap::{Parser, Subcommand};
use masthead::config::Config;
use masthead::connect::connect;
use masthead::roles;

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
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    masthead::telemetry::init_logging(cli.config.log_format.as_deref());
    let shutdown = roles::shutdown_on_signals();
    let config = &cli.config;
    let nats = || async { connect(config, &config.nats_url_or_default()).await };
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
        Command::Projections(ProjectionsCommand::Rebuild { projection, until_seq, as_of, generation }) => {
            if projection != "read-models" {
                eprintln!(
                    "note: {projection} shares its checkpoint with the other read models; rebuilding all of them"
                );
            }
            let options = masthead::projector::RebuildOptions {
                generation,
                until: masthead::projector::replay::Until { sequence: until_seq, time: as_of },
                progress: true,
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
    }
}
