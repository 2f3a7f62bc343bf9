//! Engagement integrity: forged, flooded and bot traffic never retires content, while
//! genuine evidence still does. Provenance, the evidence gate, sample-ratio mismatch,
//! the circuit breakers, token expiry, rate limits and four eyes on automation.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// The distinct sources events came from (for [`count`]).
const SOURCES: &str = "(SELECT DISTINCT source FROM events WHERE source IS NOT NULL) AS sources";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

fn finding<'a>(report: &'a serde_json::Value, policy: &str, target: &str) -> &'a serde_json::Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["policy"] == policy && f["target"] == target)
        .unwrap_or_else(|| panic!("no {policy} finding for {target} in {report}"))
}

async fn variant_state(app: &TestApp, variant: &str) -> String {
    let states = app.staff_json("/v1/governance/states", &["analyst"]).await;
    states["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == variant)
        .unwrap()["state"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The attack from the issue: the public web answer's token, 1,800 impressions and
/// 200 opt-outs with random ids, as four `text/plain` beacons of 500 events from one
/// address.
async fn forged_flood(app: &TestApp) -> String {
    let content = app
        .json("/v1/content/home.hero?channel=web&locale=en")
        .await;
    let variant = content["variant"]["id"].as_str().unwrap().to_string();
    let token = content["tracking_token"].as_str().unwrap().to_string();
    let events: Vec<serde_json::Value> = (0..2000)
        .map(|i| {
            json!({"event_id": uuid::Uuid::new_v4().to_string(),
                "type": if i % 10 == 9 { "opt_out" } else { "impression" },
                "tracking_token": token, "anonymous_id": uuid::Uuid::new_v4().simple().to_string()})
        })
        .collect();
    for batch in events.chunks(500) {
        let response = app
            .client
            .post(format!("{}/v1/events", app.address))
            .header("Content-Type", "text/plain;charset=UTF-8")
            .header("User-Agent", CHROME)
            .body(json!({ "events": batch }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["accepted"], 500, "{body}");
    }
    variant
}

#[tokio::test]
async fn the_forged_flood_from_one_address_retires_nothing_and_marks_nothing_at_risk() {
    let app = spawn_app().await;
    let variant = forged_flood(&app).await;
    assert_eq!(variant, "home-hero-winter-sale");
    let report = app.evaluate(false).await;
    assert_eq!(report["actions"], json!([]), "{report}");
    let opt_outs = finding(&report, "variant-opt-outs", &variant);
    assert_eq!(opt_outs["verdict"], "unreliable", "{opt_outs}");
    let quality = &opt_outs["evidence"];
    assert_eq!(quality["against"]["sources"], 1);
    assert_eq!(quality["against"]["events"], 200);
    assert_eq!(quality["against"]["top_source_share"], 1.0);
    assert!(
        quality["reason"].as_str().unwrap().contains("min_sources"),
        "{quality}"
    );
    assert_eq!(variant_state(&app, &variant).await, "published");
    let served = app
        .json("/v1/content/home.hero?channel=web&locale=en")
        .await;
    assert_eq!(served["variant"]["id"], variant.as_str());

    // Provenance on every stored event: a keyed hash of the network, never the address.
    let db = app.db().await;
    assert_eq!(count(&db, SOURCES).await, 1);
    assert_eq!(
        count(
            &db,
            "events WHERE source LIKE 'net:%' AND traffic = 'human' AND source NOT LIKE '%127%'"
        )
        .await,
        2000
    );
}

#[tokio::test]
async fn the_same_flood_from_forty_networks_behind_the_proxy_still_retires_nothing() {
    let app = spawn_app().await;
    // The same 2,000 events spread evenly over forty networks: each sends 45 impressions
    // and 5 opt-outs (event k goes out from network k % 40).
    let token = app
        .tracking_token("/v1/content/home.hero?channel=web&locale=en")
        .await;
    let events: Vec<serde_json::Value> = (0..2000)
        .map(|k| {
            json!({"event_id": format!("flood-{k}"),
                "type": if k / 40 < 5 { "opt_out" } else { "impression" },
                "tracking_token": token, "anonymous_id": format!("bot-{k}")})
        })
        .collect();
    app.post_events_as(&events, 40, Some(CHROME)).await;
    let report = app.evaluate(false).await;
    assert_eq!(report["actions"], json!([]), "{report}");
    let opt_outs = finding(&report, "variant-opt-outs", "home-hero-winter-sale");
    assert_eq!(opt_outs["verdict"], "unreliable");
    assert_eq!(opt_outs["evidence"]["against"]["sources"], 40);
    assert_eq!(opt_outs["evidence"]["against"]["top_source_share"], 0.025);
    let db = app.db().await;
    assert_eq!(count(&db, SOURCES).await, 40);
    assert_eq!(
        variant_state(&app, "home-hero-winter-sale").await,
        "published"
    );
}

/// Tokens for both arms of the push hero's 70/30 split.
async fn push_hero_tokens(app: &TestApp) -> std::collections::BTreeMap<String, String> {
    app.variant_tokens("/v1/content/home.hero?channel=push&locale=en", 2)
        .await
}

/// Push-hero engagement: per variant (impressions, opt-outs); events in the past are
/// given tokens from their time.
fn push_events(
    tokens: &std::collections::BTreeMap<String, String>,
    arms: [(&str, usize, usize); 2],
    at: Option<chrono::DateTime<chrono::Utc>>,
    tag: &str,
) -> Vec<serde_json::Value> {
    let mut events = Vec::new();
    for (variant, impressions, opt_outs) in arms {
        let token = match at {
            Some(at) => token_issued_at(&tokens[variant], at - chrono::Duration::minutes(1)),
            None => tokens[variant].clone(),
        };
        for i in 0..impressions {
            let mut impression = json!({"event_id": format!("{tag}-{variant}-i{i}"), "type": "impression",
                "tracking_token": token, "anonymous_id": format!("{tag}-p{i}")});
            let mut opt_out = json!({"event_id": format!("{tag}-{variant}-o{i}"), "type": "opt_out",
                "tracking_token": token, "anonymous_id": format!("{tag}-p{i}")});
            if let Some(at) = at {
                impression["occurred_at"] = json!(at.to_rfc3339());
                opt_out["occurred_at"] = json!(at.to_rfc3339());
            }
            events.push(impression);
            if i < opt_outs {
                events.push(opt_out);
            }
        }
    }
    events
}

/// Genuine traffic from 200 networks: spring-b's opt-out rate is three times
/// default's (3 % against 1 %); impressions follow the 70/30 weights.
async fn genuine_traffic(app: &TestApp, arms: [(&str, usize, usize); 2]) {
    let tokens = push_hero_tokens(app).await;
    let events = push_events(&tokens, arms, None, "now");
    app.post_events_as(&events, 200, Some(CHROME)).await;
}

const GENUINE: [(&str, usize, usize); 2] = [
    ("home-hero-default", 7000, 70),
    ("home-hero-spring-b", 3000, 90),
];

#[tokio::test]
async fn genuine_traffic_from_200_networks_still_retires_a_variant_three_times_worse() {
    let app = spawn_app().await;
    genuine_traffic(&app, GENUINE).await;
    let report = app.evaluate(false).await;
    let spring = finding(&report, "variant-opt-outs", "home-hero-spring-b");
    assert_eq!(spring["verdict"], "fail", "{spring}");
    assert!(spring["evidence"]["against"]["sources"].as_u64().unwrap() >= 50);
    assert!(spring["evidence"]["reason"].is_null());
    assert_eq!(
        finding(&report, "variant-opt-outs", "home-hero-default")["verdict"],
        "pass"
    );
    let actions = report["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1, "{report}");
    assert_eq!(actions[0]["target"], "home-hero-spring-b");
    assert_eq!(actions[0]["action"], "retire");
    assert!(actions[0].get("safeguards").is_none(), "{report}");
    assert_eq!(variant_state(&app, "home-hero-spring-b").await, "retired");
    // The split was tested and is sound.
    let srm = &report["sample_ratios"][0];
    assert_eq!(srm["placement"], "home.hero");
    assert_eq!(srm["mismatch"], false, "{srm}");
}

#[tokio::test]
async fn more_automatic_retirements_than_the_breaker_allows_become_proposals() {
    let app = spawn_app_with(Options {
        max_auto_retirements: 0,
        ..Options::default()
    })
    .await;
    genuine_traffic(&app, GENUINE).await;
    let report = app.evaluate(false).await;
    let action = &report["actions"][0];
    assert_eq!(action["action"], "propose", "{report}");
    assert!(
        action["safeguards"][0]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{action}"
    );
    assert_eq!(variant_state(&app, "home-hero-spring-b").await, "published");
    let decisions = app
        .staff_json("/v1/governance/decisions?status=pending", &["analyst"])
        .await;
    let evidence = &decisions["decisions"][0]["evidence"];
    assert_eq!(
        evidence["safeguard_evidence"]["circuit_breaker"]["max_auto_retirements"],
        0
    );
}

#[tokio::test]
async fn a_sample_ratio_mismatch_holds_automatic_action_in_its_placement() {
    let app = spawn_app().await;
    // The same opt-out rates, but impressions 50/50 against weights of 70/30 (a client
    // that logs one arm twice looks like this).
    genuine_traffic(
        &app,
        [
            ("home-hero-default", 5000, 50),
            ("home-hero-spring-b", 5000, 150),
        ],
    )
    .await;
    let srm = app
        .staff_json("/v1/governance/sample-ratios", &["analyst"])
        .await;
    let test = &srm["sample_ratios"][0];
    assert_eq!(test["placement"], "home.hero");
    assert_eq!(test["mismatch"], true, "{srm}");
    assert!(test["p_value"].as_f64().unwrap() < 0.001);

    let report = app.evaluate(false).await;
    assert_eq!(
        finding(&report, "variant-opt-outs", "home-hero-spring-b")["verdict"],
        "fail"
    );
    let action = &report["actions"][0];
    assert_eq!(action["target"], "home-hero-spring-b");
    assert_eq!(action["action"], "propose", "{report}");
    assert!(action["safeguards"][0]
        .as_str()
        .unwrap()
        .contains("sample-ratio mismatch"));
    assert_eq!(variant_state(&app, "home-hero-spring-b").await, "published");
    let decisions = app
        .staff_json("/v1/governance/decisions?status=pending", &["analyst"])
        .await;
    let decision = &decisions["decisions"][0];
    assert_eq!(decision["target"], "home-hero-spring-b");
    assert_eq!(
        decision["evidence"]["safeguard_evidence"]["sample_ratio"]["mismatch"],
        true
    );
}

#[tokio::test]
async fn a_flood_backdated_over_ten_days_still_jumps_and_is_only_proposed() {
    let app = spawn_app().await;
    // Twenty quiet days of arrivals before today: about 300 impressions and 3 opt-outs
    // a day, as a running deployment would have recorded them.
    let db = app.db().await;
    let today = chrono::Utc::now().date_naive();
    for day in 1..=20 {
        let day = today - chrono::Duration::days(day);
        for (variant, kind, events) in [
            ("home-hero-default", "impression", 210),
            ("home-hero-default", "opt_out", 2),
            ("home-hero-spring-b", "impression", 90),
            ("home-hero-spring-b", "opt_out", 1),
        ] {
            db.execute_unprepared(&format!(
                "INSERT INTO arrivals_daily (day, placement, variant, channel, device, locale, kind, events) \
                 VALUES ('{day}', 'home.hero', '{variant}', 'push', 'unknown', 'en', '{kind}', {events})"
            ))
            .await
            .unwrap();
        }
    }
    // Today a flood from 200 networks claims to have happened over the last ten days
    // (with tokens from those days): spread by `occurred_at`, it has no peak day; by
    // arrival, it all came today.
    let tokens = push_hero_tokens(&app).await;
    let now = chrono::Utc::now();
    let mut events = Vec::new();
    for day in 0..10i64 {
        let at = now - chrono::Duration::days(day) - chrono::Duration::minutes(5);
        events.extend(push_events(
            &tokens,
            [
                ("home-hero-default", 700, 7),
                ("home-hero-spring-b", 300, 9),
            ],
            Some(at),
            &format!("d{day}"),
        ));
    }
    app.post_events_as(&events, 200, Some(CHROME)).await;
    let report = app.evaluate(false).await;
    assert_eq!(
        finding(&report, "variant-opt-outs", "home-hero-spring-b")["verdict"],
        "fail",
        "{report}"
    );
    let action = &report["actions"][0];
    assert_eq!(action["target"], "home-hero-spring-b", "{report}");
    assert_eq!(action["action"], "propose", "{report}");
    assert!(
        action["safeguards"][0]
            .as_str()
            .unwrap()
            .contains("the events against it jumped"),
        "{action}"
    );
    assert_eq!(variant_state(&app, "home-hero-spring-b").await, "published");
}

#[tokio::test]
async fn bot_clicks_are_stored_and_reported_but_change_no_rollup() {
    let app = spawn_app().await;
    let token = &app
        .tracking_token("/v1/content/home.hero?channel=web&locale=en")
        .await;
    let events: Vec<serde_json::Value> = (0..30)
        .map(|i| json!({"event_id": format!("bot-{i}"), "type": "click", "tracking_token": token}))
        .collect();
    app.post_events_as(&events, 3, Some(GOOGLEBOT)).await;
    let db = app.db().await;
    assert_eq!(
        count(&db, "events WHERE traffic = 'bot'").await,
        30,
        "stored"
    );
    for table in ["engagement_daily", "source_daily"] {
        assert_eq!(count(&db, table).await, 0, "{table}");
    }
    // A person's click does count.
    app.post_events_as(
        &[json!({"event_id": "human-1", "type": "click", "tracking_token": token})],
        1,
        Some(CHROME),
    )
    .await;
    assert_eq!(
        scalar(
            &db,
            "SELECT CAST(SUM(clicks) AS BIGINT) FROM engagement_daily"
        )
        .await,
        1
    );
    let report = app
        .staff_json("/v1/reports/engagement?group_by=variant", &["analyst"])
        .await;
    let row = &report["rows"][0];
    assert_eq!(row["clicks"], 1, "{row}");
    assert_eq!(row["bot_events"], 30);
    assert!((row["bot_share"].as_f64().unwrap() - 30.0 / 31.0).abs() < 1e-9);
    assert_eq!(row["sources"], 1);
    assert_eq!(row["top_source_share"], 1.0);
}

#[tokio::test]
async fn past_the_limit_a_client_gets_429_with_retry_after_and_others_do_not() {
    let tight = tailor::config::Limit {
        per_second: 1,
        burst: 2,
    };
    let app = spawn_app_with(Options {
        rate_limits: Some(tailor::config::RateLimits {
            events: tight,
            events_per_key: tight,
            links: tight,
            context: tight,
            identify_per_key: tight,
            identify_per_source: tight,
        }),
        ..Options::default()
    })
    .await;
    let content = app
        .json("/v1/content/home.hero?channel=web&locale=en")
        .await;
    let event = |i: usize| {
        json!({"events": [{"event_id": format!("e{i}"), "type": "impression",
            "tracking_token": content["tracking_token"]}]})
    };
    let post = |i: usize, from: usize| {
        app.client
            .post(format!("{}/v1/events", app.address))
            .header("X-Forwarded-For", network(from))
            .json(&event(i))
            .send()
    };
    assert_eq!(post(0, 1).await.unwrap().status(), 202);
    assert_eq!(post(1, 1).await.unwrap().status(), 202);
    let limited = post(2, 1).await.unwrap();
    let retry_after: u64 = header(&limited, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let problem = assert_problem(limited, 429, "too-many-requests", None).await;
    assert!(problem["detail"].as_str().unwrap().contains("events"));
    // Another network is another client.
    assert_eq!(post(3, 2).await.unwrap().status(), 202);
    // Another address in the same /24 is the same client.
    let same_net = app
        .client
        .post(format!("{}/v1/events", app.address))
        .header("X-Forwarded-For", "10.0.1.200")
        .json(&event(4))
        .send()
        .await
        .unwrap();
    assert_eq!(same_net.status(), 429);

    // The cohort endpoint, tracked links and identify have limits of their own.
    for _ in 0..2 {
        assert_eq!(
            app.get_with(
                "/v1/context",
                &[
                    ("X-Forwarded-For", "10.9.9.9"),
                    ("X-Anonymous-Id", "visitor-1")
                ]
            )
            .await
            .status(),
            200
        );
    }
    let context = app
        .get_with(
            "/v1/context",
            &[
                ("X-Forwarded-For", "10.9.9.9"),
                ("X-Anonymous-Id", "visitor-1"),
            ],
        )
        .await;
    assert_problem(context, 429, "too-many-requests", None).await;
    for i in 0..2 {
        let ok = app
            .identify(json!({"identifiers": {"customer_id": format!("C-{i}")}}))
            .await;
        assert_eq!(ok.status(), 200);
    }
    let identify = app
        .identify(json!({"identifiers": {"customer_id": "C-3"}}))
        .await;
    assert_problem(identify, 429, "too-many-requests", None).await;
    let metric = app.metric("tailor_rate_limited_total").await;
    assert!(metric >= 3.0, "{metric}");
}

/// A token Tailor signed, re-signed with its lifetime already over.
fn expired(token: &str) -> String {
    let mut claims = tracking_claims(token);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 2 * 86_400);
    claims["exp"] = json!(now - 60);
    sign_tracking(&claims)
}

#[tokio::test]
async fn tracking_tokens_expire_and_an_expired_link_redirects_without_counting() {
    let app = spawn_app().await;
    let token = &app
        .tracking_token("/v1/content/home.hero?channel=web&locale=en")
        .await;
    // A fresh web token lives about a day (tracking_token_ttl.web = 24h).
    let payload = tracking_claims(token);
    let now = chrono::Utc::now().timestamp();
    let exp = payload["exp"].as_i64().unwrap();
    assert!(exp > now + 20 * 3600 && exp <= now + 24 * 3600, "{payload}");
    let response = app
        .client
        .post(format!("{}/v1/events", app.address))
        .json(&json!({"events": [
            {"event_id": "fresh", "type": "impression", "tracking_token": token},
            {"event_id": "stale", "type": "impression", "tracking_token": expired(token)},
        ]}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1);
    assert_eq!(body["rejected"][0]["index"], 1);
    assert_eq!(body["rejected"][0]["field"], "tracking_token");
    assert!(
        body["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );

    // An email's tracked link after its token's life: still leads to the page, counts
    // nothing.
    let email: serde_json::Value = app
        .json("/v1/content/email.welcome?channel=email&device=desktop&locale=en")
        .await;
    let link = email["tracking"]["links"]["cta"].as_str().unwrap();
    let (base, link_token) = link.rsplit_once('/').unwrap();
    let redirect = app
        .client
        .get(format!("{base}/{}", expired(link_token)))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        header(&redirect, "location"),
        email["fields"]["cta"].as_str().unwrap()
    );
    let db = app.db().await;
    assert_eq!(count(&db, "events WHERE kind = 'click'").await, 0);
    // The live link counts.
    assert_eq!(app.client.get(link).send().await.unwrap().status(), 302);
    assert_eq!(count(&db, "events WHERE kind = 'click'").await, 1);
}

#[tokio::test]
async fn making_automation_act_sooner_needs_a_second_person() {
    let app = spawn_app().await;
    let url = format!("{}/v1/governance/policies/variant-opt-outs", app.address);
    let ana = staff_token_for("ana", &["governance"], "");
    let current = json!({
        "id": "variant-opt-outs", "scope": "variant", "metric": "opt_out_rate",
        "threshold": {"absolute": 0.01}, "window_days": 14, "min_sample": 1000,
        "confidence": 0.95, "consecutive_failures": 1, "mode": "auto",
        "description": "Guardrail: a variant that wins clicks but drives opt-outs still goes",
    });
    // A lower minimum sample would let the policy act on less: it waits for approval.
    let mut eager = current.clone();
    eager["min_sample"] = json!(10);
    eager["min_sources"] = json!(2);
    let response = app
        .client
        .put(&url)
        .bearer_auth(&ana)
        .json(&eager)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let decision: serde_json::Value = response.json().await.unwrap();
    assert_eq!(decision["status"], "pending");
    assert_eq!(decision["action"], "policy_change");
    assert_eq!(decision["proposed_by"], "staff:ana");
    let escalations = decision["evidence"]["escalations"].to_string();
    assert!(
        escalations.contains("min_sample") && escalations.contains("min_sources"),
        "{escalations}"
    );
    async fn policy_now(app: &TestApp) -> serde_json::Value {
        let list = app
            .staff_json("/v1/governance/policies", &["analyst"])
            .await;
        list["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == "variant-opt-outs")
            .unwrap()
            .clone()
    }
    assert_eq!(
        policy_now(&app).await["min_sample"],
        1000,
        "not applied yet"
    );

    let id = decision["id"].as_i64().unwrap();
    let act = |verb: &str, token: String| {
        app.client
            .post(format!(
                "{}/v1/governance/decisions/{id}/{verb}",
                app.address
            ))
            .bearer_auth(token)
            .json(&json!({"comment": "checked"}))
            .send()
    };
    // The proposer cannot review their own change.
    let own = act("review", ana.clone()).await.unwrap();
    assert_problem(own, 403, "forbidden", None).await;
    let cy = staff_token_for("cy", &["governance"], "");
    assert_eq!(act("review", cy).await.unwrap().status(), 200);
    let dee = staff_token_for("dee", &["governance_approver"], "");
    let approved = act("approve", dee).await.unwrap();
    assert_eq!(approved.status(), 200);
    let policy = policy_now(&app).await;
    assert_eq!(policy["min_sample"], 10, "{policy}");
    assert_eq!(policy["min_sources"], 2);

    // Toward caution applies at once.
    let mut careful = current.clone();
    careful["min_sample"] = json!(5000);
    let response = app
        .client
        .put(&url)
        .bearer_auth(&ana)
        .json(&careful)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(policy_now(&app).await["min_sample"], 5000);

    // A change approved after the policy moved on is refused, not applied over it: a
    // pending request to go back to 1000 is withdrawn when someone edits the policy.
    let mut stale = current.clone();
    stale["min_sample"] = json!(5);
    let response = app
        .client
        .put(&url)
        .bearer_auth(&ana)
        .json(&stale)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let stale_id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let mut propose = policy_now(&app).await;
    propose["mode"] = json!("propose");
    let response = app
        .client
        .put(&url)
        .bearer_auth(&ana)
        .json(&propose)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "toward caution: at once");
    let review = app
        .client
        .post(format!(
            "{}/v1/governance/decisions/{stale_id}/review",
            app.address
        ))
        .bearer_auth(staff_token_for("cy", &["governance"], ""))
        .json(&json!({"comment": "late"}))
        .send()
        .await
        .unwrap();
    assert_problem(review, 409, "conflict", None).await;
    assert_eq!(policy_now(&app).await["mode"], "propose");

    // Reviewed, then the stored policy changes by another path (a file import on
    // another node): approving now refuses and withdraws instead of writing over it.
    let mut eager_again = policy_now(&app).await;
    eager_again["mode"] = json!("auto");
    let response = app
        .client
        .put(&url)
        .bearer_auth(&ana)
        .json(&eager_again)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let late_id = response.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let late = |verb: &str, token: String| {
        app.client
            .post(format!(
                "{}/v1/governance/decisions/{late_id}/{verb}",
                app.address
            ))
            .bearer_auth(token)
            .json(&json!({"comment": "ok"}))
            .send()
    };
    let cy = staff_token_for("cy", &["governance"], "");
    assert_eq!(late("review", cy).await.unwrap().status(), 200);
    app.db()
        .await
        .execute_unprepared(
            "UPDATE governance_policies SET content_hash = 'changed-elsewhere' WHERE id = 'variant-opt-outs'",
        )
        .await
        .unwrap();
    let dee = staff_token_for("dee", &["governance_approver"], "");
    let refused = late("approve", dee).await.unwrap();
    assert_problem(refused, 409, "conflict", None).await;
    assert_eq!(policy_now(&app).await["mode"], "propose", "nothing written");
    let withdrawn = count(
        &app.db().await,
        &format!("governance_decisions WHERE id = {late_id} AND status = 'withdrawn'"),
    )
    .await;
    assert_eq!(withdrawn, 1);
}

#[tokio::test]
async fn a_proxy_missing_from_trusted_proxies_is_one_source_and_not_throttled() {
    let tight = tailor::config::Limit {
        per_second: 1,
        burst: 2,
    };
    let app = spawn_app_with(Options {
        trusted_proxies: vec![],
        rate_limits: Some(tailor::config::RateLimits {
            events: tight,
            events_per_key: tight,
            ..Default::default()
        }),
        ..Options::default()
    })
    .await;
    let content = app
        .json("/v1/content/home.hero?channel=web&locale=en")
        .await;
    let post = |i: usize, forwarded: Option<&str>| {
        let mut request = app.client.post(format!("{}/v1/events", app.address)).json(
            &json!({"events": [{"event_id": format!("e{i}"), "type": "impression",
                "tracking_token": content["tracking_token"]}]}),
        );
        if let Some(address) = forwarded {
            request = request.header("X-Forwarded-For", address);
        }
        request.send()
    };
    // Through an internal proxy nobody declared: every client looks like the proxy, so
    // throttling it would throttle everyone — it is let through (and logged once).
    for i in 0..5 {
        let response = post(i, Some(&network(i))).await.unwrap();
        assert_eq!(response.status(), 202);
    }
    let db = app.db().await;
    assert_eq!(
        count(&db, SOURCES).await,
        1,
        "the forwarded addresses are not believed"
    );
    // A direct client is limited as usual.
    for i in 10..12 {
        assert_eq!(post(i, None).await.unwrap().status(), 202);
    }
    assert_eq!(post(12, None).await.unwrap().status(), 429);
    // A server key has a bucket of its own.
    let keyed = app
        .client
        .post(format!("{}/v1/events", app.address))
        .header("X-Api-Key", SERVER_KEY)
        .json(&json!({"events": [{"event_id": "k1", "type": "impression",
            "tracking_token": content["tracking_token"], "anonymous_id": "made-up"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), 202);
    assert_eq!(
        count(&db, "events WHERE event_id = 'k1' AND source LIKE 'key:%'").await,
        1,
        "an anonymous id under a server key is the key's word, not a person's"
    );
}
