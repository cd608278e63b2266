//! `masthead-bench`: Masthead's benchmarks. Each subcommand prints its
//! figures beside a baseline measured in the same run, because the machines
//! these run on are shared and noisy: ratios are comparable across runs,
//! absolute numbers are not. See README.md.

mod address_heavy;
mod alloc;
mod audit;
mod blind;
mod cpu_meter;
mod dedupe;
mod e2e;
mod import;
mod intake;
mod load;
mod mail;
mod match_eval;
mod matching;
mod nats;
mod paging;
mod publish;
mod rebuild;
mod report;
mod telemetry;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

#[derive(Parser)]
#[command(name = "masthead-bench", about = "Masthead's benchmarks, each beside a same-run baseline")]
struct Cli {
    /// A NATS server to measure against (shared: only this bench's streams
    /// are touched, and deleted afterwards). Unset: a throw-away local
    /// nats-server, started with GOGC=400 unless GOGC is set.
    #[arg(long, env = "MASTHEAD_NATS_URL", global = true)]
    nats_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Anchoring, audit export and verification beside the raw replay; the anchorer's append overhead.
    Audit(audit::Options),
    /// Intake over HTTP vs a bare axum handler vs raw JetStream publish.
    Intake {
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Intake with the per-client rate limiter on (limit far above the load) vs off, alternating rounds.
    Limiter {
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Off/on pairs.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
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
    /// `addresses import` of a generated base list beside publishing the same messages pre-encoded.
    Import {
        /// Rows to generate.
        #[arg(long, default_value_t = 90_000)]
        rows: usize,
        /// Import this CSV or JSONL file instead of generated rows.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Seed of the generated rows.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Acks awaited at once, by the import and the ceiling alike.
        #[arg(long, default_value_t = masthead_addresses::import::ImportOptions::default().in_flight)]
        in_flight: usize,
        /// Threads preparing rows in the import.
        #[arg(long, default_value_t = masthead_addresses::import::ImportOptions::default().workers)]
        workers: usize,
        /// Rounds (fresh streams each); the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Also publish stripped variants of the messages (what each header costs the server).
        #[arg(long)]
        breakdown: bool,
    },
    /// Projection rebuild from a real stream into a fresh redb generation, beside the raw replay of the same stream.
    Rebuild(rebuild::Options),
    /// Projection speed on an address-heavy stream: raw replay, rebuild and the live projector, interleaved rounds.
    AddressHeavy(address_heavy::Options),
    /// Publishes a synthetic event stream into a NATS stream (for `rebuild`, `masthead projections rebuild`, paging over HTTP).
    Publish {
        /// Server to publish to. Unset: --nats-url, else nats://127.0.0.1:4222.
        #[arg(long)]
        url: Option<String>,
        /// Stream to create or fill; it must be new or empty.
        #[arg(long, default_value = "MASTHEAD")]
        stream: String,
        /// About this many events.
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// Match latency (p50/p99), index build time and memory per address, beside the replaced rule.
    Matching(matching::Options),
    /// The dedupe scan over N base addresses with known near-duplicates, on 1 thread and on N, beside the index build.
    Dedupe(dedupe::Options),
    /// Match quality: precision and recall of the engine and of the replaced rule on the same queries.
    MatchEval(match_eval::Options),
    /// Match quality on sets nobody here wrote, beside the replaced rule and Splink's predictions.
    Blind(blind::Options),
    /// Address-list paging at the store, at N addresses.
    Paging(paging::Options),
    /// Confirmation mails through `Mailer::deliver` to an in-process SMTP server, beside sending the same mails pre-composed.
    Mail {
        #[arg(long, default_value_t = 5000)]
        mails: usize,
        /// Sends in flight, and the SMTP pool size.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // Logs and the metrics recorder as `masthead` installs them: the system
    // measured here logs what it would in production (RUST_LOG=warn quiets
    // it), and its counters are read back from the recorder.
    let telemetry = masthead_telemetry::init("bench", None);
    let result = run(cli).await;
    telemetry.shutdown().await;
    result
}

async fn run(cli: Cli) -> Result<()> {
    let shared = cli.nats_url;
    match cli.command {
        Command::Intake { connections, seconds } => {
            intake::run(shared, intake::Options { connections, duration: Duration::from_secs(seconds) }).await
        }
        Command::Limiter { connections, seconds, rounds } => {
            let options = intake::Options { connections, duration: Duration::from_secs(seconds) };
            intake::run_limiter(shared, options, rounds).await
        }
        Command::E2e { base, subscriptions, rate, ceiling_rate, max_in_flight, drain_seconds, seed } => {
            let drain = Duration::from_secs(drain_seconds);
            let options = e2e::Options { base, subscriptions, rate, ceiling_rate, max_in_flight, drain, seed };
            e2e::run(shared, options).await
        }
        Command::Import { rows, file, seed, in_flight, workers, rounds, breakdown } => {
            let options = import::Options { rows, file, seed, in_flight, workers, rounds, breakdown };
            import::run(shared, options).await
        }
        Command::Rebuild(options) => rebuild::run(shared, options).await,
        Command::AddressHeavy(options) => address_heavy::run(shared, options).await,
        Command::Audit(options) => audit::run(shared, options).await,
        Command::Publish { url, stream, events } => {
            let url = url.or(shared).unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned());
            publish::run(&url, &stream, events).await
        }
        Command::Matching(options) => tokio::task::block_in_place(|| matching::run(&options)),
        Command::Dedupe(options) => dedupe::run(shared, &options).await,
        Command::MatchEval(options) => tokio::task::block_in_place(|| match_eval::run(&options)),
        Command::Blind(options) => tokio::task::block_in_place(|| blind::run(&options)),
        Command::Paging(options) => tokio::task::block_in_place(|| paging::run(&options)),
        Command::Mail { mails, concurrency } => mail::run(mails, concurrency).await,
    }
}
