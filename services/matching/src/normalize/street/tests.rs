//! Street parsing on the forms people type.

use super::*;

fn p(line: &str, country: &str) -> (String, String, String) {
    let s = parse_street_line(line, country, &[]);
    (s.name.join(" "), type_name(s.type_id).to_owned(), s.house.display())
}

#[test]
fn compound_and_spaced_agree() {
    assert_eq!(p("Kerkstraat 12", "NL"), p("Kerk straat 12", "NL"));
    assert_eq!(p("Kerkstraat 12", "NL"), p("Kerkstraat12", "NL"));
    assert_eq!(p("Kerkstraat 12", "NL"), p("Kerkstraat, 12", "NL"));
    assert_eq!(p("Kerkstraat 12", "NL"), p("Kerkstr. 12", "NL"));
    assert_ne!(p("Kerkstraat 12", "NL"), p("Kerkweg 12", "NL"));
    assert_eq!(p("Kerkstraat 12", "NL").0, "kerk");
}

#[test]
fn number_placement() {
    assert_eq!(p("14 East River Street", "US"), p("East River Street 14", "US"));
    assert_eq!(p("14 East River Street", "US"), p("14, East River Street", "US"));
    assert_eq!(p("14 East River Street", "US").2, "14");
}

#[test]
fn house_number_forms() {
    assert_eq!(p("Kerkstraat 5a", "NL").2, "5a");
    assert_eq!(p("Kerkstraat 5 A", "NL").2, "5a");
    assert_eq!(p("Kerkstraat 5-a", "NL").2, "5a");
    assert_eq!(p("Kerkstraat 12-2", "NL").2, "12/2");
    assert_eq!(p("3/14 Smith St", "AU").2, "14/3");
    assert_eq!(p("Unit 3, 14 Smith St", "AU").2, "14/3");
    assert_eq!(p("Hauptstraße 12/3", "AT").2, "12/3");
    assert_eq!(p("Rue de la Paix 12 bus 3", "BE").2, "12/3");
    assert_eq!(p("Vesterbrogade 12, 2. tv", "DK").2, "12/2.tv");
    assert_eq!(p("12 bis rue de la Paix", "FR").2, "12bis");
    assert_eq!(p("123 Main St Apt 4B", "US").2, "123/4.b");
    assert_eq!(p("123 Main St #5", "US").2, "123/5");
}

#[test]
fn saint_and_street() {
    let (name, ty, _) = p("St. Jansstraat 3", "NL");
    // `ss` collapses before the compound split: Jansstraat = Janstraat.
    assert_eq!((name.as_str(), ty.as_str()), ("saint jan", "street"));
    let (name, ty, _) = p("St Mary Road 3", "GB");
    assert_eq!((name.as_str(), ty.as_str()), ("saint mary", "road"));
    let (name, ty, _) = p("Sankt-Anna-Platz 1", "DE");
    assert_eq!((name.as_str(), ty.as_str()), ("saint ana", "place"));
    let (name, ty, _) = p("12 Main St", "US");
    assert_eq!((name.as_str(), ty.as_str()), ("main", "street"));
}

#[test]
fn pasted_town() {
    let s = parse_street_line("Kerkstraat 12, 3511 LX Utrecht", "NL", &[]);
    assert_eq!(s.pasted_postcode, "3511lx");
    assert_eq!(s.pasted_city, "utrecht");
    assert_eq!(s.house.display(), "12");
    let s = parse_street_line("Kerkstraat 12 3511LX Utrecht", "NL", &[]);
    assert_eq!(s.pasted_postcode, "3511lx");
    assert_eq!(s.name, vec!["kerk"]);
}

#[test]
fn names_with_numbers() {
    assert_eq!(p("Straße des 17. Juni 5", "DE").2, "5");
    assert_eq!(p("1e Jan Steenstraat 3", "NL").2, "3");
    assert_eq!(p("350 5th Avenue", "US").2, "350");
    assert_eq!(p("44 B Damberlaan", "NL").2, "44b");
    assert_eq!(p("14 E River Street", "US").2, "14");
}
