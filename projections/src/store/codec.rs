//! The embedded store's encoding of the two documents rewritten with every
//! event: [`SubscriptionDoc`] and [`AddressLive`].
//!
//! They used to be stored as JSON, and serialising ~900-byte subscription
//! documents (field names, string escaping, RFC 3339 dates) was a quarter of
//! a rebuild's time. This is a plain length-prefixed binary layout: a tag
//! byte, then the fields in declaration order, integers as LEB128 varints,
//! times as seconds + nanoseconds (lossless, like the JSON was). It is about
//! half the size. A value starting with `{` is still read as JSON, so files
//! written before keep working and a rebuild is not needed.
//!
//! Layout changes need a new tag; the old tag must stay decodable.
//! Everything read is bounds-checked: a damaged value is
//! [`StoreError::Corrupt`], never a panic.

use crate::error::StoreError;
use crate::fold::{
    AddressLive, Curation, Failure, OptIn, Registration, Requested, Resolution, Sent, Spelling, Stamp, SubscriptionDoc,
    Withheld,
};
use crate::view::{AddressState, Canonical, EnteredAddress, Flag, IntakeChannel, Lines, Origin, OutcomeKind};
use chrono::{DateTime, Utc};
use masthead_domain::personal_data::SealedPersonalData;
use uuid::Uuid;

/// First byte of a binary subscription document, layout 1 (always a
/// sealed subscriber, no erasure).
const SUB_V1: u8 = 0xB1;
/// Layout 2: the sealed subscriber is optional (gone once erased); after
/// `last_seq` come the erasure time, then the double opt-in and
/// withheld-mail fields.
const SUB_V2: u8 = 0xB2;
/// Layout 3: layout 2, then the correction mails sent and the delivery
/// moves (JSON, since they are rare; one byte when there are none).
const SUB_V3: u8 = 0xB3;
/// First byte of binary address counters (layout 1).
const LIVE_V1: u8 = 0xA1;
/// Layout 2: layout 1, then the subscriptions moved away, the curation
/// (JSON, since it is rare; one byte for an address nobody curated), and
/// the registration (binary), which files before it kept in `addresses`.
const LIVE_V2: u8 = 0xA2;

fn corrupt(what: &str, why: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: {why}"))
}

/// Appends fields to a buffer.
struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn i64(&mut self, v: i64) {
        // Zigzag, so small negative values stay short.
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn uuid(&mut self, v: &Uuid) {
        self.0.extend_from_slice(v.as_bytes());
    }

    fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.str(s);
            }
        }
    }

    fn time(&mut self, t: &DateTime<Utc>) {
        self.i64(t.timestamp());
        self.varint(u64::from(t.timestamp_subsec_nanos()));
    }

    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_bits().to_le_bytes());
    }

    /// A rare, optional part as length-prefixed JSON (serialising our own
    /// types cannot fail; if it did, the part would read back absent).
    fn rare_json<T: serde::Serialize>(&mut self, v: Option<&T>) {
        let json = v.and_then(|v| serde_json::to_vec(v).ok());
        self.opt(json.as_ref(), |w, j| {
            w.varint(j.len() as u64);
            w.0.extend_from_slice(j);
        });
    }

    /// `Some` as 1 followed by the value, `None` as 0.
    fn opt<T>(&mut self, v: Option<&T>, write: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                write(self, v);
            }
        }
    }
}

/// Reads fields back, failing on anything out of bounds or malformed.
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn err(&self, why: &str) -> StoreError {
        corrupt(self.what, why)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.rest.len() < n {
            return Err(self.err("truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, StoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("bad boolean")),
        }
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            let bits = u64::from(b & 0x7F);
            if shift == 63 && bits > 1 {
                return Err(self.err("varint overflows"));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.varint()?).map_err(|_| self.err("u32 out of range"))
    }

    fn uuid(&mut self) -> Result<Uuid, StoreError> {
        let b = self.take(16)?;
        Uuid::from_slice(b).map_err(|_| self.err("bad uuid"))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let n = self.varint()?;
        // A length can never exceed what is left; checking here keeps a
        // damaged length from reserving a huge allocation.
        usize::try_from(n).ok().filter(|n| *n <= self.rest.len()).ok_or_else(|| self.err("length past the end"))
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let n = self.len()?;
        let b = self.take(n)?;
        std::str::from_utf8(b).map(str::to_owned).map_err(|_| self.err("text is not UTF-8"))
    }

    fn present(&mut self) -> Result<bool, StoreError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.err("bad option tag")),
        }
    }

    fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T, StoreError>) -> Result<Option<T>, StoreError> {
        if self.present()? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }

    fn rare_json<T: serde::de::DeserializeOwned>(&mut self) -> Result<Option<T>, StoreError> {
        self.opt(|r| {
            let n = r.len()?;
            let b = r.take(n)?;
            serde_json::from_slice(b).map_err(|e| r.err(&e.to_string()))
        })
    }

    fn opt_string(&mut self) -> Result<Option<String>, StoreError> {
        self.opt(Self::string)
    }

    fn time(&mut self) -> Result<DateTime<Utc>, StoreError> {
        let secs = self.i64()?;
        let nanos = self.u32()?;
        DateTime::from_timestamp(secs, nanos).ok_or_else(|| self.err("time out of range"))
    }

    fn f64(&mut self) -> Result<f64, StoreError> {
        let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| self.err("truncated"))?;
        Ok(f64::from_bits(u64::from_le_bytes(b)))
    }

    fn end(&self) -> Result<(), StoreError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err("trailing bytes"))
        }
    }
}

/// Writes `doc` into `buf` (cleared first).
pub(crate) fn encode_subscription(buf: &mut Vec<u8>, doc: &SubscriptionDoc) {
    buf.clear();
    let mut w = Writer(buf);
    w.u8(SUB_V3);
    w.uuid(&doc.id);
    w.opt(doc.requested.as_ref(), |w, r| {
        let e = &r.entered;
        for s in [&e.street, &e.postal_code, &e.city, &e.country, &e.country_as_typed] {
            w.str(s);
        }
        w.u8(match r.channel {
            IntakeChannel::Api => 0,
            IntakeChannel::Form => 1,
        });
        w.time(&r.requested_at);
        w.opt(r.subscriber.as_ref(), |w, p| {
            for s in [&p.alg, &p.key_id, &p.nonce, &p.ciphertext] {
                w.str(s);
            }
        });
    });
    w.opt(doc.resolution.as_ref(), |w, r| {
        w.u8(match r.kind {
            OutcomeKind::Matched => 0,
            OutcomeKind::New => 1,
        });
        w.uuid(&r.base_address_id);
        w.opt_str(r.base_address_ref.as_deref());
        w.str(&r.delivery.street);
        w.opt_str(r.delivery.postal_code.as_deref());
        w.opt_str(r.delivery.city.as_deref());
        w.opt_str(r.delivery.country.as_deref());
        w.opt(r.score.as_ref(), |w, s| w.f64(*s));
        w.time(&r.decided_at);
        w.varint(r.seq);
    });
    w.opt(doc.sent.as_ref(), |w, s| {
        w.str(&s.message_id);
        w.time(&s.sent_at);
    });
    w.opt(doc.failure.as_ref(), |w, f| {
        w.str(&f.reason);
        w.varint(u64::from(f.attempts));
        w.bool(f.permanent);
        w.time(&f.failed_at);
        w.varint(f.seq);
    });
    w.varint(doc.timeline.len() as u64);
    for Stamp(kind, at, seq) in &doc.timeline {
        w.u8(*kind);
        w.i64(*at);
        w.varint(*seq);
    }
    w.varint(doc.last_seq);
    w.opt(doc.erased_at.as_ref(), Writer::time);
    w.opt(doc.opt_in.as_ref(), |w, o| {
        w.str(&o.message_id);
        w.time(&o.sent_at);
        w.time(&o.expires_at);
    });
    w.opt(doc.opted_in_at.as_ref(), Writer::time);
    w.opt(doc.withheld.as_ref(), |w, h| {
        w.str(&h.reason);
        w.varint(u64::from(h.limit));
        w.time(&h.withheld_at);
    });
    w.varint(doc.corrections_sent);
    w.rare_json((!doc.moves.is_empty()).then_some(&doc.moves));
}

/// Reads a subscription document in either encoding.
pub(crate) fn decode_subscription(bytes: &[u8]) -> Result<SubscriptionDoc, StoreError> {
    const WHAT: &str = "subscription document";
    match bytes.first() {
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| corrupt(WHAT, &e.to_string())),
        Some(&tag @ (SUB_V1 | SUB_V2 | SUB_V3)) => {
            let mut r = Reader { rest: &bytes[1..], what: WHAT };
            let mut doc = read_subscription(&mut r, tag != SUB_V1)?;
            if tag != SUB_V1 {
                read_v2_extras(&mut r, &mut doc)?;
            }
            if tag == SUB_V3 {
                doc.corrections_sent = r.varint()?;
                doc.moves = r.rare_json()?.unwrap_or_default();
            }
            r.end()?;
            Ok(doc)
        }
        _ => Err(corrupt(WHAT, "unknown encoding")),
    }
}

fn read_sealed(r: &mut Reader<'_>) -> Result<SealedPersonalData, StoreError> {
    Ok(SealedPersonalData { alg: r.string()?, key_id: r.string()?, nonce: r.string()?, ciphertext: r.string()? })
}

/// Layout 1 (`v2` false) or 2 (`v2` true) up to `last_seq`; they differ
/// there only in the subscriber. Layout 2's trailing fields are
/// [`read_v2_extras`].
fn read_subscription(r: &mut Reader<'_>, v2: bool) -> Result<SubscriptionDoc, StoreError> {
    let id = r.uuid()?;
    let requested = r.opt(|r| {
        let entered = EnteredAddress {
            street: r.string()?,
            postal_code: r.string()?,
            city: r.string()?,
            country: r.string()?,
            country_as_typed: r.string()?,
        };
        let channel = match r.u8()? {
            0 => IntakeChannel::Api,
            1 => IntakeChannel::Form,
            _ => return Err(r.err("bad channel")),
        };
        let requested_at = r.time()?;
        let subscriber = if v2 { r.opt(read_sealed)? } else { Some(read_sealed(r)?) };
        Ok(Requested { entered, channel, requested_at, subscriber })
    })?;
    let resolution = r.opt(|r| {
        let kind = match r.u8()? {
            0 => OutcomeKind::Matched,
            1 => OutcomeKind::New,
            _ => return Err(r.err("bad outcome kind")),
        };
        Ok(Resolution {
            kind,
            base_address_id: r.uuid()?,
            base_address_ref: r.opt_string()?,
            delivery: Lines {
                street: r.string()?,
                postal_code: r.opt_string()?,
                city: r.opt_string()?,
                country: r.opt_string()?,
            },
            score: r.opt(Reader::f64)?,
            decided_at: r.time()?,
            seq: r.varint()?,
        })
    })?;
    let sent = r.opt(|r| Ok(Sent { message_id: r.string()?, sent_at: r.time()? }))?;
    let failure = r.opt(|r| {
        Ok(Failure {
            reason: r.string()?,
            attempts: r.u32()?,
            permanent: r.bool()?,
            failed_at: r.time()?,
            seq: r.varint()?,
        })
    })?;
    // Each stamp takes at least three bytes: a bound on the count.
    let n = r.len()?;
    let mut timeline = Vec::with_capacity(n / 3);
    for _ in 0..n {
        timeline.push(Stamp(r.u8()?, r.i64()?, r.varint()?));
    }
    let last_seq = r.varint()?;
    Ok(SubscriptionDoc {
        id,
        requested,
        resolution,
        sent,
        failure,
        timeline,
        last_seq,
        erased_at: None,
        opt_in: None,
        opted_in_at: None,
        withheld: None,
        moves: Vec::new(),
        corrections_sent: 0,
    })
}

/// The fields layout 2 adds after `last_seq`: the erasure time, the double
/// opt-in and the withheld mail.
fn read_v2_extras(r: &mut Reader<'_>, doc: &mut SubscriptionDoc) -> Result<(), StoreError> {
    doc.erased_at = r.opt(Reader::time)?;
    doc.opt_in = r.opt(|r| Ok(OptIn { message_id: r.string()?, sent_at: r.time()?, expires_at: r.time()? }))?;
    doc.opted_in_at = r.opt(Reader::time)?;
    doc.withheld = r.opt(|r| Ok(Withheld { reason: r.string()?, limit: r.u32()?, withheld_at: r.time()? }))?;
    Ok(())
}

/// Writes an address's row into `buf` (cleared first): its counters and,
/// when known, its registration.
pub(crate) fn encode_live(buf: &mut Vec<u8>, live: &AddressLive, registration: Option<&Registration>) {
    buf.clear();
    let mut w = Writer(buf);
    w.u8(LIVE_V2);
    w.bool(live.registered);
    w.opt_str(live.reference.as_deref());
    w.varint(live.spellings.len() as u64);
    for s in &live.spellings {
        w.str(&s.street);
        w.varint(s.seq);
    }
    w.varint(live.subscription_count);
    w.varint(live.last_seq);
    w.varint(live.moved_out);
    w.rare_json(live.curation.as_ref());
    w.opt(registration, write_registration);
}

const FLAGS: [Flag; 4] = [Flag::MissingPostalCode, Flag::MissingCity, Flag::MissingCountry, Flag::MissingHouseNumber];

fn write_registration(w: &mut Writer<'_>, r: &Registration) {
    w.opt_str(r.reference.as_deref());
    w.str(&r.lines.street);
    for s in [&r.lines.postal_code, &r.lines.city, &r.lines.country] {
        w.opt_str(s.as_deref());
    }
    let c = &r.canonical;
    for s in [&c.key, &c.street, &c.house_number, &c.postal_code, &c.city, &c.country] {
        w.str(s);
    }
    match &r.source {
        Origin::Import { file, line } => {
            w.u8(0);
            w.str(file);
            w.varint(*line);
        }
        Origin::Curation => w.u8(1),
        Origin::Subscription { subscription_id } => {
            w.u8(2);
            w.uuid(subscription_id);
        }
    }
    w.varint(r.flags.len() as u64);
    for f in &r.flags {
        w.u8(FLAGS.iter().position(|x| x == f).unwrap_or(0) as u8);
    }
    w.time(&r.registered_at);
    w.varint(r.seq);
    w.opt_str(r.actor.as_deref());
    // Last, and only when there is one: rows written before the reason was
    // kept end at the actor, and read as having none.
    if let Some(reason) = &r.reason {
        w.str(reason);
    }
}

fn read_registration(r: &mut Reader<'_>) -> Result<Registration, StoreError> {
    let reference = r.opt_string()?;
    let lines =
        Lines { street: r.string()?, postal_code: r.opt_string()?, city: r.opt_string()?, country: r.opt_string()? };
    let canonical = Canonical {
        key: r.string()?,
        street: r.string()?,
        house_number: r.string()?,
        postal_code: r.string()?,
        city: r.string()?,
        country: r.string()?,
    };
    let source = match r.u8()? {
        0 => Origin::Import { file: r.string()?, line: r.varint()? },
        1 => Origin::Curation,
        2 => Origin::Subscription { subscription_id: r.uuid()? },
        _ => return Err(r.err("bad source")),
    };
    let n = r.len()?;
    let mut flags = Vec::with_capacity(n);
    for _ in 0..n {
        flags.push(*FLAGS.get(usize::from(r.u8()?)).ok_or_else(|| r.err("bad flag"))?);
    }
    Ok(Registration {
        reference,
        lines,
        canonical,
        source,
        flags,
        registered_at: r.time()?,
        seq: r.varint()?,
        actor: r.opt_string()?,
        reason: if r.rest.is_empty() { None } else { Some(r.string()?) },
    })
}

/// Reads an address's row in any encoding: its counters, and its
/// registration if the row holds it (layout 2 does; older rows do not).
pub(crate) fn decode_live(bytes: &[u8]) -> Result<(AddressLive, Option<Registration>), StoreError> {
    const WHAT: &str = "address counters";
    match bytes.first() {
        Some(b'{') => Ok((serde_json::from_slice(bytes).map_err(|e| corrupt(WHAT, &e.to_string()))?, None)),
        Some(&tag @ (LIVE_V1 | LIVE_V2)) => {
            let mut r = Reader { rest: &bytes[1..], what: WHAT };
            let registered = r.bool()?;
            let reference = r.opt_string()?;
            // Each spelling takes at least two bytes.
            let n = r.len()?;
            let mut spellings = Vec::with_capacity(n / 2);
            for _ in 0..n {
                spellings.push(Spelling { street: r.string()?, seq: r.varint()? });
            }
            let mut live = AddressLive {
                registered,
                reference,
                spellings,
                subscription_count: r.varint()?,
                last_seq: r.varint()?,
                moved_out: 0,
                curation: None,
            };
            let mut registration = None;
            if tag == LIVE_V2 {
                live.moved_out = r.varint()?;
                live.curation = r.rare_json()?;
                registration = r.opt(read_registration)?;
            }
            r.end()?;
            Ok((live, registration))
        }
        _ => Err(corrupt(WHAT, "unknown encoding")),
    }
}

/// What a subscription shows of its address: whether the row holds a
/// registration, the current `ref`, and the status. Only the row's head is
/// read: a list page asks this for each subscription it shows. At the
/// store, a page of twenty cost 37 µs without the lookups, 65 µs decoding
/// whole rows (spellings, registration), 49 µs with this.
pub(crate) fn decode_live_head(bytes: &[u8]) -> Result<(bool, Option<String>, AddressState), StoreError> {
    const WHAT: &str = "address counters";
    let status = |c: Option<&Curation>| c.map_or(AddressState::Active, Curation::status);
    match bytes.first() {
        Some(b'{') => {
            let (live, _) = decode_live(bytes)?;
            let status = status(live.curation.as_deref());
            Ok((live.registered, live.reference, status))
        }
        Some(&tag @ (LIVE_V1 | LIVE_V2)) => {
            let mut r = Reader { rest: &bytes[1..], what: WHAT };
            let registered = r.bool()?;
            let reference = r.opt_string()?;
            // The spellings, skipped: each a string and a sequence.
            for _ in 0..r.len()? {
                let n = r.len()?;
                r.take(n)?;
                r.varint()?;
            }
            r.varint()?;
            r.varint()?;
            let mut state = AddressState::Active;
            if tag == LIVE_V2 {
                r.varint()?;
                let curation: Option<Box<Curation>> = r.rare_json()?;
                state = status(curation.as_deref());
            }
            Ok((registered, reference, state))
        }
        _ => Err(corrupt(WHAT, "unknown encoding")),
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
