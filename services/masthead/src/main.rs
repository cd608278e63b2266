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
    /// Create or update the JetStream stream, consumers and buckets, then exit.
    Setup,
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    masthead::telemetry::init_logging(cli.config.log_format.as_deref());
    let shutdown = roles::shutdown_on_signals();
    match cli.command {
        Command::Api => roles::run_api(&cli.config, shutdown).await,
        Command::Setup => {
            masthead::connect::connect(&cli.config, &cli.config.nats_url_or_default()).await?;
            println!("stream {} and its consumers and buckets are in place", cli.config.stream);
            Ok(())
        }
    }
}
