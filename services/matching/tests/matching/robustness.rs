//! Property-style test: arbitrary user text never panics and normalises
//! deterministically; the index copes with whatever comes out.

use masthead_matching::{normalize, rank_streets, AddressInput, Decision, MatchConfig, MatchIndex};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

const POOL: &[char] = &[
    'a', 'e', 'k', 's', 't', 'r', 'S', 'T', 'ß', 'ö', 'é', 'ø', 'å', 'Ĳ', 'ĳ', '0', '1', '2', '9', ' ', ' ', ',', '.',
    '-', '/', '#', '\'', '’', '\t', '\n', '|', 'д', 'Ж', '東', '京', 'ا', 'ש', '🏠', '🦄', '\u{200d}', '\u{fe0f}',
    '\u{301}', '\u{0}', '％', '１', 'ｓ', '(', ')', '&', ';', '\\',
];

fn random_text(rng: &mut ChaCha8Rng) -> String {
    let len = match rng.random_range(0..10) {
        0 => 0,
        1 => rng.random_range(200..3000),
        _ => rng.random_range(1..40),
    };
    (0..len)
        .map(|_| {
            if rng.random_bool(0.05) {
                char::from_u32(rng.random_range(0..0x3_0000)).unwrap_or('x')
            } else {
                POOL[rng.random_range(0..POOL.len())]
            }
        })
        .collect()
}

#[test]
fn arbitrary_input_never_panics_and_is_deterministic() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xADD2E55);
    let mut index = MatchIndex::new(MatchConfig::default());
    let countries = ["", "NL", "DE", "GB", "US", "AU", "xx", "Deutschland", "🏠"];
    for i in 0..2_000u128 {
        let (street, pc, city) = (random_text(&mut rng), random_text(&mut rng), random_text(&mut rng));
        let country = countries[rng.random_range(0..countries.len())];
        let input = AddressInput { street: &street, postal_code: &pc, city: &city, country };
        let a = normalize(&input);
        let b = normalize(&input);
        assert_eq!(a, b, "non-deterministic for {input:?}");
        let key = a.key();
        assert_eq!(key.matches('|').count(), 4, "field leaked a separator: {key:?} from {input:?}");
        assert!(key.is_ascii(), "non-ASCII key {key:?}");
        if i % 2 == 0 {
            index.insert(Uuid::from_u128(i), a);
        } else {
            let _ = index.candidates(&a, 3);
            if let Decision::Match(m) = index.decide(&a) {
                assert!(m.probability >= index.config().match_probability);
            }
        }
        let _ = rank_streets(&street, &[city.as_str(), pc.as_str()]);
    }
    assert!(!index.is_empty());
}
