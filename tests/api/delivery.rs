use std::collections::HashSet;

use tailor::tokens::Signer;

use crate::helpers::*;

const PL_PUSH: &str = "/v1/content/checkout.banner?channel=web&device=desktop&locale=pl";

#[tokio::test]
async fn content_answer_has_the_documented_shape() {
    let app = spawn_app().await;
    let body = app
        .json("/v1/content/home.hero?channel=sms&device=mobile&locale=en")
        .await;
    assert_eq!(body["placement"], "home.hero");
    // No person: the heaviest variant of the A/B group (70/30).
    assert_eq!(body["variant"]["id"], "home-hero-default");
    assert_eq!(body["variant"]["version"], 1);
    assert_eq!(body["locale"], "en");
    assert_eq!(body["channel"], "sms");
    assert_eq!(body["device"], "mobile");
    assert_eq!(body["fields"]["title"], "Built for the trail");
    assert_eq!(body["fields"]["cta"], "https://shop.example.com/new-season");
    assert_eq!(body["warnings"], serde_json::json!([]));
    assert_eq!(body["sms"]["encoding"], "GSM-7");

    let token = body["tracking_token"].as_str().expect("tracking token");
    let claims = Signer::new(SIGNING_SECRET.as_bytes())
        .verify_tracking(token, chrono::Utc::now().timestamp() as u64)
        .expect("token verifies");
    assert_eq!(
        (
            claims.pl.as_str(),
            claims.va.as_str(),
            claims.ch.as_str(),
            claims.dv.as_str(),
            claims.lo.as_str()
        ),
        ("home.hero", "home-hero-default", "sms", "mobile", "en")
    );
    // Tamper-evident: a changed payload does not verify.
    let mut tampered = token.to_string();
    tampered.insert(token.find('.').unwrap() + 2, 'x');
    assert!(Signer::new(SIGNING_SECRET.as_bytes())
        .verify_tracking(&tampered, chrono::Utc::now().timestamp() as u64)
        .is_err());
}

#[tokio::test]
async fn locale_comes_from_the_parameter_then_accept_language_with_fallback_chains() {
    let app = spawn_app().await;
    let response = app
        .get_with(
            "/v1/content/home.hero?channel=sms&device=mobile",
            &[("Accept-Language", "fr-CA,fr;q=0.8,en;q=0.5")],
        )
        .await;
    assert!(header(&response, "vary").contains("Accept-Language"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["locale"], "fr-CA");
    assert_eq!(body["fields"]["title"], "Conçu pour les sentiers");

    let response = app
        .get_with(
            "/v1/content/home.hero?channel=sms&device=mobile&locale=de-AT",
            &[("Accept-Language", "ja")],
        )
        .await;
    assert!(
        !header(&response, "vary").contains("Accept-Language"),
        "the parameter won; the header was not read"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["locale"], "de");

    let body = app
        .json("/v1/content/home.hero?channel=sms&device=mobile&locale=sv")
        .await;
    assert_eq!(
        body["locale"], "en",
        "an unsupported language falls back to the default"
    );
}

#[tokio::test]
async fn a_missing_translation_falls_back_along_the_chain_and_is_reported() {
    let fixture = content_fixture(|root| {
        replace_in(
            &root.join("locales/fr-CA/home.ftl"),
            "home-hero-default-title = Conçu pour les sentiers\n",
            "",
        );
        replace_in(
            &root.join("locales/fr/home.ftl"),
            "home-hero-default-title = Conçu pour les sentiers",
            "home-hero-default-title = Fait pour les sentiers",
        );
    });
    let app = spawn_app_on(fixture.path()).await;
    // Without `allow_fallback`, the variant is not live in fr-CA: it is answered whole
    // in the next locale of the chain rather than mixing two.
    let body = app
        .json("/v1/content/home.hero?channel=sms&device=mobile&locale=fr-CA")
        .await;
    assert_eq!(body["locale"], "fr");
    assert_eq!(body["fields"]["title"], "Fait pour les sentiers");
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "locale-incomplete");
    assert!(warnings[0]["detail"].as_str().unwrap().contains("fr-CA"));

    // The placement allows fallback in fr-CA: fr-CA with the one message from fr.
    let fixture = content_fixture(|root| {
        replace_in(
            &root.join("locales/fr-CA/home.ftl"),
            "home-hero-default-title = Conçu pour les sentiers\n",
            "",
        );
        replace_in(
            &root.join("locales/fr/home.ftl"),
            "home-hero-default-title = Conçu pour les sentiers",
            "home-hero-default-title = Fait pour les sentiers",
        );
        replace_in(
            &root.join("content/placements/home.hero.toml"),
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\n",
            "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\nallow_fallback = [\"fr-CA\"]\n",
        );
    });
    let app = spawn_app_on(fixture.path()).await;
    let body = app
        .json("/v1/content/home.hero?channel=sms&device=mobile&locale=fr-CA")
        .await;
    assert_eq!(body["locale"], "fr-CA");
    assert_eq!(
        body["fields"]["title"], "Fait pour les sentiers",
        "fr-CA → fr"
    );
    let warnings = body["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["code"], "message-fallback");
    assert_eq!(warnings[0]["field"], "title");
    assert!(warnings[0]["detail"].as_str().unwrap().contains("fr-CA"));
}

#[tokio::test]
async fn polish_and_arabic_plurals_with_person_variables() {
    let app = spawn_app().await;
    let few = app.json(&format!("{PL_PUSH}&t.points=1002")).await;
    assert_eq!(few["variant"]["id"], "checkout-banner-points");
    // Web keeps Fluent's isolation marks around placeables.
    assert_eq!(
        few["fields"]["title"],
        "Masz \u{2068}1002\u{2069} punkty do wykorzystania"
    );
    let many = app.json(&format!("{PL_PUSH}&t.points=1005")).await;
    assert_eq!(
        many["fields"]["title"],
        "Masz \u{2068}1005\u{2069} punktów do wykorzystania"
    );

    let ar = "/v1/content/support.survey?channel=web&device=desktop&locale=ar";
    // The selector is a placeable too, so it is isolated as a whole.
    let expect = |n: u32, words: &str| {
        format!("\u{2068}شكرًا على \u{2068}{n}\u{2069} {words} معنا!\u{2069} قيّم آخر عملية توصيل في أقل من دقيقة.")
    };
    let few = app.json(&format!("{ar}&t.order_count=7")).await;
    assert_eq!(few["variant"]["id"], "support-survey-recent-buyer");
    assert_eq!(few["fields"]["body"], expect(7, "طلبات"));
    let many = app.json(&format!("{ar}&t.order_count=11")).await;
    assert_eq!(many["fields"]["body"], expect(11, "طلبًا"));
    let two = app.json(&format!("{ar}&t.order_count=2")).await;
    assert_eq!(
        two["fields"]["body"],
        "\u{2068}شكرًا على طلبيك معنا!\u{2069} قيّم آخر عملية توصيل في أقل من دقيقة."
    );
}

#[tokio::test]
async fn person_values_make_an_answer_private_and_plain_channels_drop_isolation_marks() {
    let app = spawn_app().await;
    let path = "/v1/content/home.hero?channel=sms&device=mobile&locale=en";
    let response = app
        .get(&format!("{path}&t.tier=gold&t.first_name=Zo%C3%A9"))
        .await;
    assert_eq!(header(&response, "cache-control"), "private, no-cache");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["variant"]["id"], "home-hero-gold");
    assert_eq!(
        body["fields"]["title"], "Welcome back, Zoé!",
        "SMS text carries no U+2068/U+2069"
    );

    // The same variant without the name renders the message's `.anonymous` form, shareable.
    let response = app.get(&format!("{path}&t.tier=gold")).await;
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["fields"]["title"], "Welcome back!");

    // No person data at all: the rule on `tier` says nothing about anyone, so public.
    let response = app.get(path).await;
    assert!(header(&response, "cache-control").starts_with("public, max-age="));
}

#[tokio::test]
async fn email_escapes_html_fields_only_and_push_respects_length_limits() {
    let app = spawn_app().await;
    let body = app
        .json("/v1/content/email.welcome?channel=email&locale=en&device=desktop&t.first_name=%3Cb%3ETom%20%26%20Jerry%3C%2Fb%3E")
        .await;
    // The subject is a header: plain text, as typed (the sender encodes headers).
    let subject = body["fields"]["subject"].as_str().unwrap();
    assert!(subject.contains("<b>Tom & Jerry</b>"), "{subject}");
    assert!(!subject.contains("&amp;"), "{subject}");
    // The body is HTML: the value is escaped, the author's markup is kept.
    let html = body["fields"]["body"].as_str().unwrap();
    assert!(
        html.contains("&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        !html.contains("<b>Tom") && html.contains("<strong>HELLO10</strong>"),
        "{html}"
    );

    let long_name = "A".repeat(120);
    let body = app
        .json(&format!("/v1/content/push.points_expiring?channel=push&locale=en&device=mobile&t.points=500&t.first_name={long_name}"))
        .await;
    assert_eq!(body["variant"]["id"], "push-points-expiring-member");
    let title = body["fields"]["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 65, "{title}");
    assert!(title.ends_with('…'));
    let warnings = body["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["code"] == "truncated" && w["field"] == "title"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn sms_reports_encoding_and_segments() {
    let app = spawn_app().await;
    let en = app
        .json("/v1/content/sms.loyalty_reminder?channel=sms&locale=en&device=mobile")
        .await;
    assert_eq!(en["sms"]["encoding"], "GSM-7");
    assert_eq!(en["sms"]["segments"], 1);
    let pl = app
        .json("/v1/content/sms.loyalty_reminder?channel=sms&locale=pl&device=mobile")
        .await;
    assert_eq!(pl["sms"]["encoding"], "UCS-2", "Polish letters need UCS-2");
    let units = pl["sms"]["units"].as_u64().unwrap();
    assert_eq!(
        units as usize,
        pl["fields"]["body"]
            .as_str()
            .unwrap()
            .encode_utf16()
            .count()
    );
    assert_eq!(
        pl["sms"]["segments"],
        if units <= 70 { 1 } else { units.div_ceil(67) }
    );
}

#[tokio::test]
async fn device_comes_from_the_parameter_client_hints_or_user_agent_and_vary_names_what_was_read() {
    let app = spawn_app().await;
    // Not an A/B placement, so who the person is does not matter here.
    let path = "/v1/content/checkout.banner?channel=web&locale=en";
    let iphone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
    let response = app.get_with(path, &[("User-Agent", iphone)]).await;
    assert_eq!(
        header(&response, "vary"),
        "Sec-CH-UA-Mobile, User-Agent",
        "the missing hint was consulted too"
    );
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["device"],
        "mobile"
    );

    let response = app
        .get_with(
            path,
            &[
                ("Sec-CH-UA-Mobile", "?1"),
                ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"),
            ],
        )
        .await;
    assert_eq!(
        header(&response, "vary"),
        "Sec-CH-UA-Mobile",
        "the hint settled it; the UA was not read"
    );
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["device"],
        "mobile"
    );

    let ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
    let response = app
        .get_with(path, &[("Sec-CH-UA-Mobile", "?0"), ("User-Agent", ipad)])
        .await;
    assert_eq!(header(&response, "vary"), "Sec-CH-UA-Mobile, User-Agent");
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["device"],
        "tablet"
    );

    let response = app
        .get_with(&format!("{path}&device=tv"), &[("User-Agent", iphone)])
        .await;
    assert_eq!(
        header(&response, "vary"),
        "",
        "nothing read from headers: no Vary"
    );
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["device"],
        "tv"
    );

    // No Accept-Language: the default locale, and the absence is part of the answer.
    let response = app
        .get("/v1/content/checkout.banner?channel=web&device=desktop")
        .await;
    assert_eq!(header(&response, "vary"), "Accept-Language");

    // An A/B placement asked without a person: shareable, but only among the anonymous.
    let response = app
        .get("/v1/content/home.hero?channel=sms&device=mobile&locale=en")
        .await;
    assert!(header(&response, "cache-control").starts_with("public"));
    assert_eq!(header(&response, "vary"), "X-Anonymous-Id, Authorization");
}

#[tokio::test]
async fn bad_requests_are_problems_naming_the_field() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/v1/content/nope.nothing").await,
        404,
        "unknown-placement",
        Some("placement"),
    )
    .await;
    assert_problem(
        app.get("/v1/content/app.onboarding?channel=web").await,
        404,
        "unknown-placement",
        Some("placement"),
    )
    .await;
    assert_problem(
        app.get("/v1/content/kiosk.welcome?channel=kiosk").await,
        410,
        "channel-retired",
        Some("channel"),
    )
    .await;
    let cases = [
        ("channel=fax", "channel"),
        ("device=phone", "device"),
        ("locale=en_US%20!", "locale"),
        ("country=FRA", "country"),
        ("anonymous_id=has%20space", "anonymous_id"),
        ("t.shoe_size=42", "t.shoe_size"),
        ("t.points=lots", "t.points"),
        (&format!("t.first_name={}", "x".repeat(201)), "t.first_name"),
    ];
    for (query, field) in cases {
        let response = app.get(&format!("/v1/content/home.hero?{query}")).await;
        assert_problem(response, 400, "invalid-parameter", Some(field)).await;
    }
    let response = app
        .get_with(
            "/v1/content/home.hero",
            &[("X-Anonymous-Id", "no spaces please")],
        )
        .await;
    assert_problem(response, 400, "invalid-parameter", Some("X-Anonymous-Id")).await;
    assert_problem(
        app.get("/v1/content/home.hero?cohort=not-a-key").await,
        400,
        "invalid-cohort",
        Some("cohort"),
    )
    .await;
    assert_problem(app.get("/no/such/route").await, 404, "not-found", None).await;
}

#[tokio::test]
async fn batch_answers_in_the_order_asked_with_a_problem_per_bad_item() {
    let app = spawn_app().await;
    let response = app.get("/v1/content?placements=home.hero,nope,app.onboarding,checkout.banner&channel=mobile_app&device=mobile&locale=en").await;
    assert_eq!(response.status(), 200);
    let surrogate = header(&response, "surrogate-key").to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["placement"], "home.hero");
    assert!(items[0]["fields"]["title"].is_string());
    assert_eq!(items[1]["placement"], "nope");
    assert_eq!(items[1]["type"], "unknown-placement");
    assert_eq!(items[1]["status"], 404);
    assert_eq!(items[2]["placement"], "app.onboarding");
    assert!(items[2]["variant"]["id"].is_string());
    assert_eq!(items[3]["placement"], "checkout.banner");
    assert!(
        surrogate.contains("placement/home.hero")
            && surrogate.contains("placement/checkout.banner"),
        "{surrogate}"
    );

    // Each item is what the single endpoint answers.
    let single = app
        .json("/v1/content/home.hero?channel=mobile_app&device=mobile&locale=en")
        .await;
    assert_eq!(items[0], single);

    let too_many = vec!["home.hero"; 21].join(",");
    assert_problem(
        app.get(&format!("/v1/content?placements={too_many}")).await,
        400,
        "invalid-parameter",
        Some("placements"),
    )
    .await;
    assert_problem(
        app.get("/v1/content").await,
        400,
        "invalid-parameter",
        Some("placements"),
    )
    .await;
    assert_problem(
        app.get("/v1/content?placements=home.hero&channel=kiosk")
            .await,
        410,
        "channel-retired",
        Some("channel"),
    )
    .await;
}

#[tokio::test]
async fn public_answers_carry_cdn_headers_and_answer_304() {
    let app = spawn_app().await;
    let path = "/v1/content/home.hero?channel=sms&device=mobile&locale=en";
    let response = app.get(path).await;
    assert_eq!(
        header(&response, "cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    let etag = header(&response, "etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"),
        "strong ETag: {etag}"
    );
    let surrogate = header(&response, "surrogate-key").to_string();
    assert_eq!(
        surrogate,
        "placement/home.hero variant/home-hero-default channel/sms"
    );
    assert_eq!(
        header(&response, "cache-tag"),
        "placement/home.hero,variant/home-hero-default,channel/sms"
    );
    let first = response.bytes().await.unwrap();

    let again = app.get_with(path, &[("If-None-Match", &etag)]).await;
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let other = app
        .get_with(path, &[("If-None-Match", "\"something-else\"")])
        .await;
    assert_eq!(other.status(), 200);
    assert_eq!(
        other.bytes().await.unwrap(),
        first,
        "the same context gets byte-identical answers"
    );
}

#[tokio::test]
async fn weighted_choice_is_sticky_per_person_across_channels_and_private_without_a_cohort() {
    let app = spawn_app().await;
    let mut seen = HashSet::new();
    for i in 0..60 {
        let id = format!("visitor-{i}");
        let mut variants = Vec::new();
        for channel in ["sms", "push", "sms"] {
            let response = app
                .get_with(
                    &format!("/v1/content/home.hero?channel={channel}&device=mobile&locale=en"),
                    &[("X-Anonymous-Id", &id)],
                )
                .await;
            assert_eq!(
                header(&response, "cache-control"),
                "private, no-cache",
                "the choice used the person"
            );
            assert!(header(&response, "vary").contains("X-Anonymous-Id"));
            let body: serde_json::Value = response.json().await.unwrap();
            variants.push(body["variant"]["id"].as_str().unwrap().to_string());
        }
        assert!(
            variants.iter().all(|v| *v == variants[0]),
            "{id}: {variants:?}"
        );
        seen.insert(variants[0].clone());
    }
    assert_eq!(seen.len(), 2, "both A/B variants are served: {seen:?}");

    // On the web the scheduled campaign is the only candidate: the person does not matter.
    let response = app
        .get_with(
            "/v1/content/home.hero?channel=web&device=mobile&locale=en",
            &[("X-Anonymous-Id", "visitor-1")],
        )
        .await;
    assert!(header(&response, "cache-control").starts_with("public"));
    assert!(!header(&response, "vary").contains("X-Anonymous-Id"));
}

#[tokio::test]
async fn cohort_keys_make_person_dependent_answers_shareable() {
    let app = spawn_app().await;
    // Two different people who share a bucket.
    let first = "alice-0".to_string();
    let bucket = tailor::identity::Person::anonymous(&first).bucket();
    let second = (0..100_000)
        .map(|i| format!("bob-{i}"))
        .find(|id| tailor::identity::Person::anonymous(id).bucket() == bucket)
        .expect("another id in the same bucket");

    let mut keys = Vec::new();
    for id in [&first, &second] {
        let response = app.get_with("/v1/context", &[("X-Anonymous-Id", id)]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "cache-control"), "private, no-store");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["bucket"], bucket);
        keys.push(body["cohort"].as_str().unwrap().to_string());
    }
    assert_eq!(keys[0], keys[1], "one key (and so one URL) per cohort");

    let path = format!(
        "/v1/content/home.hero?channel=sms&device=mobile&locale=en&cohort={}",
        keys[0]
    );
    let with_person = app.get_with(&path, &[("X-Anonymous-Id", &first)]).await;
    assert!(
        header(&with_person, "cache-control").starts_with("public"),
        "{:?}",
        with_person.headers()
    );
    let shared = with_person.bytes().await.unwrap();
    let anonymous = app.get(&path).await.bytes().await.unwrap();
    assert_eq!(
        shared, anonymous,
        "everyone in the cohort gets the same bytes"
    );
    let direct: serde_json::Value = app
        .get_with(
            "/v1/content/home.hero?channel=sms&device=mobile&locale=en",
            &[("X-Anonymous-Id", &second)],
        )
        .await
        .json()
        .await
        .unwrap();
    let via_cohort: serde_json::Value = serde_json::from_slice(&shared).unwrap();
    assert_eq!(
        direct["variant"], via_cohort["variant"],
        "the cohort stands for the person's bucket"
    );

    let signer = Signer::new(SIGNING_SECRET.as_bytes());
    let (expired, _) = signer.cohort_key(bucket, &[], 1_000_000, 3600);
    let body = assert_problem(
        app.get(&format!("/v1/content/home.hero?cohort={expired}"))
            .await,
        400,
        "invalid-cohort",
        Some("cohort"),
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("expired"));
    let now = chrono::Utc::now().timestamp() as u64;
    let (forged, _) =
        Signer::new(b"not-the-servers-secret-not-the-servers").cohort_key(bucket, &[], now, 3600);
    assert_problem(
        app.get(&format!("/v1/content/home.hero?cohort={forged}"))
            .await,
        400,
        "invalid-cohort",
        Some("cohort"),
    )
    .await;
    assert_problem(
        app.get("/v1/context").await,
        400,
        "invalid-parameter",
        Some("anonymous_id"),
    )
    .await;
}

#[tokio::test]
async fn a_cache_hit_touches_no_database() {
    let app = spawn_app().await;
    // Start-up's own reads (the filter of known identifiers) are done.
    app.filter_ready().await;
    let paths = [
        "/v1/content/home.hero?channel=sms&device=mobile&locale=fr",
        "/v1/content?placements=home.hero,checkout.banner&channel=web&locale=de",
        "/v1/content/email.welcome?channel=email&locale=ja",
    ];
    for path in paths {
        assert_eq!(app.get(path).await.status(), 200);
    }
    let before = app.metric("tailor_db_queries_total").await;
    let hits_before = app
        .metric("tailor_render_cache_total{result=\"hit\"}")
        .await;
    for _ in 0..5 {
        for path in paths {
            assert_eq!(app.get(path).await.status(), 200);
        }
    }
    assert_eq!(
        app.metric("tailor_db_queries_total").await,
        before,
        "no statement reached the database"
    );
    assert!(
        app.metric("tailor_render_cache_total{result=\"hit\"}")
            .await
            >= hits_before + 20.0
    );
    assert!(
        before > 0.0,
        "the counter does count (migrations, import, catalog load)"
    );
}

#[tokio::test]
async fn every_node_signs_alike_with_the_shared_secret() {
    let first = spawn_app_with(Options {
        signing_secret: None,
        ..Options::default()
    })
    .await;
    let second = spawn_app_with(Options {
        signing_secret: None,
        database_url: Some(first.database_url.clone()),
        ..Options::default()
    })
    .await;
    let path = "/v1/content/home.hero?channel=push&device=mobile&locale=ja";
    let a = first.get(path).await;
    let b = second.get(path).await;
    assert_eq!(header(&a, "etag"), header(&b, "etag"));
    assert_eq!(a.bytes().await.unwrap(), b.bytes().await.unwrap());
}

#[tokio::test]
async fn a_channel_retired_in_the_database_stops_serving() {
    let app = spawn_app_with(Options {
        poll_secs: 1,
        ..Options::default()
    })
    .await;
    let path = "/v1/content/home.hero?channel=push&device=mobile&locale=en";
    assert_eq!(app.get(path).await.status(), 200);
    let channels = app.json("/v1/channels").await;
    let states: Vec<(String, String)> = channels["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(states.contains(&("kiosk".into(), "retired".into())));
    assert!(states.contains(&("chat".into(), "protected".into())));
    assert!(states.contains(&("push".into(), "active".into())));

    let db = app.db().await;
    assert!(tailor::storage::set_channel_state(
        &db,
        "push",
        tailor::catalog::model::ChannelState::Retired
    )
    .await
    .unwrap());
    // The node notices through its generation poll (Redis makes it immediate).
    let retired = within(
        std::time::Instant::now(),
        std::time::Duration::from_secs(15),
        "push was never retired",
        || async {
            let response = app.get(path).await;
            (response.status() == 410).then_some(response)
        },
    )
    .await;
    assert_problem(retired, 410, "channel-retired", Some("channel")).await;
}

#[tokio::test]
async fn a_redis_invalidation_reaches_a_node_at_once() {
    let Some(redis_url) = redis_or_skip() else {
        return;
    };
    // Polling is off (an hour), so only the pub/sub message can make the node reload.
    let app = spawn_app().await;
    let path = "/v1/content/home.hero?channel=push&device=mobile&locale=en";
    assert_eq!(app.get(path).await.status(), 200);
    let db = app.db().await;
    tailor::storage::set_channel_state(&db, "push", tailor::catalog::model::ChannelState::Retired)
        .await
        .unwrap();
    let generation = tailor::storage::generation(&db).await.unwrap();
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let started = std::time::Instant::now();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("tailor:invalidate")
        .arg(generation.to_string())
        .query_async(&mut conn)
        .await
        .unwrap();
    within(
        started,
        std::time::Duration::from_secs(1),
        "not invalidated within one second",
        || async { app.get(path).await.status() == 410 },
    )
    .await;
}

#[tokio::test]
async fn empty_decisions_html_fields_and_ending_campaigns_are_cached_safely() {
    let ends = chrono::Utc::now() + chrono::Duration::seconds(100);
    let fixture = content_fixture(|root| {
        // Nothing left for a desktop without traits: the default only serves TVs.
        let banner = root.join("content/placements/checkout.banner.toml");
        replace_in(
            &banner,
            "id = \"checkout-banner-default\"\n",
            "id = \"checkout-banner-default\"\ndevices = [\"tv\"]\n",
        );
        // The welcome email's html body, offered on the web too.
        replace_in(
            &root.join("content/placements/email.welcome.toml"),
            "channels = [\"email\"]",
            "channels = [\"email\", \"web\"]",
        );
        // A flash sale that ends in 100 seconds.
        std::fs::write(
            root.join("content/variants/flash-sale.toml"),
            format!(
                "placement = \"web.footer_promo\"\n[[variant]]\nid = \"web-footer-flash\"\nstate = \"published\"\npriority = 50\nstarts_at = \"2020-01-01T00:00:00Z\"\nends_at = \"{}\"\n[variant.fields]\ntitle = {{ message = \"home-hero-winter-title\" }}\nbody = {{ message = \"home-hero-winter-body\" }}\ncta_label = {{ message = \"home-hero-shop-now\" }}\ncta = {{ url = \"https://shop.example.com/flash\" }}\n",
                ends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        )
        .unwrap();
    });
    let footer = std::fs::read_to_string(
        fixture
            .path()
            .join("content/placements/web.footer_promo.toml"),
    )
    .unwrap();
    assert!(
        footer.contains("[fields.title]"),
        "the flash sale reuses the footer's title field"
    );
    let app = spawn_app_on(fixture.path()).await;

    let response = app
        .get("/v1/content/checkout.banner?channel=web&device=desktop&locale=en")
        .await;
    assert_eq!(response.status(), 204);
    assert!(header(&response, "cache-control").starts_with("public, max-age="));
    assert_eq!(
        header(&response, "surrogate-key"),
        "placement/checkout.banner"
    );
    // A trait rule was evaluated against this person's points: not shareable.
    let response = app
        .get("/v1/content/checkout.banner?channel=web&device=desktop&locale=en&t.points=5")
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(header(&response, "cache-control"), "private, no-cache");

    let response = app.get("/v1/content?placements=checkout.banner,web.footer_promo&channel=web&device=desktop&locale=en").await;
    assert!(header(&response, "surrogate-key").contains("placement/checkout.banner"));
    let cache_control = header(&response, "cache-control").to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["items"][0]["variant"], serde_json::Value::Null);
    assert_eq!(
        body["items"][0]["warnings"][0]["code"],
        "no-eligible-variant"
    );
    assert_eq!(body["items"][1]["variant"]["id"], "web-footer-flash");
    // Neither fresh nor stale past the end of the sale.
    let number = |name: &str| -> i64 {
        cache_control
            .split(", ")
            .find_map(|d| d.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let remaining = (ends - chrono::Utc::now()).num_seconds() + 1;
    assert!(number("max-age=") <= 60, "{cache_control}");
    assert!(
        number("max-age=") + number("stale-while-revalidate=") <= remaining,
        "{cache_control}"
    );

    let body = app
        .json("/v1/content/email.welcome?channel=web&device=desktop&locale=en&t.first_name=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
        .await;
    let html = body["fields"]["body"].as_str().unwrap();
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(
        html.contains("<strong>HELLO10</strong>"),
        "authored markup stays: {html}"
    );
}

#[tokio::test]
async fn a_long_accept_language_is_read_not_refused() {
    let app = spawn_app().await;
    // 600+ bytes, as some browsers send: the first ranges decide.
    let header = format!("fr-CA,fr;q=0.9{}", ",en-GB;q=0.1".repeat(50));
    assert!(header.len() > 600);
    let response = app
        .get_with(
            "/v1/content/home.hero?channel=web&device=desktop",
            &[("Accept-Language", &header)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["locale"], "fr-CA");
}

#[tokio::test]
async fn a_repeated_parameter_is_refused_not_cut_to_its_last_value() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.get("/v1/content?placements=home.hero&placements=web.footer_promo")
            .await,
        400,
        "invalid-parameter",
        Some("placements"),
    )
    .await;
    assert!(problem["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("placements=a,b"));
    assert_problem(
        app.get("/v1/content/home.hero?channel=web&channel=sms")
            .await,
        400,
        "invalid-parameter",
        Some("channel"),
    )
    .await;
    // Parameters that are not ours (utm_*, cache busters) may repeat.
    assert_eq!(
        app.get("/v1/content/home.hero?channel=web&utm_source=a&utm_source=b")
            .await
            .status(),
        200
    );
}
