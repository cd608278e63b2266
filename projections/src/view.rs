//! The read models as the API returns them.
//!
//! These types are deliberately separate from the event payloads: the JSON a
//! client sees must not change shape because an event gained a field, and
//! they carry OpenAPI schemas, which the event types do not. Personal data
//! appears only as the sealed blob, and only on [`SubscriptionView`] (one
//! subscription at a time), never in list results.

use chrono::{DateTime, NaiveDate, Utc};
use masthead_domain::base_address::{AddressFlag, AddressSource};
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::subscription::Channel;
use masthead_domain::{AddressLines, CanonicalAddress, PostalAddress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a subscription stands. Derived from which facts are known, not from
/// the last event, so that events replayed out of order give the same answer:
/// `confirmed` if a confirmation was sent (or, with double opt-in, the
/// subscriber followed the link), else `awaiting_opt_in` if the opt-in mail
/// went out, else `failed` if a mail failed, else `withheld` if the mail was
/// withheld by the per-recipient limit, else `matched` once an address is
/// resolved, else `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Pending,
    Matched,
    AwaitingOptIn,
    Confirmed,
    Failed,
    Withheld,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 6] =
        [Self::Pending, Self::Matched, Self::AwaitingOptIn, Self::Confirmed, Self::Failed, Self::Withheld];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Matched => "matched",
            Self::AwaitingOptIn => "awaiting_opt_in",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
            Self::Withheld => "withheld",
        }
    }

    /// Parses the API's query value (`?status=matched`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A stable one-byte code for index keys.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Pending => 1,
            Self::Matched => 2,
            Self::Confirmed => 3,
            Self::Failed => 4,
            Self::AwaitingOptIn => 5,
            Self::Withheld => 6,
        }
    }
}

/// How the subscription came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntakeChannel {
    Api,
    Form,
}

impl From<Channel> for IntakeChannel {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Api => Self::Api,
            Channel::Form => Self::Form,
        }
    }
}

/// The address exactly as the subscriber entered it (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnteredAddress {
    pub street: String,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The country as typed, before it became a code.
    pub country_as_typed: String,
}

impl EnteredAddress {
    pub(crate) fn new(a: &PostalAddress, country_as_typed: &str) -> Self {
        Self {
            street: a.street.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country.code().to_owned(),
            country_as_typed: country_as_typed.to_owned(),
        }
    }
}

/// The lines of a base address (delivery lines). Legacy imports may lack fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Lines {
    pub street: String,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

impl From<&AddressLines> for Lines {
    fn from(a: &AddressLines) -> Self {
        Self {
            street: a.street.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country.as_ref().map(|c| c.code().to_owned()),
        }
    }
}

/// The normalised form of a base address the matching engine works on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Canonical {
    pub key: String,
    pub street: String,
    pub house_number: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

impl From<&CanonicalAddress> for Canonical {
    fn from(c: &CanonicalAddress) -> Self {
        Self {
            key: c.key.clone(),
            street: c.street.clone(),
            house_number: c.house_number.clone(),
            postal_code: c.postal_code.clone(),
            city: c.city.clone(),
            country: c.country.clone(),
        }
    }
}

/// Where a base address came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// A bulk import; `line` is the 1-based line in the file.
    Import { file: String, line: u64 },
    /// Entered by the address team.
    Curation,
    /// Created because a subscription matched nothing.
    Subscription { subscription_id: Uuid },
}

impl From<&AddressSource> for Origin {
    fn from(s: &AddressSource) -> Self {
        match s {
            AddressSource::Import { file, line } => Self::Import { file: file.clone(), line: *line },
            AddressSource::Curation | AddressSource::Curator { .. } => Self::Curation,
            AddressSource::Subscription { subscription_id } => Self::Subscription { subscription_id: *subscription_id },
        }
    }
}

/// Something about a base address the address team should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    MissingPostalCode,
    MissingCity,
    MissingCountry,
    MissingHouseNumber,
}

impl From<&AddressFlag> for Flag {
    fn from(f: &AddressFlag) -> Self {
        match f {
            AddressFlag::MissingPostalCode => Self::MissingPostalCode,
            AddressFlag::MissingCity => Self::MissingCity,
            AddressFlag::MissingCountry => Self::MissingCountry,
            AddressFlag::MissingHouseNumber => Self::MissingHouseNumber,
        }
    }
}

/// Whether the entered address matched an existing base address or became a
/// new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Matched,
    New,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatchOutcome {
    pub kind: OutcomeKind,
    /// 0–100. For `matched` the match score; for `new` the best rejected
    /// candidate's score, if any candidate was considered.
    pub score: Option<f64>,
    /// When the matcher decided.
    pub decided_at: DateTime<Utc>,
}

/// What happened to the confirmation mail. A success wins over earlier failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailOutcome {
    Sent {
        message_id: String,
        sent_at: DateTime<Utc>,
    },
    /// Double opt-in: the mail asking the subscriber to confirm went out;
    /// `confirmed_at` is set once they followed its link.
    OptInRequested {
        message_id: String,
        sent_at: DateTime<Utc>,
        /// When the link stops working.
        expires_at: DateTime<Utc>,
        confirmed_at: Option<DateTime<Utc>>,
    },
    /// No mail was sent: this email address already received the day's
    /// allowance of confirmation mails (`reason` = `recipient_limit`).
    Withheld {
        reason: String,
        /// The mails per recipient per day in force.
        limit: u32,
        withheld_at: DateTime<Utc>,
    },
    /// The latest failure (by stream sequence).
    Failed {
        reason: String,
        attempts: u32,
        permanent: bool,
        failed_at: DateTime<Utc>,
    },
}

/// One event of a subscription's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub stream_sequence: u64,
}

/// A subscription as listed: everything but its history and personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionSummary {
    pub id: Uuid,
    pub status: SubscriptionStatus,
    pub created_at: DateTime<Utc>,
    /// ISO 3166-1 alpha-2 of the entered address.
    pub country: String,
    pub channel: IntakeChannel,
    pub entered: EnteredAddress,
    /// Where the magazine goes, once an address is resolved.
    pub delivery: Option<Lines>,
    pub base_address_id: Option<Uuid>,
    /// The publisher's reference of the base address, when it has one.
    pub base_address_ref: Option<String>,
    /// Whether that base address still takes deliveries: a retired one
    /// keeps its subscriptions, for the team to look at. Absent until the
    /// address is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_address_status: Option<AddressState>,
    pub outcome: Option<MatchOutcome>,
    pub mail: Option<MailOutcome>,
    /// Stream sequence of the last event applied to this subscription.
    pub last_seq: u64,
}

/// One subscription with its history and sealed personal data. The API opens
/// `subscriber` with the subscription's data key; once the personal data is
/// erased the blob is gone from the read models (`subscriber` is `None`)
/// and its key from the vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    #[serde(flatten)]
    pub summary: SubscriptionSummary,
    /// Events applied, in stream order.
    pub timeline: Vec<TimelineEntry>,
    /// Every move of the delivery address, in stream order.
    #[serde(default)]
    pub moves: Vec<DeliveryMove>,
    /// Correction mails sent (`CorrectionSent`).
    #[serde(default)]
    pub corrections_sent: u64,
    #[schema(value_type = Option<Object>)]
    pub subscriber: Option<SealedPersonalData>,
    /// When the subscriber's personal data was erased, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data_erased_at: Option<DateTime<Utc>>,
}

/// A base address with what the stream taught us about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AddressView {
    pub id: Uuid,
    /// The publisher's own id for the address.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub lines: Lines,
    pub canonical: Canonical,
    /// Distinct street lines subscribers typed that matched this address,
    /// most recent first, at most [`crate::fold::MAX_SPELLINGS`].
    pub spellings: Vec<String>,
    /// Subscriptions delivered here (matched plus newly assigned).
    pub subscription_count: u64,
    pub created_at: DateTime<Utc>,
    pub source: Origin,
    pub flags: Vec<Flag>,
    /// Stream sequence of the last event applied to this address.
    pub last_seq: u64,
    /// `active` until the team merges or retires it.
    #[serde(default)]
    pub status: AddressState,
    /// The survivor, once this address was merged into it.
    #[serde(default)]
    pub merged_into: Option<Uuid>,
    /// Ids that stand for this address: every address merged into it, and
    /// ids reserved for it by a newer normaliser (`BaseAddressAliased`).
    #[serde(default)]
    pub aliases: Vec<AddressAlias>,
}

/// Whether a base address still receives deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressState {
    #[default]
    Active,
    /// Merged into another base address (`merged_into`), which delivers now.
    Merged,
    /// No longer exists; the matcher does not resolve to it.
    Retired,
}

impl AddressState {
    pub const ALL: [AddressState; 3] = [Self::Active, Self::Merged, Self::Retired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Merged => "merged",
            Self::Retired => "retired",
        }
    }

    /// Parses the API's query value (`?status=merged`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Why an id stands for another base address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AliasKind {
    /// A base address merged into this one.
    Merged,
    /// An id a newer normaliser derives, reserved for this address.
    Rekeyed,
    /// The id of a spelling the team corrected this address to, reserved
    /// for it.
    Corrected,
}

/// An id that stands for this base address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddressAlias {
    pub id: Uuid,
    pub kind: AliasKind,
    /// The merged address's street line at the time of the merge, when known.
    pub street: Option<String>,
    /// For an id reserved for a spelling (a correction's new lines): that
    /// spelling's matching key (`country|postal code|town|street|number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub since: DateTime<Utc>,
}

/// A field's value before and after an event (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One event of a base address's history, for the address page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddressHistoryEntry {
    pub stream_sequence: u64,
    /// `BaseAddressRegistered`, `BaseAddressCorrected`, `BaseAddressMerged`, `BaseAddressRetired`.
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// Who did it (the token's subject), when recorded.
    pub actor: Option<String>,
    pub reason: Option<String>,
    /// By field (`street`, `postal_code`, `city`, `country`, `ref`), only
    /// the fields that changed: a registration sets each field it has.
    pub changes: BTreeMap<String, FieldChange>,
    /// On the merged address: where it went.
    pub merged_into: Option<Uuid>,
    /// On the survivor: the address merged into it.
    pub merged_from: Option<Uuid>,
}

/// One move of a subscription's delivery (`DeliveryAddressChanged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryMove {
    pub from: Uuid,
    pub to: Uuid,
    /// `corrected` or `merged`.
    pub cause: String,
    /// Whether the delivery lines changed (a corrected `ref` changes none).
    pub lines_changed: bool,
    pub changed_at: DateTime<Utc>,
    pub stream_sequence: u64,
}

/// Whether a review item still waits for the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Open,
    Decided,
}

impl ReviewState {
    pub const ALL: [ReviewState; 2] = [Self::Open, Self::Decided];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Decided => "decided",
        }
    }

    /// Parses the API's query value (`?status=open`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A stable one-byte code for index keys.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Decided => 2,
        }
    }
}

/// A base address a review item compares with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewCandidateView {
    /// The candidate base address.
    pub id: Uuid,
    /// 0–100: 100 × `probability`.
    pub score: f64,
    /// Calibrated probability (0–1) that the two are one address.
    pub probability: f64,
    /// The matcher's field-by-field explanation.
    #[schema(value_type = Object)]
    pub explanation: serde_json::Value,
    /// The hard requirement it failed, if one did.
    pub veto: Option<String>,
}

/// An item of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    pub id: Uuid,
    /// `grey_zone` (the matcher was unsure) or `duplicate` (a dedupe scan).
    pub kind: String,
    /// The matcher's reason, for a grey-zone item.
    pub reason: Option<String>,
    pub address_id: Uuid,
    pub subscription_id: Option<Uuid>,
    /// Best first.
    pub candidates: Vec<ReviewCandidateView>,
    pub created_at: DateTime<Utc>,
    pub status: ReviewState,
    /// `merge` or `distinct`, once decided.
    pub decision: Option<String>,
    /// For a merge: the address merged, and the survivor.
    pub merged: Option<Uuid>,
    pub into: Option<Uuid>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// Figures for dashboards.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Subscriptions requested per UTC day (`YYYY-MM-DD`).
    #[schema(value_type = BTreeMap<String, u64>)]
    pub registrations_per_day: BTreeMap<NaiveDate, u64>,
    /// Subscriptions that matched an existing base address.
    pub matched: u64,
    /// Subscriptions that became a new base address.
    pub new: u64,
    /// Match scores of `matched` outcomes in ten buckets: `[0,10)`, `[10,20)`,
    /// …, `[90,100]`.
    pub score_histogram: Vec<u64>,
    /// Mails that went out: confirmations, and opt-in requests.
    pub mail_sent: u64,
    /// Failure events (a subscription may fail more than once).
    pub mail_failed: u64,
    /// Subscriptions whose mail was withheld by the per-recipient limit.
    #[serde(default)]
    pub mail_withheld: u64,
    /// Base addresses corrected (each correction counts).
    #[serde(default)]
    pub addresses_corrected: u64,
    #[serde(default)]
    pub addresses_merged: u64,
    #[serde(default)]
    pub addresses_retired: u64,
    /// Review items opened, still open, and decided.
    #[serde(default)]
    pub reviews_opened: u64,
    #[serde(default)]
    pub reviews_open: u64,
    #[serde(default)]
    pub reviews_decided: u64,
    /// Mean seconds from opening a review item to its decision.
    #[serde(default)]
    pub mean_seconds_to_decision: Option<f64>,
    /// The projection's checkpoint: highest stream sequence applied.
    pub last_applied_seq: u64,
    /// When the event at `last_applied_seq` occurred.
    pub last_applied_at: Option<DateTime<Utc>>,
}

/// A page of a list. `next_cursor` is absent on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What [`crate::ProjectionStore::apply_batch`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Events that changed a document.
    pub applied: u64,
    /// Events already applied before (redelivery, replay): nothing changed.
    pub duplicates: u64,
    /// Events that cannot be applied (e.g. an aggregate id that is not a
    /// UUID). The rest of the batch was applied; the consumer runtime should
    /// dead-letter these.
    pub rejected: Vec<Rejected>,
    /// The checkpoint after this batch.
    pub checkpoint: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub stream_sequence: u64,
    pub reason: String,
}
