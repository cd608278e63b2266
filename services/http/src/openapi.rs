//! The OpenAPI document (`/api/v1/openapi.json`) and Swagger UI
//! (`/api/docs`), with the UI's assets compiled into the binary so the docs
//! work offline. The paths come from the handlers' own declarations (see
//! the crate docs); this module adds the title, description and tags.

use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";
pub const DOCS_PATH: &str = "/api/docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Masthead",
        description = "Magazine subscriptions: intake, the read models (subscriptions, base addresses, stats), match previews and operations endpoints. Every error is JSON: `{\"error\": {\"code\", \"message\"}, \"errors\": [{\"field\", \"message\"}]}`; a bad query or path parameter is a 400 naming it in `errors[0].field`."
    ),
    tags(
        (name = "intake", description = "Registering subscriptions"),
        (name = "subscriptions", description = "One subscription, with its personal data"),
        (name = "read", description = "Read models: lists, search, stats and match previews; never personal data"),
        (name = "pages", description = "HTML pages"),
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "audit", description = "The auditor's view of the event history, with proofs"),
        (name = "curation", description = "The address team's commands and review queue (curator or admin)"),
    )
)]
struct ApiDoc;

/// The routers' paths, with the document's title, description and tags,
/// and the limits the server enforces ([`state_limits`]).
pub fn describe(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(paths);
    add_bearer_scheme(&mut document);
    state_limits(document)
}

/// What an `{id}` in a path must look like: a UUID, any case.
pub const ID_PATTERN: &str = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$";

/// Writes the limits the server enforces into the document, from the same
/// constants the checks use: the intake fields' lengths and formats, the
/// `Idempotency-Key`'s, and the id pattern of every path. Done on the
/// finished document so that no declaration can forget one.
fn state_limits(document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use masthead_domain::subscription::request::{MAX_COUNTRY, MAX_LINE, MAX_POSTAL_CODE};
    use serde_json::json;
    let Ok(mut doc) = serde_json::to_value(&document) else { return document };
    let text = |max: usize| json!({"type": "string", "minLength": 1, "maxLength": max});
    let fields = [
        ("name", text(MAX_LINE)),
        ("email", json!({"type": "string", "format": "email", "minLength": 3, "maxLength": 254})),
        ("street", text(MAX_LINE)),
        ("postal_code", text(MAX_POSTAL_CODE)),
        ("city", text(MAX_LINE)),
        ("country", text(MAX_COUNTRY)),
    ];
    if let Some(props) = doc.pointer_mut("/components/schemas/SubscriptionRequestBody/properties") {
        for (name, limits) in fields {
            if let (Some(prop), serde_json::Value::Object(limits)) = (props.get_mut(name), limits) {
                if let Some(prop) = prop.as_object_mut() {
                    prop.extend(limits);
                }
            }
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for operation in paths.values_mut().filter_map(|p| p.as_object_mut()).flat_map(|p| p.values_mut()) {
            let Some(params) = operation.get_mut("parameters").and_then(|p| p.as_array_mut()) else { continue };
            for param in params {
                let schema = match (param["in"].as_str(), param["name"].as_str()) {
                    (Some("path"), Some("id")) => json!({"type": "string", "format": "uuid", "pattern": ID_PATTERN}),
                    (Some("query"), Some("token")) => {
                        json!({"type": "string", "pattern": "^[0-9]{1,12}\\.[A-Za-z0-9_-]{22}$"})
                    }
                    (Some("header"), Some("Idempotency-Key")) => {
                        json!({"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"})
                    }
                    _ => continue,
                };
                param["schema"] = schema;
            }
        }
    }
    serde_json::from_value(doc).unwrap_or(document)
}

/// The bearer-token scheme the operations with a door name (see `access`).
fn add_bearer_scheme(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "A JWT from the identity provider (or `masthead token issue`), with the role the operation names",
        ))
        .build();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(crate::access::doors::BEARER_SCHEME, SecurityScheme::Http(scheme));
}

/// Swagger UI at [`DOCS_PATH`] serving `document` at [`OPENAPI_PATH`];
/// merge into the router.
pub fn docs(document: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, document)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_states_the_enforced_limits() {
        let doc = serde_json::to_value(crate::openapi_document()).expect("serialises");
        let body = &doc["components"]["schemas"]["SubscriptionRequestBody"]["properties"];
        assert_eq!(body["name"]["maxLength"], 120);
        assert_eq!(body["postal_code"]["maxLength"], 15);
        assert_eq!(body["country"]["maxLength"], 60);
        assert_eq!(body["email"]["format"], "email");
        let mut ids = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for operation in item.as_object().expect("item").values() {
                for p in operation["parameters"].as_array().into_iter().flatten() {
                    if p["in"] == "path" {
                        assert_eq!(p["schema"]["pattern"], super::ID_PATTERN, "{path}");
                        ids += 1;
                    }
                    if p["name"] == "Idempotency-Key" {
                        assert_eq!(p["schema"]["maxLength"], 255, "{path}");
                    }
                }
            }
        }
        assert!(ids >= 3, "{ids}");
    }

    /// utoipa registers schemas it can reach from `paths`; a type only
    /// named by `value_type` or behind a generic could be left dangling.
    #[test]
    fn every_schema_reference_resolves() {
        let doc = serde_json::to_value(crate::openapi_document()).expect("serialises");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 10);
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected ref {r}"));
            assert!(schemas.contains_key(name), "dangling {r}");
        }
    }
}
