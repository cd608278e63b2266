//! The codec's round trips, old layouts and damaged values.

use super::*;
use crate::apply::{Batch, DocSource};
use crate::fold::AddressDoc;
use masthead_testdata::events::{generate, SynthConfig};
use std::collections::HashMap;

struct Memory(HashMap<Uuid, SubscriptionDoc>, HashMap<Uuid, AddressDoc>);

impl DocSource for Memory {
    fn load_subscription(&mut self, id: Uuid) -> Result<Option<SubscriptionDoc>, StoreError> {
        Ok(self.0.get(&id).cloned())
    }
    fn load_address(&mut self, id: Uuid) -> Result<Option<AddressDoc>, StoreError> {
        Ok(self.1.get(&id).cloned())
    }
}

/// Every document a synthetic stream produces, in every state it passes
/// through (batches of 7 events catch documents half-way).
fn documents() -> (Vec<SubscriptionDoc>, Vec<AddressLive>) {
    let events = generate(&SynthConfig::for_events(3_000));
    let mut mem = Memory(HashMap::new(), HashMap::new());
    let (mut subs, mut lives) = (Vec::new(), Vec::new());
    for chunk in events.chunks(7) {
        let mut batch = Batch::new(0);
        batch.apply_all(&mut mem, chunk).expect("in-memory source cannot fail");
        for (id, slot) in batch.subs {
            subs.push(slot.doc.clone());
            mem.0.insert(id, slot.doc);
        }
        for (id, slot) in batch.addrs {
            lives.push(slot.doc.live.clone());
            mem.1.insert(id, slot.doc);
        }
    }
    // A match replayed before its request leaves a partial document;
    // an in-order stream never does, so derive some.
    let partial: Vec<_> = subs
        .iter()
        .filter(|d| d.resolution.is_some())
        .take(20)
        .map(|d| SubscriptionDoc { requested: None, sent: None, ..d.clone() })
        .collect();
    subs.extend(partial);
    // Erased subscriptions: no sealed blob, an erasure time.
    let at = DateTime::from_timestamp(1_800_000_000, 7).unwrap();
    let erased: Vec<_> = subs
        .iter()
        .filter(|d| d.requested.is_some())
        .take(20)
        .map(|d| {
            let mut d = d.clone();
            d.requested.as_mut().unwrap().subscriber = None;
            d.erased_at = Some(at);
            d
        })
        .collect();
    subs.extend(erased);
    (subs, lives)
}

/// Layout 1 as the previous build wrote it: the sealed subscriber
/// always present, nothing after `last_seq`.
fn encode_v1(doc: &SubscriptionDoc) -> Vec<u8> {
    let mut v2 = Vec::new();
    let without = SubscriptionDoc {
        erased_at: None,
        opt_in: None,
        opted_in_at: None,
        withheld: None,
        moves: Vec::new(),
        corrections_sent: 0,
        ..doc.clone()
    };
    encode_subscription(&mut v2, &without);
    // Layout 2 differs in three places: the tag, a presence byte
    // before the sealed fields (found by encoding the fields alone),
    // and the four trailing absent fields (erasure, opt-in, opted in,
    // withheld).
    let mut sealed = Vec::new();
    if let Some(p) = doc.requested.as_ref().and_then(|r| r.subscriber.as_ref()) {
        let mut w = Writer(&mut sealed);
        for s in [&p.alg, &p.key_id, &p.nonce, &p.ciphertext] {
            w.str(s);
        }
    }
    let mut v1 = v2.clone();
    v1[0] = SUB_V1;
    if !sealed.is_empty() {
        let at = v2.windows(sealed.len() + 1).position(|w| w[0] == 1 && w[1..] == sealed[..]).unwrap();
        v1.remove(at);
    }
    // Layout 3 adds two more: no correction mails, no moves.
    let tail = v1.split_off(v1.len() - 6);
    assert_eq!(tail, [0; 6], "four absent fields end layout 2, two layout 3");
    v1
}

#[test]
fn layout_1_documents_still_decode() {
    let (subs, _) = documents();
    let mut checked = 0;
    for doc in subs.iter().filter(|d| d.erased_at.is_none()) {
        if doc.requested.as_ref().is_some_and(|r| r.subscriber.is_none()) {
            continue;
        }
        assert_eq!(&decode_subscription(&encode_v1(doc)).unwrap(), doc);
        checked += 1;
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn documents_round_trip_and_are_smaller_than_json() {
    let (subs, lives) = documents();
    assert!(subs.iter().any(|d| d.failure.is_some() && d.sent.is_some() && d.requested.is_some()));
    assert!(subs.iter().any(|d| d.requested.is_none()), "partial documents are covered");
    assert!(subs.iter().any(|d| d.erased_at.is_some()), "erased documents are covered");
    assert!(lives.iter().any(|l| l.spellings.len() > 1 && l.reference.is_some()));
    let (mut binary, mut json) = (0, 0);
    let mut buf = Vec::new();
    for doc in &subs {
        encode_subscription(&mut buf, doc);
        assert_eq!(&decode_subscription(&buf).unwrap(), doc);
        binary += buf.len();
        let j = serde_json::to_vec(doc).unwrap();
        json += j.len();
        // Files written before this encoding stay readable (as they
        // read before: serde_json may be off by one ULP on a score).
        let legacy: SubscriptionDoc = serde_json::from_slice(&j).unwrap();
        assert_eq!(decode_subscription(&j).unwrap(), legacy);
    }
    assert!(binary * 10 < json * 6, "binary {binary} bytes vs JSON {json}");
    for live in &lives {
        encode_live(&mut buf, live, None);
        assert_eq!(decode_live(&buf).unwrap(), (live.clone(), None));
        assert_eq!(decode_live(&serde_json::to_vec(live).unwrap()).unwrap(), (live.clone(), None));
        assert_eq!(decode_live_head(&buf).unwrap(), head_of(live));
        assert_eq!(decode_live_head(&serde_json::to_vec(live).unwrap()).unwrap(), head_of(live));
    }
}

#[test]
fn extreme_values_round_trip() {
    let (subs, _) = documents();
    let mut doc = subs.into_iter().find(|d| d.resolution.is_some() && d.requested.is_some()).unwrap();
    doc.last_seq = u64::MAX;
    doc.timeline.push(Stamp(u8::MAX, i64::MIN, u64::MAX));
    doc.timeline.push(Stamp(0, i64::MAX, 0));
    if let Some(r) = &mut doc.resolution {
        r.score = Some(-0.0);
        r.decided_at = DateTime::from_timestamp(-62_000_000_000, 999_999_999).unwrap();
        r.base_address_ref = Some("é\u{0}\"{".into());
    }
    let mut buf = Vec::new();
    encode_subscription(&mut buf, &doc);
    let back = decode_subscription(&buf).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.resolution.unwrap().score.unwrap().to_bits(), (-0.0f64).to_bits());
}

#[test]
fn opt_in_and_withheld_mail_round_trip_and_layout_1_still_reads() {
    let (subs, _) = documents();
    let plain = subs.into_iter().find(|d| d.resolution.is_some() && d.requested.is_some()).unwrap();
    let mut buf = Vec::new();
    assert_eq!(decode_subscription(&encode_v1(&plain)).unwrap(), plain);
    let at = DateTime::from_timestamp(1_800_000_000, 5).unwrap();
    let mut doc = plain;
    doc.opt_in = Some(OptIn { message_id: "<opt-in.1@x>".into(), sent_at: at, expires_at: at });
    doc.opted_in_at = Some(at);
    doc.withheld = Some(Withheld { reason: "recipient_limit".into(), limit: 3, withheld_at: at });
    encode_subscription(&mut buf, &doc);
    assert_eq!(decode_subscription(&buf).unwrap(), doc);
    // Both sets of layout 2's fields at once: erased and opted in.
    doc.erased_at = Some(at);
    if let Some(r) = &mut doc.requested {
        r.subscriber = None;
    }
    encode_subscription(&mut buf, &doc);
    assert_eq!(decode_subscription(&buf).unwrap(), doc);
}

#[test]
fn damaged_values_are_errors_not_panics() {
    let (subs, lives) = documents();
    let mut buf = Vec::new();
    encode_subscription(&mut buf, subs.iter().find(|d| d.requested.is_some()).unwrap());
    // Every truncation, and every single-byte corruption, either fails
    // cleanly or decodes to something; none panics.
    for n in 0..buf.len() {
        assert!(decode_subscription(&buf[..n]).is_err(), "truncated at {n} decoded");
    }
    for i in 0..buf.len() {
        for x in [0x00, 0x01, 0x7F, 0x80, 0xFF] {
            let mut damaged = buf.clone();
            damaged[i] ^= x;
            let _ = decode_subscription(&damaged);
        }
    }
    let mut extra = buf.clone();
    extra.push(0);
    assert!(matches!(decode_subscription(&extra), Err(StoreError::Corrupt(_))));
    assert!(decode_subscription(&[0x42, 1, 2]).is_err());
    encode_live(&mut buf, &lives[0], None);
    for n in 0..buf.len() {
        assert!(decode_live(&buf[..n]).is_err(), "truncated at {n} decoded");
    }
    // A length that claims more than is there.
    assert!(decode_live(&[LIVE_V1, 1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).is_err());
}

#[test]
fn address_rows_carry_registration_and_curation() {
    use crate::fold::{Correction, Curation};
    use crate::view::{AddressAlias, AliasKind, Flag, Origin};
    let events = generate(&SynthConfig::for_events(2_000));
    let mut mem = Memory(HashMap::new(), HashMap::new());
    let mut batch = Batch::new(0);
    batch.apply_all(&mut mem, &events).unwrap();
    let mut buf = Vec::new();
    let mut rows = 0;
    for slot in batch.addrs.values() {
        let mut live = slot.doc.live.clone();
        let mut reg = slot.doc.registration.clone();
        if rows % 3 == 1 {
            // Every other shape a row can take: curated, moved from, made
            // by the team or by a subscription, flagged.
            live.moved_out = 2;
            live.curation = Some(Box::new(Curation {
                merged: Some((Uuid::from_u128(5), 9)),
                retired_seq: Some(4),
                correction: reg.as_ref().map(|r| Correction {
                    seq: 8,
                    lines: r.lines.clone(),
                    reference: None,
                    canonical: r.canonical.clone(),
                }),
                aliases: vec![AddressAlias {
                    id: Uuid::from_u128(6),
                    kind: AliasKind::Corrected,
                    street: None,
                    key: Some("NL|3511LX|utrecht|domplein|31".into()),
                    since: Utc::now(),
                }],
                applied: vec![4, 8, 9],
            }));
            if let Some(r) = reg.as_mut() {
                r.source = if rows % 2 == 0 {
                    Origin::Curation
                } else {
                    Origin::Subscription { subscription_id: Uuid::from_u128(3) }
                };
                r.flags =
                    vec![Flag::MissingHouseNumber, Flag::MissingPostalCode, Flag::MissingCity, Flag::MissingCountry];
                r.actor = Some("ada".into());
                // A reason is written last, after the actor, only when
                // there is one (every other row of this kind has none).
                r.reason = (rows % 2 == 0).then(|| "new building".into());
            }
        }
        encode_live(&mut buf, &live, reg.as_ref());
        if let Some(r) = &reg {
            let json = serde_json::to_vec(r).unwrap().len() + serde_json::to_vec(&live).unwrap().len();
            assert!(buf.len() < json, "the row is smaller than its parts as JSON");
        }
        assert_eq!(decode_live_head(&buf).unwrap(), head_of(&live));
        assert_eq!(decode_live(&buf).unwrap(), (live, reg));
        rows += 1;
    }
    assert!(rows > 100, "{rows}");
}

/// What `decode_live_head` should read from a row holding `live`.
fn head_of(live: &AddressLive) -> (bool, Option<String>, AddressState) {
    let status = live.curation.as_ref().map_or(AddressState::Active, |c| c.status());
    (live.registered, live.reference.clone(), status)
}
