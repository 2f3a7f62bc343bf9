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

/// The shared Redis key of an identifier's cache entry.
fn person_key(kind: &str, value: &str) -> String {
    let id = tailor::identity::graph::Identifier::new(kind, value);
    format!(
        "tailor:person:{:032x}",
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
