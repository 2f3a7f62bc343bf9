use crate::helpers::*;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    assert_eq!(app.json("/healthz").await["status"], "ok");
    assert_eq!(app.json("/readyz").await["status"], "ready");
    app.get("/v1/content/home.hero?channel=sms").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            "tailor_http_requests_total{route=\"/v1/content/{placement}\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("tailor_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("tailor_catalog_generation 1"));
}

#[tokio::test]
async fn openapi_lists_every_endpoint_and_docs_render_it() {
    let app = spawn_app().await;
    let doc = app.json("/openapi.json").await;
    for path in [
        "/v1/content/{placement}",
        "/v1/content",
        "/v1/context",
        "/v1/channels",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let docs = app.get("/docs").await;
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("/openapi.json"));
}
