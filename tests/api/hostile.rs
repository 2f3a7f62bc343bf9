//! Hostile input: bodies that are too large or never arrive. Each test talks raw HTTP
//! where a client library would not misbehave on purpose; every read is bounded.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Sends `head` (and `body`, however little of it) and returns the status line of the
/// answer, waiting at most `bound` for it.
async fn status_line(app: &TestApp, head: &str, body: &[u8], bound: Duration) -> String {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(bound, async {
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buffer).await.expect("read");
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {bound:?}");
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn post_head(path: &str, content_length: u64) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: tailor\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_body_announced_larger_than_any_route_reads_is_refused_at_once() {
    let app = spawn_app().await;
    let status = status_line(
        &app,
        &post_head("/v1/events", 100_000_000),
        b"{",
        Duration::from_secs(5),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408() {
    let app = spawn_app().await;
    // 1,000 bytes announced, 10 sent, then nothing: the server gives up after its
    // body-read timeout (10 s) rather than hold the connection.
    let status = status_line(
        &app,
        &post_head("/v1/events", 1_000),
        b"{\"events\":",
        Duration::from_secs(40),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
}

#[tokio::test]
async fn headers_that_never_finish_are_answered_408() {
    let app = spawn_app().await;
    // A request line and one header, then nothing (slowloris): the server stops
    // waiting for the headers after its header-read timeout (5 s).
    let status = status_line(
        &app,
        "GET /healthz HTTP/1.1\r\nHost: tailor\r\n",
        b"",
        Duration::from_secs(40),
    )
    .await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
}

/// The shared Redis key of an identifier's cache entry.
fn person_key(kind: &str, value: &str) -> String {
    let id = tailor::identity::graph::Identifier::new(kind, value);
    format!(
        "tailor:person:v2:{:032x}",
        tailor::identity::directory::key_of(&id)
    )
}

#[tokio::test]
async fn made_up_anonymous_ids_leave_nothing_in_redis() {
    let Some(url) = redis_or_skip() else {
        return;
    };
    let app = spawn_app().await;
    let redis = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stranger = format!("made-up-{}", uuid::Uuid::new_v4().simple());
    let known = format!("known-{}", uuid::Uuid::new_v4().simple());
    app.identified(serde_json::json!({"identifiers": {"anonymous_id": known}}))
        .await;
    let hero = "/v1/content/home.hero?channel=web&locale=en";
    for id in [&stranger, &known] {
        let response = app.get_with(hero, &[("X-Anonymous-Id", id)]).await;
        assert_eq!(response.status(), 200);
    }
    let exists = |key: String| {
        let mut redis = redis.clone();
        async move {
            redis::cmd("EXISTS")
                .arg(key)
                .query_async::<i64>(&mut redis)
                .await
                .unwrap()
        }
    };
    assert_eq!(exists(person_key("anonymous_id", &stranger)).await, 0);
    assert_eq!(
        exists(person_key("anonymous_id", &known)).await,
        1,
        "people are still shared"
    );
}

#[tokio::test]
async fn cors_answers_allowed_origins_on_the_public_paths_only() {
    let shop = "https://shop.example.com";
    let app = spawn_app_with(Options {
        cors_allowed_origins: vec![shop.into()],
        ..Options::default()
    })
    .await;
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/v1/content/home.hero", app.address),
        )
        .header("Origin", shop)
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "x-anonymous-id,authorization",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(header(&preflight, "access-control-allow-origin"), shop);
    let allowed_headers = header(&preflight, "access-control-allow-headers").to_lowercase();
    assert!(
        allowed_headers.contains("x-anonymous-id") && allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let content = app
        .get_with(
            "/v1/content/home.hero?channel=web",
            &[("Origin", shop), ("X-Anonymous-Id", "cors-visitor")],
        )
        .await;
    assert_eq!(content.status(), 200);
    assert_eq!(header(&content, "access-control-allow-origin"), shop);
    assert!(
        header(&content, "vary").contains("Origin"),
        "a shared cache keys on it"
    );
    assert!(header(&content, "access-control-expose-headers")
        .to_lowercase()
        .contains("etag"));
    // Another origin: answered, without CORS headers (the browser refuses it).
    let other = app
        .get_with(
            "/v1/content/home.hero?channel=web",
            &[("Origin", "https://evil.example")],
        )
        .await;
    assert_eq!(other.status(), 200);
    assert!(header(&other, "access-control-allow-origin").is_empty());
    // Staff paths never answer another origin.
    let staff = app
        .get_with(
            "/v1/admin/placements",
            &[
                ("Origin", shop),
                ("Authorization", &bearer(&staff_token(&["marketer"], ""))),
            ],
        )
        .await;
    assert!(header(&staff, "access-control-allow-origin").is_empty());
    // Without configured origins there is no CORS at all.
    let plain = spawn_app().await;
    let response = plain
        .get_with("/v1/content/home.hero?channel=web", &[("Origin", shop)])
        .await;
    assert!(header(&response, "access-control-allow-origin").is_empty());
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_uses_the_api_from_a_browser_and_others_cannot() {
    if !browser_ready() {
        eprintln!("skipped: no Chromium or tests/browser/node_modules (CI installs both)");
        return;
    }
    let (shop, other) = (page_server().await, page_server().await);
    let shop_origin = format!("http://127.0.0.1:{shop}");
    let app = spawn_app_with(Options {
        cors_allowed_origins: vec![shop_origin.clone()],
        ..Options::default()
    })
    .await;
    let seen = browser_run(
        "cors.mjs",
        &[
            app.address.clone(),
            format!("{shop_origin}/"),
            format!("http://127.0.0.1:{other}/"),
        ],
    )
    .await;
    let allowed = &seen["allowed"];
    assert_eq!(allowed["ok"], true, "{seen}");
    assert_eq!(allowed["status"], 200, "{seen}");
    assert_eq!(allowed["locale"], "fr-CA", "the browser's language: {seen}");
    assert!(allowed["etag"].is_string(), "ETag is exposed: {seen}");
    assert_eq!(allowed["events"], 202, "{seen}");
    assert_eq!(seen["refused"]["ok"], false, "{seen}");
    let db = app.db().await;
    assert_eq!(
        texts(&db, "SELECT event_id FROM events ORDER BY event_id").await,
        ["browser-cors-1"],
        "the allowed page's event arrived once; the other page's never left the browser"
    );
}

#[tokio::test]
async fn head_is_answered_wherever_get_is_with_the_same_headers_and_no_body() {
    let app = spawn_app().await;
    for path in [
        "/v1/content/home.hero?channel=web&locale=en",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/v1/channels",
    ] {
        let get = app.get(path).await;
        let get_status = get.status();
        let get_length = header(&get, "content-length").to_string();
        let get_etag = header(&get, "etag").to_string();
        let head = app
            .client
            .head(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), get_status, "{path}");
        assert_eq!(header(&head, "content-length"), get_length, "{path}");
        assert_eq!(header(&head, "etag"), get_etag, "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no body");
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_naming_the_methods_the_path_answers() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("DELETE", "/v1/content/home.hero", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("PUT", "/v1/identify", "POST"),
        ("PATCH", "/v1/people/p-1", "GET, HEAD, DELETE"),
        ("POST", "/v1/admin/placements/home.hero", "GET, HEAD, PUT"),
        ("GET", "/v1/events", "POST"),
        ("POST", "/docs", "GET, HEAD"),
        ("DELETE", "/openapi.json", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(header(&response, "allow"), allow, "{method} {path}");
        let body = assert_problem(response, 405, "method-not-allowed", None).await;
        assert!(
            body["detail"].as_str().unwrap().contains(allow),
            "{method} {path}: {body}"
        );
    }
    let nothing = app
        .client
        .post(format!("{}/v1/nothing-here", app.address))
        .send()
        .await
        .unwrap();
    assert_problem(nothing, 404, "not-found", None).await;
}

/// JSON nested past serde_json's 128 levels is a 400 naming the body wherever JSON is
/// read (events, identify, authoring), and the node lives on.
#[tokio::test]
async fn deeply_nested_json_bodies_are_refused_and_the_node_lives_on() {
    let app = spawn_app().await;
    // 40 KB: under every route's body limit (identify reads 64 KiB).
    let depth = 20_000;
    let nested = format!("{{\"events\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
    let admin = staff_token(&["admin", "marketer"], "identify");
    for (path, token) in [
        ("/v1/events", None),
        ("/v1/identify", Some(&admin)),
        ("/v1/admin/placements", Some(&admin)),
        ("/v1/admin/preview", Some(&admin)),
    ] {
        let mut request = app
            .client
            .post(format!("{}{path}", app.address))
            .header("Content-Type", "application/json")
            .body(nested.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json",
            "{path}"
        );
    }
    assert_eq!(app.get("/healthz").await.status(), 200);
}
