//! The engine's results as the domain's event fields: what `AddressMatched`,
//! `AddressAssigned` and `BaseAddressRegistered` record about a decision.

use crate::{
    normalize, AddressInput, Agreement, Candidate, Canonical, Explanation, ReviewReason, Veto, NORMALIZER_VERSION,
};
use masthead_domain::subscription::SubscriptionRequested;
use masthead_domain::{
    AddressLines, CanonicalAddress, FieldAgreement, FieldWeights, MatchExplanation, ReviewCandidate, ReviewRequest,
};

fn agreement(a: Agreement) -> FieldAgreement {
    match a {
        Agreement::Exact => FieldAgreement::Exact,
        Agreement::Equivalent => FieldAgreement::Equivalent,
        Agreement::Similar => FieldAgreement::Similar,
        Agreement::Missing => FieldAgreement::Missing,
        Agreement::Different => FieldAgreement::Different,
    }
}

/// The explanation an event records; `probability` is the candidate's.
pub fn explanation(e: &Explanation, probability: f64) -> MatchExplanation {
    let w = &e.weights;
    MatchExplanation {
        street_similarity: (e.street_similarity * 100.0).clamp(0.0, 100.0),
        street: agreement(e.street),
        house_number: agreement(e.house_number),
        postal_code: agreement(e.postal_code),
        city: agreement(e.city),
        country: agreement(e.country),
        probability: Some(probability),
        weights: e.comparison.map(|_| FieldWeights {
            street: w.street,
            street_type: w.street_type,
            postal_code: w.postal_code,
            city: w.city,
        }),
    }
}

fn reason(r: ReviewReason) -> masthead_domain::ReviewReason {
    match r {
        ReviewReason::UncertainMatch => masthead_domain::ReviewReason::UncertainMatch,
        ReviewReason::Ambiguous => masthead_domain::ReviewReason::Ambiguous,
        ReviewReason::PossibleMatch => masthead_domain::ReviewReason::PossibleMatch,
        ReviewReason::MissingHouseNumber => masthead_domain::ReviewReason::MissingHouseNumber,
        ReviewReason::RetiredAddress => masthead_domain::ReviewReason::RetiredAddress,
    }
}

fn veto_name(v: Veto) -> &'static str {
    match v {
        Veto::HouseNumber => "house_number",
        Veto::StreetName => "street_name",
        Veto::StreetType => "street_type",
        Veto::Country => "country",
        Veto::PostalCode => "postal_code",
        Veto::Locality => "locality",
    }
}

/// What a grey-zone decision puts before the address team.
pub fn review_request(r: ReviewReason, candidates: &[Candidate]) -> ReviewRequest {
    ReviewRequest {
        reason: reason(r),
        candidates: candidates
            .iter()
            .map(|c| ReviewCandidate {
                base_address_id: c.id,
                probability: c.probability,
                explanation: explanation(&c.explanation, c.probability),
                veto: c.veto.map(|v| veto_name(v).to_owned()),
            })
            .collect(),
    }
}

pub fn canonical_address(c: &Canonical) -> CanonicalAddress {
    CanonicalAddress {
        key: c.key(),
        street: c.street.clone(),
        house_number: c.house_number.clone(),
        postal_code: c.postal_code.clone(),
        city: c.city.clone(),
        country: c.country.clone(),
        house_name: c.house_name.clone(),
        version: NORMALIZER_VERSION,
    }
}

/// The canonical form to index a stored base address under: the stored
/// one when the current normaliser wrote it, else the lines normalised
/// again (the address keeps its id; see README, "Stable keys").
pub fn current_canonical(stored: &CanonicalAddress, lines: &AddressLines) -> Canonical {
    if stored.key.is_empty() || stored.version < NORMALIZER_VERSION {
        return canonical_of(lines);
    }
    Canonical {
        street: stored.street.clone(),
        house_number: stored.house_number.clone(),
        postal_code: stored.postal_code.clone(),
        city: stored.city.clone(),
        country: stored.country.clone(),
        house_name: stored.house_name.clone(),
    }
}

pub fn entered_canonical(req: &SubscriptionRequested) -> Canonical {
    normalize(&AddressInput {
        street: &req.address.street,
        postal_code: &req.address.postal_code,
        city: &req.address.city,
        country: req.address.country.code(),
    })
}

/// The canonical form of a base address's curated lines.
pub fn canonical_of(lines: &AddressLines) -> Canonical {
    normalize(&AddressInput {
        street: &lines.street,
        postal_code: lines.postal_code.as_deref().unwrap_or(""),
        city: lines.city.as_deref().unwrap_or(""),
        country: lines.country.as_ref().map_or("", |c| c.code()),
    })
}
