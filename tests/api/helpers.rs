use serde_json::{json, Value};

pub fn valid_body() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "street": "Kerkstraat 12",
        "postal_code": "3511 LX",
        "city": "Utrecht",
        "country": "Nederland"
    })
}

/// The `id` of each item of a list page.
pub fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect()
}
