use std::collections::HashSet;

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

async fn post(app: &TestApp, body: &serde_json::Value, person: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/v1/events", app.address))
        .json(body);
    if let Some(person) = person {
        request = request.header("X-Anonymous-Id", person);
    }
    request.send().await.expect("request sent")
}

#[tokio::test]
async fn events_are_stored_once_and_rolled_up() {
    let app = spawn_app().await;
    let token = app
        .tracking_token("/v1/content/home.hero?channel=sms&device=mobile&locale=fr")
        .await;
    let now = chrono::Utc::now();
    let at = |seconds_ago: i64| (now - chrono::Duration::seconds(seconds_ago)).to_rfc3339();
    let batch = json!({"events": [
        {"event_id": "ev-1", "type": "impression", "tracking_token": token, "occurred_at": at(100)},
        {"event_id": "ev-2", "type": "click", "tracking_token": token, "occurred_at": at(40)},
        {"event_id": "ev-3", "type": "conversion", "tracking_token": token, "occurred_at": at(10),
         "revenue": {"amount": "12.50", "currency": "EUR"}},
        {"event_id": "ev-4", "type": "feedback", "tracking_token": token, "feedback": {"kind": "nps", "score": 9}},
        {"event_id": "ev-5", "type": "feedback", "tracking_token": token, "feedback": {"kind": "csat", "score": 4, "comment": "Très bien"}},
        {"event_id": "ev-5", "type": "feedback", "tracking_token": token, "feedback": {"kind": "csat", "score": 1}},
    ]});
    let response = post(&app, &batch, Some("shopper-1")).await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"accepted": 5, "duplicates": 1, "rejected": []})
    );

    // The same batch again (a retry): nothing counted twice.
    let body: serde_json::Value = post(&app, &batch, Some("shopper-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"accepted": 0, "duplicates": 6, "rejected": []})
    );

    let db = app.db().await;
    assert_eq!(count(&db, "events").await, 5);
    assert_eq!(
        count(&db, "events WHERE placement = 'home.hero' AND channel = 'sms' AND locale = 'fr' AND person_key = 'anon:shopper-1'").await,
        5,
        "the decision comes from the token, the person from the batch"
    );
    let daily = "FROM engagement_daily WHERE placement = 'home.hero' AND variant = 'home-hero-default' AND channel = 'sms' AND device = 'mobile' AND locale = 'fr'";
    assert_eq!(scalar(&db, &format!("SELECT impressions {daily}")).await, 1);
    assert_eq!(scalar(&db, &format!("SELECT clicks {daily}")).await, 1);
    assert_eq!(scalar(&db, &format!("SELECT conversions {daily}")).await, 1);
    assert_eq!(
        scalar(&db, &format!("SELECT nps_promoters {daily}")).await,
        1
    );
    assert_eq!(scalar(&db, &format!("SELECT csat_sum {daily}")).await, 4);
    assert_eq!(
        scalar(
            &db,
            "SELECT amount_minor FROM revenue_daily WHERE currency = 'EUR'"
        )
        .await,
        1250
    );
    // Impression → click took 60 s (bucket 5: 31–62 s); → conversion 90 s (bucket 6).
    assert_eq!(
        scalar(
            &db,
            "SELECT bucket FROM velocity_daily WHERE outcome = 'click'"
        )
        .await,
        5
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT bucket FROM velocity_daily WHERE outcome = 'conversion'"
        )
        .await,
        6
    );
}

#[tokio::test]
async fn bad_events_are_rejected_by_index_and_field_and_the_rest_is_kept() {
    let app = spawn_app().await;
    let token = app
        .tracking_token("/v1/content/home.hero?channel=push&device=mobile&locale=en")
        .await;
    let forged = tailor::tokens::Signer::new(b"someone-else-entirely-someone-else-entirely")
        .tracking_token(
            "home.hero",
            "home-hero-default",
            1,
            "push",
            "mobile",
            "en",
            1,
            tailor::tokens::Validity::current(chrono::Utc::now().timestamp() as u64, 86_400),
        );
    let future = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let batch = json!({"events": [
        {"event_id": "ok-1", "type": "impression", "tracking_token": token},
        {"event_id": "bad-1", "type": "teleport", "tracking_token": token},
        {"event_id": "bad-2", "type": "click", "tracking_token": forged},
        {"event_id": "bad-3", "type": "click", "tracking_token": token, "occurred_at": future},
        {"event_id": "bad-4", "type": "conversion", "tracking_token": token, "revenue": {"amount": "-5", "currency": "EUR"}},
        {"event_id": "bad-5", "type": "feedback", "tracking_token": token, "feedback": {"kind": "ces", "score": 8}},
        {"type": "click", "tracking_token": token},
        "not an object",
        {"event_id": "ok-2", "type": "share", "tracking_token": token},
    ]});
    let response = post(&app, &batch, None).await;
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 2);
    let rejected: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()));
            (
                r["index"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (1, "type".into()),
            (2, "tracking_token".into()),
            (3, "occurred_at".into()),
            (4, "revenue.amount".into()),
            (5, "feedback.score".into()),
            (6, "event_id".into()),
            (7, "".into()),
        ]
    );
    assert_eq!(count(&app.db().await, "events").await, 2);
}

#[tokio::test]
async fn batches_have_limits_and_beacons_send_text_plain() {
    let app = spawn_app().await;
    let token = app
        .tracking_token("/v1/content/home.hero?channel=web&device=desktop&locale=en")
        .await;
    let events: Vec<serde_json::Value> = (0..501)
        .map(|i| json!({"event_id": format!("n-{i}"), "type": "view", "tracking_token": token}))
        .collect();
    assert_problem(
        post(&app, &json!({"events": events}), None).await,
        413,
        "payload-too-large",
        Some("events"),
    )
    .await;
    let huge = json!({"events": [{"event_id": "x", "type": "view", "tracking_token": token, "pad": "x".repeat(1024 * 1024)}]});
    assert_problem(
        post(&app, &huge, None).await,
        413,
        "payload-too-large",
        Some("body"),
    )
    .await;
    let response = app
        .client
        .post(format!("{}/v1/events", app.address))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "invalid-parameter", Some("body")).await;
    assert_problem(
        post(&app, &json!({"evnts": []}), None).await,
        400,
        "invalid-parameter",
        Some("events"),
    )
    .await;

    // navigator.sendBeacon posts text/plain.
    let beacon = json!({"events": [{"event_id": "beacon-1", "type": "dismiss", "tracking_token": token, "anonymous_id": "visitor-9"}]});
    let response = app
        .client
        .post(format!("{}/v1/events", app.address))
        .header("Content-Type", "text/plain;charset=UTF-8")
        .body(beacon.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["accepted"],
        1
    );
    assert_eq!(
        count(
            &app.db().await,
            "events WHERE person_key = 'anon:visitor-9'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn an_unavailable_database_gets_503_never_202() {
    let app = spawn_app().await;
    let token = app
        .tracking_token("/v1/content/home.hero?channel=web&device=desktop&locale=en")
        .await;
    let db = app.db().await;
    db.execute_unprepared("ALTER TABLE events RENAME TO events_elsewhere")
        .await
        .unwrap();
    let batch =
        json!({"events": [{"event_id": "during-outage", "type": "view", "tracking_token": token}]});
    let response = post(&app, &batch, None).await;
    assert_eq!(header(&response, "retry-after"), "1");
    assert_problem(response, 503, "unavailable", None).await;
    db.execute_unprepared("ALTER TABLE events_elsewhere RENAME TO events")
        .await
        .unwrap();
    // The client retries the same batch and it lands, once.
    let response = post(&app, &batch, None).await;
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["accepted"],
        1
    );
    assert_eq!(count(&db, "events").await, 1);
}

#[tokio::test]
async fn tracked_links_redirect_to_the_variants_link_and_count_clicks_and_opens() {
    let app = spawn_app().await;
    let response = app.get("/v1/content/email.welcome?channel=email&device=desktop&locale=en&anonymous_id=reader-1").await;
    assert_eq!(
        header(&response, "cache-control"),
        "private, no-cache",
        "the links name the reader"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    let link = body["tracking"]["links"]["cta"]
        .as_str()
        .expect("a tracked cta")
        .to_string();
    assert!(
        link.starts_with(&format!("{}/v1/t/", app.address)),
        "{link} vs {}",
        app.address
    );
    let pixel = body["tracking"]["open_pixel"]
        .as_str()
        .expect("an open pixel")
        .to_string();

    let redirect = app.client.get(&link).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        header(&redirect, "location"),
        body["fields"]["cta"].as_str().unwrap()
    );

    let open = app.client.get(&pixel).send().await.unwrap();
    assert_eq!(open.status(), 200);
    assert_eq!(header(&open, "content-type"), "image/gif");
    assert!(header(&open, "cache-control").contains("no-store"));
    assert!(open.bytes().await.unwrap().starts_with(b"GIF89a"));

    let db = app.db().await;
    assert_eq!(
        count(&db, "events WHERE kind = 'click' AND link = 'cta' AND person_key = 'anon:reader-1' AND channel = 'email'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "events WHERE kind = 'impression' AND person_key = 'anon:reader-1'"
        )
        .await,
        1
    );

    // A tampered token is refused, never redirected.
    let token = link.rsplit('/').next().unwrap();
    let mut tampered = token.to_string();
    tampered.insert(token.find('.').unwrap() + 3, 'A');
    let response = app.get(&format!("/v1/t/{tampered}")).await;
    assert!(response.headers().get("location").is_none());
    assert_problem(response, 400, "invalid-parameter", Some("token")).await;
    // A pixel token is not a link, and a link is not a pixel.
    let pixel_token = pixel.rsplit('/').next().unwrap().trim_end_matches(".gif");
    assert_problem(
        app.get(&format!("/v1/t/{pixel_token}")).await,
        400,
        "invalid-parameter",
        Some("token"),
    )
    .await;
    assert_problem(
        app.get(&format!("/v1/o/{token}.gif")).await,
        400,
        "invalid-parameter",
        Some("token"),
    )
    .await;

    // SMS links are tracked too; without a person the answer stays shareable.
    let sms = app
        .json("/v1/content/home.hero?channel=sms&device=mobile&locale=en")
        .await;
    assert!(sms["tracking"]["links"]["cta"]
        .as_str()
        .unwrap()
        .contains("/v1/t/"));
    assert!(sms["tracking"]["open_pixel"].is_null(), "no pixels in SMS");
}

#[tokio::test]
async fn a_frequency_cap_hides_the_survey_across_channels_after_an_impression() {
    let app = spawn_app().await;
    let web = "/v1/content/support.survey?channel=web&device=desktop&locale=en";
    let response = app.get_with(web, &[("X-Anonymous-Id", "surveyed-1")]).await;
    assert_eq!(response.status(), 200);
    let token = response.json::<serde_json::Value>().await.unwrap()["tracking_token"]
        .as_str()
        .unwrap()
        .to_string();
    let batch = json!({"events": [{"event_id": "survey-seen-1", "type": "impression", "tracking_token": token}]});
    assert_eq!(post(&app, &batch, Some("surveyed-1")).await.status(), 202);

    let response = app.get_with(web, &[("X-Anonymous-Id", "surveyed-1")]).await;
    assert_eq!(
        response.status(),
        204,
        "capped at one impression per 30 days"
    );
    assert_eq!(header(&response, "cache-control"), "private, no-cache");
    let app_channel = app
        .get_with(
            "/v1/content/support.survey?channel=mobile_app&device=mobile&locale=en",
            &[("X-Anonymous-Id", "surveyed-1")],
        )
        .await;
    assert_eq!(app_channel.status(), 204, "the cap spans channels");
    let batch_body: serde_json::Value = app
        .get_with(
            "/v1/content?placements=support.survey,home.hero&channel=web&locale=en",
            &[("X-Anonymous-Id", "surveyed-1")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batch_body["items"][0]["variant"], serde_json::Value::Null);
    assert_eq!(
        app.get_with(web, &[("X-Anonymous-Id", "someone-else")])
            .await
            .status(),
        200
    );
    // Anonymous answers for a capped placement vary on the person header.
    assert!(header(&app.get(web).await, "vary").contains("X-Anonymous-Id"));
}

#[tokio::test]
async fn a_second_node_sees_the_cap_and_the_duplicate_from_the_database() {
    let first = spawn_app().await;
    let second = first.second_node().await;
    let web = "/v1/content/support.survey?channel=web&device=desktop&locale=en";
    let token = first.tracking_token(web).await;
    let batch = json!({"events": [{"event_id": "seen-on-first", "type": "impression", "tracking_token": token}]});
    assert_eq!(post(&first, &batch, Some("traveller")).await.status(), 202);
    assert_eq!(
        second
            .get_with(web, &[("X-Anonymous-Id", "traveller")])
            .await
            .status(),
        204
    );
    let ids: HashSet<&str> = ["seen-on-first"].into();
    assert_eq!(ids.len(), count(&first.db().await, "events").await as usize);
}
