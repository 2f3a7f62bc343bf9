//! Adaptive allocation: traffic moves toward the variant that earns clicks, people
//! move only out of the shrinking arm, a flood from one source moves nothing, and
//! every node serves the new split.

use serde_json::json;

use crate::helpers::*;

const HERO: &str = "/v1/content/home.hero?channel=web&locale=en";
const DEFAULT: &str = "home-hero-default";
const SPRING: &str = "home-hero-spring-b";
const VISITORS: usize = 300;

/// The demo content with `home.hero` adaptive, learning once 20 sources have spoken,
/// and without the winter campaign (its priority would win every web request).
fn adaptive_hero() -> tempfile::TempDir {
    content_fixture(|root| {
        std::fs::remove_file(root.join("content/variants/winter-sale-2026.toml"))
            .expect("the campaign file");
        replace_in(
            &root.join("content/placements/home.hero.toml"),
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\n",
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\nallocation = \"adaptive\"\nreward = \"click\"\nadaptive = { min_sources = 20 }\n",
        );
    })
}

/// The variant each of the visitors gets.
async fn assignments(app: &TestApp) -> Vec<String> {
    let mut variants = Vec::with_capacity(VISITORS);
    for i in 0..VISITORS {
        let body: serde_json::Value = app
            .get_with(HERO, &[("X-Anonymous-Id", &format!("visitor-{i}"))])
            .await
            .json()
            .await
            .expect("json body");
        variants.push(
            body["variant"]["id"]
                .as_str()
                .expect("a variant")
                .to_string(),
        );
    }
    variants
}

fn share_of(variants: &[String], variant: &str) -> f64 {
    variants.iter().filter(|v| *v == variant).count() as f64 / variants.len() as f64
}

async fn recompute(app: &TestApp) -> serde_json::Value {
    let response = app
        .admin(
            reqwest::Method::POST,
            "/v1/governance/allocations/recompute",
            &staff_token(&["governance"], ""),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json body")
}

fn arm<'a>(allocation: &'a serde_json::Value, variant: &str) -> &'a serde_json::Value {
    allocation["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .find(|a| a["variant"] == variant)
        .unwrap_or_else(|| panic!("no arm {variant} in {allocation}"))
}

/// `impressions` impressions and `clicks` clicks on the variant of `token`, spread over
/// `networks` client networks.
fn engagement(token: &str, impressions: usize, clicks: usize) -> Vec<serde_json::Value> {
    (0..impressions + clicks)
        .map(|i| {
            json!({"event_id": uuid::Uuid::new_v4().to_string(),
                "type": if i < impressions { "impression" } else { "click" },
                "tracking_token": token,
                "anonymous_id": format!("reader-{i}")})
        })
        .collect()
}

#[tokio::test]
async fn traffic_moves_to_the_variant_that_earns_clicks_and_people_move_only_out_of_the_shrinking_arm(
) {
    let root = adaptive_hero();
    let app = spawn_app_on(root.path()).await;
    let other = spawn_app_with(Options {
        database_url: Some(app.database_url.clone()),
        content_root: Some(root.path().to_path_buf()),
        poll_secs: 1,
        ..Options::default()
    })
    .await;

    // Before any recompute the placement splits by weight (70/30).
    let before = assignments(&app).await;
    let split = share_of(&before, DEFAULT);
    assert!((0.6..0.8).contains(&split), "default got {split}");
    let listed = app
        .staff_json("/v1/governance/allocations", &["analyst"])
        .await;
    assert_eq!(listed["allocations"], json!([]));

    // Spring earns four times the clicks of the default, from 40 networks.
    let tokens = app.variant_tokens(HERO, 2).await;
    let mut events = engagement(&tokens[DEFAULT], 2000, 40);
    events.extend(engagement(&tokens[SPRING], 2000, 160));
    app.post_events_from(&events, 40).await;

    let report = recompute(&app).await;
    assert_eq!(report["skipped"], json!(null), "{report}");
    assert!(report["generation"].is_u64(), "slots moved: {report}");
    let outcome = &report["placements"][0];
    assert_eq!(outcome["placement"], "home.hero");
    assert_eq!(outcome["moved"], true);
    let allocation = &outcome["allocation"];
    let spring = arm(allocation, SPRING);
    assert_eq!(spring["impressions"], 2000);
    assert_eq!(spring["rewards"], 160);
    assert_eq!(spring["sources"], 40);
    assert_eq!(spring["thin"], false);
    let spring_share = spring["share"].as_f64().unwrap();
    assert!(spring_share > 0.9, "{allocation}");
    assert!(
        (arm(allocation, DEFAULT)["share"].as_f64().unwrap() - 0.05).abs() < 0.01,
        "the default keeps about the floor: {allocation}"
    );
    let slots: Vec<u64> = allocation["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert_eq!(slots.iter().sum::<u64>(), 1000);
    // Served: half way from the weighted 30 % to the earned share.
    let spring_index = allocation["arms"]
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["variant"] == SPRING)
        .unwrap();
    let served = slots[spring_index] as f64 / 1000.0;
    assert!(
        (served - (0.3 + (spring_share - 0.3) / 2.0)).abs() < 0.002,
        "{allocation}"
    );

    // This node serves the new split at once; nobody who had spring lost it.
    let after = assignments(&app).await;
    let spring_now = share_of(&after, SPRING);
    assert!(
        (spring_now - served).abs() < 0.08,
        "{spring_now} of visitors get spring; it is served {served}"
    );
    for (was, is) in before.iter().zip(&after) {
        assert!(
            was == is || (was == DEFAULT && is == SPRING),
            "a visitor moved from {was} to {is}"
        );
    }
    // A preview of a visitor shows the variant their slot serves.
    for (i, expected) in after.iter().enumerate().take(20) {
        let answer: serde_json::Value = app
            .admin(
                reqwest::Method::POST,
                "/v1/admin/preview",
                &staff_token(&["marketer"], ""),
                Some(
                    json!({"placement": "home.hero", "channel": "web", "device": "mobile",
                    "anonymous_id": format!("visitor-{i}")}),
                ),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["chosen"]["id"], expected.as_str(), "{answer}");
    }
    // The other node serves the same assignments once it has the new generation.
    let generation = report["generation"].as_u64().unwrap();
    within(
        std::time::Instant::now(),
        std::time::Duration::from_secs(30),
        "the other node never loaded the new allocation",
        || async { other.metric("tailor_catalog_generation").await >= generation as f64 },
    )
    .await;
    assert_eq!(assignments(&other).await, after);

    // Reviewers read the same allocation with its evidence.
    let listed = app
        .staff_json("/v1/governance/allocations", &["analyst"])
        .await;
    assert_eq!(listed["allocations"][0]["slots"], allocation["slots"]);
    assert_eq!(
        arm(&listed["allocations"][0], SPRING)["p_best"],
        spring["p_best"]
    );

    // Recomputes on the same evidence step the served share toward the earned one
    // until the step is under 2 % of traffic; then nothing moves.
    let mut settled = allocation.clone();
    for _ in 0..10 {
        let again = recompute(&app).await;
        let outcome = &again["placements"][0];
        if outcome["moved"] == false {
            assert_eq!(again["generation"], json!(null), "{again}");
            settled = outcome["allocation"].clone();
            break;
        }
        let moved_to: Vec<String> = assignments(&app).await;
        for (was, is) in after.iter().zip(&moved_to) {
            assert!(
                was == is || (was == DEFAULT && is == SPRING),
                "{was} → {is}"
            );
        }
    }
    assert!(
        settled["slots"][spring_index].as_u64().unwrap() > 900,
        "{settled}"
    );
    let after = assignments(&app).await;

    // Reviewers see the same in the dashboard.
    if browser_ready() {
        let seen = browser_run(
            "allocations.mjs",
            &[app.address.clone(), staff_token(&["analyst"], "")],
        )
        .await;
        assert_eq!(seen["errors"], json!([]), "{seen}");
        let shown = &seen["placements"][0];
        assert_eq!(shown["placement"], "home.hero", "{seen}");
        let spring_row = shown["arms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["variant"] == SPRING)
            .unwrap();
        assert_eq!(
            spring_row["served"], settled["slots"][spring_index],
            "{seen}"
        );
        assert!(
            spring_row["text"].as_str().unwrap().contains("2000"),
            "{seen}"
        );
    }

    // A flood of clicks on the default from one network moves nothing.
    for batch in engagement(&tokens[DEFAULT], 0, 1500).chunks(500) {
        let response = app
            .client
            .post(format!("{}/v1/events", app.address))
            .header("X-Forwarded-For", network(999))
            .json(&json!({ "events": batch }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }
    let again = recompute(&app).await;
    let outcome = &again["placements"][0];
    assert_eq!(outcome["moved"], false, "{again}");
    assert_eq!(again["generation"], json!(null));
    let default = arm(&outcome["allocation"], DEFAULT);
    assert_eq!(default["discounted_sources"], 1, "{default}");
    assert_eq!(default["rewards"], 40, "the flood is not counted");
    for variant in [DEFAULT, SPRING] {
        assert_eq!(
            arm(&outcome["allocation"], variant)["share"],
            arm(allocation, variant)["share"]
        );
    }
    assert_eq!(outcome["allocation"]["slots"], settled["slots"]);
    assert_eq!(assignments(&app).await, after);

    // A variant without a rule at another priority cannot be submitted to an adaptive
    // placement: it would take every request from the arms.
    let marketer = staff_token_for("ann", &["marketer"], "");
    let created = app
        .admin(
            reqwest::Method::POST,
            "/v1/admin/placements/home.hero/variants",
            &marketer,
            Some(json!({"id": "home-hero-vip", "priority": 30,
                "fields": {"title": {"message": "home-hero-spring-title"},
                    "body": {"message": "home-hero-default-body"}}})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let submitted = app
        .step("/v1/admin/variants/home-hero-vip", "submit", &marketer)
        .await;
    let problem = assert_problem(submitted, 422, "invalid-content", None).await;
    assert_eq!(problem["errors"][0]["field"], "priority", "{problem}");
    assert!(
        problem["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("different priorities"),
        "{problem}"
    );

    // Stores are compare-and-set: a node that read an older document stores nothing.
    let db = app.db().await;
    let stale = tailor::storage::allocations::save(
        &db,
        &[tailor::storage::allocations::Write {
            placement: "home.hero".into(),
            read: Some("{}".into()),
            write: Some("{}".into()),
        }],
        true,
    )
    .await
    .unwrap();
    assert_eq!(stale, tailor::storage::allocations::Saved::Raced);
    let listed = app
        .staff_json("/v1/governance/allocations", &["analyst"])
        .await;
    assert_eq!(listed["allocations"][0]["slots"], settled["slots"]);
}

#[tokio::test]
async fn allocation_settings_are_checked_and_its_routes_need_staff_roles() {
    let root = content_fixture(|root| {
        replace_in(
            &root.join("content/placements/home.hero.toml"),
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\n",
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\nreward = \"click\"\nallocation = \"adaptive\"\nadaptive = { floor = 0.9 }\n",
        );
    });
    let run = tailor(root.path()).run(&["validate"]);
    assert!(!run.ok(), "validate passed: {}", run.stdout);
    assert!(
        run.stderr
            .contains("adaptive.floor must be between 0.001 and 0.5")
            || run
                .stdout
                .contains("adaptive.floor must be between 0.001 and 0.5"),
        "{} {}",
        run.stdout,
        run.stderr
    );
    let weighted = content_fixture(|root| {
        replace_in(
            &root.join("content/placements/home.hero.toml"),
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\n",
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\nreward = \"conversion\"\n",
        );
    });
    let run = tailor(weighted.path()).run(&["validate"]);
    assert!(!run.ok());
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("reward applies only to `allocation = \"adaptive\"`"),
        "{} {}",
        run.stdout,
        run.stderr
    );

    // Variants without a rule at two priorities (the winter campaign's 20) are refused.
    let mixed = content_fixture(|root| {
        replace_in(
            &root.join("content/placements/home.hero.toml"),
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\n",
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\nallocation = \"adaptive\"\n",
        );
    });
    let run = tailor(mixed.path()).run(&["validate"]);
    assert!(!run.ok());
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("different priorities"),
        "{} {}",
        run.stdout,
        run.stderr
    );
    // A placement with one variant to allocate is reported and splits by weight.
    let single = content_fixture(|root| {
        replace_in(
            &root.join("content/placements/kiosk.welcome.toml"),
            "\n[",
            "\nallocation = \"adaptive\"\n\n[",
        );
    });
    let app = spawn_app_on(single.path()).await;
    let report = recompute(&app).await;
    assert_eq!(report["placements"], json!([]), "{report}");
    assert_eq!(report["not_allocated"][0]["placement"], "kiosk.welcome");
    assert!(
        report["not_allocated"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("needs two"),
        "{report}"
    );

    let app = spawn_app().await;
    let recompute = "/v1/governance/allocations/recompute";
    let analyst = app
        .admin(
            reqwest::Method::POST,
            recompute,
            &staff_token(&["analyst"], ""),
            None,
        )
        .await;
    assert_problem(analyst, 403, "forbidden", None).await;
    let anonymous = app
        .client
        .get(format!("{}/v1/governance/allocations", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // No adaptive placement in the demo content: nothing to do, nothing changes.
    let response = app
        .admin(
            reqwest::Method::POST,
            recompute,
            &staff_token(&["governance"], ""),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["placements"], json!([]));
    assert_eq!(report["generation"], json!(null));
}

/// NPS detractors are rolled up per source as events arrive, and the migration that
/// introduced them rebuilds the same rows from the stored events (run down and up
/// again here), so a deployment's older answers count too. Reports count only events.
#[tokio::test]
async fn nps_detractors_are_kept_per_source_and_the_backfill_rebuilds_them() {
    use migration::MigratorTrait;

    let app = spawn_app().await;
    let token = app.tracking_token(HERO).await;
    let events: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            json!({"event_id": uuid::Uuid::new_v4().to_string(), "type": "feedback",
                "tracking_token": token, "anonymous_id": format!("answerer-{i}"),
                "feedback": {"kind": "nps", "score": i % 11}})
        })
        .collect();
    app.post_events_from(&events, 6).await;
    let db = app.db().await;
    let detractor_rows = "source_daily WHERE kind = 'nps_detractor'";
    let sum = "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM source_daily WHERE kind = 'nps_detractor'";
    // Scores 0–6 of 0..30 % 11: 0–6 twice (0–10, 11–21) and 0–6 once more (22–28).
    assert_eq!(scalar(&db, sum).await, 21);
    assert_eq!(count(&db, detractor_rows).await, 6, "one row per network");

    migration::Migrator::down(&db, Some(1)).await.unwrap();
    assert_eq!(count(&db, detractor_rows).await, 0);
    migration::Migrator::up(&db, None).await.unwrap();
    assert_eq!(scalar(&db, sum).await, 21);
    assert_eq!(count(&db, detractor_rows).await, 6);

    // The engagement report's source figures count the 30 answers once.
    let report = app
        .staff_json("/v1/reports/engagement?group_by=placement", &["analyst"])
        .await;
    let hero = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"]["placement"] == "home.hero")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(hero["sources"], 6, "{hero}");
    assert_eq!(hero["nps_count"], 30, "{hero}");
    let top = hero["top_source_share"].as_f64().unwrap();
    assert!(
        (top - 5.0 / 30.0).abs() < 1e-9,
        "five of the 30 answers: {hero}"
    );
}
