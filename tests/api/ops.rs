use crate::helpers::*;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    assert_eq!(app.json("/healthz").await["status"], "ok");
    assert_eq!(app.json("/readyz").await["status"], "ready");
    // Readiness is what the background probe found, per dependency.
    within(
        std::time::Instant::now(),
        std::time::Duration::from_secs(10),
        "the probe never reported the database up",
        || async { app.json("/readyz").await["dependencies"]["database"]["state"] == "up" },
    )
    .await;
    app.get("/v1/content/home.hero?channel=sms").await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "tailor_http_requests_total{route=\"/v1/content/{placement}\",status=\"200\"}"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("tailor_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("tailor_catalog_generation 1"));
}

/// Metrics map routes, dependencies and volumes: never public outside development mode.
#[tokio::test]
async fn metrics_need_their_token_or_their_own_listener() {
    let app = spawn_app().await;
    for authorization in [
        None,
        Some(bearer("not-the-metrics-token-0123456789")),
        Some(bearer(DEV_TOKEN_SECRET)),
    ] {
        let mut request = app.client.get(format!("{}/metrics", app.address));
        if let Some(value) = &authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, 401, "unauthorized", Some("Authorization")).await;
    }
    assert!(app.metrics().await.contains("tailor_catalog_generation"));

    // On a listener of its own, with the token there, and not on the main listener.
    let app = spawn_app_with(Options {
        metrics_bind: Some("127.0.0.1:0".into()),
        ..Options::default()
    })
    .await;
    let main = app
        .get_with("/metrics", &[("Authorization", &bearer(METRICS_TOKEN))])
        .await;
    assert_problem(main, 404, "not-found", None).await;
    let separate = app.metrics_address.clone().expect("a metrics listener");
    let response = app
        .client
        .get(format!("{separate}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("tailor_catalog_generation"));
    let refused = app
        .client
        .get(format!("{separate}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let other = app
        .client
        .get(format!("{separate}/v1/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "the metrics listener serves nothing else"
    );
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

/// What a caller learns, and in which order, stays as it was: an unknown step or verb
/// and a malformed resource path are answered before the token is looked at, and a
/// step's 403 names exactly the roles that step needs.
#[tokio::test]
async fn unknown_actions_bad_paths_and_wrong_roles_are_answered_as_before() {
    let app = spawn_app().await;
    let post = |path: &str, token: Option<String>, body: String| {
        let mut request = app
            .client
            .post(format!("{}{path}", app.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let no_body = || String::new();

    let r = post("/v1/admin/variants/home-hero-vip/promote", None, no_body())
        .await
        .unwrap();
    assert_problem(r, 404, "not-found", Some("action")).await;
    let r = post("/v1/admin/locales/xx!/home.ftl/submit", None, no_body())
        .await
        .unwrap();
    assert_problem(r, 400, "invalid-parameter", Some("locale")).await;
    let r = post("/v1/governance/decisions/1/frobnicate", None, no_body())
        .await
        .unwrap();
    assert_problem(r, 404, "not-found", Some("verb")).await;

    let governance = Some(staff_token(&["governance"], ""));
    let r = post(
        "/v1/admin/variants/home-hero-vip/publish",
        governance.clone(),
        no_body(),
    )
    .await
    .unwrap();
    let body = assert_problem(r, 403, "forbidden", Some("Authorization")).await;
    assert_eq!(body["detail"], "this needs the role publisher");
    let r = post(
        "/v1/admin/variants/home-hero-vip/submit",
        governance.clone(),
        no_body(),
    )
    .await
    .unwrap();
    let body = assert_problem(r, 403, "forbidden", Some("Authorization")).await;
    assert_eq!(body["detail"], "this needs the role marketer or admin");
    let approver = Some(staff_token(&["governance_approver"], ""));
    let comment = serde_json::json!({"comment": "ok"}).to_string();
    let r = post(
        "/v1/governance/decisions/1/review",
        approver,
        comment.clone(),
    )
    .await
    .unwrap();
    let body = assert_problem(r, 403, "forbidden", Some("Authorization")).await;
    assert_eq!(body["detail"], "this needs the role governance");

    // A governance body is read up to 256 KiB: a long comment is refused by its own
    // rule, not by a size limit.
    let long = serde_json::json!({"comment": "x".repeat(100_000)}).to_string();
    let r = post("/v1/governance/decisions/1/review", governance, long)
        .await
        .unwrap();
    assert_problem(r, 400, "invalid-parameter", Some("comment")).await;
}
