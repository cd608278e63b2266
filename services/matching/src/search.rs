//! Search-as-you-type ranking of street names for the read API.
//!
//! fuzzy-matcher's skim scoring rewards in-order subsequence hits, which
//! is what a user typing `kerkst` into a box wants. It is not a duplicate
//! detector: `Kerkstraat 12` is a perfect subsequence of `Kerkstraat 123`.

use fuzzy_matcher::skim::SkimMatcherV2;
use fuzzy_matcher::FuzzyMatcher;

use crate::normalize::text::to_ascii_lower;

/// Ranks `candidates` against a partial `query`: `(index, score)` best
/// first, non-matching candidates omitted. Diacritics and case are folded
/// on both sides, so `mod` finds `Mödlinger Straße`.
pub fn rank_streets<S: AsRef<str>>(query: &str, candidates: &[S]) -> Vec<(usize, i64)> {
    let query = to_ascii_lower(query);
    let query = query.split_whitespace().collect::<Vec<_>>().join(" ");
    if query.is_empty() {
        return Vec::new();
    }
    let matcher = SkimMatcherV2::default();
    let mut ranked: Vec<(usize, i64)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(i, c)| matcher.fuzzy_match(&to_ascii_lower(c.as_ref()), &query).map(|s| (i, s)))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_typing_ranks_the_intended_street_first() {
        let streets = ["Molenweg", "Kerkstraat", "Kerkweg", "Mödlinger Straße"];
        let r = rank_streets("kerkst", &streets);
        assert_eq!(r.first().map(|x| x.0), Some(1));
        assert!(r.iter().all(|(i, _)| *i != 0));
        let r = rank_streets("modl", &streets);
        assert_eq!(r.first().map(|x| x.0), Some(3));
        assert!(rank_streets("   ", &streets).is_empty());
    }
}
