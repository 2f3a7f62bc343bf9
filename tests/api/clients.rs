//! Clients: the web SDK as a browser on another origin uses it, and as Tailor serves it.

use crate::helpers::*;

#[tokio::test]
async fn the_sdk_is_served_to_any_origin_cacheable_and_pinned_by_version() {
    let app = spawn_app().await;
    let latest = app
        .get_with("/sdk/tailor.js", &[("Origin", "https://shop.example")])
        .await;
    assert_eq!(latest.status(), 200);
    assert_eq!(
        header(&latest, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&latest, "access-control-allow-origin"), "*");
    assert!(header(&latest, "cache-control").contains("max-age=300"));
    let etag = header(&latest, "etag").to_string();
    let source = latest.text().await.unwrap();
    let version = source
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("export const VERSION = \""))
        .and_then(|l| l.strip_suffix("\";"))
        .expect("the SDK starts with its version")
        .to_string();
    let again = app
        .get_with("/sdk/tailor.js", &[("If-None-Match", &etag)])
        .await;
    assert_eq!(again.status(), 304);
    let weak = app
        .get_with("/sdk/tailor.js", &[("If-None-Match", &format!("W/{etag}"))])
        .await;
    assert_eq!(weak.status(), 304, "If-None-Match compares weakly");
    let pinned = app.get(&format!("/sdk/tailor-{version}.js")).await;
    assert_eq!(pinned.status(), 200);
    assert_eq!(
        header(&pinned, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(pinned.text().await.unwrap(), source);
    let other = app.get("/sdk/tailor-0.0.1.js").await;
    assert_problem(other, 404, "not-found", None).await;
}

#[tokio::test]
async fn the_sdk_unit_tests_pass_under_node() {
    if !browser_ready() {
        eprintln!("skipped: no Node.js test setup (CI installs it)");
        return;
    }
    let output = tokio::process::Command::new("node")
        .arg("--test")
        .arg(repo_root().join("sdk/test"))
        .output()
        .await
        .expect("run node");
    assert!(
        output.status.success(),
        "node --test sdk/test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_page_on_another_origin_shows_content_with_the_sdk_and_each_event_lands_once() {
    if !browser_ready() {
        eprintln!("skipped: no Chromium or tests/browser/node_modules (CI installs both)");
        return;
    }
    let page = page_server().await;
    let page_origin = format!("http://127.0.0.1:{page}");
    let app = spawn_app_with(Options {
        cors_allowed_origins: vec![page_origin.clone()],
        ..Options::default()
    })
    .await;
    let seen = browser_run("sdk.mjs", &[app.address.clone(), page_origin]).await;
    assert_eq!(seen["ok"], true, "{seen}");
    assert_eq!(seen["locale"], "fr-CA", "the browser's language: {seen}");
    for placement in ["home.hero", "checkout.banner", "web.footer_promo"] {
        assert_eq!(seen["states"][placement], "rendered", "{seen}");
        assert_eq!(seen["locales"][placement], "fr-CA", "{seen}");
        assert_eq!(seen["impressions_by_placement"][placement], 1, "{seen}");
    }
    assert_eq!(
        seen["requests"]["placements_per_content_request"][0], 3,
        "one call for the page's placements: {seen}"
    );
    assert_eq!(
        seen["requests"]["context"], 1,
        "the cohort once per session: {seen}"
    );
    assert_eq!(seen["footer_before_scroll"], false, "{seen}");
    assert_eq!(seen["requests"]["failed_first"], true, "{seen}");
    assert_eq!(seen["requests"]["retried_same_ids"], true, "{seen}");
    assert_eq!(seen["consent_off_sent"], 0, "{seen}");

    // Exactly the events the page sent, each once, though the first batch was sent twice.
    let mut expected: Vec<String> = Vec::new();
    for kind in ["impression", "click"] {
        for id in seen["event_ids"][kind].as_array().unwrap() {
            expected.push(format!("{}:{kind}", id.as_str().unwrap()));
        }
    }
    expected.sort();
    assert_eq!(expected.len(), 4, "{seen}");
    let db = app.db().await;
    let stored = texts(
        &db,
        "SELECT event_id || ':' || kind FROM events ORDER BY event_id || ':' || kind",
    )
    .await;
    assert_eq!(stored, expected);
    let clicked = texts(&db, "SELECT placement FROM events WHERE kind = 'click'").await;
    assert_eq!(clicked, ["web.footer_promo"]);
}
