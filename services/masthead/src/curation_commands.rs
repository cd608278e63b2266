//! The address team's commands: `masthead addresses register|correct|
//! merge|retire|history` and `masthead reviews list|decide`. The work is
//! masthead-curation's; this checks the flags, names the one that is wrong,
//! and prints the outcome.

use crate::config::Config;
use crate::system::connect_and_setup;
use anyhow::{bail, Context, Result};
use masthead_curation::queue::{is_open, review_items};
use masthead_curation::{Actor, Curation, CurationError, NewAddress};
use masthead_domain::base_address::{AddressPatch, BaseAddressEvent};
use masthead_domain::country::Country;
use masthead_domain::review::{RequestedDecision, ReviewDecision};
use masthead_domain::schema::EventSchema;
use masthead_domain::subscription::request::{MAX_LINE, MAX_POSTAL_CODE};
use masthead_domain::subscription::text::checked_line;
use masthead_domain::AddressLines;
use masthead_jetstream::store::EventStore;
use masthead_matching::matcher::address_book::AddressBook;
use masthead_matching::matcher::load_address_book;
use masthead_projections::correction_changes;
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Lines of an address as flags; each is checked under the intake's rules.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LineFlags {
    /// Street and house number.
    #[arg(long)]
    pub street: Option<String>,
    /// Postal code, as written in the country.
    #[arg(long)]
    pub postal_code: Option<String>,
    /// Town.
    #[arg(long)]
    pub city: Option<String>,
    /// ISO code or country name.
    #[arg(long)]
    pub country: Option<String>,
    /// The publisher's own id for the address.
    #[arg(long = "ref")]
    pub reference: Option<String>,
}

fn line(flag: &'static str, value: &Option<String>, max: usize) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) => match checked_line(flag, v, max) {
            Ok(v) => Ok(Some(v)),
            Err(e) => bail!("{}: {}", e.field, e.message),
        },
    }
}

impl LineFlags {
    fn patch(&self) -> Result<AddressPatch> {
        let country = match &self.country {
            None => None,
            Some(c) => Some(Country::parse(c).map_err(|e| anyhow::anyhow!("--country: {e}"))?),
        };
        Ok(AddressPatch {
            street: line("--street", &self.street, MAX_LINE)?,
            postal_code: line("--postal-code", &self.postal_code, MAX_POSTAL_CODE)?.map(Some),
            city: line("--city", &self.city, MAX_LINE)?.map(Some),
            country,
            reference: line("--ref", &self.reference, 64)?.map(Some),
        })
    }
}

/// A field `masthead addresses correct --clear` can empty (street and
/// country cannot be: every base address has both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Clearable {
    PostalCode,
    City,
    Ref,
}

fn id(flag: &str, raw: &str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| anyhow::anyhow!("{flag}: {raw:?} is not a UUID"))
}

/// Who the history names: `--actor`, or `cli:$USER`.
pub fn actor(actor: Option<String>, reason: Option<String>) -> Actor {
    let subject =
        actor.unwrap_or_else(|| format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "operator".into())));
    Actor { subject, reason }
}

/// What a command checks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// The engine's index of every base address: a registration or a
    /// correction must not make a near-duplicate.
    Index,
    /// Only the histories of the addresses named: a merge, a retirement or
    /// a review decision. Loading the index reads every address event
    /// (seconds at a million addresses), so these skip it.
    Histories,
}

async fn curation(config: &Config, checks: Checks) -> Result<(Curation, CancellationToken)> {
    let nats = connect_and_setup(config, None).await?;
    let shutdown = CancellationToken::new();
    let book = match checks {
        Checks::Index => load_address_book(&nats.js, &nats.topology, config.match_config()?, &shutdown)
            .await
            .context("loading the base addresses")?,
        Checks::Histories => Arc::new(AddressBook::new(config.match_config()?)),
    };
    Ok((Curation::new(EventStore::new(nats.js, nats.topology), book), shutdown))
}

/// A refusal as one line, naming the address it concerns where there is one.
fn refused(e: CurationError) -> anyhow::Error {
    match e {
        CurationError::Existing { id } => anyhow::anyhow!("refused: the address is base address {id} already"),
        other => anyhow::anyhow!("refused: {other}"),
    }
}

/// `masthead addresses register --street … --country … [--ref …]`.
pub async fn register(config: &Config, lines: &LineFlags, who: Actor) -> Result<()> {
    let patch = lines.patch()?;
    let Some(street) = patch.street else { bail!("--street is required") };
    if patch.country.is_none() {
        bail!("--country is required");
    }
    let address = AddressLines {
        street,
        postal_code: patch.postal_code.flatten(),
        city: patch.city.flatten(),
        country: patch.country,
    };
    let (curation, shutdown) = curation(config, Checks::Index).await?;
    let result = curation.register(NewAddress { reference: patch.reference.flatten(), lines: address }, &who).await;
    shutdown.cancel();
    let registered = result.map_err(refused)?;
    println!("registered base address {}", registered.base_address_id);
    Ok(())
}

/// `masthead addresses correct ID [--street …] …`.
pub async fn correct(config: &Config, raw_id: &str, lines: &LineFlags, clear: &[Clearable], who: Actor) -> Result<()> {
    let id = id("ID", raw_id)?;
    let mut patch = lines.patch()?;
    for field in clear {
        let (slot, flag) = match field {
            Clearable::PostalCode => (&mut patch.postal_code, "--postal-code"),
            Clearable::City => (&mut patch.city, "--city"),
            Clearable::Ref => (&mut patch.reference, "--ref"),
        };
        // A value given with its flag (`--clear` twice is the same as once).
        if matches!(slot, Some(Some(_))) {
            bail!("--clear {}: {flag} is given too; give one of them", flag.trim_start_matches('-'));
        }
        *slot = Some(None);
    }
    if patch.is_empty() {
        bail!("nothing to change: give at least one of --street, --postal-code, --city, --country, --ref, --clear");
    }
    let (curation, shutdown) = curation(config, Checks::Index).await?;
    let result = curation.correct(id, patch, &who).await;
    shutdown.cancel();
    match result.map_err(refused)? {
        Some(_) => println!("corrected base address {id}"),
        None => println!("base address {id} has these lines already; nothing changed"),
    }
    Ok(())
}

/// `masthead addresses merge ID --into SURVIVOR`.
pub async fn merge(config: &Config, raw_id: &str, into: &str, who: Actor) -> Result<()> {
    let (id, into) = (id("ID", raw_id)?, id("--into", into)?);
    let (curation, shutdown) = curation(config, Checks::Histories).await?;
    let result = curation.merge(id, into, &who).await;
    shutdown.cancel();
    match result.map_err(refused)? {
        Some(_) => println!("merged base address {id} into {into}"),
        None => println!("base address {id} was merged into {into} already"),
    }
    Ok(())
}

/// `masthead addresses retire ID --reason …`.
pub async fn retire(config: &Config, raw_id: &str, who: Actor) -> Result<()> {
    let id = id("ID", raw_id)?;
    if who.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        bail!("--reason is required: say why the address is retired");
    }
    let (curation, shutdown) = curation(config, Checks::Histories).await?;
    let result = curation.retire(id, &who).await;
    shutdown.cancel();
    match result.map_err(refused)? {
        Some(_) => println!("retired base address {id}"),
        None => println!("base address {id} was retired already"),
    }
    Ok(())
}

/// `masthead addresses history ID [--json]`: the address's own events.
pub async fn history(config: &Config, raw_id: &str, as_json: bool) -> Result<()> {
    let id = id("ID", raw_id)?;
    let nats = connect_and_setup(config, None).await?;
    let store = EventStore::new(nats.js, nats.topology);
    let history = store.load::<BaseAddressEvent>(&id.to_string()).await.context("reading the address's history")?;
    if history.events.is_empty() {
        bail!("no base address {id}");
    }
    for r in &history.events {
        let payload: serde_json::Value =
            serde_json::from_slice(&r.event.payload_bytes()?).context("an event as JSON")?;
        if as_json {
            let entry = json!({"stream_sequence": r.stream_sequence, "event_type": r.envelope.event_type,
                "occurred_at": r.envelope.occurred_at, "event": payload});
            println!("{entry}");
        } else {
            let actor = payload["actor"].as_str().unwrap_or("-");
            let reason = payload["reason"].as_str().map(|r| format!("  ({r})")).unwrap_or_default();
            println!(
                "{:>10}  {}  {:<22} {actor}  {}{reason}",
                r.stream_sequence,
                r.envelope.occurred_at,
                r.envelope.event_type,
                what_changed(&r.event)
            );
        }
    }
    Ok(())
}

/// What an event changed, for a person reading the history: each changed
/// field as `field: before → after` (`–` for none).
fn what_changed(event: &BaseAddressEvent) -> String {
    fn shown(v: Option<&str>) -> &str {
        v.filter(|s| !s.is_empty()).unwrap_or("–")
    }
    match event {
        BaseAddressEvent::BaseAddressRegistered(e) => {
            let l = &e.address;
            let country = l.country.as_ref().map(|c| c.code());
            format!(
                "{}, {} {}, {}; ref {}",
                l.street,
                shown(l.postal_code.as_deref()),
                shown(l.city.as_deref()),
                shown(country),
                shown(e.reference.as_deref())
            )
        }
        // As the API's history has it.
        BaseAddressEvent::BaseAddressCorrected(e) => correction_changes(e)
            .iter()
            .map(|(name, c)| format!("{name}: {} → {}", shown(c.from.as_deref()), shown(c.to.as_deref())))
            .collect::<Vec<_>>()
            .join("; "),
        BaseAddressEvent::BaseAddressMerged(e) => format!("into {}", e.into),
        BaseAddressEvent::BaseAddressAliased(e) => format!("a spelling of {}", e.alias_of),
        BaseAddressEvent::BaseAddressRetired(_) => String::new(),
    }
}

/// `masthead reviews list [--all] [--json]`: open items oldest first.
pub async fn list_reviews(config: &Config, all: bool, as_json: bool) -> Result<()> {
    let nats = connect_and_setup(config, None).await?;
    let items = review_items(&nats.js, &nats.topology).await?;
    let mut shown: Vec<_> =
        items.values().filter(|r| all || is_open(r)).filter_map(|r| r.opened.as_ref().map(|o| (o, r))).collect();
    shown.sort_by_key(|(o, _)| (o.opened_at, o.review_id));
    for (opened, item) in shown {
        let candidates: Vec<String> =
            opened.candidates.iter().map(|c| format!("{} ({:.3})", c.base_address_id, c.probability)).collect();
        let decision = item.decided.as_ref().map(|d| serde_json::to_value(&d.decision)).transpose()?;
        if as_json {
            println!(
                "{}",
                json!({"id": opened.review_id, "kind": opened.kind.as_str(), "address_id": opened.address_id,
                "subscription_id": opened.subscription_id, "candidates": opened.candidates.iter().map(|c| json!({"id": c.base_address_id, "probability": c.probability})).collect::<Vec<_>>(),
                "created_at": opened.opened_at, "status": if is_open(item) { "open" } else { "decided" },
                "decision": decision})
            );
        } else {
            let status = match &item.decided {
                None => "open".to_owned(),
                Some(d) => match &d.decision {
                    ReviewDecision::Merge { into, .. } => format!("merged into {into}"),
                    ReviewDecision::Distinct { .. } => "distinct".to_owned(),
                },
            };
            println!(
                "{}  {:<10} {}  vs {}  [{status}]",
                opened.review_id,
                opened.kind.as_str(),
                opened.address_id,
                candidates.join(", ")
            );
        }
    }
    Ok(())
}

/// `masthead reviews decide ID (--merge-into X | --distinct)`.
pub async fn decide(config: &Config, raw_id: &str, merge_into: Option<&str>, distinct: bool, who: Actor) -> Result<()> {
    let review = id("ID", raw_id)?;
    let decision = match (merge_into, distinct) {
        (Some(into), false) => RequestedDecision::Merge { into: id("--merge-into", into)? },
        (None, true) => RequestedDecision::Distinct,
        _ => bail!("give exactly one of --merge-into ID and --distinct"),
    };
    let (curation, shutdown) = curation(config, Checks::Histories).await?;
    let result = curation.decide(review, decision, &who).await;
    shutdown.cancel();
    let decided = result.map_err(refused)?;
    println!("review {review} decided: {}", serde_json::to_string(&decided)?);
    Ok(())
}
