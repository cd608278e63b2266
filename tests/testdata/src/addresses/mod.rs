//! Seeded generator of realistic base addresses and labelled queries.
//!
//! A synthetic "world" (towns, streets, postal codes per country) is drawn
//! first; base addresses are distinct points of it rendered with the
//! spelling variants the base list itself contains. Queries are either a
//! base address re-typed with 1–3 real-world variations (labelled with its
//! id) or a hard negative — a point of the world *not* in the base list but
//! next to one (other number, suffix, unit, town, postal code, sibling
//! street) — labelled "new".

use std::collections::HashSet;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use data::{PostcodeKind, Profile, UnitStyle, PROFILES};
use masthead_matching::normalize::{normalize, AddressInput};

mod data;
pub mod eval;

/// Address fields as owned strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedAddress {
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

impl OwnedAddress {
    pub fn as_input(&self) -> AddressInput<'_> {
        AddressInput { street: &self.street, postal_code: &self.postal_code, city: &self.city, country: &self.country }
    }
}

#[derive(Clone, Debug)]
pub struct BaseAddress {
    pub id: Uuid,
    pub address: OwnedAddress,
}

#[derive(Clone, Debug)]
pub struct Query {
    pub address: OwnedAddress,
    /// The base address this query means, or `None` for a new address.
    pub expected: Option<Uuid>,
    /// Positive: `"variant"`; negative: the kind of hard negative.
    pub kind: &'static str,
    /// Variations applied to the spelling.
    pub variations: Vec<&'static str>,
}

pub struct Dataset {
    pub base: Vec<BaseAddress>,
    pub queries: Vec<Query>,
    /// Distinct world addresses that normalised to an already used key
    /// (normalisation merging different addresses); they were skipped.
    pub key_collisions: usize,
}

#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    pub base_size: usize,
    pub queries: usize,
    /// Share of queries that are hard negatives.
    pub negative_share: f64,
    pub seed: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig { base_size: 90_000, queries: 10_000, negative_share: 0.3, seed: 42 }
    }
}

/// Namespace for base ids derived from canonical keys.
pub const BASE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d61_7374_6865_6164_2d61_6464_7265_7373);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Truth {
    country: u8,
    town: u16,
    street: u16,
    number: u16,
    suffix: u8,
    unit: u8,
}

struct Town {
    names: Vec<String>,
    streets: Vec<(u16, u8)>,
    code: u32,
}

struct CountryWorld {
    profile: &'static Profile,
    towns: Vec<Town>,
    stems: Vec<String>,
}

const STREETS_PER_TOWN: usize = 40;
const MAX_NUMBER: u16 = 120;

fn build_world(rng: &mut ChaCha8Rng, base_size: usize) -> Vec<CountryWorld> {
    let towns_per_country = (base_size / 3000).clamp(12, 340);
    PROFILES
        .iter()
        .map(|p| {
            let mut stems: Vec<String> = p.stems.iter().map(|s| s.to_string()).collect();
            let mut seen: HashSet<String> = stems.iter().map(|s| s.to_lowercase()).collect();
            while stems.len() < p.stems.len() + 40 {
                let n = rng.random_range(2..=3);
                let mut s = String::new();
                for _ in 0..n {
                    s.push_str(p.syllables.choose(rng).copied().unwrap_or("x"));
                }
                let s = capitalize(&s);
                if seen.insert(s.to_lowercase()) {
                    stems.push(s);
                }
            }
            let mut town_names: Vec<Vec<String>> =
                p.towns.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect();
            let mut seen_towns: HashSet<String> = town_names.iter().map(|n| fold_key(&n[0])).collect();
            let mut guard = 0;
            while town_names.len() < towns_per_country && guard < 100_000 {
                guard += 1;
                let pre = p.town_prefixes.choose(rng).copied().unwrap_or("");
                let mid = p.syllables.choose(rng).copied().unwrap_or("");
                let suf = p.town_suffixes.choose(rng).copied().unwrap_or("");
                let name =
                    if rng.random_bool(0.5) { format!("{pre}{mid}{suf}") } else { capitalize(&format!("{mid}{suf}")) };
                let name = capitalize_words(&name);
                if seen_towns.insert(fold_key(&name)) {
                    town_names.push(vec![name]);
                }
            }
            let towns = town_names
                .into_iter()
                .enumerate()
                .map(|(i, names)| {
                    let mut streets: Vec<(u16, u8)> = Vec::new();
                    let mut guard = 0;
                    while streets.len() < STREETS_PER_TOWN && guard < 10_000 {
                        guard += 1;
                        let ty = if rng.random_bool(0.45) { 0 } else { rng.random_range(0..p.types.len()) as u8 };
                        let pool = if p.types[usize::from(ty)].prefix { p.prefix_stems.len() } else { stems.len() };
                        if pool == 0 {
                            continue;
                        }
                        let st = (rng.random_range(0..pool), ty);
                        let st = (st.0 as u16, st.1);
                        if !streets.contains(&st) {
                            streets.push(st);
                        }
                    }
                    let code = match p.postcode {
                        PostcodeKind::Nl => 1000 + (i as u32 * 23) % 9000,
                        PostcodeKind::Five => 10_000 + (i as u32 * 250) % 89_000,
                        PostcodeKind::Four => 1000 + (i as u32 * 25) % 9000,
                        PostcodeKind::Gb => i as u32,
                    };
                    Town { names, streets, code }
                })
                .collect();
            CountryWorld { profile: p, towns, stems }
        })
        .collect()
}

fn fold_key(s: &str) -> String {
    masthead_matching::normalize::normalize(&AddressInput { city: s, ..AddressInput::default() }).city
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn capitalize_words(s: &str) -> String {
    s.split(' ').map(capitalize).collect::<Vec<_>>().join(" ")
}

fn hash2(a: u32, b: u32) -> u32 {
    let x = (u64::from(a) << 32 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (x >> 33) as u32
}

/// Postal code of a street, in canonical spelling; `variant` picks one of
/// the other codes of the same town (for the "other postal code" negative).
fn postcode(world: &CountryWorld, truth: &Truth, variant: u32) -> String {
    let town = &world.towns[usize::from(truth.town)];
    let s = u32::from(truth.street);
    match world.profile.postcode {
        PostcodeKind::Nl => {
            let h = hash2(town.code, s + variant * 7919);
            let l1 = (b'A' + (h % 26) as u8) as char;
            let l2 = (b'A' + ((h / 26) % 26) as u8) as char;
            format!("{} {l1}{l2}", town.code)
        }
        PostcodeKind::Five => format!("{:05}", town.code + (s + variant) % 3),
        PostcodeKind::Four => format!("{}", town.code),
        PostcodeKind::Gb => {
            let i = town.code;
            let a = (b'A' + (i / 26 % 26) as u8) as char;
            let b = (b'A' + (i % 26) as u8) as char;
            let h = hash2(i, s + variant * 7919);
            let district = 1 + (s % 9);
            let l1 = (b'A' + (h % 26) as u8) as char;
            let l2 = (b'A' + ((h / 26) % 26) as u8) as char;
            format!("{a}{b}{district} {}{l1}{l2}", h % 10)
        }
    }
}

/// Spelling choices for one rendering.
#[derive(Clone, Default)]
struct Style {
    type_variant: Option<usize>,
    split_compound: bool,
    swap_placement: bool,
    comma_before_number: bool,
    glue_number: bool,
    case: u8,
    extra_spaces: bool,
    typo: bool,
    slip: bool,
    diacritics: u8,
    house_form: u8,
    postcode_form: u8,
    postcode_missing: bool,
    postcode_typo: bool,
    town_alias: bool,
    town_typo: bool,
    town_missing: bool,
    town_case: bool,
    paste: bool,
    country_missing: bool,
    saint_particle: bool,
}

const VARIATIONS: &[&str] = &[
    "case",
    "spacing",
    "punctuation",
    "abbreviation",
    "typo",
    "slip",
    "diacritics",
    "house_form",
    "placement",
    "postcode_format",
    "postcode_missing",
    "postcode_typo",
    "town_alias",
    "town_typo",
    "town_missing",
    "pasted",
    "country_missing",
    "saint_particle",
];

fn apply_variation(style: &mut Style, v: &str, rng: &mut ChaCha8Rng) {
    match v {
        "case" => style.case = rng.random_range(1..=2),
        "spacing" => {
            if rng.random_bool(0.5) {
                style.split_compound = true;
            } else if rng.random_bool(0.5) {
                style.glue_number = true;
            }
            style.extra_spaces = true;
        }
        "punctuation" => style.comma_before_number = true,
        "abbreviation" => style.type_variant = Some(rng.random_range(0..8)),
        "typo" => style.typo = true,
        "slip" => style.slip = true,
        "diacritics" => style.diacritics = rng.random_range(1..=2),
        "house_form" => style.house_form = rng.random_range(0..8),
        "placement" => style.swap_placement = true,
        "postcode_format" => style.postcode_form = rng.random_range(1..=3),
        "postcode_missing" => style.postcode_missing = true,
        "postcode_typo" => style.postcode_typo = true,
        "town_alias" => style.town_alias = true,
        "town_typo" => style.town_typo = true,
        "town_missing" => style.town_missing = true,
        "pasted" => style.paste = true,
        "country_missing" => style.country_missing = true,
        "saint_particle" => style.saint_particle = true,
        _ => {}
    }
    // A human could not resolve an address without any locality either.
    if style.postcode_missing && style.town_missing {
        style.town_missing = false;
    }
    if style.town_missing && style.postcode_typo {
        style.postcode_typo = false;
    }
    if style.postcode_missing && style.town_typo {
        style.town_typo = rng.random_bool(0.5);
    }
}

fn typo(s: &str, rng: &mut ChaCha8Rng) -> String {
    let chars: Vec<char> = s.chars().collect();
    let letters: Vec<usize> = (1..chars.len()).filter(|&i| chars[i].is_alphabetic()).collect();
    if letters.len() < 4 {
        return s.to_owned();
    }
    let i = *letters.choose(rng).unwrap_or(&1);
    let mut out = chars.clone();
    let letter = (b'a' + rng.random_range(0..26u8)) as char;
    match rng.random_range(0..4) {
        0 => out[i] = letter,
        1 if i + 1 < out.len() && out[i + 1].is_alphabetic() => out.swap(i, i + 1),
        2 => out.insert(i, letter),
        _ => {
            out.remove(i);
        }
    }
    out.into_iter().collect()
}

fn slip(s: &str, rng: &mut ChaCha8Rng) -> String {
    if s.contains("ij") {
        return s.replacen("ij", "y", 1);
    }
    if s.contains("IJ") {
        return s.replacen("IJ", "Y", 1);
    }
    let chars: Vec<char> = s.chars().collect();
    if let Some(i) = (1..chars.len()).find(|&i| chars[i] == chars[i - 1] && chars[i].is_alphabetic()) {
        let mut out = chars.clone();
        out.remove(i);
        return out.into_iter().collect();
    }
    typo(s, rng)
}

fn strip_diacritics(s: &str, transcribe: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let rep: &str = match c {
            'ä' if transcribe => "ae",
            'ö' | 'ø' if transcribe => "oe",
            'ü' if transcribe => "ue",
            'Ö' | 'Ø' if transcribe => "Oe",
            'å' if transcribe => "aa",
            'ß' => "ss",
            'ä' | 'à' | 'â' | 'á' | 'å' => "a",
            'ö' | 'ø' | 'ô' | 'ó' => "o",
            'Ö' | 'Ø' => "O",
            'Å' | 'Ä' => "A",
            'ü' | 'û' | 'ù' => "u",
            'é' | 'è' | 'ê' | 'ë' => "e",
            'É' | 'È' => "E",
            'î' | 'ï' => "i",
            'ç' => "c",
            'æ' => "ae",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(rep);
    }
    out
}

fn saint_particle(stem: &str, code: &str, rng: &mut ChaCha8Rng) -> String {
    let saints: &[&str] = match code {
        "NL" => &["St.", "Sint", "St"],
        "DE" | "AT" | "CH" => &["Sankt", "St."],
        "GB" | "US" | "AU" => &["St", "St.", "Saint"],
        _ => &["Saint", "St"],
    };
    let mut s = stem.to_owned();
    for from in ["Sankt", "Saint", "Sint", "St.", "St"] {
        let hit = s.starts_with(&format!("{from} ")) || s.starts_with(&format!("{from}-"));
        if hit {
            let to = saints.choose(rng).copied().unwrap_or(from);
            s = format!("{to}{}", &s[from.len()..]);
            break;
        }
    }
    if let Some(rest) = s.strip_prefix("Burgemeester ") {
        s = format!("Burg. {rest}");
    } else if let Some(rest) = s.strip_prefix("Burg. ") {
        s = format!("Burgemeester {rest}");
    }
    for (from, to) in [("van der ", "v.d. "), ("Van der ", "V.d. "), ("v.d. ", "van der ")] {
        if s.contains(from) {
            s = s.replacen(from, to, 1);
            break;
        }
    }
    s
}

fn unit_parts(style: UnitStyle, unit: u8) -> (String, String) {
    let u = u32::from(unit);
    match style {
        UnitStyle::Dk => {
            let floor = (u - 1) / 3;
            let side = ["tv", "th", "mf"][((u - 1) % 3) as usize];
            (if floor == 0 { "st".to_owned() } else { floor.to_string() }, side.to_owned())
        }
        UnitStyle::Us => (((u - 1) / 4 + 1).to_string(), ["A", "B", "C", "D"][((u - 1) % 4) as usize].to_owned()),
        _ => (u.to_string(), String::new()),
    }
}

fn render(
    world: &CountryWorld,
    truth: &Truth,
    postcode_variant: u32,
    style: &Style,
    rng: &mut ChaCha8Rng,
) -> OwnedAddress {
    let p = world.profile;
    let town = &world.towns[usize::from(truth.town)];
    let (stem_idx, ty_idx) = town.streets[usize::from(truth.street)];
    let ty = p.types[usize::from(ty_idx)];
    let mut stem = if ty.prefix {
        p.prefix_stems[usize::from(stem_idx)].to_owned()
    } else {
        world.stems[usize::from(stem_idx)].clone()
    };
    if style.saint_particle {
        stem = saint_particle(&stem, p.code, rng);
    }
    if style.typo {
        stem = typo(&stem, rng);
    }
    if style.slip {
        stem = slip(&stem, rng);
    }
    let type_word = match style.type_variant {
        Some(i) if !ty.variants.is_empty() => ty.variants[i % ty.variants.len()],
        _ => ty.full,
    };
    let street_name = if ty.prefix {
        format!("{type_word} {stem}")
    } else if ty.glued && !style.split_compound {
        if stem.ends_with('-') || stem.ends_with(' ') {
            format!("{stem}{}", capitalize(type_word))
        } else {
            format!("{stem}{}", type_word.to_lowercase())
        }
    } else {
        let stem = stem.trim_end_matches(['-', ' ']);
        format!("{stem} {}", if ty.glued { capitalize(type_word) } else { type_word.to_owned() })
    };

    // House number.
    let n = truth.number.to_string();
    let form = usize::from(style.house_form);
    let suffix = if truth.suffix == 0 { "" } else { p.suffixes[usize::from(truth.suffix - 1) % p.suffixes.len()] };
    let mut house = if suffix.is_empty() {
        n.clone()
    } else if p.number_first {
        match (suffix.len() > 1, form % 3) {
            (true, 0) => format!("{n} {suffix}"),
            (true, 1) => format!("{n}{suffix}"),
            (true, _) => format!("{n} {}", suffix.to_uppercase()),
            (false, 0) | (false, 2) => format!("{n}{suffix}"),
            (false, _) => format!("{n}{}", suffix.to_uppercase()),
        }
    } else {
        match form % 4 {
            0 => format!("{n}{suffix}"),
            1 => format!("{n} {}", suffix.to_uppercase()),
            2 => format!("{n}-{suffix}"),
            _ => format!("{n}{}", suffix.to_uppercase()),
        }
    };
    let (mut front, mut back) = (String::new(), String::new());
    if truth.unit != 0 {
        let (u1, u2) = unit_parts(p.unit_style, truth.unit);
        match p.unit_style {
            UnitStyle::Nl => {
                house = [format!("{house}-{u1}"), format!("{house} {u1}"), format!("{house}/{u1}")][form % 3].clone()
            }
            UnitStyle::At => {
                house =
                    [format!("{house}/{u1}"), format!("{house}/Top {u1}"), format!("{house} / {u1}")][form % 3].clone()
            }
            UnitStyle::Be => {
                house = [
                    format!("{house} bus {u1}"),
                    format!("{house} bte {u1}"),
                    format!("{house}/{u1}"),
                    format!("{house} Bus {u1}"),
                ][form % 4]
                    .clone()
            }
            UnitStyle::Dk => {
                let dot = if u1 == "st" { "st." } else { "" };
                let fl = if dot.is_empty() { format!("{u1}.") } else { dot.to_owned() };
                house = [
                    format!("{house}, {fl} {u2}"),
                    format!("{house} {fl}{u2}"),
                    format!("{house}, {u1} {u2}"),
                    format!("{house},{fl}{u2}"),
                ][form % 4]
                    .clone()
            }
            UnitStyle::Gb => match form % 3 {
                0 => front = format!("Flat {u1}, "),
                1 => front = format!("Flat {u1} "),
                _ => back = format!(", Flat {u1}"),
            },
            UnitStyle::Us => {
                back = [
                    format!(" Apt {u1}{u2}"),
                    format!(", Apt. {u1}{u2}"),
                    format!(" #{u1}{u2}"),
                    format!(" Apt. {u1}{u2}"),
                ][form % 4]
                    .clone()
            }
            UnitStyle::Au => match form % 3 {
                0 => front = format!("{u1}/"),
                1 => front = format!("Unit {u1}, "),
                _ => front = format!("Unit {u1}/"),
            },
            UnitStyle::None => {}
        }
    }
    let number_first = p.number_first != (style.swap_placement && truth.unit == 0);
    let sep = if style.comma_before_number {
        ", "
    } else if style.glue_number && !number_first {
        ""
    } else {
        " "
    };
    let mut line = if number_first {
        format!("{front}{house}{sep}{street_name}{back}")
    } else {
        format!("{front}{street_name}{sep}{house}{back}")
    };

    // Locality.
    let mut pc = postcode(world, truth, postcode_variant);
    match style.postcode_form {
        1 => pc = pc.replace(' ', "").to_lowercase(),
        2 if !p.postcode_prefix.is_empty() => pc = format!("{}{pc}", p.postcode_prefix),
        3 if p.code == "US" => pc = format!("{pc}-{:04}", hash2(u32::from(truth.number), 7) % 10_000),
        3 => pc = pc.replace(' ', ""),
        _ => {}
    }
    if style.postcode_typo {
        let mut chars: Vec<char> = pc.chars().collect();
        let digits: Vec<usize> = (1..chars.len()).filter(|&i| chars[i].is_ascii_digit()).collect();
        if let Some(&i) = digits.choose(rng) {
            let d = chars[i].to_digit(10).unwrap_or(0);
            chars[i] = char::from_digit((d + rng.random_range(1..10)) % 10, 10).unwrap_or('0');
            pc = chars.into_iter().collect();
        }
    }
    let mut city = if style.town_alias && town.names.len() > 1 {
        town.names[rng.random_range(1..town.names.len())].clone()
    } else {
        town.names[0].clone()
    };
    if style.town_typo {
        city = typo(&city, rng);
    }
    if style.town_case {
        city = city.to_uppercase();
    }
    if style.diacritics > 0 {
        line = strip_diacritics(&line, style.diacritics == 2);
        city = strip_diacritics(&city, style.diacritics == 2);
    }
    match style.case {
        1 => line = line.to_uppercase(),
        2 => line = line.to_lowercase(),
        _ => {}
    }
    if style.extra_spaces {
        line = format!(" {}  ", line.replacen(' ', "  ", 1));
    }
    let mut out = OwnedAddress {
        street: line,
        postal_code: if style.postcode_missing { String::new() } else { pc },
        city: if style.town_missing { String::new() } else { city },
        country: if style.country_missing { String::new() } else { p.code.to_owned() },
    };
    if style.paste && !(out.postal_code.is_empty() && out.city.is_empty()) {
        let tail = if p.code == "GB" {
            format!("{} {}", out.city, out.postal_code)
        } else {
            format!("{} {}", out.postal_code, out.city)
        };
        out.street = format!("{}, {}", out.street.trim_end(), tail.trim());
        out.postal_code.clear();
        out.city.clear();
    }
    out
}

fn random_truth(worlds: &[CountryWorld], country: u8, rng: &mut ChaCha8Rng) -> Truth {
    let w = &worlds[usize::from(country)];
    let p = w.profile;
    let town = rng.random_range(0..w.towns.len()) as u16;
    let street = rng.random_range(0..w.towns[usize::from(town)].streets.len()) as u16;
    let number = 1 + (rng.random_range(0.0f64..1.0).powf(1.6) * f64::from(MAX_NUMBER)) as u16;
    let suffix = if rng.random_bool(p.suffix_rate) { rng.random_range(1..=p.suffixes.len() as u8) } else { 0 };
    let unit = if rng.random_bool(p.unit_rate) {
        let max = match p.unit_style {
            UnitStyle::Dk => 12,
            UnitStyle::Nl => 4,
            UnitStyle::Us => 24,
            _ => 20,
        };
        rng.random_range(1..=max)
    } else {
        0
    };
    Truth { country, town, street, number, suffix, unit }
}

fn pick_country(rng: &mut ChaCha8Rng) -> u8 {
    let total: u32 = PROFILES.iter().map(|p| p.weight).sum();
    let mut x = rng.random_range(0..total);
    for (i, p) in PROFILES.iter().enumerate() {
        if x < p.weight {
            return i as u8;
        }
        x -= p.weight;
    }
    0
}

/// Generates a dataset. Deterministic for a given config.
pub fn generate(config: &GeneratorConfig) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let worlds = build_world(&mut rng, config.base_size);
    let mut truths: HashSet<Truth> = HashSet::with_capacity(config.base_size);
    let mut keys: HashSet<String> = HashSet::with_capacity(config.base_size);
    let mut base: Vec<BaseAddress> = Vec::with_capacity(config.base_size);
    let mut base_truth: Vec<Truth> = Vec::with_capacity(config.base_size);
    let mut key_collisions = 0;
    let mut attempts = 0usize;
    while base.len() < config.base_size && attempts < config.base_size * 20 {
        attempts += 1;
        let c = pick_country(&mut rng);
        let t = random_truth(&worlds, c, &mut rng);
        if truths.contains(&t) {
            continue;
        }
        let mut style = Style { house_form: rng.random_range(0..8), ..Style::default() };
        if rng.random_bool(0.25) {
            style.type_variant = Some(rng.random_range(0..8));
        }
        if rng.random_bool(0.3) {
            style.saint_particle = true;
        }
        if rng.random_bool(0.2) {
            style.postcode_form = rng.random_range(1..=3);
        }
        if rng.random_bool(0.05) {
            style.case = rng.random_range(1..=2);
        }
        if rng.random_bool(0.05) {
            style.town_alias = true;
        }
        let addr = render(&worlds[usize::from(c)], &t, 0, &style, &mut rng);
        let key = normalize(&addr.as_input()).key();
        truths.insert(t);
        if !keys.insert(key.clone()) {
            key_collisions += 1;
            continue;
        }
        base.push(BaseAddress { id: Uuid::new_v5(&BASE_ID_NAMESPACE, key.as_bytes()), address: addr });
        base_truth.push(t);
    }

    let mut queries = Vec::with_capacity(config.queries);
    while queries.len() < config.queries && !base.is_empty() {
        if rng.random_bool(config.negative_share) {
            if let Some(q) = negative(&worlds, &base_truth, &truths, &mut rng) {
                queries.push(q);
            }
            continue;
        }
        let i = rng.random_range(0..base.len());
        let t = base_truth[i];
        let mut style = Style { house_form: rng.random_range(0..8), ..Style::default() };
        let k = rng.random_range(1..=3);
        let mut applied = Vec::with_capacity(k);
        for _ in 0..k {
            let v = *VARIATIONS.choose(&mut rng).unwrap_or(&"case");
            apply_variation(&mut style, v, &mut rng);
            applied.push(v);
        }
        queries.push(Query {
            address: render(&worlds[usize::from(t.country)], &t, 0, &style, &mut rng),
            expected: Some(base[i].id),
            kind: "variant",
            variations: applied,
        });
    }
    Dataset { base, queries, key_collisions }
}

const NEGATIVES: &[&str] =
    &["other_number", "other_suffix", "other_unit", "other_town", "sibling_street", "other_postcode", "new_street"];

fn negative(worlds: &[CountryWorld], base: &[Truth], truths: &HashSet<Truth>, rng: &mut ChaCha8Rng) -> Option<Query> {
    let kind = *NEGATIVES.choose(rng)?;
    let src = *base.choose(rng)?;
    let w = &worlds[usize::from(src.country)];
    let mut t = src;
    let mut pc_variant = 0;
    match kind {
        "other_number" => {
            let n = src.number;
            let reversed: u16 = n.to_string().chars().rev().collect::<String>().parse().unwrap_or(0);
            t.number = if reversed != n && reversed > 0 && rng.random_bool(0.4) {
                reversed
            } else {
                let d = rng.random_range(1..=3);
                if rng.random_bool(0.5) || n <= d {
                    n + d
                } else {
                    n - d
                }
            };
        }
        "other_suffix" => {
            let max = w.profile.suffixes.len() as u8;
            t.suffix = (src.suffix + rng.random_range(1..=max)) % (max + 1);
        }
        "other_unit" => {
            if w.profile.unit_style == UnitStyle::None {
                return None;
            }
            t.unit = if src.unit == 0 {
                rng.random_range(1..=4)
            } else if rng.random_bool(0.3) {
                0
            } else {
                src.unit % 12 + 1
            };
        }
        "other_town" => {
            let n = w.towns.len() as u16;
            t.town = (src.town + rng.random_range(1..n)) % n;
            // Same street name and type in the other town if it has one.
            let (stem, ty) = w.towns[usize::from(src.town)].streets[usize::from(src.street)];
            match w.towns[usize::from(t.town)].streets.iter().position(|s| *s == (stem, ty)) {
                Some(i) => t.street = i as u16,
                None => t.street %= w.towns[usize::from(t.town)].streets.len() as u16,
            }
        }
        "sibling_street" => {
            let streets = &w.towns[usize::from(src.town)].streets;
            let (stem, ty) = streets[usize::from(src.street)];
            t.street = streets.iter().position(|s| s.0 == stem && s.1 != ty)? as u16;
        }
        "other_postcode" => {
            if matches!(w.profile.postcode, PostcodeKind::Four) {
                return None;
            }
            pc_variant = rng.random_range(1..=2);
            if postcode(w, &t, pc_variant) == postcode(w, &src, 0) {
                return None;
            }
        }
        _ => {
            t = random_truth(worlds, src.country, rng);
        }
    }
    if pc_variant == 0 && truths.contains(&t) {
        return None;
    }
    if kind == "sibling_street" || kind == "other_town" || kind == "new_street" {
        // A different street may still share the postal code of a base
        // address of that street; fine, the truth check above decides.
    }
    let mut style = Style { house_form: rng.random_range(0..8), ..Style::default() };
    let k = rng.random_range(0..=2);
    let mut applied = Vec::new();
    for _ in 0..k {
        let v = *VARIATIONS.choose(rng)?;
        if kind == "other_postcode" && matches!(v, "postcode_missing" | "postcode_typo" | "pasted") {
            continue;
        }
        apply_variation(&mut style, v, rng);
        applied.push(v);
    }
    Some(Query { address: render(w, &t, pc_variant, &style, rng), expected: None, kind, variations: applied })
}
