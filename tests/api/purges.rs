//! CDN purges through every provider shape: a retirement and a reinstatement purge a
//! generic webhook, a Fastly-shaped API and a Cloudflare-shaped API, each in its own
//! request shape and credentials, retried with the same body, and recorded in the
//! purge log staff read; a provider that keeps failing is recorded as failed, without
//! its credentials anywhere.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::governance::{channel_policy, policy_fixture, seed_month};
use crate::helpers::*;

/// One request a receiver saw.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a receiver answers the `n`th request (from 0) to a path.
type Answer = fn(path: &str, n: usize) -> (u16, &'static str);

/// A local HTTP receiver standing in for the CDNs' purge APIs.
struct Receiver {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    async fn start(answer: Answer) -> Receiver {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = seen.clone();
        let server = actix_web::HttpServer::new(move || {
            let record = record.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let record = record.clone();
                    async move {
                        let path = req.path().to_string();
                        let mut seen = record.lock().unwrap();
                        let n = seen.iter().filter(|s| s.path == path).count();
                        seen.push(Seen {
                            path: path.clone(),
                            headers: req
                                .headers()
                                .iter()
                                .map(|(n, v)| {
                                    (n.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                                })
                                .collect(),
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        });
                        let (status, reply) = answer(&path, n);
                        actix_web::HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).unwrap(),
                        )
                        .content_type("application/json")
                        .body(reply)
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver {
            base: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

const FASTLY_PATH: &str = "/fastly/service/svc42/purge";
const CLOUDFLARE_PATH: &str = "/cf/zones/zone42/purge_cache";
const HOOK_PATH: &str = "/hook";
const SECRETS: [&str; 3] = ["fastly-token-xyz", "cf-token-xyz", "hook-secret-xyz"];

/// Every provider configured against `receiver`.
fn all_providers(receiver: &Receiver) -> Tweak {
    let base = receiver.base.clone();
    Box::new(move |settings| {
        settings.purge_webhook_url = Some(format!("{base}{HOOK_PATH}"));
        settings.purge_webhook_secret = Some(tailor::config::Secret::new(SECRETS[2]));
        settings.purge_fastly = Some(tailor::config::FastlyPurge {
            service_id: "svc42".into(),
            api_token: tailor::config::Secret::new(SECRETS[0]),
            endpoint: format!("{base}/fastly"),
            soft: true,
        });
        settings.purge_cloudflare = Some(tailor::config::CloudflarePurge {
            zone_id: "zone42".into(),
            api_token: tailor::config::Secret::new(SECRETS[1]),
            endpoint: format!("{base}/cf"),
        });
    })
}

/// The purge log as `roles` read it.
async fn purge_log(app: &TestApp, query: &str) -> Vec<Value> {
    let body = app
        .staff_json(&format!("/v1/admin/purges{query}"), &["analyst"])
        .await;
    body["purges"].as_array().unwrap().clone()
}

#[tokio::test]
async fn retiring_and_reinstating_purge_each_provider_in_its_shape_and_the_log_shows_it() {
    // Each API refuses its first call for a while: the retry must carry the same body.
    let receiver = Receiver::start(|path, n| match (path, n) {
        (_, 0) => (503, r#"{"success": false}"#),
        (CLOUDFLARE_PATH, _) => (200, r#"{"success": true, "result": {"id": "x"}}"#),
        _ => (200, r#"{"status": "ok"}"#),
    })
    .await;
    let fixture = policy_fixture(&channel_policy("auto", ""));
    let app = spawn_app_with(Options {
        content_root: Some(fixture.path().to_path_buf()),
        poll_secs: 1,
        tweak: Some(all_providers(&receiver)),
        ..Options::default()
    })
    .await;
    seed_month(&app, false).await;
    let report = app.evaluate(false).await;
    assert_eq!(report["purge_keys"], json!(["channel/sms"]), "{report}");

    // Both rounds (on the change, and once every node has it) reach each provider after
    // a refused first try: three calls per provider.
    let started = std::time::Instant::now();
    let limit = std::time::Duration::from_secs(20);
    for path in [FASTLY_PATH, CLOUDFLARE_PATH, HOOK_PATH] {
        within(started, limit, path, || async {
            receiver.seen(path).len() >= 3
        })
        .await;
    }
    let fastly = receiver.seen(FASTLY_PATH);
    assert_eq!(fastly[0].body, json!({"surrogate_keys": ["channel/sms"]}));
    assert_eq!(
        fastly[1].body, fastly[0].body,
        "the retry resends the same purge"
    );
    assert_eq!(fastly[0].header("fastly-key"), Some(SECRETS[0]));
    assert_eq!(fastly[0].header("fastly-soft-purge"), Some("1"));
    let cloudflare = receiver.seen(CLOUDFLARE_PATH);
    assert_eq!(cloudflare[0].body, json!({"tags": ["channel/sms"]}));
    assert_eq!(
        cloudflare[0].header("authorization"),
        Some("Bearer cf-token-xyz")
    );
    let hook = receiver.seen(HOOK_PATH);
    assert_eq!(hook[0].body["surrogate_keys"], json!(["channel/sms"]));
    assert_eq!(hook[0].body["generation"], report["generation"]);
    assert_eq!(
        hook[0].header("authorization"),
        Some("Bearer hook-secret-xyz")
    );

    // The log: one row per provider and round, sent after two tries in round 1.
    let log = within(started, limit, "both rounds logged as sent", || async {
        let log = purge_log(&app, "?status=sent").await;
        (log.len() >= 6).then_some(log)
    })
    .await;
    for provider in ["webhook", "fastly", "cloudflare"] {
        let rows: Vec<&Value> = log.iter().filter(|r| r["provider"] == provider).collect();
        assert_eq!(rows.len(), 2, "{provider}: {log:?}");
        let first = rows.iter().find(|r| r["round"] == 1).expect("round 1");
        assert_eq!(first["attempts"], 2, "{provider}: refused once, then sent");
        assert_eq!(first["keys"], json!(["channel/sms"]));
        assert!(first["reason"].as_str().unwrap().contains("governance"));
        assert!(first["finished_at"].is_string());
    }

    // Reinstating purges the channel again, through every provider.
    let reinstated = app
        .admin(
            reqwest::Method::POST,
            "/v1/governance/reinstate",
            &staff_token(&["governance"], ""),
            Some(json!({"scope": "channel", "target": "sms", "comment": "new provider"})),
        )
        .await;
    assert_eq!(reinstated.status(), 200);
    for path in [FASTLY_PATH, CLOUDFLARE_PATH, HOOK_PATH] {
        within(started, limit, path, || async {
            receiver.seen(path).len() >= 4
        })
        .await;
    }
    assert_eq!(
        receiver.seen(FASTLY_PATH)[3].body,
        json!({"surrogate_keys": ["channel/sms"]})
    );
    let log = purge_log(&app, "").await;
    assert!(
        log.iter()
            .any(|r| r["reason"].as_str().unwrap().contains("reinstated")),
        "{log:?}"
    );

    // Staff only, and never a credential in the answer.
    let anonymous = app.get("/v1/admin/purges").await;
    assert_eq!(anonymous.status(), 401);
    let text = app
        .get_with(
            "/v1/admin/purges",
            &[("Authorization", &bearer(&staff_token(&["marketer"], "")))],
        )
        .await
        .text()
        .await
        .unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "the log shows a credential");
    }
    let bad = app
        .get_with(
            "/v1/admin/purges?status=lost",
            &[("Authorization", &bearer(&staff_token(&["analyst"], "")))],
        )
        .await;
    assert_problem(bad, 400, "invalid-parameter", Some("status")).await;
    for (query, field) in [
        ("status=sent&status=failed", "status"),
        ("limit=5&limit=6", "limit"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
    ] {
        let response = app
            .get_with(
                &format!("/v1/admin/purges?{query}"),
                &[("Authorization", &bearer(&staff_token(&["analyst"], "")))],
            )
            .await;
        assert_problem(response, 400, "invalid-parameter", Some(field)).await;
    }
}

#[tokio::test]
async fn a_provider_that_keeps_failing_is_logged_as_failed_without_its_credentials() {
    // Fastly refuses the token (no retry can help); Cloudflare says 200 but
    // `"success": false`, every time; the webhook's host refuses connections.
    let receiver = Receiver::start(|path, _| match path {
        FASTLY_PATH => (403, r#"{"msg": "forbidden"}"#),
        _ => (200, r#"{"success": false, "errors": [{"code": 1}]}"#),
    })
    .await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let tweak = all_providers(&receiver);
    let app = spawn_app_with(Options {
        tweak: Some(Box::new(move |settings| {
            tweak(settings);
            settings.purge_webhook_url = Some(format!(
                "http://127.0.0.1:{closed_port}/purge?token=query-secret-xyz"
            ));
        })),
        ..Options::default()
    })
    .await;
    let reinstated = app
        .admin(
            reqwest::Method::POST,
            "/v1/governance/reinstate",
            &staff_token(&["governance"], ""),
            Some(json!({"scope": "channel", "target": "kiosk", "comment": "kiosks are back"})),
        )
        .await;
    assert_eq!(reinstated.status(), 200);
    let log = within(
        std::time::Instant::now(),
        std::time::Duration::from_secs(20),
        "three failed purges logged",
        || async {
            let log = purge_log(&app, "?status=failed").await;
            (log.len() >= 3).then_some(log)
        },
    )
    .await;
    let row = |provider: &str| {
        log.iter()
            .find(|r| r["provider"] == provider)
            .unwrap_or_else(|| panic!("{provider}: {log:?}"))
            .clone()
    };
    let fastly = row("fastly");
    assert_eq!(fastly["attempts"], 1, "a refused token is not retried");
    assert_eq!(fastly["last_error"], "answered 403");
    let cloudflare = row("cloudflare");
    assert_eq!(cloudflare["attempts"], 4, "tried four times");
    assert_eq!(cloudflare["keys"], json!(["channel/kiosk"]));
    let webhook = row("webhook");
    assert_eq!(webhook["attempts"], 4);
    assert!(webhook["last_error"].is_string(), "{webhook}");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("query-secret-xyz"), "{text}");
    for secret in SECRETS {
        assert!(!text.contains(secret));
    }
    // One call per round (a second round follows where Redis tells the nodes).
    assert!(receiver.seen(FASTLY_PATH).len() <= 2);
    assert!(app.metric("tailor_purges_total{outcome=\"failed\"}").await >= 3.0);
}

#[tokio::test]
async fn the_second_purge_goes_once_every_node_serves_the_change() {
    if redis_or_skip().is_none() {
        return;
    }
    let receiver = Receiver::start(|_, _| (200, "{}")).await;
    let base = receiver.base.clone();
    let first = spawn_app_with(Options {
        tweak: Some(Box::new(move |settings| {
            settings.purge_webhook_url = Some(format!("{base}{HOOK_PATH}"));
        })),
        ..Options::default()
    })
    .await;
    let second = first.second_node().await;
    // Both nodes serve (and so have recorded) the current generation.
    for node in [&first, &second] {
        assert_eq!(
            node.get("/v1/content/home.hero?channel=web&locale=en")
                .await
                .status(),
            200
        );
    }
    let archived = first
        .step(
            "/v1/admin/variants/home-hero-spring-b",
            "archive",
            &staff_token_for("pat", &["publisher"], ""),
        )
        .await;
    assert_eq!(archived.status(), 200);
    // The second round goes when the registry of nodes shows both on the new
    // generation (the second node hears of it through Redis), not after the full wait.
    within(
        std::time::Instant::now(),
        std::time::Duration::from_secs(10),
        "the second round did not go on the nodes' word",
        || async {
            first
                .metric("tailor_purge_repeats_total{after=\"every_node\"}")
                .await
                >= 1.0
        },
    )
    .await;
    assert_eq!(
        first
            .metric("tailor_purge_repeats_total{after=\"waited\"}")
            .await,
        0.0
    );
    assert_eq!(receiver.seen(HOOK_PATH).len(), 2);
}
