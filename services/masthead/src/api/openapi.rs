//! The OpenAPI document (`/api/v1/openapi.json`) and Swagger UI
//! (`/api/docs`), with the UI's assets compiled into the binary so the docs
//! work offline.
//!
//! Handlers that live in modules without `#[utoipa::path]` (health, the
//! HTML form) are described here by stub functions: the document must list
//! every route the server answers, and the stubs keep those descriptions next
//! to the list rather than scattered over unrelated modules.

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
    paths(
        super::intake::create_subscription,
        super::subscriptions::get_subscription,
        super::list::list_subscriptions,
        super::addresses::list_addresses,
        super::addresses::get_address,
        super::stats::get_stats,
        super::match_preview::preview,
        super::dashboard::dashboard,
        healthz,
        readyz,
        metrics,
        form_page,
        submit_form,
        status_page,
    ),
    tags(
        (name = "intake", description = "Registering subscriptions"),
        (name = "subscriptions", description = "One subscription, with its personal data"),
        (name = "read", description = "Read models: lists, search, stats and match previews; never personal data"),
        (name = "pages", description = "HTML pages"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Swagger UI at [`DOCS_PATH`] serving the document at [`OPENAPI_PATH`];
/// merge into the router.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, document())
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
#[allow(dead_code)]
fn healthz() {}

/// Readiness: NATS is connected and JetStream answers within a second.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"last_sequence\": n}`"),
        (status = 503, description = "`{\"status\": \"unavailable\", \"reason\": …}`"),
    )
)]
#[allow(dead_code)]
fn readyz() {}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
#[allow(dead_code)]
fn metrics() {}

/// The subscription form (HTML).
#[utoipa::path(get, path = "/", tag = "pages", responses((status = 200, description = "HTML form", content_type = "text/html")))]
#[allow(dead_code)]
fn form_page() {}

/// Submits the HTML form (`application/x-www-form-urlencoded`, the same
/// fields as the JSON intake).
#[utoipa::path(
    post,
    path = "/subscribe",
    tag = "pages",
    request_body(content = super::intake::SubscriptionRequestBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Thank-you page with the subscription id", content_type = "text/html"),
        (status = 400, description = "Unreadable form", content_type = "text/html"),
        (status = 422, description = "The form again, with the invalid fields marked", content_type = "text/html"),
        (status = 503, description = "Event store unavailable; nothing stored", content_type = "text/html"),
    )
)]
#[allow(dead_code)]
fn submit_form() {}

/// A page following one subscription's status (HTML, polls the JSON API).
#[utoipa::path(
    get,
    path = "/status/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "Subscription id (UUID)")),
    responses(
        (status = 200, description = "Status page", content_type = "text/html"),
        (status = 404, description = "Not a subscription id", content_type = "text/html"),
    )
)]
#[allow(dead_code)]
fn status_page() {}

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
        let doc = serde_json::to_value(super::document()).expect("serialises");
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
