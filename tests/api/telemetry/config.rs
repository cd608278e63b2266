use masthead_telemetry::TracingConfig;

fn config(role: &str, vars: &[(&str, &str)]) -> TracingConfig {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    TracingConfig::from_lookup(role, |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn without_an_endpoint_nothing_is_exported_and_the_service_is_named_after_the_role() {
    assert_eq!(config("matcher", &[]), TracingConfig { service_name: "masthead-matcher".into(), otlp_endpoint: None });
}

#[test]
fn the_standard_otel_variables_are_honoured() {
    let c = config("api", &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("OTEL_SERVICE_NAME", "intake")]);
    assert_eq!(c, TracingConfig { service_name: "intake".into(), otlp_endpoint: Some("http://collector:4317".into()) });

    let c = config(
        "api",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, service.name=edge"),
        ],
    );
    assert_eq!(c, TracingConfig { service_name: "edge".into(), otlp_endpoint: Some("http://traces:4317".into()) });

    let c = config("api", &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"), ("OTEL_SDK_DISABLED", "true")]);
    assert_eq!(c.otlp_endpoint, None);
    assert_eq!(config("api", &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).otlp_endpoint, None);
}
