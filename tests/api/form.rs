use masthead_test_support::app::{spawn_app, API};

#[tokio::test]
async fn the_form_has_a_labelled_input_per_field() {
    let app = spawn_app(API).await;
    let html = app.get("/").await.text().await.expect("html");
    for field in ["name", "email", "street", "postal_code", "city", "country"] {
        assert!(html.contains(&format!("<label for=\"{field}\">")), "label for {field}");
        assert!(html.contains(&format!("id=\"{field}\" name=\"{field}\"")), "input {field}");
    }
}

#[tokio::test]
async fn an_invalid_form_is_re_rendered_with_what_was_typed_and_the_errors() {
    let app = spawn_app(API).await;
    let response = app
        .http
        .post(format!("{}/subscribe", app.address))
        .form(&[
            ("name", "Ada <Lovelace>"),
            ("email", "nope"),
            ("street", "Kerkstraat 12"),
            ("postal_code", ""),
            ("city", "Utrecht"),
            ("country", "NL"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    // Kept, and escaped (the template engine writes numeric references).
    assert!(html.contains("value=\"Ada &#60;Lovelace&#62;\""), "typed name kept, escaped: {html}");
    assert!(!html.contains("<Lovelace>"), "the typed name is escaped: {html}");
    assert!(html.contains("value=\"Kerkstraat 12\""));
    assert!(html.contains("id=\"email-error\""));
    assert!(html.contains("id=\"postal_code-error\""));
    assert!(!html.contains("id=\"city-error\""));
    assert!(html.contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn a_valid_form_shows_the_confirmation_page_with_a_status_link() {
    let app = spawn_app(API).await;
    let response = app
        .http
        .post(format!("{}/subscribe", app.address))
        .form(&[
            ("name", "Ada"),
            ("email", "ada@example.org"),
            ("street", "Kerkstraat 12"),
            ("postal_code", "3511 LX"),
            ("city", "Utrecht"),
            ("country", "NL"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    let start = html.find("id=\"subscription-id\">").expect("id shown") + "id=\"subscription-id\">".len();
    let id = &html[start..start + 36];
    assert!(html.contains(&format!("href=\"/status/{id}\"")));
    assert_eq!(app.event_count(id).await, 1);
    assert_eq!(app.get(&format!("/status/{id}")).await.status(), 200);
}
