use anyhow::Result;
use clap::{Parser, Subcommand};
use masthead::config::Config;
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
    /// Serve the HTTP API and the web form.
    Api,
    /// Match new subscriptions' addresses (one active, others on standby).
    Matcher,
    /// Base-address administration.
    #[command(subcommand)]
    Addresses(AddressesCommand),
    /// Create or update the JetStream stream, consumers and buckets, then exit.
    Setup,
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
    match cli.command {
        Command::Api => roles::run_api(&cli.config, shutdown).await,
        Command::Matcher => roles::run_matcher(&cli.config, shutdown).await,
        Command::Addresses(AddressesCommand::Import { file, strict }) => {
            roles::run_import(&cli.config, &file, strict).await
        }
        Command::Setup => {
            masthead::connect::connect(&cli.config, &cli.config.nats_url_or_default()).await?;
            println!("stream {} and its consumers and buckets are in place", cli.config.stream);
            Ok(())
        }
        Command::Bench(BenchCommand::Intake { connections, seconds }) => {
            masthead::bench::intake::run(
                &cli.config,
                masthead::bench::intake::Options { connections, duration: std::time::Duration::from_secs(seconds) },
            )
            .await
        }
    }
}
