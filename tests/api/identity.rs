//! Identity resolution: the graph behind `POST /v1/identify`, identity tokens, traits and
//! segments in content, consents, caches across nodes and erasure.

use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::*;

async fn person(app: &TestApp, id: &str) -> serde_json::Value {
    let response = app
        .get_with(&format!("/v1/people/{id}"), &[("X-Api-Key", SERVER_KEY)])
        .await;
    assert_eq!(response.status(), 200, "GET person {id}");
    response.json().await.expect("json")
}

fn identifiers(person: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = person["identifiers"]
        .as_array()
        .expect("identifiers")
        .iter()
        .map(|i| {
            format!(
                "{}={}",
                i["type"].as_str().unwrap_or(""),
                i["value"].as_str().unwrap_or("")
            )
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn links_chain_into_one_person_and_a_repeated_call_changes_nothing() {
    let app = spawn_app().await;
    let first = app
        .identified(json!({"identifiers": {"anonymous_id": "web-a1", "device_id": "dev-1"}}))
        .await;
    assert_eq!(first["created"], true);
    let person_id = first["person_id"].as_str().expect("person id").to_string();

    let body = json!({
        "identifiers": {"device_id": "dev-1", "customer_id": "C-100"},
        "traits": {"first_name": "Ada", "points": 120},
    });
    let second = app.identified(body.clone()).await;
    assert_eq!(
        second["person_id"],
        person_id.as_str(),
        "b–c joins a–b's person"
    );
    assert_eq!(second["created"], false);
    assert_eq!(second["linked"], 1);
    assert_eq!(second["changed"], true);

    // The rows of the graph, table by table.
    let state = || async {
        let db = app.db().await;
        let mut rows = Vec::new();
        for table in ["identity_links", "identifiers", "person_traits"] {
            rows.push(count(&db, table).await);
        }
        rows
    };
    let before = state().await;
    let updated = format!(
        "people WHERE updated_at = (SELECT updated_at FROM people WHERE id = '{person_id}')"
    );
    let again = app.identified(body).await;
    assert_eq!(state().await, before, "no rows added by the repeat");
    assert_eq!(
        count(&app.db().await, &updated).await,
        1,
        "updated_at untouched"
    );
    assert_eq!(again["person_id"], person_id.as_str());
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["linked"], 0);
    assert_eq!(again["traits_changed"], json!([]));

    let person = person(&app, &person_id).await;
    assert_eq!(
        identifiers(&person),
        vec![
            "anonymous_id=web-a1",
            "customer_id=C-100",
            "device_id=dev-1"
        ]
    );
    assert_eq!(person["traits"]["first_name"], "Ada");
    assert_eq!(person["traits"]["points"], 120);
}

#[tokio::test]
async fn two_customer_ids_are_never_merged_and_the_conflict_is_recorded() {
    let app = spawn_app().await;
    let one = app
        .identified(json!({"identifiers": {"customer_id": "C-1", "anonymous_id": "a-1"}}))
        .await;
    let two = app
        .identified(json!({"identifiers": {"customer_id": "C-2", "anonymous_id": "a-2"}}))
        .await;
    assert_ne!(one["person_id"], two["person_id"]);

    let response = app
        .identify(json!({"identifiers": {"customer_id": "C-1", "anonymous_id": "a-2"}}))
        .await;
    let problem = assert_problem(
        response,
        409,
        "identity-conflict",
        Some("identifiers.customer_id"),
    )
    .await;
    assert!(problem["detail"]
        .as_str()
        .unwrap_or("")
        .contains("customer_id"));
    // Nothing moved: each person keeps exactly their own identifiers.
    let p1 = person(&app, one["person_id"].as_str().unwrap()).await;
    assert_eq!(
        identifiers(&p1),
        vec!["anonymous_id=a-1", "customer_id=C-1"]
    );
    let p2 = person(&app, two["person_id"].as_str().unwrap()).await;
    assert_eq!(
        identifiers(&p2),
        vec!["anonymous_id=a-2", "customer_id=C-2"]
    );
    // Two values in one call conflict too, even for a brand-new pair.
    let response = app
        .identify(json!({"identifiers": {"customer_id": ["C-7", "C-8"]}}))
        .await;
    assert_problem(
        response,
        409,
        "identity-conflict",
        Some("identifiers.customer_id"),
    )
    .await;

    let db = app.db().await;
    let conflicts = tailor::storage::identity::conflicts(&db, 10).await.unwrap();
    assert_eq!(conflicts.len(), 2);
    assert!(conflicts
        .iter()
        .all(|c| c.kind == "customer_id" && c.actor == "server-key:0"));
    assert!(conflicts[1]
        .person_ids
        .contains(one["person_id"].as_str().unwrap()));
}

/// The variant of home.hero on push (a 70/30 weighted split) a request gets.
async fn hero_variant(app: &TestApp, headers: &[(&str, &str)]) -> String {
    let response = app
        .get_with("/v1/content/home.hero?channel=push&locale=en", headers)
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["variant"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_merge_keeps_the_oldest_person_so_a_visitor_keeps_their_variant_after_login() {
    let app = spawn_app().await;
    // The customer exists first on another device (their own person, own bucket).
    let customer = app
        .identified(json!({"identifiers": {"customer_id": "C-9", "device_id": "tv-9"}}))
        .await;
    let token = identity_token("C-9", 300);
    let customer_variant = hero_variant(&app, &[("Authorization", &bearer(&token))]).await;
    // A visitor whose anonymous variant differs from the customer's.
    let mut visitor = None;
    for i in 0..40 {
        let anon = format!("visitor-{i}");
        if hero_variant(&app, &[("X-Anonymous-Id", &anon)]).await != customer_variant {
            visitor = Some(anon);
            break;
        }
    }
    let visitor = visitor.expect("some visitor falls in the other variant");
    let visitor_variant = hero_variant(&app, &[("X-Anonymous-Id", &visitor)]).await;
    // The visitor becomes a (newer) person of their own, then logs in.
    let visitor_person = app
        .identified(json!({"identifiers": {"anonymous_id": visitor}}))
        .await;
    let login = app
        .identified(json!({"identifiers": {"customer_id": "C-9", "anonymous_id": visitor}}))
        .await;
    assert_eq!(
        login["person_id"], customer["person_id"],
        "the older person survives"
    );
    assert_eq!(login["merged"], json!([visitor_person["person_id"]]));
    // The survivor's sticky key decides: the customer keeps their variant everywhere,
    // and the visitor's browser now shows the same.
    assert_eq!(
        hero_variant(&app, &[("Authorization", &bearer(&token))]).await,
        customer_variant
    );
    assert_eq!(
        hero_variant(&app, &[("X-Anonymous-Id", &visitor)]).await,
        customer_variant
    );
    assert_ne!(visitor_variant, customer_variant);
    let merged = person(&app, customer["person_id"].as_str().unwrap()).await;
    assert_eq!(
        merged["merges"][0]["merged_id"],
        visitor_person["person_id"]
    );
    assert_eq!(merged["merges"][0]["actor"], "server-key:0");
    // A merged-away id answers for its survivor.
    let old = person(&app, visitor_person["person_id"].as_str().unwrap()).await;
    assert_eq!(old["person_id"], customer["person_id"]);
}

#[tokio::test]
async fn an_anonymous_visitor_keeps_their_variant_when_they_log_in() {
    let app = spawn_app().await;
    // Before login: the visitor is only a cookie; not in the graph yet.
    let visitor = "cookie-before-login";
    let before = hero_variant(&app, &[("X-Anonymous-Id", visitor)]).await;
    // Login: the site's back end links the cookie to the customer account (new to us).
    app.identified(json!({"identifiers": {"anonymous_id": visitor, "customer_id": "C-55"}}))
        .await;
    let token = identity_token("C-55", 300);
    assert_eq!(
        hero_variant(&app, &[("Authorization", &bearer(&token))]).await,
        before
    );
    // Their app install later links to the same account: same variant there too.
    app.identified(json!({"identifiers": {"device_id": "ios-55", "customer_id": "C-55"}}))
        .await;
    let by_device = app
        .get_with(
            "/v1/content/home.hero?channel=push&locale=en&id.device_id=ios-55",
            &[("X-Api-Key", SERVER_KEY)],
        )
        .await;
    let body: serde_json::Value = by_device.json().await.unwrap();
    assert_eq!(body["variant"]["id"], before.as_str());
}

#[tokio::test]
async fn identity_tokens_are_verified_and_never_fall_back() {
    let app = spawn_app().await;
    app.identified(json!({
        "identifiers": {"customer_id": "C-42", "anonymous_id": "a-42"},
        "traits": {"first_name": "Zoë", "tier": "gold", "points": 1250},
    }))
    .await;
    let path = "/v1/content/home.hero?channel=push&locale=en";
    let good = app
        .get_with(
            path,
            &[("Authorization", &bearer(&identity_token("C-42", 300)))],
        )
        .await;
    assert_eq!(good.status(), 200);
    assert_eq!(header(&good, "cache-control"), "private, no-cache");
    let body: serde_json::Value = good.json().await.unwrap();
    assert_eq!(body["variant"]["id"], "home-hero-gold");
    assert!(
        body["fields"]["title"].as_str().unwrap().contains("Zoë"),
        "{body}"
    );
    assert!(
        body["fields"]["body"]
            .as_str()
            .unwrap()
            .contains("You have 1250 points"),
        "{body}"
    );

    let expired = identity_token("C-42", -120);
    let forged = tailor::auth::mint_development(
        &tailor::config::Secret::new(DEV_TOKEN_SECRET),
        "C-42",
        None,
        300,
    )
    .unwrap();
    for bad in [
        bearer(&expired),
        bearer(&forged),
        bearer("not.a.token"),
        "Basic QWxhZGRpbjpvcGVu".to_string(),
    ] {
        let response = app.get_with(path, &[("Authorization", &bad)]).await;
        assert_eq!(header(&response, "www-authenticate"), "Bearer");
        assert_problem(response, 401, "unauthorized", Some("Authorization")).await;
    }
    // A bad token with an anonymous id is still refused, not served anonymously.
    let response = app
        .get_with(
            path,
            &[
                ("Authorization", &bearer(&expired)),
                ("X-Anonymous-Id", "a-42"),
            ],
        )
        .await;
    assert_problem(response, 401, "unauthorized", Some("Authorization")).await;
}

#[tokio::test]
async fn an_anonymous_id_cannot_read_the_persons_traits() {
    let app = spawn_app().await;
    app.identified(json!({
        "identifiers": {"customer_id": "C-43", "anonymous_id": "a-43"},
        "traits": {"first_name": "Zoë", "tier": "gold"},
    }))
    .await;
    let path = "/v1/content/home.hero?channel=web&locale=en";
    let response = app.get_with(path, &[("X-Anonymous-Id", "a-43")]).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("Zoë") && !text.contains("home-hero-gold"),
        "{text}"
    );
    // Naming someone by an identifier needs a server key.
    let response = app.get(&format!("{path}&id.customer_id=C-43")).await;
    assert_problem(response, 401, "unauthorized", Some("X-Api-Key")).await;
    let response = app
        .get_with(
            &format!("{path}&id.customer_id=C-43"),
            &[("X-Api-Key", "wrong-key-wrong-key-wrong")],
        )
        .await;
    assert_problem(response, 401, "unauthorized", Some("X-Api-Key")).await;
    // GET /v1/context for the anonymous id: bucket only, no segments.
    let context: serde_json::Value = app
        .get_with("/v1/context", &[("X-Anonymous-Id", "a-43")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(context["segments"], json!([]));
}

#[tokio::test]
async fn segments_target_content_and_ride_in_cohort_keys() {
    let app = spawn_app().await;
    app.identified(json!({
        "identifiers": {"customer_id": "C-77"},
        "traits": {"first_name": "Noor", "tier": "gold", "influence_score": 85},
    }))
    .await;
    let token = bearer(&identity_token("C-77", 300));
    let context: serde_json::Value = app
        .get_with("/v1/context", &[("Authorization", &token)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(context["segments"], json!(["influencer", "vip"]));
    let cohort = context["cohort"].as_str().unwrap();

    // The cohort key alone selects the VIP welcome email, and the answer is shareable...
    let shared = app
        .get(&format!(
            "/v1/content/email.welcome?channel=email&locale=en&cohort={cohort}"
        ))
        .await;
    assert_eq!(shared.status(), 200);
    assert!(header(&shared, "cache-control").starts_with("public"));
    let body: serde_json::Value = shared.json().await.unwrap();
    assert_eq!(body["variant"]["id"], "email-welcome-vip");
    assert!(
        !body.to_string().contains("Noor"),
        "no person values in a shared answer"
    );

    // ...while the same with the person's token renders their name: private.
    let own = app
        .get_with(
            &format!("/v1/content/email.welcome?channel=email&locale=en&cohort={cohort}"),
            &[("Authorization", &token)],
        )
        .await;
    assert_eq!(header(&own, "cache-control"), "private, no-cache");
    let body: serde_json::Value = own.json().await.unwrap();
    assert_eq!(body["variant"]["id"], "email-welcome-vip");
    assert!(
        body["fields"]["subject"].as_str().unwrap().contains("Noor"),
        "{body}"
    );

    // Trait parameters are not a way into a segment: anyone can send them.
    let spoofed: serde_json::Value = app
        .get("/v1/content/email.welcome?channel=email&locale=en&t.tier=gold&t.points=9000")
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(spoofed["variant"]["id"], "email-welcome-vip");

    // Without a cohort the person's own segments select, privately.
    let direct = app
        .get_with(
            "/v1/content/email.welcome?channel=email&locale=en",
            &[("Authorization", &token)],
        )
        .await;
    assert_eq!(header(&direct, "cache-control"), "private, no-cache");
    let body: serde_json::Value = direct.json().await.unwrap();
    assert_eq!(body["variant"]["id"], "email-welcome-vip");
}

#[tokio::test]
async fn opting_out_of_a_channel_applies_to_every_identifier_and_survives_merges() {
    let app = spawn_app().await;
    let sms = "/v1/content/sms.order_shipped?channel=sms&locale=en";
    app.identified(json!({
        "identifiers": {"customer_id": "C-5", "anonymous_id": "a-5"},
        "consents": {"sms": false},
    }))
    .await;
    let token = bearer(&identity_token("C-5", 300));
    let by_token = app.get_with(sms, &[("Authorization", &token)]).await;
    assert_eq!(by_token.status(), 204);
    assert_eq!(header(&by_token, "cache-control"), "private, no-cache");
    assert_eq!(
        app.get_with(sms, &[("X-Anonymous-Id", "a-5")])
            .await
            .status(),
        204
    );
    // Their cohort key carries the opt-out: the shared answer for it is empty too.
    let context: serde_json::Value = app
        .get_with("/v1/context", &[("X-Anonymous-Id", "a-5")])
        .await
        .json()
        .await
        .unwrap();
    let cohort = context["cohort"].as_str().unwrap();
    let shared = app.get(&format!("{sms}&cohort={cohort}")).await;
    assert_eq!(shared.status(), 204);
    assert!(header(&shared, "cache-control").starts_with("public"));
    let email_for_cohort = app
        .get(&format!(
            "/v1/content/email.welcome?channel=email&locale=en&cohort={cohort}"
        ))
        .await;
    assert_eq!(email_for_cohort.status(), 200);
    // An identifier linked later is the same person: also opted out.
    let hash = "b".repeat(64);
    app.identified(json!({"identifiers": {"customer_id": "C-5", "phone_sha256": hash}}))
        .await;
    let by_phone = app
        .get_with(
            &format!("{sms}&id.phone_sha256={hash}"),
            &[("X-Api-Key", SERVER_KEY)],
        )
        .await;
    assert_eq!(by_phone.status(), 204);
    // Other channels still serve.
    let email = app
        .get_with(
            "/v1/content/email.welcome?channel=email&locale=en",
            &[("Authorization", &token)],
        )
        .await;
    assert_eq!(email.status(), 200);

    // Two people with different consents merge: the withdrawal wins.
    app.identified(json!({"identifiers": {"anonymous_id": "a-6"}, "consents": {"email": false}}))
        .await;
    app.identified(json!({"identifiers": {"customer_id": "C-6"}, "consents": {"email": true}}))
        .await;
    let merged = app
        .identified(json!({"identifiers": {"customer_id": "C-6", "anonymous_id": "a-6"}}))
        .await;
    assert_eq!(merged["merged"].as_array().map(Vec::len), Some(1));
    let token6 = bearer(&identity_token("C-6", 300));
    let email = app
        .get_with(
            "/v1/content/email.welcome?channel=email&locale=en",
            &[("Authorization", &token6)],
        )
        .await;
    assert_eq!(email.status(), 204);
    let person = person(&app, merged["person_id"].as_str().unwrap()).await;
    assert_eq!(person["consents"]["email"], false);
}

#[tokio::test]
async fn bad_identify_calls_are_rejected_naming_the_field() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"identifiers": {"passport": "X1"}}),
            "identifiers.passport",
        ),
        (
            json!({"identifiers": {"email_sha256": "ada@example.com"}}),
            "identifiers.email_sha256",
        ),
        (
            json!({"identifiers": {"customer_id": "has space"}}),
            "identifiers.customer_id",
        ),
        (json!({"identifiers": {}}), "identifiers"),
        (json!({"traits": {"tier": "gold"}}), "identifiers"),
        (
            json!({"identifiers": {"customer_id": "C"}, "traits": {"points": "many"}}),
            "traits.points",
        ),
        (
            json!({"identifiers": {"customer_id": "C"}, "traits": {"address": {"city": "Lyon"}}}),
            "traits.address",
        ),
        (
            json!({"identifiers": {"customer_id": "C"}, "traits": {"Bad Name": 1}}),
            "traits.Bad Name",
        ),
        (
            json!({"identifiers": {"customer_id": "C"}, "traits": {"bio": "x".repeat(1001)}}),
            "traits.bio",
        ),
        (
            json!({"identifiers": {"customer_id": "C"}, "consents": {"fax": false}}),
            "consents.fax",
        ),
        (
            json!({"identifiers": {"customer_id": "C"}, "consents": {"sms": "no"}}),
            "consents.sms",
        ),
        (
            json!({"identifiers": {"customer_id": "C"}, "extra": 1}),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let response = app.identify(body.clone()).await;
        assert_problem(response, 400, "invalid-parameter", Some(field)).await;
    }
    // Oversized: too many traits, and too large a body.
    let many: serde_json::Map<String, serde_json::Value> =
        (0..101).map(|i| (format!("t{i}"), json!(i))).collect();
    let response = app
        .identify(json!({"identifiers": {"customer_id": "C"}, "traits": many}))
        .await;
    assert_problem(response, 400, "invalid-parameter", Some("traits")).await;
    let huge: serde_json::Map<String, serde_json::Value> = (0..80)
        .map(|i| (format!("t{i}"), json!("y".repeat(1000))))
        .collect();
    let response = app
        .identify(json!({"identifiers": {"customer_id": "C"}, "traits": huge}))
        .await;
    assert_problem(response, 413, "payload-too-large", Some("body")).await;
    // Nothing above was stored.
    let response = app
        .get_with(
            "/v1/content/home.hero?id.customer_id=C",
            &[("X-Api-Key", SERVER_KEY)],
        )
        .await;
    assert_eq!(response.status(), 200);

    // Who may call: a server key, or a staff token with the identify scope.
    let url = format!("{}/v1/identify", app.address);
    let body = json!({"identifiers": {"customer_id": "C-auth"}});
    let anonymous = app.client.post(&url).json(&body).send().await.unwrap();
    assert_problem(anonymous, 401, "unauthorized", None).await;
    let wrong_key = app
        .client
        .post(&url)
        .header("X-Api-Key", "not-our-key-not-our-key-not")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(wrong_key, 401, "unauthorized", None).await;
    let marketer = app
        .client
        .post(&url)
        .bearer_auth(staff_token(&["marketer"], ""))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(marketer, 403, "forbidden", None).await;
    // An identity token is not a staff token.
    let customer = app
        .client
        .post(&url)
        .bearer_auth(identity_token("C-auth", 300))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(customer, 401, "unauthorized", None).await;
    let scoped = app
        .client
        .post(&url)
        .bearer_auth(staff_token(&[], "identify"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(scoped.status(), 200);
}

#[tokio::test]
async fn erasure_removes_the_person_pseudonymises_events_and_is_audited() {
    let app = spawn_app().await;
    let created = app
        .identified(json!({
            "identifiers": {"customer_id": "C-del", "anonymous_id": "a-del"},
            "traits": {"first_name": "Eve", "tier": "gold"},
        }))
        .await;
    let person_id = created["person_id"].as_str().unwrap().to_string();
    // A second browser merged in later: erasure takes the merged person along.
    let second = app
        .identified(json!({"identifiers": {"anonymous_id": "a-del-2"}, "consents": {"sms": false}}))
        .await;
    app.identified(json!({"identifiers": {"customer_id": "C-del", "anonymous_id": "a-del-2"}}))
        .await;
    let token = bearer(&identity_token("C-del", 300));
    let hero = "/v1/content/home.hero?channel=push&locale=en";
    let before = app.get_with(hero, &[("Authorization", &token)]).await;
    assert!(
        before.text().await.unwrap().contains("Eve"),
        "the person's name renders"
    );
    // An impression logged for the person.
    let content: serde_json::Value = app
        .get_with(
            "/v1/content/home.hero?channel=web&locale=en",
            &[("X-Anonymous-Id", "a-del")],
        )
        .await
        .json()
        .await
        .unwrap();
    let events = json!({"events": [{
        "event_id": "erase-ev-1", "type": "impression",
        "tracking_token": content["tracking_token"], "anonymous_id": "a-del",
        "occurred_at": chrono::Utc::now().to_rfc3339(),
    }, {
        "event_id": "erase-ev-2", "type": "feedback",
        "tracking_token": content["tracking_token"], "anonymous_id": "a-del",
        "feedback": {"kind": "csat", "score": 2, "comment": "Eve from flat 4 was not pleased"},
    }]});
    let response = app.post_events(&events).await;
    assert_eq!(response.status(), 202);

    // The verified person's own event: its source is named after the person.
    let verified: serde_json::Value = app
        .get_with(
            "/v1/content/home.hero?channel=web&locale=en",
            &[("Authorization", &token)],
        )
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .client
        .post(format!("{}/v1/events", app.address))
        .header("Authorization", &token)
        .json(&json!({"events": [{
            "event_id": "erase-ev-3", "type": "impression",
            "tracking_token": verified["tracking_token"],
        }]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // An event logged before keys were keyed, under the customer id's old digest.
    let legacy = tailor::identity::graph::Identifier::new("customer_id", "C-del")
        .legacy_sticky_key()
        .unwrap();
    app.db()
        .await
        .execute_unprepared(&format!(
            "INSERT INTO events (event_id, kind, occurred_at, received_at, placement, variant, version, channel, device, locale, person_key, traffic) \
             VALUES ('erase-legacy', 'click', '2026-11-01T10:00:00Z', '2026-11-01T10:00:00Z', 'home.hero', 'home-hero-default', 1, 'web', 'desktop', 'en', '{legacy}', 'unknown')"
        ))
        .await
        .unwrap();
    let db = app.db().await;
    assert!(count(&db, "source_daily WHERE source LIKE 'person:%'").await > 0);

    let url = format!("{}/v1/people/{person_id}", app.address);
    // Reading a person needs a server key, the identify scope or privacy/admin.
    let read = app
        .client
        .get(&url)
        .bearer_auth(staff_token(&["marketer"], ""))
        .send()
        .await
        .unwrap();
    assert_problem(read, 403, "forbidden", Some("Authorization")).await;
    let read = app
        .client
        .get(&url)
        .bearer_auth(staff_token(&["privacy"], ""))
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let none = app.client.delete(&url).send().await.unwrap();
    assert_problem(none, 401, "unauthorized", Some("Authorization")).await;
    let marketer = app
        .client
        .delete(&url)
        .bearer_auth(staff_token(&["marketer", "admin"], "identify"))
        .send()
        .await
        .unwrap();
    assert_problem(marketer, 403, "forbidden", Some("Authorization")).await;
    let erased = app
        .client
        .delete(&url)
        .bearer_auth(staff_token(&["privacy"], ""))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 200);
    let report: serde_json::Value = erased.json().await.unwrap();
    assert_eq!(report["identifiers"], 3);
    assert_eq!(report["traits"], 2);
    assert_eq!(report["consents"], 1);
    assert_eq!(report["links"], 2);
    assert_eq!(report["events_pseudonymised"], 4);

    let gone = app
        .get_with(
            &format!("/v1/people/{person_id}"),
            &[("X-Api-Key", SERVER_KEY)],
        )
        .await;
    assert_problem(gone, 404, "not-found", Some("id")).await;
    let again = app
        .client
        .delete(&url)
        .bearer_auth(staff_token(&["privacy"], ""))
        .send()
        .await
        .unwrap();
    assert_problem(again, 404, "not-found", Some("id")).await;
    // The token's customer is now unknown (caches included): nobody in particular.
    let after = app.get_with(hero, &[("Authorization", &token)]).await;
    let text = after.text().await.unwrap();
    assert!(
        !text.contains("Eve") && !text.contains("home-hero-gold"),
        "{text}"
    );
    let merged_away = app
        .get_with(
            &format!("/v1/people/{}", second["person_id"].as_str().unwrap()),
            &[("X-Api-Key", SERVER_KEY)],
        )
        .await;
    assert_eq!(merged_away.status(), 404);
    for table in [
        "identifiers",
        "identity_links",
        "person_traits",
        "person_consents",
        "people",
    ] {
        assert_eq!(count(&app.db().await, table).await, 0, "{table}");
    }
    assert_eq!(
        count(
            &app.db().await,
            "identity_merges WHERE identifiers NOT LIKE '%erased%'"
        )
        .await,
        0,
        "merge records keep no identifiers"
    );

    let db = app.db().await;
    assert_eq!(
        count(&db, "events WHERE person_key = 'anon:a-del'").await,
        0
    );
    assert_eq!(
        count(&db, "events WHERE person_key LIKE 'erased:%'").await,
        4,
        "the legacy-keyed event included"
    );
    assert_eq!(count(&db, "events WHERE source LIKE 'person:%'").await, 0);
    // The person's source counts moved to the pseudonym: still one source, no old name.
    assert_eq!(
        count(&db, "source_daily WHERE source LIKE 'person:%'").await,
        0
    );
    assert!(count(&db, "source_daily WHERE source LIKE 'erased:%'").await > 0);
    assert_eq!(
        count(&db, "events WHERE comment IS NOT NULL").await,
        0,
        "the person's own words go"
    );
    // The pseudonym is fresh (random), not a hash anyone could recompute from the
    // person's id or identifiers.
    let pseudonyms = texts(
        &db,
        "SELECT DISTINCT person_key FROM events WHERE person_key LIKE 'erased:%'",
    )
    .await;
    assert_eq!(pseudonyms.len(), 1, "{pseudonyms:?}");
    let random = pseudonyms[0].trim_start_matches("erased:");
    assert!(
        random.len() == 32 && &random[12..13] == "4",
        "a v4 UUID: {random}"
    );
    let audit = tailor::storage::identity::audit_of(&db, &person_id)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "person.erase");
    assert_eq!(audit[0].actor, "staff:reviewer-ana");
    assert!(
        !audit[0].detail.contains("C-del"),
        "no identifiers in the audit"
    );
}

#[tokio::test]
async fn racing_identify_calls_never_create_two_people() {
    let app = spawn_app().await;
    // Sixteen calls at once with one customer id: one person.
    let calls = (0..16).map(|i| {
        let app = &app;
        async move {
            app.identified(json!({
                "identifiers": {"customer_id": "C-race", "anonymous_id": format!("race-{i}")}
            }))
            .await
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    let first = answers[0]["person_id"].clone();
    assert!(
        answers.iter().all(|a| a["person_id"] == first),
        "{answers:?}"
    );
    assert_eq!(answers.iter().filter(|a| a["created"] == true).count(), 1);

    // A chain linked from both ends at once (x0–x1, x1–x2, ... in parallel): one person.
    let calls = (0..12).map(|i| {
        let app = &app;
        async move {
            app.identified(json!({
                "identifiers": {"device_id": format!("x{i}"), "anonymous_id": format!("x{}", i + 1)}
            }))
            .await
        }
    });
    futures_util::future::join_all(calls).await;
    // Close the chain's device/anonymous alternation with links anonymous xi – device xi.
    let calls = (1..12).map(|i| {
        let app = &app;
        async move {
            app.identified(json!({
                "identifiers": {"anonymous_id": format!("x{i}"), "device_id": format!("x{i}")}
            }))
            .await
        }
    });
    futures_util::future::join_all(calls).await;
    let end = app
        .identified(json!({"identifiers": {"device_id": "x0"}}))
        .await;
    let other_end = app
        .identified(json!({"identifiers": {"anonymous_id": "x12"}}))
        .await;
    assert_eq!(end["person_id"], other_end["person_id"]);
    let person = person(&app, end["person_id"].as_str().unwrap()).await;
    // Devices x0..x11 and anonymous ids x1..x12.
    assert_eq!(identifiers(&person).len(), 24);
}

/// Many calls at once are written in groups (one transaction for many calls); a call
/// that merges or conflicts runs on its own after its group. Each still gets the answer
/// it would get alone, and the graph ends as if they had come one by one.
#[tokio::test]
async fn a_burst_of_creates_attaches_merges_and_conflicts_answers_each_call_as_if_alone() {
    let app = spawn_app().await;
    let a = app
        .identified(json!({"identifiers": {"customer_id": "G-a", "anonymous_id": "ga-0"}}))
        .await;
    let b = app
        .identified(json!({"identifiers": {"customer_id": "G-b", "anonymous_id": "gb-0"}}))
        .await;
    let d = app
        .identified(json!({"identifiers": {"device_id": "gd-0"}}))
        .await;
    let a_id = a["person_id"].as_str().unwrap().to_string();
    let b_id = b["person_id"].as_str().unwrap().to_string();
    let d_id = d["person_id"].as_str().unwrap().to_string();

    let mut bodies = Vec::new();
    for i in 0..10 {
        bodies.push(json!({
            "identifiers": {"customer_id": format!("G-new-{i}"), "anonymous_id": format!("gn-{i}")},
            "traits": {"tier": "silver"}
        }));
    }
    for i in 1..=8 {
        bodies.push(json!({
            "identifiers": {"customer_id": "G-a", "anonymous_id": format!("ga-{i}")},
            "traits": {format!("k{i}"): i}
        }));
    }
    // ga-0 is G-a's: linking it to G-b would give one person two customer ids.
    let conflict = bodies.len();
    bodies.push(json!({"identifiers": {"customer_id": "G-b", "anonymous_id": "ga-0"}}));
    // Joins B and D (B is older: it survives).
    let merge = bodies.len();
    bodies.push(json!({"identifiers": {"anonymous_id": "gb-0", "device_id": "gd-0"}}));
    bodies.push(json!({"identifiers": {"customer_id": "G-a"}, "consents": {"email": false}}));
    let calls = bodies.into_iter().map(|body| {
        let app = &app;
        async move {
            let response = app.identify(body).await;
            let status = response.status().as_u16();
            (
                status,
                response.json::<serde_json::Value>().await.expect("json"),
            )
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (i, (status, answer)) in answers.iter().enumerate() {
        let expected = if i == conflict { 409 } else { 200 };
        assert_eq!(*status, expected, "call {i}: {answer}");
    }
    assert_eq!(
        answers[conflict].1["type"]
            .as_str()
            .map(|t| t.ends_with("identity-conflict")),
        Some(true)
    );
    assert_eq!(
        answers[..10]
            .iter()
            .filter(|(_, a)| a["created"] == true)
            .count(),
        10
    );
    assert!(answers[10..18]
        .iter()
        .all(|(_, a)| a["person_id"] == a_id.as_str() && a["created"] == false));
    assert_eq!(answers[merge].1["person_id"], b_id.as_str());

    let person_a = person(&app, &a_id).await;
    let mut expected: Vec<String> = (0..=8).map(|i| format!("anonymous_id=ga-{i}")).collect();
    expected.push("customer_id=G-a".into());
    assert_eq!(identifiers(&person_a), expected);
    for i in 1..=8 {
        assert_eq!(person_a["traits"][format!("k{i}")], i, "{person_a}");
    }
    assert_eq!(person_a["consents"]["email"], false);
    let person_b = person(&app, &b_id).await;
    assert_eq!(
        identifiers(&person_b),
        vec!["anonymous_id=gb-0", "customer_id=G-b", "device_id=gd-0"]
    );
    // The merged-away id answers for its survivor.
    assert_eq!(person(&app, &d_id).await["person_id"], b_id.as_str());
    let db = app.db().await;
    let conflicts = tailor::storage::identity::conflicts(&db, 10).await.unwrap();
    assert_eq!(conflicts.len(), 1);
    // A repeated burst changes nothing.
    let again = app
        .identified(json!({"identifiers": {"customer_id": "G-a", "anonymous_id": "ga-3"}, "traits": {"k3": 3}}))
        .await;
    assert_eq!(again["created"], false);
    assert_eq!(again["changed"], false);
}

/// Identify calls written while the event writer commits (on SQLite a transaction that
/// read before another writer committed cannot write: it is started again, never a 500).
#[tokio::test]
async fn identify_calls_racing_event_writes_all_succeed() {
    let app = spawn_app().await;
    let token = app
        .tracking_token("/v1/content/home.hero?channel=web&locale=en")
        .await;
    let event_batches = (0..12).map(|b| {
        let app = &app;
        let token = token.clone();
        async move {
            let events: Vec<serde_json::Value> = (0..50)
                .map(|i| json!({"event_id": format!("race-ev-{b}-{i}"), "type": "impression",
                                "tracking_token": token, "anonymous_id": format!("race-visitor-{i}")}))
                .collect();
            let response = app.post_events(&json!({"events": events})).await;
            response.status().as_u16()
        }
    });
    let calls = (0..24).map(|i| {
        let app = &app;
        async move {
            let response = app
                .identify(
                    json!({"identifiers": {"customer_id": format!("race-c-{}", i % 6),
                                                 "anonymous_id": format!("race-a-{i}")},
                                 "traits": {"points": i}}),
                )
                .await;
            response.status().as_u16()
        }
    });
    let (events, identified) = futures_util::future::join(
        futures_util::future::join_all(event_batches),
        futures_util::future::join_all(calls),
    )
    .await;
    assert!(events.iter().all(|s| *s == 202), "{events:?}");
    assert!(identified.iter().all(|s| *s == 200), "{identified:?}");
    // Six customers, four anonymous ids each.
    for c in 0..6 {
        let answer = app
            .identified(json!({"identifiers": {"customer_id": format!("race-c-{c}")}}))
            .await;
        let person = person(&app, answer["person_id"].as_str().unwrap()).await;
        assert_eq!(identifiers(&person).len(), 5, "{person}");
    }
}

#[tokio::test]
async fn a_merge_made_on_one_node_is_seen_by_another_within_a_second() {
    if redis_or_skip().is_none() {
        return;
    }
    let first = spawn_app().await;
    let second = first.second_node().await;
    first
        .identified(json!({"identifiers": {"customer_id": "C-node"}}))
        .await;
    let token = bearer(&identity_token("C-node", 300));
    let sms = "/v1/content/sms.order_shipped?channel=sms&locale=en";
    // The second node resolves (and caches) the customer: SMS is allowed.
    assert_eq!(
        second
            .get_with(sms, &[("Authorization", &token)])
            .await
            .status(),
        200
    );
    let before = second
        .metric("tailor_person_lookups_total{source=\"memory\"}")
        .await;
    assert_eq!(
        second
            .get_with(sms, &[("Authorization", &token)])
            .await
            .status(),
        200
    );
    assert!(
        second
            .metric("tailor_person_lookups_total{source=\"memory\"}")
            .await
            > before
    );

    // On the first node, the customer logs in on a browser that had opted out of SMS.
    first
        .identified(json!({"identifiers": {"anonymous_id": "a-node"}, "consents": {"sms": false}}))
        .await;
    let started = std::time::Instant::now();
    first
        .identified(json!({"identifiers": {"customer_id": "C-node", "anonymous_id": "a-node"}}))
        .await;
    within(
        started,
        std::time::Duration::from_secs(1),
        "the second node still serves the pre-merge person",
        || async {
            second
                .get_with(sms, &[("Authorization", &token)])
                .await
                .status()
                == 204
        },
    )
    .await;
}

#[tokio::test]
async fn caps_count_every_identifier_of_the_person_and_events_accept_identity_tokens() {
    let app = spawn_app().await;
    app.identified(json!({"identifiers": {"customer_id": "C-cap", "anonymous_id": "laptop-cap"}}))
        .await;
    app.identified(json!({"identifiers": {"customer_id": "C-cap", "anonymous_id": "phone-cap"}}))
        .await;
    let survey = "/v1/content/support.survey?channel=web&device=desktop&locale=en";
    let seen: serde_json::Value = app
        .get_with(survey, &[("X-Anonymous-Id", "laptop-cap")])
        .await
        .json()
        .await
        .unwrap();
    // The impression is reported from the laptop...
    let events = json!({"events": [{
        "event_id": "cap-ev-1", "type": "impression",
        "tracking_token": seen["tracking_token"], "anonymous_id": "laptop-cap",
    }]});
    let response = app.post_events(&events).await;
    assert_eq!(response.status(), 202);
    // ...and the phone's cookie, and the customer's token, are the same person: capped.
    assert_eq!(
        app.get_with(survey, &[("X-Anonymous-Id", "phone-cap")])
            .await
            .status(),
        204
    );
    let token = bearer(&identity_token("C-cap", 300));
    assert_eq!(
        app.get_with(survey, &[("Authorization", &token)])
            .await
            .status(),
        204
    );
    // Someone else is not.
    assert_eq!(
        app.get_with(survey, &[("X-Anonymous-Id", "stranger")])
            .await
            .status(),
        200
    );

    // Events sent with an identity token count for the token's person; a bad token is
    // refused outright rather than stored as anonymous.
    let other: serde_json::Value = app
        .get_with("/v1/content/home.hero?channel=push&locale=en", &[])
        .await
        .json()
        .await
        .unwrap();
    let batch = json!({"events": [{
        "event_id": "cap-ev-2", "type": "click", "tracking_token": other["tracking_token"],
    }]});
    let refused = app
        .client
        .post(format!("{}/v1/events", app.address))
        .bearer_auth(identity_token("C-cap", -100))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_problem(refused, 401, "unauthorized", Some("Authorization")).await;
    let accepted = app
        .client
        .post(format!("{}/v1/events", app.address))
        .bearer_auth(identity_token("C-cap", 300))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let keys = texts(
        &app.db().await,
        "SELECT person_key FROM events WHERE event_id = 'cap-ev-2'",
    )
    .await;
    assert_eq!(
        keys.first().expect("a row").as_str(),
        "anon:laptop-cap",
        "the person's sticky key: the anonymous id they were first identified with"
    );
}

#[tokio::test]
async fn erasure_racing_identify_leaves_no_orphans() {
    let app = spawn_app().await;
    for round in 0..5 {
        let customer = format!("C-erase-race-{round}");
        let created = app
            .identified(json!({"identifiers": {"customer_id": customer}}))
            .await;
        let url = format!(
            "{}/v1/people/{}",
            app.address,
            created["person_id"].as_str().unwrap()
        );
        let token = staff_token(&["privacy"], "");
        let erase = app.client.delete(&url).bearer_auth(&token).send();
        let attaches = (0..6).map(|i| {
            app.identify(json!({"identifiers": {
                "customer_id": customer.clone(),
                "device_id": format!("race-dev-{round}-{i}"),
            }}))
        });
        let (erased, attached) = tokio::join!(erase, futures_util::future::join_all(attaches));
        assert_eq!(erased.unwrap().status(), 200);
        assert!(attached.iter().all(|r| r.status() == 200));
    }
    assert_eq!(
        count(
            &app.db().await,
            "identifiers WHERE person_id NOT IN (SELECT id FROM people)"
        )
        .await,
        0,
        "every identifier belongs to a person that exists"
    );
    assert_eq!(
        count(
            &app.db().await,
            "person_traits WHERE person_id NOT IN (SELECT id FROM people)"
        )
        .await,
        0
    );
    // And the graph still works for those identifiers.
    let again = app
        .identified(
            json!({"identifiers": {"customer_id": "C-erase-race-0", "device_id": "race-dev-0-0"}}),
        )
        .await;
    assert!(again["person_id"].is_string());
}

#[tokio::test]
async fn long_identifiers_fit_every_key() {
    let app = spawn_app().await;
    let customer = format!("C-{}", "9".repeat(250));
    app.identified(json!({"identifiers": {"customer_id": customer}}))
        .await;
    let token = identity_token(&customer, 300);
    let content: serde_json::Value = app
        .get_with(
            "/v1/content/home.hero?channel=push&locale=en",
            &[("Authorization", &bearer(&token))],
        )
        .await
        .json()
        .await
        .unwrap();
    let response = app
        .client
        .post(format!("{}/v1/events", app.address))
        .bearer_auth(&token)
        .json(&json!({"events": [{
            "event_id": "long-key-1", "type": "impression", "tracking_token": content["tracking_token"],
        }]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(
        count(
            &app.db().await,
            "events WHERE person_key LIKE 'customer_id#%'"
        )
        .await,
        1
    );
}

async fn lookups(app: &TestApp, source: &str) -> f64 {
    app.metric(&format!(
        "tailor_person_lookups_total{{source=\"{source}\"}}"
    ))
    .await
}

const SMS_CONTENT: &str = "/v1/content/sms.order_shipped?channel=sms&locale=en";

async fn sms_for_visitor(app: &TestApp, anonymous_id: &str) -> u16 {
    app.get_with(SMS_CONTENT, &[("X-Anonymous-Id", anonymous_id)])
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn visitors_the_graph_does_not_know_cost_no_lookup_until_they_are_identified() {
    let app = spawn_app().await;
    app.filter_ready().await;
    let before: Vec<f64> = lookups_beyond_the_filter(&app).await;
    let filtered = lookups(&app, "filter").await;
    for n in 0..20 {
        let response = app
            .get_with(
                "/v1/content/home.hero?channel=web&locale=en",
                &[("X-Anonymous-Id", &format!("first-visit-{n}"))],
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        lookups_beyond_the_filter(&app).await,
        before,
        "no memory, Redis or database lookup for visitors nobody has identified"
    );
    assert!(lookups(&app, "filter").await >= filtered + 20.0);

    // Identified here (opted out of SMS): known at once, by this node's own change.
    assert_eq!(sms_for_visitor(&app, "first-visit-3").await, 200);
    app.identified(
        json!({"identifiers": {"anonymous_id": "first-visit-3"}, "consents": {"sms": false}}),
    )
    .await;
    assert_eq!(
        sms_for_visitor(&app, "first-visit-3").await,
        204,
        "the identified visitor's opt-out applies on the next request"
    );
    assert!(lookups(&app, "database").await > before[2]);

    // A restart reads the graph back: the visitor is still known.
    let restarted = app.second_node().await;
    restarted.filter_ready().await;
    assert_eq!(sms_for_visitor(&restarted, "first-visit-3").await, 204);
    assert_eq!(sms_for_visitor(&restarted, "first-visit-4").await, 200);
}

/// Memory, Redis and database lookups, in that order.
async fn lookups_beyond_the_filter(app: &TestApp) -> Vec<f64> {
    vec![
        lookups(app, "memory").await,
        lookups(app, "redis").await,
        lookups(app, "database").await,
    ]
}

#[tokio::test]
async fn a_visitor_identified_on_one_node_is_known_to_another_within_a_second() {
    if redis_or_skip().is_none() {
        return;
    }
    let first = spawn_app().await;
    let second = first.second_node().await;
    second.filter_ready().await;
    // Unknown to both (the second answers from its filter).
    assert_eq!(sms_for_visitor(&second, "a-elsewhere").await, 200);
    let started = std::time::Instant::now();
    first
        .identified(
            json!({"identifiers": {"anonymous_id": "a-elsewhere"}, "consents": {"sms": false}}),
        )
        .await;
    within(
        started,
        std::time::Duration::from_secs(1),
        "the second node still called a visitor identified on the first unknown",
        || async { sms_for_visitor(&second, "a-elsewhere").await == 204 },
    )
    .await;
}

#[tokio::test]
async fn next_best_channel_ranks_a_persons_consented_channels_by_what_they_engage_with() {
    let app = spawn_app().await;
    // Ada (vip, no SMS) and Bo (no history of his own).
    for body in [
        json!({"identifiers": {"customer_id": "C-ada", "anonymous_id": "nbc-ada"},
               "traits": {"tier": "gold"}, "consents": {"sms": false}}),
        json!({"identifiers": {"customer_id": "C-bo", "anonymous_id": "nbc-bo"}}),
    ] {
        assert_eq!(app.identify(body).await.status(), 200);
    }
    let token = |channel: &'static str| {
        let app = &app;
        async move {
            app.tracking_token(&format!(
                "/v1/content/home.hero?channel={channel}&locale=en"
            ))
            .await
        }
    };
    let (email, push) = (token("email").await, token("push").await);
    let mut events = Vec::new();
    let mut add = |who: &str, token: &str, tag: &str, impressions: usize, clicks: usize| {
        for i in 0..impressions {
            events.push(json!({"event_id": format!("{tag}-i{i}"), "type": "impression", "tracking_token": token, "anonymous_id": who}));
            if i < clicks {
                events.push(json!({"event_id": format!("{tag}-c{i}"), "type": "click", "tracking_token": token, "anonymous_id": who}));
            }
        }
    };
    // Everyone: push gets 10 % click-through, email 2 % (many visitors).
    for v in 0..40 {
        add(
            &format!("crowd-{v}"),
            &push,
            &format!("crowd{v}-push"),
            20,
            2,
        );
        add(
            &format!("crowd-{v}"),
            &email,
            &format!("crowd{v}-email"),
            50,
            1,
        );
    }
    // Decisions made for the vip segment (Ada's) and for segments merely like it.
    let with_segments = |token: &str, segments: &str| {
        let mut claims = tracking_claims(token);
        claims["sg"] = json!(segments);
        sign_tracking(&claims)
    };
    add(
        "vip-fan",
        &with_segments(&email, "gold,vip"),
        "vipfan",
        30,
        9,
    );
    add(
        "near-fan",
        &with_segments(&email, "avip,vipx"),
        "nearfan",
        30,
        0,
    );
    // Ada reads her email and ignores push.
    add("nbc-ada", &email, "ada-email", 60, 30);
    add("nbc-ada", &push, "ada-push", 60, 1);
    app.post_events_from(&events, 60).await;

    let ranking = |id: String, key: Option<&'static str>| {
        let app = &app;
        async move {
            let mut request = app
                .client
                .get(format!("{}/v1/people/{id}/channels", app.address));
            if let Some(key) = key {
                request = request.header("X-Api-Key", key);
            }
            request.send().await.unwrap()
        }
    };
    let person_of = |customer: &'static str| {
        let app = &app;
        async move {
            app.identify(json!({"identifiers": {"customer_id": customer}}))
                .await
                .json::<serde_json::Value>()
                .await
                .unwrap()["person_id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let ada = person_of("C-ada").await;
    let response = ranking(ada.clone(), Some(SERVER_KEY)).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let order: Vec<&str> = body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["channel"].as_str().unwrap())
        .collect();
    assert_eq!(order[0], "email", "her own engagement wins: {body}");
    let email_row = &body["channels"][0];
    assert_eq!(
        email_row["person"],
        json!({"impressions": 60, "clicks": 30})
    );
    assert!(
        email_row["score"].as_f64().unwrap() < 0.5,
        "shrunk toward the rest: {body}"
    );
    assert!(email_row["global"]["impressions"].as_i64().unwrap() >= 2_000);
    assert_eq!(body["segments"], json!(["vip"]));
    assert!(!order.contains(&"sms"), "opted out: {body}");
    let excluded: Vec<(&str, &str)> = body["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["channel"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(excluded.contains(&("sms", "opted_out")), "{body}");
    assert!(excluded.contains(&("kiosk", "not_serving")), "{body}");

    // Bo has no history: everyone's figures decide, so push leads.
    let bo = person_of("C-bo").await;
    let body: serde_json::Value = ranking(bo, Some(SERVER_KEY)).await.json().await.unwrap();
    assert_eq!(body["channels"][0]["channel"], "push", "{body}");
    assert_eq!(body["channels"][0]["mostly_from"], "global");
    assert!(body["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["channel"] != "sms"));

    // Senders only.
    assert_eq!(ranking(ada.clone(), None).await.status(), 401);
    assert_eq!(
        ranking("p-nobody".into(), Some(SERVER_KEY)).await.status(),
        404
    );
}
