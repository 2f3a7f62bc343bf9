//! Faults: the test's own Redis and PostgreSQL stopped and started under a running
//! node, a black-hole Redis, and nodes started with a dependency down. Waits are
//! bounded (`within`, client timeouts), never sleeps; nothing here asserts a duration.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::services::{
    free_port, own_servers_or_skip, BlackHole, KillOnDrop, OwnPostgres, OwnRedis, Proxy,
};

/// The bound a request gets in these tests: far above a degraded answer's cost (tens of
/// milliseconds), far below the ~9.5 s a Redis call hung for before the breakers.
const REQUEST_BOUND: Duration = Duration::from_secs(3);

fn bounded_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_BOUND)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = bounded_client().get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path} was not answered within {REQUEST_BOUND:?}: {e}"))
}

/// `/readyz`'s status and body (it must answer within the bound even mid-outage).
async fn readiness(app: &TestApp) -> (u16, serde_json::Value) {
    let response = get(app, "/readyz", &[]).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("readiness json"))
}

/// Waits (bounded) until the background probe reports `dependency` in `state`.
async fn until_probe_says(app: &TestApp, dependency: &str, state: &str) -> serde_json::Value {
    within(
        Instant::now(),
        Duration::from_secs(20),
        &format!("/readyz never reported {dependency} {state}"),
        || async {
            let (_, body) = readiness(app).await;
            (body["dependencies"][dependency]["state"] == state).then_some(body)
        },
    )
    .await
}

/// Waits (bounded) until `app` listens on both Redis channels, its catch-up done.
async fn until_subscribed(app: &TestApp) {
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the node never subscribed to Redis",
        || async {
            app.metric("tailor_redis_subscribed{channel=\"tailor:people:v2\"}")
                .await
                == 1.0
                && app
                    .metric("tailor_redis_subscribed{channel=\"tailor:invalidate\"}")
                    .await
                    == 1.0
        },
    )
    .await;
}

/// The status of the SMS placement for the person a bearer `token` names.
async fn sms_status(app: &TestApp, token: &str) -> u16 {
    get(app, SMS, &[("Authorization", token)])
        .await
        .status()
        .as_u16()
}

const HERO: &str = "/v1/content/home.hero?channel=web&device=desktop&locale=en";
const SMS: &str = "/v1/content/sms.order_shipped?channel=sms&locale=en";

#[tokio::test]
async fn a_black_hole_redis_costs_a_request_its_timeout_once_and_then_nothing() {
    let hole = BlackHole::start();
    // The node starts although Redis never answers (it used to wait ~9.5 s and exit).
    let app = spawn_app_with(Options {
        redis_url: Some(format!("redis://127.0.0.1:{}", hole.port)),
        ..Options::default()
    })
    .await;
    // Each request names a person nobody has seen: each needs a lookup.
    for n in 0..30 {
        let id = format!("hole-visitor-{n}");
        let response = get(&app, HERO, &[("X-Anonymous-Id", &id)]).await;
        assert_eq!(response.status(), 200, "visitor {n}");
    }
    let redis = |outcome: &'static str| {
        let app = &app;
        async move {
            app.metric(&format!(
                "tailor_dependency_calls_total{{dependency=\"redis\",outcome=\"{outcome}\"}}"
            ))
            .await
        }
    };
    let (paid, refused) = (
        redis("timed_out").await + redis("failed").await,
        redis("short_circuited").await,
    );
    assert!(
        paid + refused >= 30.0,
        "each request asked Redis or its breaker: {paid} + {refused}"
    );
    assert!(
        paid <= 10.0,
        "only the calls before the breaker opened (and its rare trials) waited: {paid}"
    );
    assert!(
        paid < refused,
        "only the calls before the breaker opened (and its trials) waited: {paid} waited, {refused} did not"
    );
    // Person lookups went to the database instead, and events still count.
    assert!(
        app.metric("tailor_person_lookups_total{source=\"database\"}")
            .await
            >= 30.0
    );
    let body = until_probe_says(&app, "redis", "down").await;
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["dependencies"]["redis"]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    assert_eq!(body["dependencies"]["database"]["state"], "up", "{body}");
    assert_eq!(
        readiness(&app).await.0,
        200,
        "Redis down is degraded, not unready"
    );
    assert_eq!(get(&app, "/readyz?strict=true", &[]).await.status(), 503);
    // An identify still answers: its announcement waits for Redis.
    let identified = app
        .identified(
            json!({"identifiers": {"anonymous_id": "hole-visitor-1", "customer_id": "C-hole"}}),
        )
        .await;
    assert!(identified["person_id"].is_string());
}

#[tokio::test]
async fn a_node_starts_with_redis_down_and_connects_when_it_comes_up() {
    if !own_servers_or_skip() {
        return;
    }
    let port = free_port();
    let app = spawn_app_with(Options {
        redis_url: Some(format!("redis://127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;
    let body = until_probe_says(&app, "redis", "down").await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(
        get(&app, HERO, &[("X-Anonymous-Id", "early-bird")])
            .await
            .status(),
        200
    );
    let _redis = OwnRedis::start_on(port).await;
    let body = until_probe_says(&app, "redis", "up").await;
    assert_eq!(body["status"], "ready", "{body}");
    // The shared level is in use now: an identify announces through it, and a lookup
    // of the person stores its answer there.
    within(
        Instant::now(),
        Duration::from_secs(10),
        "no Redis call succeeded after Redis came up",
        || async {
            let id = format!("after-{}", uuid::Uuid::new_v4().simple());
            app.identified(json!({"identifiers": {"anonymous_id": id}}))
                .await;
            get(&app, HERO, &[("X-Anonymous-Id", &id)]).await;
            app.metric("tailor_dependency_calls_total{dependency=\"redis\",outcome=\"ok\"}")
                .await
                > 0.0
        },
    )
    .await;
}

/// Two nodes on one database and the test's own Redis; `second` has resolved (and
/// cached) customer C-outage, whose SMS answer is `200` until a browser that opted out
/// of SMS is merged into them.
async fn two_nodes_on(redis: &OwnRedis) -> (TestApp, TestApp, String) {
    two_nodes(redis.url(), redis.url()).await
}

/// [`two_nodes_on`], each node reaching Redis at its own URL (one through a proxy).
async fn two_nodes(first_redis: String, second_redis: String) -> (TestApp, TestApp, String) {
    let options = |redis_url| Options {
        redis_url: Some(redis_url),
        // No polling: only the Redis path (and its catch-up) can carry a change.
        poll_secs: 3600,
        ..Options::default()
    };
    let first = spawn_app_with(options(first_redis)).await;
    let second = spawn_app_with(Options {
        database_url: Some(first.database_url.clone()),
        ..options(second_redis)
    })
    .await;
    // A node drops its cached people when it subscribes: cache only after that.
    until_subscribed(&first).await;
    until_subscribed(&second).await;
    first
        .identified(json!({"identifiers": {"customer_id": "C-outage"}}))
        .await;
    // Its announcement goes out twice, 0.5 s apart; each makes the second node drop
    // the person: cache only after both.
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the first node never sent its announcement twice",
        || async { first.metric("tailor_people_changes_sent_total").await >= 2.0 },
    )
    .await;
    let token = bearer(&identity_token("C-outage", 600));
    assert_eq!(sms_status(&second, &token).await, 200);
    (first, second, token)
}

#[tokio::test]
async fn a_person_change_made_while_redis_was_down_reaches_the_other_node_when_it_returns() {
    if !own_servers_or_skip() {
        return;
    }
    let mut redis = OwnRedis::start().await;
    let (first, second, token) = two_nodes_on(&redis).await;
    // A visitor the second node knows to be unknown from its filter alone.
    second.filter_ready().await;
    let visitor_sms = |app: &TestApp| {
        let app = app.address.clone();
        async move {
            bounded_client()
                .get(format!("{app}{SMS}"))
                .header("X-Anonymous-Id", "a-new-in-outage")
                .send()
                .await
                .expect("answered")
                .status()
                .as_u16()
        }
    };
    assert_eq!(visitor_sms(&second).await, 200);

    redis.kill();
    until_probe_says(&first, "redis", "down").await;
    // Identified on the first node while nobody can be told: the second node must not
    // go on calling this visitor unknown once Redis is back.
    first
        .identified(
            json!({"identifiers": {"anonymous_id": "a-new-in-outage"}, "consents": {"sms": false}}),
        )
        .await;
    // The merge is made on the first node while nobody can be told.
    first
        .identified(
            json!({"identifiers": {"anonymous_id": "a-outage"}, "consents": {"sms": false}}),
        )
        .await;
    first
        .identified(json!({"identifiers": {"customer_id": "C-outage", "anonymous_id": "a-outage"}}))
        .await;
    assert_eq!(
        sms_status(&first, &token).await,
        204,
        "the node that made the change serves it at once"
    );
    assert_eq!(
        sms_status(&second, &token).await,
        200,
        "the other node still has the person from before (it cannot be told yet)"
    );

    redis.resume().await;
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the second node kept serving the person from before the merge",
        || async { sms_status(&second, &token).await == 204 },
    )
    .await;
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the second node still called a visitor identified during the outage unknown",
        || async { visitor_sms(&second).await == 204 },
    )
    .await;

    // A change made just after Redis returned (before or after the second node has
    // subscribed again) is seen too: the second node drops its cache on subscribing.
    first
        .identified(json!({"identifiers": {"customer_id": "C-outage"}, "consents": {"sms": true}}))
        .await;
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the second node missed the change made just after Redis returned",
        || async { sms_status(&second, &token).await == 200 },
    )
    .await;
}

/// The variant of home.hero a node serves to nobody in particular.
async fn served_variant(app: &TestApp) -> String {
    let body: serde_json::Value = get(app, HERO, &[]).await.json().await.expect("json");
    body["variant"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn changes_a_node_made_while_cut_off_from_redis_are_sent_when_it_reconnects() {
    if !own_servers_or_skip() {
        return;
    }
    let redis = OwnRedis::start().await;
    let mut proxy = Proxy::start(redis.port).await;
    // The first node reaches Redis through the proxy; the second directly.
    let (first, second, token) =
        two_nodes(format!("redis://127.0.0.1:{}", proxy.port), redis.url()).await;

    proxy.cut().await;
    until_probe_says(&first, "redis", "down").await;
    first
        .identified(json!({"identifiers": {"anonymous_id": "a-cut"}, "consents": {"sms": false}}))
        .await;
    first
        .identified(json!({"identifiers": {"customer_id": "C-outage", "anonymous_id": "a-cut"}}))
        .await;
    assert_eq!(sms_status(&first, &token).await, 204);
    // Operators see what waits.
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the held change never showed in the metrics",
        || async { first.metric("tailor_people_changes_held").await >= 1.0 },
    )
    .await;
    // The second node never lost Redis, so nothing makes it drop its cache but the
    // first node's announcement, held until the first node reaches Redis again.
    assert_eq!(
        sms_status(&second, &token).await,
        200,
        "while the first node is cut off, the second cannot know (bounded by person_cache_secs)"
    );
    proxy.restore().await;
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the held change never reached the second node",
        || async { sms_status(&second, &token).await == 204 },
    )
    .await;
}

#[tokio::test]
async fn content_published_while_redis_was_down_is_served_by_the_other_node_when_it_returns() {
    if !own_servers_or_skip() {
        return;
    }
    let mut redis = OwnRedis::start().await;
    let (first, second, _) = two_nodes_on(&redis).await;
    let before = served_variant(&second).await;

    redis.kill();
    until_probe_says(&first, "redis", "down").await;
    until_probe_says(&second, "redis", "down").await;
    // The variant both nodes serve is archived on the first.
    let archived = first
        .step(
            &format!("/v1/admin/variants/{before}"),
            "archive",
            &staff_token_for("pat", &["publisher"], ""),
        )
        .await;
    assert_eq!(archived.status(), 200);
    let after = served_variant(&first).await;
    assert_ne!(before, after, "the first node serves its own change");

    redis.resume().await;
    within(
        Instant::now(),
        Duration::from_secs(20),
        "the second node kept serving the content from before the change (its poll is off)",
        || async { served_variant(&second).await == after },
    )
    .await;
}

#[tokio::test]
async fn with_the_database_down_people_get_the_anonymous_answer_and_events_a_quick_503() {
    if !own_servers_or_skip() {
        return;
    }
    let pg = OwnPostgres::start().await;
    let app = spawn_app_with(Options {
        database_url: Some(pg.url()),
        ..Options::default()
    })
    .await;
    let token = app.tracking_token(HERO).await;
    let event = |id: &str| json!({"event_id": id, "type": "impression", "tracking_token": token});
    let accepted = bounded_client()
        .post(format!("{}/v1/events", app.address))
        .json(&json!({"events": [event("db-ev-1"), event("db-ev-2")]}))
        .send()
        .await
        .expect("answered");
    assert_eq!(accepted.status(), 202);
    let known = get(&app, HERO, &[("X-Anonymous-Id", "known-before")]).await;
    assert_eq!(known.status(), 200);
    // People the graph holds but this node has not looked up (an identify leaves
    // nothing cached). The filter of known identifiers must be built for the strangers
    // below to be told apart from them.
    for anonymous_id in ["known-1", "known-2", "known-3"] {
        app.identified(json!({"identifiers": {"anonymous_id": anonymous_id}}))
            .await;
    }
    app.identified(json!({"identifiers": {"customer_id": "C-unseen"}}))
        .await;
    app.filter_ready().await;

    pg.stop();
    // A visitor nobody has identified is known to be nobody without the database: the
    // ordinary anonymous answer, shareable, no warning.
    let stranger = get(&app, HERO, &[("X-Anonymous-Id", "stranger-during-outage")]).await;
    assert_eq!(stranger.status(), 200);
    assert!(header(&stranger, "tailor-degraded").is_empty());
    assert_ne!(header(&stranger, "cache-control"), "private, no-cache");
    // A person not cached on this node cannot be looked up: the anonymous answer,
    // private, saying so. Never a 500.
    for (name, value) in [
        ("X-Anonymous-Id", "known-1".to_string()),
        ("Authorization", bearer(&identity_token("C-unseen", 600))),
    ] {
        let response = get(&app, HERO, &[(name, &value)]).await;
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(header(&response, "cache-control"), "private, no-cache");
        assert!(header(&response, "tailor-degraded").contains("person-unresolved"));
        let body: serde_json::Value = response.json().await.unwrap();
        let warnings = body["warnings"].as_array().expect("warnings");
        assert!(
            warnings.iter().any(|w| w["code"] == "person-unresolved"),
            "{body}"
        );
    }
    let batch = get(
        &app,
        "/v1/content?placements=home.hero,support.survey&channel=web&locale=en",
        &[("X-Anonymous-Id", "known-2")],
    )
    .await;
    assert_eq!(batch.status(), 200);
    assert_eq!(header(&batch, "cache-control"), "private, no-cache");
    let body: serde_json::Value = batch.json().await.unwrap();
    assert_eq!(body["warnings"][0]["code"], "person-unresolved", "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    // A cohort key is never issued from a guess; a stranger's is no guess.
    let cohort = get(&app, "/v1/context", &[("X-Anonymous-Id", "known-3")]).await;
    assert_problem(cohort, 503, "unavailable", None).await;
    let cohort = get(&app, "/v1/context", &[("X-Anonymous-Id", "stranger-3")]).await;
    assert_eq!(cohort.status(), 200);
    // Events: 503 problem+json with Retry-After, at once.
    let refused = bounded_client()
        .post(format!("{}/v1/events", app.address))
        .json(&json!({"events": [event("db-ev-3"), event("db-ev-4")]}))
        .send()
        .await
        .expect("answered within the bound");
    assert_eq!(refused.status(), 503);
    assert!(!header(&refused, "retry-after").is_empty());
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let body = until_probe_says(&app, "database", "down").await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(
        readiness(&app).await.0,
        200,
        "it still serves: it stays in rotation"
    );
    let strict = get(&app, "/readyz?strict=true", &[]).await;
    assert_eq!(strict.status(), 503, "unless asked to be strict");
    // Routes that need the database for everything are refused at once while its
    // breaker is open (the probe opened it), without waiting for the pool.
    let before = app
        .metric(
            "tailor_dependency_calls_total{dependency=\"database\",outcome=\"short_circuited\"}",
        )
        .await;
    let identify = bounded_client()
        .post(format!("{}/v1/identify", app.address))
        .header("X-Api-Key", SERVER_KEY)
        .json(&json!({"identifiers": {"customer_id": "C-during"}}))
        .send()
        .await
        .expect("answered within the bound");
    assert_eq!(identify.status(), 503);
    assert_eq!(header(&identify, "retry-after"), "1");
    let admin = get(
        &app,
        "/v1/admin/placements",
        &[("Authorization", &bearer(&staff_token(&["marketer"], "")))],
    )
    .await;
    assert_eq!(admin.status(), 503);
    let after = app
        .metric(
            "tailor_dependency_calls_total{dependency=\"database\",outcome=\"short_circuited\"}",
        )
        .await;
    assert!(
        after >= before + 2.0,
        "refused by the gate: {before} → {after}"
    );
    // Content that names nobody is served as ever.
    assert_eq!(get(&app, HERO, &[]).await.status(), 200);

    pg.resume().await;
    let body = until_probe_says(&app, "database", "up").await;
    assert_eq!(body["status"], "ready", "{body}");
    // Nothing half-stored: the refused batch is absent, the accepted one whole.
    let db = tailor::storage::connect(&pg.url(), || {}).await.unwrap();
    assert_eq!(
        texts(&db, "SELECT event_id FROM events ORDER BY event_id").await,
        ["db-ev-1", "db-ev-2"]
    );
    // The client's retry of the refused batch (same ids) is accepted once.
    within(
        Instant::now(),
        Duration::from_secs(20),
        "events were not accepted again after the database returned",
        || async {
            bounded_client()
                .post(format!("{}/v1/events", app.address))
                .json(&json!({"events": [event("db-ev-3"), event("db-ev-4")]}))
                .send()
                .await
                .is_ok_and(|r| r.status() == 202)
        },
    )
    .await;
    assert_eq!(count(&db, "events").await, 4);
    let stranger = get(&app, HERO, &[("X-Anonymous-Id", "stranger-after")]).await;
    assert_eq!(stranger.status(), 200);
    assert!(header(&stranger, "tailor-degraded").is_empty());
}

#[tokio::test]
async fn a_node_retries_its_database_at_start_then_gives_up_with_a_clear_log() {
    let hole = BlackHole::start();
    // A port that refuses, and a server that accepts and never answers.
    for port in [free_port(), hole.port] {
        let run = tailor(&repo_root())
            .database(&format!("postgres://postgres@127.0.0.1:{port}/postgres"))
            .env("TAILOR_BIND", "127.0.0.1:0")
            .env("TAILOR_RESILIENCE__DATABASE_START_TIMEOUT_SECS", "2")
            .run(&["serve"]);
        assert!(!run.ok(), "{run:?}");
        let retries = run
            .stderr
            .matches("database not reachable at start; retrying")
            .count();
        assert!(retries >= 2, "each attempt is logged: {}", run.stderr);
        assert!(run.stderr.contains("giving up"), "{}", run.stderr);
        assert!(
            run.stderr.contains("not reachable after"),
            "the exit names the reason: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("postgres://"),
            "the database URL (it may hold a password) is never logged: {}",
            run.stderr
        );
    }
}

#[tokio::test]
async fn a_node_started_before_its_database_comes_up_when_the_database_does() {
    if !own_servers_or_skip() {
        return;
    }
    let pg = OwnPostgres::start().await;
    pg.stop();
    let port = free_port();
    let mut node = KillOnDrop(
        tailor(&repo_root())
            .database(&pg.url())
            .env("TAILOR_BIND", &format!("127.0.0.1:{port}"))
            .env("TAILOR_RESILIENCE__DATABASE_START_TIMEOUT_SECS", "120")
            .command(&["serve"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tailor serve"),
    );
    let stderr = node.0.stderr.take().expect("stderr");
    let (lines, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Once the node says it is retrying, bring the database up under it.
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(30))
            .expect("the node logs its retries");
        if line.contains("database not reachable at start; retrying") {
            break;
        }
    }
    pg.resume().await;
    let client = bounded_client();
    within(
        Instant::now(),
        Duration::from_secs(60),
        "the node never became ready after its database came up",
        || async {
            client
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status() == 200)
                .is_some()
        },
    )
    .await;
    drop(node);
}
