//! The engine's results as the domain's event fields: what `AddressMatched`,
//! `AddressAssigned` and `BaseAddressRegistered` record about a decision.

use crate::{normalize, AddressInput, Agreement, Canonical, Explanation};
use masthead_domain::subscription::SubscriptionRequested;
use masthead_domain::{AddressLines, CanonicalAddress, FieldAgreement, MatchExplanation};

fn agreement(a: Agreement) -> FieldAgreement {
    match a {
        Agreement::Exact => FieldAgreement::Exact,
        Agreement::Equivalent => FieldAgreement::Equivalent,
        Agreement::Similar => FieldAgreement::Similar,
        Agreement::Missing => FieldAgreement::Missing,
        Agreement::Different => FieldAgreement::Different,
    }
}

pub fn explanation(e: &Explanation) -> MatchExplanation {
    MatchExplanation {
        street_similarity: (e.street_similarity * 100.0).clamp(0.0, 100.0),
        street: agreement(e.street),
        house_number: agreement(e.house_number),
        postal_code: agreement(e.postal_code),
        city: agreement(e.city),
        country: agreement(e.country),
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
