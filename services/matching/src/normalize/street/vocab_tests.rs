use super::*;

fn name(id: Option<u8>) -> &'static str {
    id.map_or("", type_name)
}

fn folded(f: fn(&str) -> Option<u8>, word: &str) -> Option<u8> {
    f(word)
}

#[test]
fn misspelt_types_are_recognised_and_sibling_types_kept_apart() {
    for (typed, want) in [
        ("avneue", "avenue"),
        ("sreet", "street"),
        ("srteet", "street"),
        ("lnae", "lane"),
        ("cresent", "crescent"),
        ("raod", "road"),
        ("boulevrad", "boulevard"),
    ] {
        assert_eq!(name(folded(misspelt, typed)), want, "{typed}");
    }
    // A dropped double letter is the type itself, through its folded key.
    assert_eq!(type_of("stret").map(|t| type_name(t.id)), Some("street"));
    // Known types are never "misspellings" of another, and one letter off
    // a short type is not enough.
    for typed in ["lane", "road", "rood", "line", "weg", "court"] {
        assert_eq!(folded(misspelt, typed), None, "{typed}");
    }
}

#[test]
fn abbreviations_outside_the_list() {
    for (typed, want) in [("avn", "avenue"), ("boule", "boulevard"), ("grcht", "canal"), ("terac", "terrace")] {
        assert_eq!(name(folded(abbreviated, typed)), want, "{typed}");
    }
    // Ambiguous (crescent, creek or crest), too short, or a type itself.
    assert_eq!(folded(abbreviated, "cre"), None);
    assert_eq!(folded(abbreviated, "la"), None);
    assert_eq!(folded(abbreviated, "street"), None);
}

#[test]
fn glued_types_split_in_every_country_but_broadway_stays() {
    let split = |w: &str, c| split_glued(w, c).map(|(s, id)| (s, type_name(id)));
    assert_eq!(split("millerstreet", false), Some(("miller".into(), "street")));
    assert_eq!(split("harborroad", false), Some(("harbor".into(), "road")));
    assert_eq!(split("wattlecrescent", false), Some(("wattle".into(), "crescent")));
    assert_eq!(split("broadway", false), None);
    assert_eq!(split("kerkstrat", true), Some(("kerk".into(), "street")));
    assert_eq!(split("lindensgraat", true), Some(("linden".into(), "street")));
    assert_eq!(split("marktpl", true), Some(("markt".into(), "place")));
    assert_eq!(split("dorpsrt", true), Some(("dorp".into(), "street")));
}

#[test]
fn ordinals_in_digits_and_words_agree() {
    for (a, b) in [("4th", "fourth"), ("1st", "first"), ("1e", "eerste"), ("2nd", "second"), ("3rd", "third")] {
        assert_eq!(ordinal(a), ordinal(b), "{a} {b}");
        assert!(ordinal(a).is_some());
    }
    assert_eq!(ordinal("kerk"), None);
    assert_eq!(ordinal("12"), None);
}
