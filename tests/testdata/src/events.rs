//! Realistic synthetic event streams, for benchmarks and tests.
//!
//! Deterministic for a seed. The shape follows production: a bulk import of
//! base addresses, then subscriptions that mostly match one of them (typed
//! with everyday variations), sometimes create a new address, and usually get
//! their confirmation mail; the events of concurrent subscriptions
//! interleave in the stream.

use chrono::{DateTime, Duration, TimeZone, Utc};
use masthead_domain::base_address::{id_for_key, AddressFlag, AddressSource, BaseAddressEvent, BaseAddressRegistered};
use masthead_domain::envelope::{AnyEvent, Envelope, Recorded};
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::schema::EventSchema;
use masthead_domain::subscription::{
    AddressAssigned, AddressMatched, Channel, ConfirmationFailed, ConfirmationSent, SubscriptionEvent,
    SubscriptionRequested,
};
use masthead_domain::{AddressLines, CanonicalAddress, Country, FieldAgreement, MatchExplanation, PostalAddress};
use uuid::Uuid;

/// The envelope a recorded event of this aggregate would carry.
pub fn envelope(aggregate_type: &str, aggregate_id: String, event_type: &str, seq: u64, at: DateTime<Utc>) -> Envelope {
    Envelope {
        event_id: Uuid::from_u128(0x5eed_0000_0000_0000_0000_0000_0000_0000 | u128::from(seq)),
        event_type: event_type.to_owned(),
        schema_version: 1,
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.clone(),
        aggregate_version: 1,
        occurred_at: at,
        correlation_id: aggregate_id,
        causation_id: None,
        traceparent: None,
    }
}

/// A subscription event as the consumer runtime would deliver it.
pub fn subscription_event(seq: u64, id: Uuid, at: DateTime<Utc>, event: SubscriptionEvent) -> Recorded<AnyEvent> {
    let mut envelope = envelope(SubscriptionEvent::AGGREGATE_TYPE, id.to_string(), event.event_type(), seq, at);
    // Decoding upcasts by this version: an event published with a stale one
    // (examples/publish.rs) would be read as its old shape.
    envelope.schema_version = event.schema_version();
    Recorded { envelope, stream_sequence: seq, event: AnyEvent::Subscription(event) }
}

/// A base-address registration as the consumer runtime would deliver it.
pub fn address_event(seq: u64, e: BaseAddressRegistered) -> Recorded<AnyEvent> {
    let at = e.registered_at;
    let event = BaseAddressEvent::BaseAddressRegistered(e);
    let mut envelope =
        envelope(BaseAddressEvent::AGGREGATE_TYPE, event.base_address_id().to_string(), event.event_type(), seq, at);
    envelope.schema_version = event.schema_version();
    Recorded { envelope, stream_sequence: seq, event: AnyEvent::BaseAddress(event) }
}

/// A sealed blob of the right shape. It opens with no key: benchmarks and
/// tests never need the plaintext.
pub fn sealed(id: Uuid) -> SealedPersonalData {
    SealedPersonalData {
        alg: masthead_domain::personal_data::ALG_XCHACHA20POLY1305.to_owned(),
        key_id: id.to_string(),
        nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ciphertext: "c2VhbGVkIHBlcnNvbmFsIGRhdGEgZm9yIGJlbmNobWFya3M=".to_owned(),
    }
}

/// A country from its ISO code. Panics on a code `Country` does not know,
/// which for the constants used here is a bug.
pub fn country(code: &str) -> Country {
    Country::parse(code).unwrap_or_else(|e| panic!("{code} is not a country: {e}"))
}

/// splitmix64: small, fast and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const STREET_ROOTS: &[&str] = &[
    "kerk", "molen", "dorps", "school", "station", "haven", "linden", "eiken", "berken", "wilgen", "rozen", "tulpen",
    "zuid", "noord", "oost", "west", "markt", "brink", "vaart", "dijk", "kanaal", "park", "bos", "heide", "zand",
    "veld", "water", "brug", "sluis", "beek", "haag", "wal", "gracht", "singel", "plein", "laan", "hoek", "berg",
    "dal", "hof", "weide", "akker", "wind", "zon", "maan", "ster", "koning", "prins", "graaf", "ridder",
];
const STREET_KINDS: &[&str] = &["straat", "weg", "laan", "plein", "gracht", "kade", "singel", "dijk", "hof", "pad"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Amsterdam", "10", "NL"),
    ("Rotterdam", "30", "NL"),
    ("Utrecht", "35", "NL"),
    ("Den Haag", "25", "NL"),
    ("Eindhoven", "56", "NL"),
    ("Groningen", "97", "NL"),
    ("Zwolle", "80", "NL"),
    ("Antwerpen", "20", "BE"),
    ("Gent", "90", "BE"),
    ("Köln", "50", "DE"),
    ("Düsseldorf", "40", "DE"),
    ("Aachen", "52", "DE"),
];
const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTVWXZ";

/// One base address as the generator knows it.
#[derive(Debug, Clone)]
pub struct SynthAddress {
    pub id: Uuid,
    pub street_name: String,
    pub house_number: u32,
    pub postal_code: String,
    pub city: &'static str,
    pub country: &'static str,
    pub reference: Option<String>,
}

impl SynthAddress {
    pub fn street_line(&self) -> String {
        format!("{} {}", self.street_name, self.house_number)
    }

    fn canonical(&self) -> CanonicalAddress {
        let key = format!(
            "{}|{}|{}|{}",
            self.street_name.to_lowercase(),
            self.house_number,
            self.postal_code.replace(' ', ""),
            self.country
        );
        CanonicalAddress {
            key,
            street: self.street_name.to_lowercase(),
            house_number: self.house_number.to_string(),
            postal_code: self.postal_code.replace(' ', ""),
            city: self.city.to_lowercase(),
            country: self.country.to_owned(),
            house_name: String::new(),
            version: 1,
        }
    }

    pub fn registered(&self, source: AddressSource, at: DateTime<Utc>) -> BaseAddressRegistered {
        BaseAddressRegistered {
            base_address_id: self.id,
            reference: self.reference.clone(),
            address: AddressLines {
                street: self.street_line(),
                postal_code: Some(self.postal_code.clone()),
                city: Some(self.city.to_owned()),
                country: Some(country(self.country)),
            },
            canonical: self.canonical(),
            source,
            flags: Vec::<AddressFlag>::new(),
            registered_at: at,
        }
    }
}

/// Makes a random address.
pub fn random_address(rng: &mut Rng, n: usize) -> SynthAddress {
    let root = STREET_ROOTS[rng.below(STREET_ROOTS.len())];
    let kind = STREET_KINDS[rng.below(STREET_KINDS.len())];
    let mut street_name = format!("{root}{kind}");
    if let Some(first) = street_name.get(..1) {
        street_name = first.to_uppercase() + &street_name[1..];
    }
    let (city, prefix, ctry) = CITIES[rng.below(CITIES.len())];
    let postal_code = if ctry == "NL" {
        format!(
            "{prefix}{:02} {}{}",
            rng.below(100),
            LETTERS[rng.below(LETTERS.len())] as char,
            LETTERS[rng.below(LETTERS.len())] as char
        )
    } else {
        format!("{prefix}{:03}", rng.below(1000))
    };
    let house_number = 1 + rng.below(250) as u32;
    let mut a = SynthAddress {
        id: Uuid::nil(),
        street_name,
        house_number,
        postal_code,
        city,
        country: ctry,
        reference: rng.chance(0.7).then(|| format!("R-{n:07}")),
    };
    a.id = id_for_key(&a.canonical().key);
    a
}

/// How a subscriber might type a street: as curated, lower case, abbreviated
/// or with a typo.
fn variant(rng: &mut Rng, a: &SynthAddress) -> String {
    let line = a.street_line();
    match rng.below(5) {
        0 | 1 => line,
        2 => line.to_lowercase(),
        3 => line.replace("straat", "str.").replace("laan", "ln"),
        _ => {
            let mut chars: Vec<char> = line.chars().collect();
            if chars.len() > 4 {
                let i = 1 + rng.below(chars.len() - 3);
                chars.swap(i, i + 1);
            }
            chars.into_iter().collect()
        }
    }
}

/// Shape of a generated stream.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Base addresses imported up front.
    pub addresses: usize,
    /// Subscriptions that follow.
    pub subscriptions: usize,
    /// Subscriptions in flight at once: how far their events interleave.
    pub concurrency: usize,
    pub seed: u64,
}

impl SynthConfig {
    /// Roughly `events` events: ~9% address imports, subscriptions with 3–4
    /// events each.
    pub fn for_events(events: usize) -> Self {
        let addresses = events * 9 / 100;
        // A subscription averages ~3.43 events: request, resolution (plus a
        // registration for the 20% that are new), 95% sent, 8% failed.
        Self { addresses, subscriptions: (events - addresses) * 100 / 343, concurrency: 64, seed: 7 }
    }
}

/// The stream: imports first, then interleaved subscription flows.
pub fn generate(cfg: &SynthConfig) -> Vec<Recorded<AnyEvent>> {
    let mut rng = Rng::new(cfg.seed);
    let start = Utc.with_ymd_and_hms(2025, 1, 6, 8, 0, 0).single().unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut out = Vec::with_capacity(cfg.addresses + cfg.subscriptions * 4);
    let mut seq = 0u64;
    let mut addresses = Vec::with_capacity(cfg.addresses);
    for n in 0..cfg.addresses {
        let a = random_address(&mut rng, n);
        seq += 1;
        let source = AddressSource::Import { file: "import-2025-01.csv".into(), line: n as u64 + 1 };
        out.push(address_event(seq, a.registered(source, start)));
        addresses.push(a);
    }
    // Each flow is the list of events of one subscription, still to emit.
    let mut flows: Vec<std::collections::VecDeque<Pending>> = Vec::new();
    let mut next_sub = 0usize;
    let mut clock = start + Duration::hours(1);
    while next_sub < cfg.subscriptions || !flows.is_empty() {
        while flows.len() < cfg.concurrency.max(1) && next_sub < cfg.subscriptions {
            flows.push(flow(&mut rng, next_sub, &addresses));
            next_sub += 1;
        }
        let i = rng.below(flows.len());
        if let Some(p) = flows[i].pop_front() {
            seq += 1;
            clock += Duration::milliseconds(200 + rng.below(20_000) as i64);
            out.push(p.record(seq, clock));
        }
        if flows[i].is_empty() {
            flows.swap_remove(i);
        }
    }
    out
}

enum Pending {
    Sub(Uuid, Box<dyn Fn(DateTime<Utc>) -> SubscriptionEvent>),
    Addr(Box<dyn Fn(DateTime<Utc>) -> BaseAddressRegistered>),
}

impl Pending {
    fn record(&self, seq: u64, at: DateTime<Utc>) -> Recorded<AnyEvent> {
        match self {
            Pending::Sub(id, make) => subscription_event(seq, *id, at, make(at)),
            Pending::Addr(make) => address_event(seq, make(at)),
        }
    }
}

fn flow(rng: &mut Rng, n: usize, addresses: &[SynthAddress]) -> std::collections::VecDeque<Pending> {
    let id = Uuid::from_u128(0x5ab5_0000_0000_4000_8000_0000_0000_0000u128.wrapping_add(n as u128));
    let mut events = std::collections::VecDeque::new();
    let matched = !addresses.is_empty() && rng.chance(0.8);
    let target =
        if matched { addresses[rng.below(addresses.len())].clone() } else { random_address(rng, 10_000_000 + n) };
    let typed = if matched { variant(rng, &target) } else { target.street_line() };
    let entered = PostalAddress {
        street: typed,
        postal_code: target.postal_code.clone(),
        city: target.city.to_owned(),
        country: country(target.country),
    };
    let channel = if rng.chance(0.6) { Channel::Form } else { Channel::Api };
    let requested = entered.clone();
    events.push_back(Pending::Sub(
        id,
        Box::new(move |at| {
            SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
                subscription_id: id,
                subscriber: sealed(id),
                address: requested.clone(),
                country_as_typed: requested.country.code().to_owned(),
                channel,
                requested_at: at,
            })
        }),
    ));
    let canonical = target.canonical();
    let delivery = AddressLines {
        street: target.street_line(),
        postal_code: Some(target.postal_code.clone()),
        city: Some(target.city.to_owned()),
        country: Some(country(target.country)),
    };
    if matched {
        let score = 70.0 + rng.below(3000) as f64 / 100.0;
        let reference = target.reference.clone();
        let target_id = target.id;
        events.push_back(Pending::Sub(
            id,
            Box::new(move |at| {
                SubscriptionEvent::AddressMatched(AddressMatched {
                    base_address_id: target_id,
                    base_address_ref: reference.clone(),
                    delivery_address: delivery.clone(),
                    entered: canonical.clone(),
                    score,
                    explanation: MatchExplanation {
                        street_similarity: score,
                        street: FieldAgreement::Similar,
                        house_number: FieldAgreement::Exact,
                        postal_code: FieldAgreement::Exact,
                        city: FieldAgreement::Exact,
                        country: FieldAgreement::Exact,
                        probability: None,
                        weights: None,
                    },
                    matched_at: at,
                    review: None,
                })
            }),
        ));
    } else {
        let best = rng.chance(0.5).then(|| rng.below(6000) as f64 / 100.0);
        let new_address = target.clone();
        events.push_back(Pending::Addr(Box::new(move |at| {
            new_address.registered(AddressSource::Subscription { subscription_id: id }, at)
        })));
        let target_id = target.id;
        events.push_back(Pending::Sub(
            id,
            Box::new(move |at| {
                SubscriptionEvent::AddressAssigned(AddressAssigned {
                    base_address_id: target_id,
                    delivery_address: delivery.clone(),
                    entered: canonical.clone(),
                    best_rejected_score: best,
                    assigned_at: at,
                    review: None,
                })
            }),
        ));
    }
    if rng.chance(0.08) {
        let attempts = 1 + rng.below(5) as u32;
        events.push_back(Pending::Sub(
            id,
            Box::new(move |at| {
                SubscriptionEvent::ConfirmationFailed(ConfirmationFailed {
                    reason: "451 4.7.1 greylisted".into(),
                    attempts,
                    permanent: false,
                    failed_at: at,
                })
            }),
        ));
    }
    if rng.chance(0.95) {
        events.push_back(Pending::Sub(
            id,
            Box::new(move |at| {
                SubscriptionEvent::ConfirmationSent(ConfirmationSent {
                    message_id: format!("<{id}@masthead>"),
                    sent_at: at,
                })
            }),
        ));
    }
    events
}
