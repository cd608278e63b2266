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
    )
)]
struct ApiDoc;

/// The routers' paths, with the document's title, description and tags.
pub fn describe(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.merge(paths);
    add_bearer_scheme(&mut document);
    document
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
