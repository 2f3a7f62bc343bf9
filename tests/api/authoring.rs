//! Authoring (#6): the admin API, its roles, versions and audit, the review workflow,
//! Fluent resources, the locale completeness gate, preview, coverage, and publishes that
//! reach every node and the CDN.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const HERO_EN: &str = "/v1/content/home.hero?channel=web&device=desktop&locale=en";

fn marketer() -> String {
    staff_token_for("ann", &["marketer"], "")
}
fn reviewer() -> String {
    staff_token_for("rob", &["reviewer"], "")
}
fn publisher() -> String {
    staff_token_for("pat", &["publisher"], "")
}

/// The new variant the tests author: priority 30 beats every demo variant on the web.
fn vip_variant(title_message: &str) -> Value {
    json!({
        "id": "home-hero-vip",
        "priority": 30,
        "channels": ["web", "mobile_app"],
        "fields": {
            "title": {"message": title_message},
            "body": {"message": "home-hero-default-body"},
            "cta": {"url": "https://shop.example.com/vip"}
        }
    })
}

/// A marketer creates the test's variant (a draft), expecting success.
async fn create_vip(app: &TestApp, title_message: &str) {
    app.admin_ok(
        Method::POST,
        "/v1/admin/placements/home.hero/variants",
        &marketer(),
        Some(vip_variant(title_message)),
    )
    .await;
}

/// Submit (ann), approve (rob), publish (pat): the answer to the publish.
async fn review_and_publish(app: &TestApp, path: &str) -> Value {
    for (action, token) in [
        ("submit", marketer()),
        ("approve", reviewer()),
        ("publish", publisher()),
    ] {
        let response = app.step(path, action, &token).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{action} {path}: {body}");
        if action == "publish" {
            return body;
        }
    }
    unreachable!()
}

#[tokio::test]
async fn admin_endpoints_check_the_token_and_the_role() {
    let app = spawn_app().await;
    let endpoints: [(Method, &str); 21] = [
        (Method::POST, "/v1/admin/placements/home.hero/archive"),
        (Method::GET, "/v1/admin/placements/home.hero/versions"),
        (Method::GET, "/v1/admin/placements/home.hero/diff"),
        (Method::GET, "/v1/admin/variants/home-hero-default/versions"),
        (Method::GET, "/v1/admin/variants/home-hero-default/diff"),
        (Method::GET, "/v1/admin/locales"),
        (Method::POST, "/v1/admin/locales/en/home.ftl/submit"),
        (Method::GET, "/v1/admin/locales/en/home.ftl/versions"),
        (Method::GET, "/v1/admin/locales/en/home.ftl/diff"),
        (Method::GET, "/v1/admin/placements"),
        (Method::POST, "/v1/admin/placements"),
        (Method::GET, "/v1/admin/placements/home.hero"),
        (Method::PUT, "/v1/admin/placements/home.hero"),
        (Method::POST, "/v1/admin/placements/home.hero/variants"),
        (Method::GET, "/v1/admin/variants/home-hero-default"),
        (Method::PUT, "/v1/admin/variants/home-hero-default"),
        (Method::POST, "/v1/admin/variants/home-hero-default/publish"),
        (Method::GET, "/v1/admin/locales/en/home.ftl"),
        (Method::PUT, "/v1/admin/locales/en/home.ftl"),
        (Method::POST, "/v1/admin/preview"),
        (Method::GET, "/v1/admin/translations/coverage"),
    ];
    let analyst = staff_token(&["analyst", "governance"], "");
    let customer = identity_token("C-1", 300);
    for (method, path) in &endpoints {
        let anonymous = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
        assert_eq!(header(&anonymous, "www-authenticate"), "Bearer");
        // An identity token is not a staff token.
        let response = app.admin(method.clone(), path, &customer, None).await;
        assert_eq!(
            response.status(),
            401,
            "{method} {path} with a customer token"
        );
        let response = app.admin(method.clone(), path, &analyst, None).await;
        assert_eq!(response.status(), 403, "{method} {path} as analyst");
        assert_problem(response, 403, "forbidden", Some("Authorization")).await;
    }
    // The roles of the workflow.
    let cases = [
        (Method::PUT, "/v1/admin/placements/home.hero", marketer()),
        (
            Method::PUT,
            "/v1/admin/placements/home.hero",
            staff_token(&["admin"], ""),
        ),
        (
            Method::POST,
            "/v1/admin/placements/home.hero/archive",
            staff_token(&["admin", "marketer", "reviewer"], ""),
        ),
        (
            Method::PUT,
            "/v1/admin/variants/home-hero-default",
            reviewer(),
        ),
        (
            Method::PUT,
            "/v1/admin/variants/home-hero-default",
            publisher(),
        ),
        (
            Method::POST,
            "/v1/admin/variants/home-hero-default/publish",
            marketer(),
        ),
        (
            Method::POST,
            "/v1/admin/variants/home-hero-default/publish",
            reviewer(),
        ),
        (
            Method::POST,
            "/v1/admin/variants/home-hero-default/publish",
            staff_token(&["admin"], ""),
        ),
        (
            Method::POST,
            "/v1/admin/variants/home-hero-default/approve",
            marketer(),
        ),
        (
            Method::POST,
            "/v1/admin/variants/home-hero-default/archive",
            reviewer(),
        ),
        (Method::PUT, "/v1/admin/locales/fr/home.ftl", reviewer()),
        (
            Method::POST,
            "/v1/admin/locales/fr/home.ftl/publish",
            marketer(),
        ),
    ];
    for (method, path, token) in cases {
        let response = app
            .admin(method.clone(), path, &token, Some(json!({})))
            .await;
        assert_eq!(response.status(), 403, "{method} {path}");
    }
    // Every role that reads can read.
    for role in ["marketer", "reviewer", "publisher", "admin"] {
        let token = staff_token(&[role], "");
        let list = app
            .admin_ok(Method::GET, "/v1/admin/placements", &token, None)
            .await;
        assert!(list["placements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "home.hero"));
    }
}

#[tokio::test]
async fn a_variant_is_reviewed_before_it_serves_and_an_edit_keeps_the_published_version_serving() {
    let app = spawn_app().await;
    let before = app.json(HERO_EN).await;
    assert_eq!(before["variant"]["id"], "home-hero-winter-sale");

    // Ann is a marketer and a reviewer: she still cannot approve her own work.
    let ann = staff_token_for("ann", &["marketer", "reviewer"], "");
    let created = app
        .admin(
            Method::POST,
            "/v1/admin/placements/home.hero/variants",
            &ann,
            Some(vip_variant("home-hero-spring-title")),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        header(&created, "location"),
        "/v1/admin/variants/home-hero-vip"
    );
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["latest"]["state"], "draft");
    assert_eq!(created["latest"]["version"], 1);
    assert_eq!(created["latest"]["author"], "staff:ann");
    assert!(created["live"].is_null());
    let path = "/v1/admin/variants/home-hero-vip";
    // A draft does not serve, and cannot be published or approved before review.
    assert_eq!(
        app.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );
    assert_problem(
        app.step(path, "publish", &publisher()).await,
        409,
        "conflict",
        Some("version"),
    )
    .await;
    assert_problem(
        app.step(path, "approve", &reviewer()).await,
        409,
        "conflict",
        Some("version"),
    )
    .await;

    assert_eq!(app.step(path, "submit", &ann).await.status(), 200);
    let own = app.step(path, "approve", &ann).await;
    let problem = assert_problem(own, 403, "forbidden", None).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("cannot approve"));
    assert_eq!(app.step(path, "approve", &reviewer()).await.status(), 200);
    // Approving twice: the version is no longer in review.
    assert_eq!(app.step(path, "approve", &reviewer()).await.status(), 409);
    assert_eq!(
        app.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );

    let published = app.step(path, "publish", &publisher()).await;
    assert_eq!(published.status(), 200);
    let published: Value = published.json().await.unwrap();
    assert_eq!(published["state"], "published");
    assert!(published["locales"]["live_locales"]
        .as_array()
        .unwrap()
        .contains(&json!("fr")));
    assert_eq!(
        published["purged"],
        json!(["placement/home.hero", "variant/home-hero-vip"])
    );
    let served = app.json(HERO_EN).await;
    assert_eq!(
        served["variant"],
        json!({"id": "home-hero-vip", "version": 1})
    );
    assert_eq!(served["fields"]["title"], "Spring is calling");

    // An edit is a new draft; version 1 keeps serving until version 2 is published.
    let stale_edit = app
        .client
        .put(format!("{}{path}", app.address))
        .bearer_auth(marketer())
        .header("If-Match", "\"7\"")
        .json(&vip_variant("home-hero-default-title"))
        .send()
        .await
        .unwrap();
    assert_problem(stale_edit, 412, "version-mismatch", Some("If-Match")).await;
    let edited = app
        .client
        .put(format!("{}{path}", app.address))
        .bearer_auth(marketer())
        .header("If-Match", "\"1\"")
        .json(&vip_variant("home-hero-default-title"))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(edited["latest"]["version"], 2);
    assert_eq!(edited["latest"]["state"], "draft");
    assert_eq!(edited["live"]["version"], 1);
    assert_eq!(
        app.json(HERO_EN).await["fields"]["title"],
        "Spring is calling"
    );

    review_and_publish(&app, path).await;
    let served = app.json(HERO_EN).await;
    assert_eq!(
        served["variant"],
        json!({"id": "home-hero-vip", "version": 2})
    );
    assert_eq!(served["fields"]["title"], "Built for the trail");

    // Who, when, and the previous version, diff-able.
    let history = app
        .admin_ok(Method::GET, &format!("{path}/versions"), &reviewer(), None)
        .await;
    let states: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["superseded", "published"]);
    assert_eq!(history["versions"][1]["author"], "staff:ann");
    assert_eq!(history["versions"][1]["changed_by"], "staff:pat");
    let actions: Vec<(&str, &str)> = history["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("variant.save", "staff:ann"),
            ("variant.submit", "staff:ann"),
            ("variant.approve", "staff:rob"),
            ("variant.publish", "staff:pat"),
            ("variant.save", "staff:ann"),
            ("variant.submit", "staff:ann"),
            ("variant.approve", "staff:rob"),
            ("variant.publish", "staff:pat"),
        ]
    );
    let diff = app
        .admin_ok(
            Method::GET,
            &format!("{path}/diff?from=1&to=2"),
            &reviewer(),
            None,
        )
        .await;
    let text = diff["diff"].as_str().unwrap();
    assert!(
        text.contains("-      \"message\": \"home-hero-spring-title\""),
        "{text}"
    );
    assert!(
        text.contains("+      \"message\": \"home-hero-default-title\""),
        "{text}"
    );
    let one = app
        .admin_ok(
            Method::GET,
            &format!("{path}/versions?version=1"),
            &reviewer(),
            None,
        )
        .await;
    assert_eq!(
        one["document"]["fields"]["title"]["message"],
        "home-hero-spring-title"
    );

    // Archiving takes it out of service at once.
    let archived = app.step(path, "archive", &publisher()).await;
    assert_eq!(archived.status(), 200);
    assert_eq!(
        app.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );
    let variant = app.admin_ok(Method::GET, path, &marketer(), None).await;
    assert_eq!(variant["live"]["state"], "archived");
}

#[tokio::test]
async fn bad_authoring_input_is_rejected_naming_the_field() {
    let app = spawn_app().await;
    let create = |body: Value| {
        let app = &app;
        async move {
            app.admin(
                Method::POST,
                "/v1/admin/placements/home.hero/variants",
                &marketer(),
                Some(body),
            )
            .await
        }
    };
    let mut unknown_field = vip_variant("home-hero-spring-title");
    unknown_field["colour"] = json!("red");
    assert_problem(
        create(unknown_field).await,
        400,
        "invalid-parameter",
        Some("colour"),
    )
    .await;
    let mut no_id = vip_variant("home-hero-spring-title");
    no_id.as_object_mut().unwrap().remove("id");
    assert_problem(create(no_id).await, 400, "invalid-parameter", Some("id")).await;
    let mut bad_id = vip_variant("home-hero-spring-title");
    bad_id["id"] = json!("Home Hero");
    assert_problem(create(bad_id).await, 400, "invalid-parameter", Some("id")).await;
    let mut weight = vip_variant("home-hero-spring-title");
    weight["weight"] = json!("heavy");
    assert_problem(
        create(weight).await,
        400,
        "invalid-parameter",
        Some("weight"),
    )
    .await;
    let mut rule = vip_variant("home-hero-spring-title");
    rule["rule"] = json!("tier ==");
    let problem = assert_problem(create(rule).await, 422, "invalid-content", Some("rule")).await;
    assert!(problem["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("rule:"));
    let mut channel = vip_variant("home-hero-spring-title");
    channel["channels"] = json!(["kiosk"]);

    assert_problem(
        create(channel).await,
        422,
        "invalid-content",
        Some("channels"),
    )
    .await;
    let mut field = vip_variant("home-hero-spring-title");
    field["fields"]["subtitle"] = json!({"message": "x"});
    assert_problem(
        create(field).await,
        422,
        "invalid-content",
        Some("fields.subtitle"),
    )
    .await;
    let mut missing = vip_variant("home-hero-spring-title");
    missing["fields"].as_object_mut().unwrap().remove("body");
    assert_problem(create(missing).await, 422, "invalid-content", None).await;
    let existing = json!({"id": "home-hero-default", "fields": {}});
    assert_problem(create(existing).await, 409, "conflict", Some("id")).await;
    let unknown_placement = app
        .admin(
            Method::POST,
            "/v1/admin/placements/nowhere/variants",
            &marketer(),
            Some(vip_variant("home-hero-spring-title")),
        )
        .await;
    assert_problem(unknown_placement, 404, "not-found", Some("placement")).await;
    let not_json = app
        .client
        .post(format!(
            "{}/v1/admin/placements/home.hero/variants",
            app.address
        ))
        .bearer_auth(marketer())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 400, "invalid-parameter", None).await;
    let unknown_action = app
        .admin(
            Method::POST,
            "/v1/admin/variants/home-hero-default/promote",
            &marketer(),
            None,
        )
        .await;
    assert_problem(unknown_action, 404, "not-found", Some("action")).await;
    let bad_version = app
        .admin(
            Method::POST,
            "/v1/admin/variants/home-hero-default/submit",
            &marketer(),
            Some(json!({"version": 99})),
        )
        .await;
    assert_problem(bad_version, 404, "not-found", Some("version")).await;
    let bad_if_match = app
        .client
        .put(format!(
            "{}/v1/admin/variants/home-hero-default",
            app.address
        ))
        .bearer_auth(marketer())
        .header("If-Match", "yesterday")
        .json(&json!({"fields": {}}))
        .send()
        .await
        .unwrap();
    assert_problem(bad_if_match, 400, "invalid-parameter", Some("If-Match")).await;
    // Nothing above left a trace: the only history is the import's.
    let history = app
        .admin_ok(
            Method::GET,
            "/v1/admin/variants/home-hero-default/versions",
            &marketer(),
            None,
        )
        .await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 1);
    assert_eq!(history["versions"][0]["author"], "import");
    let none = app
        .admin(
            Method::GET,
            "/v1/admin/variants/home-hero-vip/versions",
            &marketer(),
            None,
        )
        .await;
    assert_eq!(none.status(), 404);
}

#[tokio::test]
async fn fluent_resources_are_parsed_versioned_reviewed_and_gate_the_locales_a_variant_is_live_in()
{
    let app = spawn_app().await;
    let en = "/v1/admin/locales/en/home.ftl";
    let fr = "/v1/admin/locales/fr/home.ftl";
    let current = app
        .get_with(en, &[("Authorization", &bearer(&marketer()))])
        .await;
    assert_eq!(current.status(), 200);
    assert!(header(&current, "content-type").starts_with("text/plain"));
    assert_eq!(header(&current, "tailor-state"), "published");
    let etag = header(&current, "etag").to_string();
    let source = current.text().await.unwrap();
    assert!(source.contains("home-hero-default-title = Built for the trail"));

    // A syntax error: 422 with line and column; nothing saved.
    let broken = format!("{source}\nhome-hero-vip-title = {{ $first_name\n");
    let response = app.put_ftl(en, &marketer(), &broken).await;
    let problem = assert_problem(response, 422, "invalid-content", Some("en/home.ftl")).await;
    let line = source.lines().count() + 2;
    assert_eq!(problem["errors"][0]["line"], line, "{problem}");
    assert!(problem["errors"][0]["column"].as_u64().unwrap() > 1);
    let duplicate = format!("{source}\nhome-hero-shop-now = Buy\n");
    let problem = assert_problem(
        app.put_ftl(en, &marketer(), &duplicate).await,
        422,
        "invalid-content",
        None,
    )
    .await;
    assert!(problem["errors"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("already defined"));
    assert_problem(
        app.put_ftl("/v1/admin/locales/EN_us/home.ftl", &marketer(), "a = b\n")
            .await,
        400,
        "invalid-parameter",
        Some("locale"),
    )
    .await;
    assert_problem(
        app.put_ftl("/v1/admin/locales/en/home.txt", &marketer(), "a = b\n")
            .await,
        404,
        "not-found",
        Some("file"),
    )
    .await;

    // A variant using a message the default locale lacks: saved as a draft, not submitted.
    let path = "/v1/admin/variants/home-hero-vip";
    create_vip(&app, "home-hero-vip-title").await;
    let problem = assert_problem(
        app.step(path, "submit", &marketer()).await,
        422,
        "invalid-content",
        Some("fields.title"),
    )
    .await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("default locale"));

    // The English message, as a draft (If-Match from the GET).
    let with_vip = format!("{source}\nhome-hero-vip-title = Members first\n");
    let saved = app
        .client
        .put(format!("{}{en}", app.address))
        .bearer_auth(marketer())
        .header("If-Match", &etag)
        .body(with_vip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["state"], "draft");
    assert!(saved["messages"]
        .as_array()
        .unwrap()
        .contains(&json!("home-hero-vip-title")));
    let draft = app
        .get_with(en, &[("Authorization", &bearer(&reviewer()))])
        .await;
    assert_eq!(header(&draft, "tailor-state"), "draft");
    assert_eq!(draft.text().await.unwrap(), with_vip);

    // With the message pending, the variant can go to review, but not live before it.
    assert_eq!(app.step(path, "submit", &marketer()).await.status(), 200);
    assert_eq!(app.step(path, "approve", &reviewer()).await.status(), 200);
    let early = app.step(path, "publish", &publisher()).await;
    assert_problem(early, 422, "invalid-content", Some("fields.title")).await;
    let published_ftl = review_and_publish(&app, en).await;
    assert_eq!(published_ftl["version"], 2);
    let published = app.step(path, "publish", &publisher()).await;
    assert_eq!(published.status(), 200);
    let published: Value = published.json().await.unwrap();
    assert_eq!(published["locales"]["live_locales"], json!(["en"]));
    let fr_gap = published["locales"]["incomplete_locales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["locale"] == "fr")
        .unwrap();
    assert_eq!(fr_gap["missing"], json!(["home-hero-vip-title"]));

    // Not live in French: a French visitor gets the whole variant in English.
    let french = app
        .json("/v1/content/home.hero?channel=web&device=desktop&locale=fr")
        .await;
    assert_eq!(french["variant"]["id"], "home-hero-vip");
    assert_eq!(french["locale"], "en");
    assert_eq!(french["fields"]["title"], "Members first");
    assert_eq!(
        french["fields"]["body"],
        "New-season jackets, boots and packs are here. Free returns on every order."
    );
    assert_eq!(french["warnings"][0]["code"], "locale-incomplete");

    let coverage = app
        .admin_ok(
            Method::GET,
            "/v1/admin/translations/coverage",
            &marketer(),
            None,
        )
        .await;
    let vip = coverage["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "home-hero-vip-title")
        .unwrap();
    assert_eq!(vip["used_by"], json!(["home.hero/home-hero-vip"]));
    assert!(vip["missing"].as_array().unwrap().contains(&json!("fr")));
    assert!(!vip["missing"].as_array().unwrap().contains(&json!("en")));
    let shop_now = coverage["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "home-hero-shop-now")
        .unwrap();
    assert_eq!(shop_now["missing"], json!([]));
    let en_summary = coverage["locales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["locale"] == "en")
        .unwrap();
    assert_eq!(en_summary["missing"], 0);

    // The French translation goes through review too; publishing it reports the
    // variant live in French, and French visitors get French.
    let fr_source = app
        .get_with(fr, &[("Authorization", &bearer(&marketer()))])
        .await
        .text()
        .await
        .unwrap();
    let fr_saved = app
        .put_ftl(
            fr,
            &marketer(),
            &format!("{fr_source}\nhome-hero-vip-title = Les membres d'abord\n"),
        )
        .await;
    assert_eq!(fr_saved.status(), 200);
    let fr_published = review_and_publish(&app, fr).await;
    let vip_locales = fr_published["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "home-hero-vip")
        .unwrap();
    assert!(vip_locales["live_locales"]
        .as_array()
        .unwrap()
        .contains(&json!("fr")));
    // Terms and references reach any message: every placement rendering messages is purged.
    let purged = fr_published["purged"].as_array().unwrap();
    assert!(purged.contains(&json!("placement/home.hero")), "{purged:?}");
    assert!(
        purged.contains(&json!("placement/sms.order_shipped")),
        "{purged:?}"
    );
    let french = app
        .json("/v1/content/home.hero?channel=web&device=desktop&locale=fr")
        .await;
    assert_eq!(french["locale"], "fr");
    assert_eq!(french["fields"]["title"], "Les membres d'abord");

    // Removing a message a published variant needs from the default locale is refused.
    app.put_ftl(en, &marketer(), &source).await;
    for (action, token) in [("submit", marketer()), ("approve", reviewer())] {
        assert_eq!(app.step(en, action, &token).await.status(), 200);
    }
    let refused = app.step(en, "publish", &publisher()).await;
    let problem = assert_problem(refused, 422, "invalid-content", None).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("home-hero-vip"));
    assert_eq!(app.json(HERO_EN).await["fields"]["title"], "Members first");

    // History and diff of the resource.
    let diff = app
        .admin_ok(
            Method::GET,
            &format!("{en}/diff?from=1&to=2"),
            &reviewer(),
            None,
        )
        .await;
    assert!(diff["diff"]
        .as_str()
        .unwrap()
        .contains("+home-hero-vip-title = Members first"));
    let files = app
        .admin_ok(Method::GET, "/v1/admin/locales", &reviewer(), None)
        .await;
    let en_home = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["locale"] == "en" && f["file"] == "home.ftl")
        .unwrap();
    assert_eq!(en_home["latest_state"], "approved");
    assert_eq!(en_home["latest_version"], 3);
}

#[tokio::test]
async fn a_placement_may_allow_fallback_and_delivery_then_mixes_locales_with_a_warning() {
    let app = spawn_app().await;
    let fr_ca = "/v1/admin/locales/fr-CA/home.ftl";
    let source = app
        .get_with(fr_ca, &[("Authorization", &bearer(&marketer()))])
        .await
        .text()
        .await
        .unwrap();
    let without = source.replace("home-hero-default-title = Conçu pour les sentiers\n", "");
    assert_ne!(without, source);
    assert_eq!(
        app.put_ftl(fr_ca, &marketer(), &without).await.status(),
        200
    );
    review_and_publish(&app, fr_ca).await;
    let sms = "/v1/content/home.hero?channel=sms&device=mobile&locale=fr-CA";
    let body = app.json(sms).await;
    assert_eq!(body["variant"]["id"], "home-hero-default");
    assert_eq!(
        body["locale"], "fr",
        "not live in fr-CA: answered whole in fr"
    );
    assert_eq!(body["warnings"][0]["code"], "locale-incomplete");

    // The placement allows fallback in fr-CA (a publisher's change, live at once).
    let placement = app
        .admin_ok(
            Method::GET,
            "/v1/admin/placements/home.hero",
            &publisher(),
            None,
        )
        .await;
    let mut definition = placement["definition"].clone();
    definition["allow_fallback"] = json!(["fr-CA"]);
    definition.as_object_mut().unwrap().remove("variant");
    let updated = app
        .admin_ok(
            Method::PUT,
            "/v1/admin/placements/home.hero",
            &publisher(),
            Some(definition),
        )
        .await;
    assert_eq!(updated["version"], 2);
    let body = app.json(sms).await;
    assert_eq!(body["locale"], "fr-CA");
    assert_eq!(body["fields"]["body"], "Manteaux, bottes et sacs à dos de la nouvelle saison sont arrivés. Retours gratuits sur toutes les commandes.");
    assert_eq!(body["warnings"][0]["code"], "message-fallback");
    let coverage = app
        .admin_ok(
            Method::GET,
            "/v1/admin/translations/coverage",
            &marketer(),
            None,
        )
        .await;
    let title = coverage["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "home-hero-default-title")
        .unwrap();
    assert_eq!(title["fallback"], json!(["fr-CA"]));
    assert_eq!(title["missing"], json!([]));
}

#[tokio::test]
async fn placements_are_created_changed_and_archived_with_their_history() {
    let app = spawn_app().await;
    let banner = json!({
        "id": "web.top_banner",
        "description": "A thin banner above the header",
        "channels": ["web", "mobile_app"],
        "fields": {"text": {"kind": "text"}}
    });
    let created = app
        .admin(
            Method::POST,
            "/v1/admin/placements",
            &marketer(),
            Some(banner.clone()),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        header(&created, "location"),
        "/v1/admin/placements/web.top_banner"
    );
    // It exists and serves nothing yet.
    assert_eq!(
        app.get("/v1/content/web.top_banner?channel=web")
            .await
            .status(),
        204
    );
    assert_problem(
        app.admin(
            Method::POST,
            "/v1/admin/placements",
            &marketer(),
            Some(banner.clone()),
        )
        .await,
        409,
        "conflict",
        Some("id"),
    )
    .await;
    let mut bad = banner.clone();
    bad["id"] = json!("web.other");
    bad["channels"] = json!(["fax"]);
    let problem = assert_problem(
        app.admin(Method::POST, "/v1/admin/placements", &marketer(), Some(bad))
            .await,
        422,
        "invalid-content",
        Some("channels"),
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("fax"));
    let mut with_variants = banner.clone();
    with_variants["id"] = json!("web.other");
    with_variants["variant"] = json!([{"id": "x", "state": "published"}]);
    assert_problem(
        app.admin(
            Method::POST,
            "/v1/admin/placements",
            &marketer(),
            Some(with_variants),
        )
        .await,
        400,
        "invalid-parameter",
        Some("variant"),
    )
    .await;
    let mut mismatch = banner.clone();
    mismatch["id"] = json!("web.other");
    assert_problem(
        app.admin(
            Method::PUT,
            "/v1/admin/placements/web.top_banner",
            &publisher(),
            Some(mismatch),
        )
        .await,
        400,
        "invalid-parameter",
        Some("id"),
    )
    .await;

    let mut changed = banner.clone();
    changed["channels"] = json!(["web"]);
    let updated = app
        .admin_ok(
            Method::PUT,
            "/v1/admin/placements/web.top_banner",
            &publisher(),
            Some(changed),
        )
        .await;
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["definition"]["channels"], json!(["web"]));
    assert_eq!(
        app.get("/v1/content/web.top_banner?channel=mobile_app")
            .await
            .status(),
        404
    );
    let diff = app
        .admin_ok(
            Method::GET,
            "/v1/admin/placements/web.top_banner/diff",
            &reviewer(),
            None,
        )
        .await;
    assert!(
        diff["diff"]
            .as_str()
            .unwrap()
            .contains("-    \"mobile_app\""),
        "{}",
        diff["diff"]
    );

    // A placement change that would strand a live variant is refused.
    let mut hero = app
        .admin_ok(
            Method::GET,
            "/v1/admin/placements/home.hero",
            &publisher(),
            None,
        )
        .await["definition"]
        .clone();
    hero.as_object_mut().unwrap().remove("variant");
    hero["channels"] = json!(["email"]);
    assert_problem(
        app.admin(
            Method::PUT,
            "/v1/admin/placements/home.hero",
            &publisher(),
            Some(hero),
        )
        .await,
        422,
        "invalid-content",
        Some("channels"),
    )
    .await;

    let archived = app
        .admin_ok(
            Method::POST,
            "/v1/admin/placements/web.top_banner/archive",
            &publisher(),
            None,
        )
        .await;
    assert_eq!(archived["archived"], true);
    assert_eq!(
        app.get("/v1/content/web.top_banner?channel=web")
            .await
            .status(),
        404
    );
    let again = app
        .admin(
            Method::POST,
            "/v1/admin/placements/web.top_banner/archive",
            &publisher(),
            None,
        )
        .await;
    assert_eq!(again.status(), 409);
    let history = app
        .admin_ok(
            Method::GET,
            "/v1/admin/placements/web.top_banner/versions",
            &marketer(),
            None,
        )
        .await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 3);
    assert_eq!(history["versions"][0]["author"], "staff:ann");
    assert_eq!(history["versions"][2]["author"], "staff:pat");
    assert_eq!(history["audit"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn preview_explains_each_variant_and_renders_every_locale_including_drafts() {
    let app = spawn_app().await;
    let preview = |body: Value| {
        let app = &app;
        async move {
            app.admin(Method::POST, "/v1/admin/preview", &marketer(), Some(body))
                .await
        }
    };
    let answer: Value = preview(json!({
        "placement": "home.hero",
        "channel": "sms",
        "device": "mobile",
        "locales": ["fr", "ja"],
        "traits": {"tier": "gold", "first_name": "Zoé", "points": 1200}
    }))
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(answer["chosen"]["id"], "home-hero-gold", "{answer}");
    let reasons = |id: &str| -> Vec<String> {
        answer["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .unwrap()["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(reasons("home-hero-gold"), Vec::<String>::new());
    assert_eq!(reasons("home-hero-default"), ["outranked"]);
    assert_eq!(
        reasons("home-hero-winter-sale"),
        ["channel"],
        "web, app and email only"
    );
    let rendered = answer["rendered"].as_array().unwrap();
    assert_eq!(rendered.len(), 2);
    assert_eq!(rendered[0]["locale"], "fr");
    assert!(rendered[0]["fields"]["title"]
        .as_str()
        .unwrap()
        .contains("Zoé"));
    assert_eq!(rendered[1]["locale"], "ja");

    // A silver member: the gold rule fails, and says which rule.
    let answer: Value = preview(json!({
        "placement": "home.hero", "channel": "web", "traits": {"tier": "silver"},
        "at": "2026-12-01T12:00:00Z"
    }))
    .await
    .json()
    .await
    .unwrap();
    let gold = answer["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "home-hero-gold")
        .unwrap();
    assert_eq!(gold["reasons"][0]["code"], "rule");
    assert!(gold["reasons"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("tier == \"gold\""));
    assert_eq!(answer["chosen"]["id"], "home-hero-winter-sale");
    // Before the campaign starts, its schedule is the reason.
    let early: Value =
        preview(json!({"placement": "home.hero", "channel": "web", "at": "2026-11-01T00:00:00Z"}))
            .await
            .json()
            .await
            .unwrap();
    let winter = early["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "home-hero-winter-sale")
        .unwrap();
    assert_eq!(winter["reasons"][0]["code"], "not_started");

    // A draft shows in preview only when asked for, with its stage.
    create_vip(&app, "home-hero-spring-title").await;
    let live_only: Value = preview(json!({"placement": "home.hero", "channel": "web"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(!live_only["variants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == "home-hero-vip"));
    let drafts: Value = preview(json!({"placement": "home.hero", "channel": "web", "include_unpublished": true, "locales": ["de"]}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        drafts["chosen"],
        json!({"id": "home-hero-vip", "version": 1, "state": "draft"})
    );
    assert_eq!(
        drafts["rendered"][0]["fields"]["title"],
        "Der Frühling ruft"
    );
    // Delivery still does not serve it.
    assert_eq!(
        app.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );

    // A person: their consent and the frequency cap are reasons too.
    let person = app
        .identified(json!({"identifiers": {"customer_id": "C-preview"}, "traits": {"tier": "gold", "order_count": 2}, "consents": {"email": false}}))
        .await;
    let person_id = person["person_id"].as_str().unwrap();
    // A stored person's traits and consents are personal data: not for a marketer.
    let refused =
        preview(json!({"placement": "home.hero", "channel": "email", "person_id": person_id}))
            .await;
    assert_problem(refused, 403, "forbidden", Some("person_id")).await;
    let privacy = staff_token_for("priya", &["privacy"], "");
    let preview_person = |body: Value| {
        let (app, privacy) = (&app, &privacy);
        async move {
            app.admin(Method::POST, "/v1/admin/preview", privacy, Some(body))
                .await
        }
    };
    let by_person: Value = preview_person(
        json!({"placement": "home.hero", "channel": "email", "person_id": person_id}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(by_person["chosen"].is_null());
    assert!(reasons_of(&by_person, "home-hero-gold").contains(&"opted_out".to_string()));
    let sms: Value =
        preview_person(json!({"placement": "home.hero", "channel": "sms", "person_id": person_id}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(
        sms["chosen"]["id"], "home-hero-gold",
        "their stored tier: {sms}"
    );

    let shown = app
        .get_with(
            "/v1/content/support.survey?channel=web&anonymous_id=survey-visitor-1",
            &[],
        )
        .await;
    let token = shown.json::<Value>().await.unwrap()["tracking_token"]
        .as_str()
        .unwrap()
        .to_string();
    let accepted = app
        .client
        .post(format!("{}/v1/events", app.address))
        .json(&json!({"events": [{"event_id": "e-preview-1", "type": "impression", "tracking_token": token, "anonymous_id": "survey-visitor-1"}]}))
        .send()
        .await
        .unwrap();
    assert!(
        accepted.status().is_success(),
        "{}",
        accepted.text().await.unwrap()
    );
    let capped: Value = preview(json!({"placement": "support.survey", "channel": "web", "anonymous_id": "survey-visitor-1"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(capped["chosen"].is_null(), "{capped}");
    assert!(reasons_of(&capped, "support-survey-default").contains(&"frequency_cap".to_string()));

    // A retired channel is a reason for every variant; the would-be choice still renders.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    tailor::storage::set_channel_state(&db, "push", tailor::catalog::model::ChannelState::Retired)
        .await
        .unwrap();
    let retired: Value = preview(json!({"placement": "home.hero", "channel": "push"}))
        .await
        .json()
        .await
        .unwrap();
    assert!(retired["chosen"].is_null(), "{retired}");
    assert_eq!(retired["channel_state"], "retired");
    for variant in retired["variants"].as_array().unwrap() {
        assert_eq!(
            variant["reasons"][0]["code"], "channel_retired",
            "{variant}"
        );
        assert_eq!(variant["eligible"], false);
    }
    assert_eq!(retired["rendered"][0]["variant"], "home-hero-default");

    // Bad input.
    let cases = [
        (
            json!({"placement": "nowhere"}),
            404,
            "unknown-placement",
            "placement",
        ),
        (
            json!({"placement": "home.hero", "channel": "fax"}),
            400,
            "invalid-parameter",
            "channel",
        ),
        (
            json!({"placement": "home.hero", "locales": ["??"]}),
            400,
            "invalid-parameter",
            "locales",
        ),
        (
            json!({"placement": "home.hero", "traits": {"shoe_size": 42}}),
            400,
            "invalid-parameter",
            "traits.shoe_size",
        ),
        (
            json!({"placement": "home.hero", "traits": {"tier": ["gold"]}}),
            400,
            "invalid-parameter",
            "traits.tier",
        ),
        (
            json!({"placement": "home.hero", "variant": "other"}),
            404,
            "not-found",
            "variant",
        ),
        (
            json!({"placement": "home.hero", "at": "tomorrow"}),
            400,
            "invalid-parameter",
            "at",
        ),
    ];
    for (body, status, kind, field) in cases {
        assert_problem(preview(body).await, status, kind, Some(field)).await;
    }
    assert_problem(
        preview_person(json!({"placement": "home.hero", "person_id": "nobody"})).await,
        404,
        "not-found",
        Some("person_id"),
    )
    .await;
}

fn reasons_of(answer: &Value, id: &str) -> Vec<String> {
    answer["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {answer}"))["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

/// A purge webhook: records each request body.
async fn purge_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = actix_web::HttpServer::new(move || {
        let sender = sender.clone();
        actix_web::App::new().route(
            "/purge",
            actix_web::web::post().to(move |body: actix_web::web::Json<Value>| {
                let sender = sender.clone();
                async move {
                    let _ = sender.send(body.into_inner());
                    actix_web::HttpResponse::Accepted().finish()
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/purge"), receiver)
}

/// The next request the purge webhook saw, waiting for it up to five seconds.
async fn next_purge(purges: &mut tokio::sync::mpsc::UnboundedReceiver<Value>, what: &str) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(5), purges.recv())
        .await
        .expect(what)
        .unwrap()
}

#[tokio::test]
async fn a_publish_purges_its_surrogate_keys_through_the_webhook() {
    let (url, mut purges) = purge_receiver().await;
    let app = spawn_app_with(Options {
        purge_webhook_url: Some(url),
        // Without Redis the second purge waits for the other nodes' poll (1 s + 1 s).
        poll_secs: 1,
        ..Options::default()
    })
    .await;
    let served = app.get(HERO_EN).await;
    assert!(header(&served, "surrogate-key").contains("placement/home.hero"));
    create_vip(&app, "home-hero-spring-title").await;
    let published = review_and_publish(&app, "/v1/admin/variants/home-hero-vip").await;
    let purge = next_purge(&mut purges, "the webhook was called").await;
    assert_eq!(
        purge["surrogate_keys"],
        json!(["placement/home.hero", "variant/home-hero-vip"])
    );
    assert_eq!(purge["generation"], published["generation"]);
    assert!(purge["reason"].as_str().unwrap().contains("home-hero-vip"));
    // Sent again once every node has the change, for a copy a slower node handed out.
    let repeat = next_purge(&mut purges, "the purge was repeated").await;
    assert_eq!(repeat, purge);
    // Archiving purges as well.
    let archived = app
        .step("/v1/admin/variants/home-hero-vip", "archive", &publisher())
        .await;
    assert_eq!(archived.status(), 200);
    let purge = next_purge(&mut purges, "the webhook was called").await;
    assert_eq!(purge["surrogate_keys"][0], "placement/home.hero");
    assert!(
        purge["reason"].as_str().unwrap().ends_with("archived"),
        "{purge}"
    );
    // The sender counts a purge once the webhook's answer is back, just after the
    // webhook saw it: wait for the count, within a bound.
    within(
        std::time::Instant::now(),
        std::time::Duration::from_secs(5),
        "purges not counted",
        || async { app.metric("tailor_purges_total{outcome=\"sent\"}").await >= 3.0 },
    )
    .await;
    assert_eq!(
        app.metric("tailor_purges_total{outcome=\"failed\"}").await,
        0.0
    );
}

#[tokio::test]
async fn a_publish_on_one_node_is_served_by_another_within_a_second() {
    if redis_or_skip().is_none() {
        return;
    }
    let first = spawn_app().await;
    let second = first.second_node().await;
    // The second node has compiled and cached the catalog and a rendering.
    assert_eq!(
        second.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );
    assert_eq!(
        second.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );
    create_vip(&first, "home-hero-spring-title").await;
    for (action, token) in [("submit", marketer()), ("approve", reviewer())] {
        assert_eq!(
            first
                .step("/v1/admin/variants/home-hero-vip", action, &token)
                .await
                .status(),
            200
        );
    }
    let started = std::time::Instant::now();
    assert_eq!(
        first
            .step("/v1/admin/variants/home-hero-vip", "publish", &publisher())
            .await
            .status(),
        200
    );
    within(
        started,
        std::time::Duration::from_secs(1),
        "the second node still serves the old content",
        || async { second.json(HERO_EN).await["variant"]["id"] == "home-hero-vip" },
    )
    .await;
    // And archiving, the other way round.
    let started = std::time::Instant::now();
    assert_eq!(
        second
            .step("/v1/admin/variants/home-hero-vip", "archive", &publisher())
            .await
            .status(),
        200
    );
    within(
        started,
        std::time::Duration::from_secs(1),
        "the first node still serves the archived variant",
        || async { first.json(HERO_EN).await["variant"]["id"] == "home-hero-winter-sale" },
    )
    .await;
}

#[tokio::test]
async fn a_restart_keeps_what_the_admin_api_published_over_older_files() {
    let first = spawn_app().await;
    create_vip(&first, "home-hero-spring-title").await;
    review_and_publish(&first, "/v1/admin/variants/home-hero-vip").await;
    let edited = first
        .admin_ok(
            Method::PUT,
            "/v1/admin/variants/home-hero-default",
            &marketer(),
            Some(json!({"weight": 50, "fields": {
                "title": {"message": "home-hero-default-title"},
                "body": {"message": "home-hero-default-body"}
            }})),
        )
        .await;
    assert_eq!(edited["latest"]["version"], 2);
    review_and_publish(&first, "/v1/admin/variants/home-hero-default").await;

    // A second node starts and imports the (older) files: the database's versions stay.
    let second = first.second_node().await;
    let variant = second
        .admin_ok(
            Method::GET,
            "/v1/admin/variants/home-hero-default",
            &marketer(),
            None,
        )
        .await;
    assert_eq!(variant["live"]["version"], 2);
    assert_eq!(variant["live"]["definition"]["weight"], 50);
    assert_eq!(second.json(HERO_EN).await["variant"]["id"], "home-hero-vip");
}

#[tokio::test]
async fn import_keeps_what_the_admin_api_published_and_export_writes_it_back() {
    let fixture = content_fixture(|_| {});
    let app = spawn_app_on(fixture.path()).await;
    let path = "/v1/admin/variants/home-hero-default";
    // `tailor` on the files the app imported, and on an export, against its database.
    let files = tailor(fixture.path()).database(&app.database_url);
    app.admin_ok(
        Method::PUT,
        path,
        &marketer(),
        Some(json!({"weight": 50, "fields": {
            "title": {"message": "home-hero-default-title"},
            "body": {"message": "home-hero-default-body"},
            "cta": {"url": "https://shop.example.com/new-season"}
        }})),
    )
    .await;
    review_and_publish(&app, path).await;

    // The files still hold version 1: importing them keeps the database's version 2.
    let Run { stdout, stderr, .. } = files.run_ok(&["import"]);
    assert_eq!(
        stdout.trim(),
        "kept variant home-hero-default (the database has a newer version; run `tailor export`)"
    );
    assert!(stderr.contains("0 added, 0 updated, 1 kept"), "{stderr}");
    let variant = app.admin_ok(Method::GET, path, &reviewer(), None).await;
    assert_eq!(variant["live"]["version"], 2);

    // Export writes version 2 back; importing the export changes nothing.
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap().to_string();
    files.run_ok(&["export", "--out", &out_arg]);
    let hero =
        std::fs::read_to_string(out.path().join("content/placements/home.hero.toml")).unwrap();
    let default = &hero[hero.find("id = \"home-hero-default\"").unwrap()..];
    let default = &default[..default.find("[[variant]]").unwrap_or(default.len())];
    assert!(default.contains("version = 2"), "{default}");
    assert!(default.contains("weight = 50"), "{default}");
    let export = tailor(out.path()).database(&app.database_url);
    let Run { stdout, stderr, .. } = export.run_ok(&["import"]);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("0 added, 0 updated, 0 kept"), "{stderr}");

    // The API moves on to version 3: the export (version 2) is now an older version,
    // kept, although version 2 was saved as a draft and the file says published.
    app.admin_ok(
        Method::PUT,
        path,
        &marketer(),
        Some(json!({"weight": 55, "fields": {
            "title": {"message": "home-hero-default-title"},
            "body": {"message": "home-hero-default-body"},
            "cta": {"url": "https://shop.example.com/new-season"}
        }})),
    )
    .await;
    review_and_publish(&app, path).await;
    let stdout = export.run_ok(&["import"]).stdout;
    assert_eq!(
        stdout.trim(),
        "kept variant home-hero-default (the database has a newer version; run `tailor export`)"
    );

    // Export again, edit the file: new content on the current version, imported as 4.
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap().to_string();
    files.run_ok(&["export", "--out", &out_arg]);
    replace_in(
        &out.path().join("content/placements/home.hero.toml"),
        "weight = 55",
        "weight = 60",
    );
    let stdout = tailor(out.path())
        .database(&app.database_url)
        .run_ok(&["import"])
        .stdout;
    assert_eq!(stdout.trim(), "updated variant home-hero-default");
    let history = app
        .admin_ok(Method::GET, &format!("{path}/versions"), &reviewer(), None)
        .await;
    let last = history["versions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["version"], 4);
    assert_eq!(last["author"], "import");
    assert_eq!(last["state"], "published");

    // An edit to a file that was never brought up to date (it still says version 1)
    // would undo reviewed work: it is refused, and the rest of the import goes on.
    replace_in(
        &fixture.path().join("content/placements/home.hero.toml"),
        "weight = 70",
        "weight = 75",
    );
    let output = files.run(&["import"]);
    assert!(!output.ok());
    let stdout = output.stdout;
    assert!(
        stdout.contains(
            "conflict variant home-hero-default: new content on the file's version 1, older than the database's version 4"
        ),
        "{stdout}"
    );
    let variant = app.admin_ok(Method::GET, path, &reviewer(), None).await;
    assert_eq!(variant["live"]["version"], 4);
    assert_eq!(variant["live"]["definition"]["weight"], 60);
}

#[tokio::test]
async fn a_step_acts_on_the_version_that_was_read_and_only_once() {
    let app = spawn_app().await;
    let path = "/v1/admin/variants/home-hero-vip";
    create_vip(&app, "home-hero-spring-title").await;
    assert_eq!(app.step(path, "submit", &marketer()).await.status(), 200);
    // Approving and publishing name the version that was read.
    let unnamed = app
        .admin(Method::POST, &format!("{path}/approve"), &reviewer(), None)
        .await;
    assert_problem(unnamed, 400, "invalid-parameter", Some("version")).await;

    // Two reviewers approve at once: one wins, the other is told.
    let rita = staff_token_for("rita", &["reviewer"], "");
    let approve = |token: String| {
        let app = &app;
        async move {
            app.admin(
                Method::POST,
                &format!("{path}/approve"),
                &token,
                Some(json!({"version": 1, "note": "looks right"})),
            )
            .await
            .status()
            .as_u16()
        }
    };
    let (a, b) = tokio::join!(approve(reviewer()), approve(rita));
    let mut statuses = [a, b];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);

    // An admin who wrote a version cannot approve it either.
    let ada = staff_token_for("ada", &["admin"], "");
    let edited = app
        .admin(
            Method::PUT,
            path,
            &ada,
            Some(vip_variant("home-hero-default-title")),
        )
        .await;
    assert_eq!(edited.status(), 200);
    assert_eq!(app.step(path, "submit", &ada).await.status(), 200);
    let own = app.step(path, "approve", &ada).await;
    assert_problem(own, 403, "forbidden", None).await;
    // Version 1 was superseded by the edit: publishing it is refused.
    let old = app
        .admin(
            Method::POST,
            &format!("{path}/publish"),
            &publisher(),
            Some(json!({"version": 1})),
        )
        .await;
    assert_problem(old, 409, "conflict", Some("version")).await;
    assert_eq!(app.step(path, "approve", &reviewer()).await.status(), 200);
    assert_eq!(app.step(path, "publish", &publisher()).await.status(), 200);
    assert_eq!(app.json(HERO_EN).await["variant"]["version"], 2);

    // A new draft exists; archiving without a version takes the serving one out.
    app.admin_ok(
        Method::PUT,
        path,
        &marketer(),
        Some(vip_variant("home-hero-spring-title")),
    )
    .await;
    let archived: Value = app
        .admin(Method::POST, &format!("{path}/archive"), &publisher(), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(archived["version"], 2, "{archived}");
    assert_eq!(archived["purged"][0], "placement/home.hero");
    assert_eq!(
        app.json(HERO_EN).await["variant"]["id"],
        "home-hero-winter-sale"
    );
    let variant = app.admin_ok(Method::GET, path, &marketer(), None).await;
    assert_eq!(variant["latest"]["version"], 3);
    assert_eq!(variant["latest"]["state"], "draft");
    assert_eq!(variant["live"]["state"], "archived");
    let one = app
        .admin_ok(
            Method::GET,
            &format!("{path}/versions?version=2"),
            &marketer(),
            None,
        )
        .await;
    assert_eq!(one["state"], "archived");
    assert_eq!(one["document"]["state"], "archived");
}

#[tokio::test]
async fn a_publish_checked_against_older_content_is_refused() {
    use tailor::authoring::workflow::Stage;
    use tailor::storage::authoring::{self as store, Kind, Stepped};
    let app = spawn_app().await;
    let path = "/v1/admin/variants/home-hero-vip";
    create_vip(&app, "home-hero-spring-title").await;
    assert_eq!(app.step(path, "submit", &marketer()).await.status(), 200);
    assert_eq!(app.step(path, "approve", &reviewer()).await.status(), 200);

    // The checks ran against generation g - 1; something else went live since.
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let generation = tailor::storage::generation(&db).await.unwrap();
    let approved = store::latest(&db, Kind::Variant, "home-hero-vip")
        .await
        .unwrap()
        .unwrap();
    let refused = store::step(
        &db,
        &approved,
        Stage::Published,
        "staff:pat",
        None,
        "publish",
        Some(generation - 1),
    )
    .await
    .unwrap();
    assert!(matches!(refused, Stepped::ContentChanged));
    // Nothing of it stayed: same generation, still approved, not served.
    assert_eq!(tailor::storage::generation(&db).await.unwrap(), generation);
    let row = store::latest(&db, Kind::Variant, "home-hero-vip")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.stage, Stage::Approved);
    assert!(store::live_variant(&db, "home-hero-vip")
        .await
        .unwrap()
        .is_none());
    // Checked against the current generation, it goes live.
    let done = store::step(
        &db,
        &row,
        Stage::Published,
        "staff:pat",
        None,
        "publish",
        Some(generation),
    )
    .await
    .unwrap();
    assert!(matches!(done, Stepped::Done { generation: Some(g) } if g == generation + 1));
}

#[tokio::test]
async fn a_message_id_taken_by_another_resource_meanwhile_cannot_be_published() {
    let app = spawn_app().await;
    let en = "/v1/admin/locales/en/home.ftl";
    let extra = "/v1/admin/locales/en/extra.ftl";
    let source = app
        .get_with(en, &[("Authorization", &bearer(&marketer()))])
        .await
        .text()
        .await
        .unwrap();
    // Two drafts define the same new id; each is fine against what is live.
    let created = app
        .put_ftl(extra, &marketer(), "home-hero-vip-title = Members only\n")
        .await;
    assert_eq!(created.status(), 201);
    let saved = app
        .put_ftl(
            en,
            &marketer(),
            &format!("{source}\nhome-hero-vip-title = Members first\n"),
        )
        .await;
    assert_eq!(saved.status(), 200);
    review_and_publish(&app, en).await;
    assert_eq!(app.step(extra, "submit", &marketer()).await.status(), 200);
    assert_eq!(app.step(extra, "approve", &reviewer()).await.status(), 200);
    let refused = app.step(extra, "publish", &publisher()).await;
    let problem = assert_problem(refused, 422, "invalid-content", Some("en/extra.ftl")).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already defined"),
        "{problem}"
    );
    let files = app
        .admin_ok(Method::GET, "/v1/admin/locales", &reviewer(), None)
        .await;
    let extra_file = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "extra.ftl")
        .unwrap();
    assert_eq!(extra_file["live"], false);
    assert_eq!(extra_file["latest_state"], "approved");
}

#[tokio::test]
async fn deeply_nested_rules_and_fluent_are_refused_and_the_node_lives_on() {
    let app = spawn_app().await;
    let create = |rule: String, id: &str| {
        let app = &app;
        let mut variant = vip_variant("home-hero-spring-title");
        variant["id"] = json!(id);
        variant["rule"] = json!(rule);
        async move {
            app.admin(
                Method::POST,
                "/v1/admin/placements/home.hero/variants",
                &marketer(),
                Some(variant),
            )
            .await
        }
    };
    let parens = |levels: usize| {
        format!(
            "{}country == \"FR\"{}",
            "(".repeat(levels),
            ")".repeat(levels)
        )
    };
    // At the limit: accepted.
    let at_limit = create(parens(32), "home-hero-deep-ok").await;
    assert!(at_limit.status().is_success(), "{}", at_limit.status());
    // One past it, and what used to abort the process (a 4 KB body, an 80 KB one).
    for (rule, id) in [
        (parens(33), "home-hero-deep-33"),
        (parens(2_000), "home-hero-deep-2000"),
        (format!("{}true", "not ".repeat(20_000)), "home-hero-nots"),
    ] {
        let problem =
            assert_problem(create(rule, id).await, 422, "invalid-content", Some("rule")).await;
        let reason = problem["errors"][0]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("nests deeper than 32 levels"), "{problem}");
    }

    let en = "/v1/admin/locales/en/home.ftl";
    let source = app
        .get_with(en, &[("Authorization", &bearer(&marketer()))])
        .await
        .text()
        .await
        .unwrap();
    let deep = |levels: usize| {
        format!(
            "{source}\nhome-hero-deep = {}\"x\"{}\n",
            "{ ".repeat(levels),
            " }".repeat(levels)
        )
    };
    let line = source.lines().count() + 2;
    for levels in [17, 3_000] {
        let problem = assert_problem(
            app.put_ftl(en, &marketer(), &deep(levels)).await,
            422,
            "invalid-content",
            Some("en/home.ftl"),
        )
        .await;
        assert_eq!(problem["errors"][0]["line"], line, "{problem}");
        // `home-hero-deep = ` is 17 characters; the 17th `{ ` opens past the limit.
        assert_eq!(problem["errors"][0]["column"], 18 + 2 * 16, "{problem}");
    }
    assert_eq!(app.put_ftl(en, &marketer(), &deep(16)).await.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200, "the node lives on");
}

/// A restart with the files unchanged does not import them again (the last import's
/// digest says so), and nothing the admin API published since is undone; a restart with
/// changed files imports the change.
#[tokio::test]
async fn a_restart_imports_changed_files_and_skips_unchanged_ones() {
    let fixture = content_fixture(|_| {});
    let app = spawn_app_on(fixture.path()).await;
    let digest = || async {
        let db = app.db().await;
        tailor::storage::imported_files_digest(&db)
            .await
            .expect("readable")
    };
    let first = digest()
        .await
        .expect("the import recorded the files' digest");
    let hero = "/v1/content/home.hero?channel=web&locale=en&anonymous_id=restart-visitor";
    let title = |app: &TestApp| {
        let address = app.address.clone();
        async move {
            let body: serde_json::Value = reqwest::get(format!("{address}{hero}"))
                .await
                .expect("answered")
                .json()
                .await
                .expect("json");
            body["fields"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    };
    let before = title(&app).await;

    // Unchanged files: same digest, same content.
    let options = || Options {
        content_root: Some(fixture.path().to_path_buf()),
        database_url: Some(app.database_url.clone()),
        ..Options::default()
    };
    let again = spawn_app_with(options()).await;
    assert_eq!(digest().await.as_deref(), Some(first.as_str()));
    assert_eq!(title(&again).await, before);

    // A changed file: imported, served, and its digest recorded.
    replace_in(
        &fixture.path().join("locales/en/home.ftl"),
        "Built for the trail",
        "Made for the trail",
    );
    let changed = spawn_app_with(options()).await;
    let second = digest().await.expect("digest");
    assert_ne!(second, first);
    let stored = texts(
        &changed.db().await,
        "SELECT source FROM fluent_resources WHERE locale = 'en' AND path = 'home.ftl'",
    )
    .await;
    assert!(stored[0].contains("Made for the trail"), "{stored:?}");
    if before == "Built for the trail" {
        assert_eq!(title(&changed).await, "Made for the trail");
    }
}
