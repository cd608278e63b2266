//! The base-address document: its registration (written once), the
//! counters every delivery rewrites, and the team's curation (corrections,
//! merges, retirement, aliases), which is rare and kept apart so that an
//! import's registrations and a match's counters stay small.

use super::MAX_SPELLINGS;
use crate::view::{
    AddressAlias, AddressHistoryEntry, AddressState, AddressView, AliasKind, Canonical, FieldChange, Flag, Lines,
    Origin,
};
use chrono::{DateTime, Utc};
use masthead_domain::base_address::{
    AddressSource, AliasReason, BaseAddressAliased, BaseAddressCorrected, BaseAddressEvent, BaseAddressMerged,
    BaseAddressRegistered, BaseAddressRetired,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Registration {
    pub reference: Option<String>,
    pub lines: Lines,
    pub canonical: Canonical,
    pub source: Origin,
    pub flags: Vec<Flag>,
    pub registered_at: DateTime<Utc>,
    pub seq: u64,
    /// Who entered it, for an address the team registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Why, when the team member said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Spelling {
    pub street: String,
    /// Sequence of the match that brought it; orders "most recent".
    pub seq: u64,
}

/// The stored base address. Deliveries may be counted before the address's
/// registration is applied (out-of-order replay); such a document is kept
/// but hidden from queries until registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AddressDoc {
    pub id: Uuid,
    /// Written once: the lines as registered (a correction overlays them).
    pub registration: Option<Registration>,
    /// Changes with every subscription delivered here; kept apart so a
    /// store can rewrite it without rewriting the registration.
    pub live: AddressLive,
    /// Curation history entries (the registration's entry is derived from
    /// the registration). The embedded store keeps them in their own table
    /// and loads none into a batch: there this holds only the batch's new
    /// entries. MongoDB keeps them all here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AddressHistoryEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AddressLive {
    /// Whether the registration was applied; with `reference`, all a batch
    /// needs of it, so applying a match never reads the registration.
    pub registered: bool,
    /// The current `ref` (a correction may change it).
    pub reference: Option<String>,
    /// Most recent first, distinct, at most [`MAX_SPELLINGS`].
    pub spellings: Vec<Spelling>,
    /// Subscriptions that came here: resolved here, or moved here.
    pub subscription_count: u64,
    pub last_seq: u64,
    /// Subscriptions that moved away. Counted apart, not subtracted, so the
    /// count comes out the same whichever arrives first.
    #[serde(default)]
    pub moved_out: u64,
    /// `None` for the vast majority of addresses, which nobody curated.
    #[serde(default)]
    pub curation: Option<Box<Curation>>,
}

/// What the address team did to an address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Curation {
    /// The survivor and the merge's sequence.
    pub merged: Option<(Uuid, u64)>,
    pub retired_seq: Option<u64>,
    /// The latest correction by stream sequence.
    pub correction: Option<Correction>,
    pub aliases: Vec<AddressAlias>,
    /// Sequences of the curation events applied to this document: each
    /// applies once, whatever the order.
    pub applied: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Correction {
    pub seq: u64,
    pub lines: Lines,
    pub reference: Option<String>,
    pub canonical: Canonical,
}

impl Curation {
    pub fn status(&self) -> AddressState {
        if self.merged.is_some() {
            AddressState::Merged
        } else if self.retired_seq.is_some() {
            AddressState::Retired
        } else {
            AddressState::Active
        }
    }
}

/// What the address list indexes hold for a registered address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddressKeys {
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub reference: Option<String>,
    /// `merged` or `retired`; active addresses (nearly all) are not indexed.
    pub status: Option<String>,
    pub tokens: Vec<String>,
}

fn change(out: &mut BTreeMap<String, FieldChange>, field: &str, from: Option<&str>, to: Option<&str>) {
    if from != to {
        out.insert(field.to_owned(), FieldChange { from: from.map(str::to_owned), to: to.map(str::to_owned) });
    }
}

/// The fields that differ between two sets of lines and refs.
fn line_changes(
    before: Option<(&Lines, Option<&str>)>,
    after: (&Lines, Option<&str>),
) -> BTreeMap<String, FieldChange> {
    let mut out = BTreeMap::new();
    let (b, br) = match before {
        Some((l, r)) => (Some(l), r),
        None => (None, None),
    };
    let (a, ar) = after;
    change(&mut out, "street", b.map(|l| l.street.as_str()), Some(&a.street));
    change(&mut out, "postal_code", b.and_then(|l| l.postal_code.as_deref()), a.postal_code.as_deref());
    change(&mut out, "city", b.and_then(|l| l.city.as_deref()), a.city.as_deref());
    change(&mut out, "country", b.and_then(|l| l.country.as_deref()), a.country.as_deref());
    change(&mut out, "ref", br, ar);
    out
}

/// What a correction changed, field by field: one definition for every
/// reader of an address's history (the API, the address page, and
/// `masthead addresses history`, which reads the events themselves).
pub fn correction_changes(e: &BaseAddressCorrected) -> BTreeMap<String, FieldChange> {
    let (before, after) = (Lines::from(&e.before), Lines::from(&e.address));
    line_changes(Some((&before, e.previous_ref.as_deref())), (&after, e.reference.as_deref()))
}

fn entry(seq: u64, event_type: &str, at: DateTime<Utc>, actor: Option<&str>) -> AddressHistoryEntry {
    AddressHistoryEntry {
        stream_sequence: seq,
        event_type: event_type.to_owned(),
        occurred_at: at,
        actor: actor.map(str::to_owned),
        reason: None,
        changes: BTreeMap::new(),
        merged_into: None,
        merged_from: None,
    }
}

/// The registration's flags after a correction: a part the correction
/// changed is flagged as an import would flag it now (missing or not); a
/// part it left alone keeps the registration's flag, whatever the source
/// flagged (a hand-made address is flagged for nothing).
fn corrected_flags(registered: &[Flag], before: (&Lines, &Canonical), after: (&Lines, &Canonical)) -> Vec<Flag> {
    let absent = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
    let part = |lines: &Lines, canonical: &Canonical, flag: Flag| match flag {
        Flag::MissingPostalCode => (lines.postal_code.clone(), absent(&lines.postal_code)),
        Flag::MissingCity => (lines.city.clone(), absent(&lines.city)),
        Flag::MissingCountry => (lines.country.clone(), absent(&lines.country)),
        Flag::MissingHouseNumber => (Some(canonical.house_number.clone()), canonical.house_number.is_empty()),
    };
    [Flag::MissingPostalCode, Flag::MissingCity, Flag::MissingCountry, Flag::MissingHouseNumber]
        .into_iter()
        .filter(|flag| {
            let (was, _) = part(before.0, before.1, *flag);
            let (now, missing_now) = part(after.0, after.1, *flag);
            if was == now {
                registered.contains(flag)
            } else {
                missing_now
            }
        })
        .collect()
}

impl AddressDoc {
    pub fn new(id: Uuid) -> Self {
        Self { id, registration: None, live: AddressLive::default(), history: Vec::new() }
    }

    /// True if applied; false if the address was registered before (an
    /// address is registered once; a repeat is a redelivery).
    pub fn register(&mut self, seq: u64, e: &BaseAddressRegistered) -> bool {
        if self.live.registered {
            return false;
        }
        self.live.registered = true;
        // A correction replayed before the registration keeps its `ref`.
        if self.correction().is_none() {
            self.live.reference = e.reference.clone();
        }
        self.registration = Some(Registration {
            reference: e.reference.clone(),
            lines: Lines::from(&e.address),
            canonical: Canonical::from(&e.canonical),
            source: Origin::from(&e.source),
            flags: e.flags.iter().map(Flag::from).collect(),
            registered_at: e.registered_at,
            seq,
            actor: match &e.source {
                AddressSource::Curator { actor, .. } => Some(actor.clone()),
                _ => None,
            },
            reason: match &e.source {
                AddressSource::Curator { reason, .. } => reason.clone(),
                _ => None,
            },
        });
        self.touch(seq);
        true
    }

    pub fn touch(&mut self, seq: u64) {
        self.live.last_seq = self.live.last_seq.max(seq);
    }

    pub fn add_spelling(&mut self, street: &str, seq: u64) {
        let street = street.trim();
        if street.is_empty() {
            return;
        }
        let spellings = &mut self.live.spellings;
        match spellings.iter_mut().find(|s| s.street == street) {
            Some(s) => s.seq = s.seq.max(seq),
            None => spellings.push(Spelling { street: street.to_owned(), seq }),
        }
        spellings.sort_by_key(|s| std::cmp::Reverse(s.seq));
        spellings.truncate(MAX_SPELLINGS);
        self.touch(seq);
    }

    fn correction(&self) -> Option<&Correction> {
        self.live.curation.as_ref().and_then(|c| c.correction.as_ref())
    }

    pub fn status(&self) -> AddressState {
        self.live.curation.as_ref().map_or(AddressState::Active, |c| c.status())
    }

    /// The current street line, if known (for an alias on the survivor).
    /// The ids that stand for this address.
    pub fn aliases(&self) -> Vec<AddressAlias> {
        self.live.curation.as_ref().map(|c| c.aliases.clone()).unwrap_or_default()
    }

    pub fn street(&self) -> Option<String> {
        match (self.correction(), &self.registration) {
            (Some(c), _) => Some(c.lines.street.clone()),
            (None, Some(r)) => Some(r.lines.street.clone()),
            (None, None) => None,
        }
    }

    /// Marks `seq` applied to this document; false if it was before.
    fn first_time(&mut self, seq: u64) -> bool {
        let c = self.live.curation.get_or_insert_with(Box::default);
        match c.applied.binary_search(&seq) {
            Ok(_) => false,
            Err(i) => {
                c.applied.insert(i, seq);
                self.touch(seq);
                true
            }
        }
    }

    fn curation(&mut self) -> &mut Curation {
        self.live.curation.get_or_insert_with(Box::default)
    }

    /// Applies a curation event to the address it names; true if it was
    /// new (each applies once). The survivor's side of a merge is
    /// [`merged_from`](Self::merged_from); an alias's is [`aliased`](Self::aliased).
    pub fn curate(&mut self, seq: u64, at: DateTime<Utc>, e: &BaseAddressEvent) -> bool {
        if !self.first_time(seq) {
            return false;
        }
        let h = match e {
            BaseAddressEvent::BaseAddressCorrected(e) => self.corrected(seq, at, e),
            BaseAddressEvent::BaseAddressMerged(e) => {
                self.curation().merged = Some((e.into, seq));
                let mut h = entry(seq, BaseAddressEvent::MERGED, at, Some(&e.actor));
                h.reason = e.reason.clone();
                h.merged_into = Some(e.into);
                h
            }
            BaseAddressEvent::BaseAddressRetired(BaseAddressRetired { actor, reason, .. }) => {
                self.curation().retired_seq = Some(seq);
                let mut h = entry(seq, BaseAddressEvent::RETIRED, at, Some(actor));
                h.reason = Some(reason.clone());
                h
            }
            BaseAddressEvent::BaseAddressRegistered(_) | BaseAddressEvent::BaseAddressAliased(_) => return true,
        };
        self.history.push(h);
        true
    }

    fn corrected(&mut self, seq: u64, at: DateTime<Utc>, e: &BaseAddressCorrected) -> AddressHistoryEntry {
        let after = Lines::from(&e.address);
        let mut h = entry(seq, BaseAddressEvent::CORRECTED, at, Some(&e.actor));
        h.reason = e.reason.clone();
        h.changes = correction_changes(e);
        if self.correction().is_none_or(|c| c.seq < seq) {
            self.live.reference = e.reference.clone();
            self.curation().correction = Some(Correction {
                seq,
                lines: after,
                reference: e.reference.clone(),
                canonical: Canonical::from(&e.canonical),
            });
        }
        h
    }

    /// The survivor's side of a merge: `merged` (whose street line was
    /// `street`, when known) is an alias now. True if new.
    /// The survivor's side of a merge: the merged address, and every id
    /// that stood for it (`inherited`: an earlier merge into it, a
    /// reserved spelling), become its aliases, so a chain of merges lists
    /// every address it absorbed.
    pub fn merged_from(
        &mut self,
        seq: u64,
        e: &BaseAddressMerged,
        street: Option<String>,
        inherited: Vec<AddressAlias>,
    ) -> bool {
        if !self.first_time(seq) {
            return false;
        }
        let alias =
            AddressAlias { id: e.base_address_id, kind: AliasKind::Merged, street, key: None, since: e.merged_at };
        self.add_alias(alias);
        for alias in inherited {
            self.add_alias(alias);
        }
        let mut h = entry(seq, BaseAddressEvent::MERGED, e.merged_at, Some(&e.actor));
        h.reason = e.reason.clone();
        h.merged_from = Some(e.base_address_id);
        self.history.push(h);
        true
    }

    /// The survivor's side of `BaseAddressAliased`: an id reserved for it.
    pub fn aliased(&mut self, seq: u64, e: &BaseAddressAliased) -> bool {
        if !self.first_time(seq) {
            return false;
        }
        let kind = match e.reason {
            AliasReason::Rekeyed { .. } => AliasKind::Rekeyed,
            AliasReason::Corrected => AliasKind::Corrected,
        };
        let alias =
            AddressAlias { id: e.base_address_id, kind, street: None, key: Some(e.key.clone()), since: e.aliased_at };
        self.add_alias(alias);
        true
    }

    fn add_alias(&mut self, alias: AddressAlias) {
        let aliases = &mut self.curation().aliases;
        if !aliases.iter().any(|a| a.id == alias.id) {
            aliases.push(alias);
            // Oldest first, whatever the arrival order.
            aliases.sort_by(|a, b| a.since.cmp(&b.since).then(a.id.cmp(&b.id)));
        }
    }

    /// The lines, ref and canonical form in force: the latest correction's,
    /// else the registration's.
    fn current(&self) -> Option<(&Lines, Option<&String>, &Canonical)> {
        match (self.correction(), &self.registration) {
            (Some(c), Some(_)) => Some((&c.lines, c.reference.as_ref(), &c.canonical)),
            (None, Some(r)) => Some((&r.lines, r.reference.as_ref(), &r.canonical)),
            (_, None) => None,
        }
    }

    pub fn keys(&self) -> Option<AddressKeys> {
        use crate::query::{normalize_city, normalize_country, normalize_postal_code, street_tokens};
        let (lines, reference, canonical) = self.current()?;
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        let pick = |c: &String, l: &Option<String>| if c.is_empty() { l.clone() } else { Some(c.clone()) };
        let postal = pick(&canonical.postal_code, &lines.postal_code);
        let city = pick(&canonical.city, &lines.city);
        let country = pick(&canonical.country, &lines.country);
        let mut tokens = street_tokens(&canonical.street);
        for t in street_tokens(&lines.street) {
            if !tokens.contains(&t) {
                tokens.push(t);
            }
        }
        let status = self.status();
        Some(AddressKeys {
            postal_code: postal.map(|p| normalize_postal_code(&p)).and_then(non_empty),
            city: city.map(|c| normalize_city(&c)).and_then(non_empty),
            country: country.map(|c| normalize_country(&c)).and_then(non_empty),
            reference: reference.cloned().and_then(non_empty),
            status: (status != AddressState::Active).then(|| status.as_str().to_owned()),
            tokens,
        })
    }

    pub fn view(&self) -> Option<AddressView> {
        self.clone().into_view()
    }

    /// The view, moving the fields instead of copying them: a list page
    /// builds twenty of these from documents it then drops.
    pub fn into_view(self) -> Option<AddressView> {
        let r = self.registration?;
        let status = self.live.curation.as_ref().map_or(AddressState::Active, |c| c.status());
        let curation = self.live.curation.map(|c| *c).unwrap_or_default();
        let (lines, reference, canonical, flags) = match curation.correction {
            // The registration's flags said what its lines lacked; a
            // correction may have filled a line in, or cleared one.
            Some(c) => {
                let flags = corrected_flags(&r.flags, (&r.lines, &r.canonical), (&c.lines, &c.canonical));
                (c.lines, c.reference, c.canonical, flags)
            }
            None => (r.lines, r.reference, r.canonical, r.flags),
        };
        Some(AddressView {
            id: self.id,
            reference,
            lines,
            canonical,
            spellings: self.live.spellings.into_iter().map(|s| s.street).collect(),
            subscription_count: self.live.subscription_count.saturating_sub(self.live.moved_out),
            created_at: r.registered_at,
            source: r.source,
            flags,
            last_seq: self.live.last_seq,
            status,
            merged_into: curation.merged.map(|(into, _)| into),
            aliases: curation.aliases,
        })
    }

    /// The address's history: its registration, then `entries` (its
    /// curation events and the merges into it), in stream order. `None`
    /// until registered.
    pub fn history_view(&self, mut entries: Vec<AddressHistoryEntry>) -> Option<Vec<AddressHistoryEntry>> {
        let r = self.registration.as_ref()?;
        let mut first = entry(r.seq, BaseAddressEvent::REGISTERED, r.registered_at, r.actor.as_deref());
        first.reason = r.reason.clone();
        first.changes = line_changes(None, (&r.lines, r.reference.as_deref()));
        entries.push(first);
        entries.sort_by_key(|e| e.stream_sequence);
        entries.dedup_by_key(|e| e.stream_sequence);
        Some(entries)
    }
}
