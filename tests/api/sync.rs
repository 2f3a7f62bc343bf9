//! Offline sync (`GET /v1/sync`): a channel's content for a cohort in several locales,
//! then only the changes — a retirement, a publish and an archive between syncs.

use reqwest::Method;
use serde_json::{json, Value};

use crate::governance::{app_with_policy, SEED_NETWORKS};
use crate::helpers::*;

const VARIANT_POLICY: &str = r#"[[policy]]
id = "variant-ctr"
scope = "variant"
metric = "click_through"
threshold = { relative_to = "best", factor = 0.33 }
window_days = 14
min_sample = 1000
confidence = 0.95
consecutive_failures = 1
mode = "auto"
"#;

async fn sync(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/v1/sync?{query}")).await;
    let status = response.status();
    let cache = header(&response, "cache-control").to_string();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(cache, "private, no-store");
    body
}

/// (placement, locale) → variant id of each changed entry.
fn changed(body: &Value) -> Vec<(String, String, String)> {
    let mut items: Vec<(String, String, String)> = body["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            assert_eq!(item["content"]["placement"], item["placement"], "{item}");
            (
                item["placement"].as_str().unwrap().to_string(),
                item["locale"].as_str().unwrap().to_string(),
                item["content"]["variant"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    items.sort();
    items
}

/// A cohort key whose bucket gets `variant` for the push hero.
async fn cohort_showing(app: &TestApp, variant: &str) -> String {
    for i in 0..200 {
        let context: Value = app
            .get_with("/v1/context", &[("X-Anonymous-Id", &format!("sync-{i}"))])
            .await
            .json()
            .await
            .unwrap();
        let cohort = context["cohort"].as_str().unwrap().to_string();
        let shown: Value = app
            .get(&format!(
                "/v1/content/home.hero?channel=push&locale=en&cohort={cohort}"
            ))
            .await
            .json()
            .await
            .unwrap();
        if shown["variant"]["id"] == variant {
            return cohort;
        }
    }
    panic!("no bucket in 200 tries shows {variant}");
}

#[tokio::test]
async fn a_sync_then_only_changes_after_a_retirement_a_publish_and_an_archive() {
    let (app, _fixture) = app_with_policy(VARIANT_POLICY.to_string()).await;
    let cohort = cohort_showing(&app, "home-hero-spring-b").await;
    let query = format!("channel=push&locales=en,fr&cohort={cohort}");

    // Everything the push channel shows this cohort, in both locales.
    let first = sync(&app, &query).await;
    assert_eq!(first["full"], true);
    assert_eq!(first["channel"], "push");
    assert_eq!(first["locales"], json!(["en", "fr"]));
    let all = changed(&first);
    for locale in ["en", "fr"] {
        assert!(
            all.contains(&(
                "home.hero".into(),
                locale.into(),
                "home-hero-spring-b".into()
            )),
            "{all:?}"
        );
        assert!(all.contains(&(
            "push.back_in_stock".into(),
            locale.into(),
            "push-back-in-stock-default".into()
        )));
    }
    let french = first["changed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["placement"] == "home.hero" && i["locale"] == "fr")
        .unwrap();
    assert_eq!(french["content"]["locale"], "fr", "rendered in French");
    assert!(french["content"]["tracking_token"].is_string());
    assert!(
        all.iter().all(|(p, _, _)| p != "web.footer_promo"),
        "only what the channel shows"
    );

    // Nothing changed: nothing comes back.
    let same = sync(
        &app,
        &format!("{query}&since={}", first["sync_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(same["full"], false);
    assert_eq!(same["changed"], json!([]));
    assert_eq!(same["removed"], json!([]));
    assert_eq!(same["retired"], json!([]));

    // Governance retires spring-b: the hero changes to the default, and says why.
    let tokens = app
        .variant_tokens("/v1/content/home.hero?channel=push&locale=en", 2)
        .await;
    let mut events = Vec::new();
    for (variant, impressions, clicks) in [
        ("home-hero-default", 3500, 350),
        ("home-hero-spring-b", 1500, 5),
    ] {
        for i in 0..impressions {
            events.push(json!({"event_id": format!("{variant}-i{i}"), "type": "impression", "tracking_token": tokens[variant]}));
            if i < clicks {
                events.push(json!({"event_id": format!("{variant}-c{i}"), "type": "click", "tracking_token": tokens[variant]}));
            }
        }
    }
    app.post_events_from(&events, SEED_NETWORKS).await;
    let report = app.evaluate(false).await;
    assert_eq!(
        report["purge_keys"],
        json!(["variant/home-hero-spring-b"]),
        "{report}"
    );
    let after_retirement = sync(
        &app,
        &format!("{query}&since={}", same["sync_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(after_retirement["full"], false);
    assert_eq!(
        changed(&after_retirement),
        [
            ("home.hero".into(), "en".into(), "home-hero-default".into()),
            ("home.hero".into(), "fr".into(), "home-hero-default".into()),
        ]
    );
    let retired: Vec<&str> = after_retirement["retired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    assert_eq!(retired, ["home-hero-spring-b", "home-hero-spring-b"]);
    assert_eq!(after_retirement["removed"], json!([]));

    // A publish: a push-only hero variant above the others.
    let marketer = staff_token_for("ann", &["marketer"], "");
    app.admin_ok(
        Method::POST,
        "/v1/admin/placements/home.hero/variants",
        &marketer,
        Some(json!({
            "id": "home-hero-push-flash",
            "priority": 30,
            "channels": ["push"],
            "fields": {
                "title": {"message": "home-hero-spring-title"},
                "body": {"message": "home-hero-default-body"},
                "cta": {"url": "https://shop.example.com/flash"}
            }
        })),
    )
    .await;
    for (action, token) in [
        ("submit", marketer.clone()),
        ("approve", staff_token_for("rob", &["reviewer"], "")),
        ("publish", staff_token_for("pat", &["publisher"], "")),
    ] {
        let response = app
            .step("/v1/admin/variants/home-hero-push-flash", action, &token)
            .await;
        assert_eq!(response.status(), 200, "{action}");
    }
    let after_publish = sync(
        &app,
        &format!(
            "{query}&since={}",
            after_retirement["sync_token"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        changed(&after_publish),
        [
            (
                "home.hero".into(),
                "en".into(),
                "home-hero-push-flash".into()
            ),
            (
                "home.hero".into(),
                "fr".into(),
                "home-hero-push-flash".into()
            ),
        ]
    );
    assert_eq!(after_publish["retired"], json!([]));
    assert_eq!(after_publish["removed"], json!([]));

    // An archive leaves the back-in-stock push with nothing for this cohort: removed.
    let archived = app
        .step(
            "/v1/admin/variants/push-back-in-stock-default",
            "archive",
            &staff_token_for("pat", &["publisher"], ""),
        )
        .await;
    assert_eq!(archived.status(), 200);
    let after_archive = sync(
        &app,
        &format!(
            "{query}&since={}",
            after_publish["sync_token"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(after_archive["changed"], json!([]));
    assert_eq!(
        after_archive["removed"],
        json!([
            {"placement": "push.back_in_stock", "locale": "en", "variant": "push-back-in-stock-default", "reason": "removed"},
            {"placement": "push.back_in_stock", "locale": "fr", "variant": "push-back-in-stock-default", "reason": "removed"}
        ])
    );

    // An old token still works: it gets everything that changed since then.
    let from_the_start = sync(
        &app,
        &format!("{query}&since={}", first["sync_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(from_the_start["full"], false);
    assert_eq!(from_the_start["removed"].as_array().unwrap().len(), 2);
    assert_eq!(from_the_start["retired"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn sync_parameters_are_checked_and_a_token_for_other_parameters_resyncs_in_full() {
    let app = spawn_app().await;
    for (query, field) in [
        ("locales=en", "channel"),
        ("channel=web", "locales"),
        ("channel=web&locales=en,fr,de,pl,ja,ar", "locales"),
        ("channel=web&locales=en,en", "locales"),
        ("channel=web&locales=en&since=forged.token.here", "since"),
        ("channel=fax&locales=en", "channel"),
        ("channel=web&locales=en&cohort=nope", "cohort"),
        ("channel=web&locales=x_y!", "locales"),
        ("channel=web&locales=en,EN", "locales"),
        ("channel=web&locales=fr-CA,fr_ca", "locales"),
    ] {
        let response = app.get(&format!("/v1/sync?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert!(
            body["field"].as_str().unwrap_or("").contains(field),
            "{query}: {body}"
        );
    }
    let retired = app.get("/v1/sync?channel=kiosk&locales=en").await;
    assert_eq!(retired.status(), 410);
    // A token from the web sync does not continue an email sync: that one is full.
    let web = sync(&app, "channel=web&locales=en").await;
    let token = web["sync_token"].as_str().unwrap();
    let email = sync(&app, &format!("channel=email&locales=en&since={token}")).await;
    assert_eq!(email["full"], true);
    assert!(!email["changed"].as_array().unwrap().is_empty());
    // Percent-encoded lists are lists.
    let encoded = sync(&app, "channel=web&locales=en%2Cfr").await;
    assert_eq!(encoded["locales"], json!(["en", "fr"]));
}
