//! The subscriber-facing pages: the form at `/`, its submission at
//! `/subscribe`, and a status page that follows one subscription.
//!
//! Server-side rendered, so the form works without JavaScript; the status
//! page adds a small script that polls the JSON API.

use super::intake::{intake_error, read_limited};
use super::SharedState;
use crate::intake::IntakeError;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use masthead_events::subscription::{Channel, FieldError, SubscriptionForm};
// One escaper for every HTML the project writes (pages and mails).
use masthead_mailer::template::escape_html as escape;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1d2330;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} p.lead{color:#4a5568;margin-top:0}
form{display:grid;gap:.9rem;margin-top:1.2rem}
label{font-weight:600;display:block;margin-bottom:.25rem}
input{width:100%;box-sizing:border-box;padding:.55rem .6rem;border:1px solid #a0aec0;border-radius:6px;font-size:1rem}
input[aria-invalid=true]{border-color:#c53030;background:#fff5f5}
.error{color:#c53030;font-size:.9rem;margin:.25rem 0 0}
.summary{border:2px solid #c53030;border-radius:6px;padding:.6rem 1rem;background:#fff5f5}
button{padding:.7rem 1.2rem;font-size:1rem;border:0;border-radius:6px;background:#2b6cb0;color:#fff;cursor:pointer;justify-self:start}
.card{border:1px solid #cbd5e0;border-radius:8px;padding:1rem 1.2rem;margin-top:1rem}
code{background:#edf2f7;padding:.1rem .3rem;border-radius:4px}
.status{font-size:1.3rem;font-weight:700}
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

const FIELDS: [(&str, &str, &str, &str); 6] = [
    ("name", "Full name", "text", "name"),
    ("email", "Email address", "email", "email"),
    ("street", "Street and house number", "text", "street-address"),
    ("postal_code", "Postal code", "text", "postal-code"),
    ("city", "City", "text", "address-level2"),
    ("country", "Country", "text", "country-name"),
];

fn value_of<'a>(form: &'a SubscriptionForm, field: &str) -> &'a str {
    match field {
        "name" => &form.name,
        "email" => &form.email,
        "street" => &form.street,
        "postal_code" => &form.postal_code,
        "city" => &form.city,
        _ => &form.country,
    }
}

pub fn render_form(form: &SubscriptionForm, errors: &[FieldError], notice: Option<&str>) -> String {
    let mut body = String::from(
        "<h1>Subscribe to the magazine</h1><p class=\"lead\">We deliver to the address you enter and email you a confirmation showing it.</p>",
    );
    if let Some(n) = notice {
        body.push_str(&format!("<div class=\"summary\" role=\"alert\"><p>{}</p></div>", escape(n)));
    }
    if !errors.is_empty() {
        body.push_str("<div class=\"summary\" role=\"alert\" id=\"error-summary\"><p><strong>Please correct the following:</strong></p><ul>");
        for e in errors {
            let label = FIELDS.iter().find(|f| f.0 == e.field).map_or(e.field, |f| f.1);
            body.push_str(&format!("<li><a href=\"#{}\">{}: {}</a></li>", e.field, escape(label), escape(&e.message)));
        }
        body.push_str("</ul></div>");
    }
    body.push_str("<form method=\"post\" action=\"/subscribe\" novalidate>");
    for (name, label, kind, autocomplete) in FIELDS {
        let error = errors.iter().find(|e| e.field == name);
        let described =
            error.map(|_| format!(" aria-describedby=\"{name}-error\" aria-invalid=\"true\"")).unwrap_or_default();
        body.push_str(&format!(
            "<div><label for=\"{name}\">{label}</label><input id=\"{name}\" name=\"{name}\" type=\"{kind}\" autocomplete=\"{autocomplete}\" value=\"{}\" required{described}>",
            escape(value_of(form, name))
        ));
        if let Some(e) = error {
            body.push_str(&format!("<p class=\"error\" id=\"{name}-error\">{}</p>", escape(&e.message)));
        }
        body.push_str("</div>");
    }
    body.push_str("<button type=\"submit\">Subscribe</button></form>");
    page("Subscribe", &body)
}

pub async fn form_page() -> Html<String> {
    Html(render_form(&SubscriptionForm::default(), &[], None))
}

pub async fn submit_form(State(state): State<SharedState>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_limited(&headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let form: SubscriptionForm = match serde_urlencoded::from_bytes(&bytes) {
        Ok(f) => f,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Html(render_form(
                    &SubscriptionForm::default(),
                    &[],
                    Some("The form could not be read. Please try again."),
                )),
            )
                .into_response()
        }
    };
    match state.intake.submit(&form, Channel::Form, None, super::intake::traceparent(&headers)).await {
        Ok(accepted) => {
            let id = accepted.id;
            let body = format!(
                "<h1>Thank you!</h1><p>Your subscription has been received.</p><div class=\"card\"><p>Subscription id: <code id=\"subscription-id\">{id}</code></p><p><a id=\"status-link\" href=\"/status/{id}\">Follow its status</a></p></div><p>We will email you a confirmation that shows the delivery address.</p>"
            );
            (StatusCode::OK, Html(page("Subscription received", &body))).into_response()
        }
        Err(IntakeError::Invalid(errors)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Html(render_form(&form, &errors, None))).into_response()
        }
        Err(IntakeError::Unavailable) => {
            let mut r = (
                StatusCode::SERVICE_UNAVAILABLE,
                Html(render_form(&form, &[], Some("We could not save your subscription just now. Nothing was stored; please submit again in a moment."))),
            )
                .into_response();
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(1u32));
            r
        }
        Err(other) => intake_error(other).into_response(),
    }
}

pub async fn status_page(Path(raw): Path<String>) -> Response {
    let Ok(id) = uuid::Uuid::parse_str(&raw) else {
        return (
            StatusCode::NOT_FOUND,
            Html(page("Not found", "<h1>Not found</h1><p>That is not a subscription id.</p>")),
        )
            .into_response();
    };
    let body = format!(
        r#"<h1>Your subscription</h1><div class="card"><p>Subscription id: <code>{id}</code></p>
<p>Status: <span class="status" id="status" aria-live="polite">loading…</span></p>
<div id="delivery"></div><div id="mail"></div></div>
<p><a href="/">Subscribe someone else</a></p>
<script>
const id = "{id}";
const steps = {{pending:"pending — we are checking your address", matched:"matched — sending your confirmation", confirmed:"confirmed", failed:"failed — we could not email you"}};
function esc(s){{return String(s??"").replace(/[&<>"']/g,c=>({{"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}})[c]);}}
async function poll(){{
  try {{
    const r = await fetch("/api/v1/subscriptions/"+id, {{headers:{{accept:"application/json"}}}});
    if (r.status === 404) {{ document.getElementById("status").textContent = "unknown"; return; }}
    const s = await r.json();
    const el = document.getElementById("status");
    el.textContent = s.status; el.dataset.status = s.status; el.title = steps[s.status] || s.status;
    if (s.delivery) {{
      const d = s.delivery;
      document.getElementById("delivery").innerHTML = "<p>Delivery address:<br><strong id=\"delivery-address\">"+esc(d.street)+"<br>"+esc(d.postal_code)+" "+esc(d.city)+"<br>"+esc(d.country)+"</strong></p>";
    }}
    if (s.mail && s.mail.kind === "sent") document.getElementById("mail").innerHTML = "<p>Confirmation email sent.</p>";
    if (s.status === "confirmed" || s.status === "failed") return;
  }} catch (e) {{}}
  setTimeout(poll, 700);
}}
poll();
</script>"#
    );
    Html(page("Subscription status", &body)).into_response()
}
