//! Test harness: starts the real application on a free port against a fresh database
//! (a SQLite file, or a new PostgreSQL database when `DATABASE_URL` names a server) and
//! Redis when `REDIS_URL` is set.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, Database};
use tailor::config::Secret;
use tailor::{Application, Settings};
use tempfile::TempDir;

pub const SIGNING_SECRET: &str = "test-signing-secret-test-signing-secret";
/// A server key the test apps accept as `X-Api-Key`.
pub const SERVER_KEY: &str = "test-server-key-0123456789abcdef";
/// Staff tokens in tests are development tokens (HS256 with this secret).
/// The bearer `/metrics` needs in tests.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";
pub const DEV_TOKEN_SECRET: &str = "test-dev-token-secret-0123456789abcdef";
/// The test identity provider: ES256, issuer and audience below.
pub const IDP_ISSUER: &str = "https://id.northwind.example";
pub const IDP_AUDIENCE: &str = "tailor-content";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub database_url: String,
    /// The metrics listener, when `Options::metrics_bind` asked for one.
    pub metrics_address: Option<String>,
    _dir: std::sync::Arc<TempDir>,
}

/// A change to the settings a test app starts with.
pub type Tweak = Box<dyn FnOnce(&mut Settings) + Send>;

pub struct Options {
    pub content_root: Option<PathBuf>,
    pub database_url: Option<String>,
    pub signing_secret: Option<String>,
    pub poll_secs: u64,
    /// How often the server runs the governance policies by itself.
    pub governance_evaluate_secs: u64,
    pub purge_webhook_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` counts; tests send events "from" many networks
    /// through 127.0.0.1.
    pub trusted_proxies: Vec<&'static str>,
    /// `None`: the production defaults.
    pub rate_limits: Option<tailor::config::RateLimits>,
    pub max_auto_retirements: u32,
    /// Overrides `REDIS_URL` (a fault test's own server, a black hole).
    pub redis_url: Option<String>,
    pub cors_allowed_origins: Vec<String>,
    /// A separate `/metrics` listener (`metrics_bind`), e.g. `127.0.0.1:0`.
    pub metrics_bind: Option<String>,
    /// Any other setting, changed last.
    pub tweak: Option<Tweak>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            content_root: None,
            database_url: None,
            signing_secret: Some(SIGNING_SECRET.to_string()),
            poll_secs: 3600,
            governance_evaluate_secs: 3600,
            purge_webhook_url: None,
            trusted_proxies: vec!["127.0.0.1/32"],
            rate_limits: None,
            max_auto_retirements: 3,
            redis_url: None,
            cors_allowed_origins: Vec::new(),
            metrics_bind: None,
            tweak: None,
        }
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the demo `content/` and `locales/` the test may edit.
pub fn content_fixture(edit: impl FnOnce(&Path)) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo_root().join("content"), &dir.path().join("content"));
    copy_dir(&repo_root().join("locales"), &dir.path().join("locales"));
    edit(dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

pub fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read fixture file");
    assert!(
        text.contains(from),
        "fixture {} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, text.replacen(from, to, 1)).expect("write fixture file");
}

/// Every row an SQL statement answers.
async fn rows(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql.to_string(),
    ))
    .await
    .expect(sql)
}

/// The first column of the first row an SQL statement answers, as a whole number
/// (PostgreSQL answers COUNT as BIGINT, a SMALLINT column as i16, a SUM of nothing as
/// NULL: 0).
pub async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let rows = rows(db, sql).await;
    let row = rows.first().expect("a row");
    row.try_get_by_index::<i64>(0)
        .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
        .or_else(|_| row.try_get_by_index::<i16>(0).map(i64::from))
        .or_else(|_| {
            row.try_get_by_index::<Option<i64>>(0)
                .map(|v| v.unwrap_or(0))
        })
        .expect("an integer")
}

/// How many rows there are in `rows`: a table with an optional `WHERE`
/// (`"events WHERE kind = 'click'"`), or an aliased subquery
/// (`"(SELECT DISTINCT source FROM events) AS sources"`).
pub async fn count(db: &sea_orm::DatabaseConnection, rows: &str) -> i64 {
    scalar(db, &format!("SELECT COUNT(*) FROM {rows}")).await
}

/// The first column of every row an SQL statement answers, as text.
pub async fn texts(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    rows(db, sql)
        .await
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("text"))
        .collect()
}

/// A new, empty database for one test.
pub async fn fresh_database(dir: &Path) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let name = format!("tailor_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&url)
                .await
                .expect("connect to DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .expect("create test database");
            let (base, query) = match url.split_once('?') {
                Some((base, query)) => (base.to_string(), format!("?{query}")),
                None => (url.clone(), String::new()),
            };
            let (server, _) = base
                .rsplit_once('/')
                .expect("DATABASE_URL has a database name");
            format!("{server}/{name}{query}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("tailor.db").display()),
    }
}

/// `REDIS_URL` when it names a server.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// `REDIS_URL` for a test that needs Redis; without it, `None` and a line saying the
/// test is skipped.
pub fn redis_or_skip() -> Option<String> {
    let url = redis_url();
    if url.is_none() {
        eprintln!("skipped: REDIS_URL is not set (CI sets it)");
    }
    url
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// An app serving the content and locales under `root` (a [`content_fixture`]).
pub async fn spawn_app_on(root: &Path) -> TestApp {
    spawn_app_with(Options {
        content_root: Some(root.to_path_buf()),
        ..Options::default()
    })
    .await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
    let database_url = match options.database_url {
        Some(url) => url,
        None => fresh_database(dir.path()).await,
    };
    let root = options.content_root.unwrap_or_else(repo_root);
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        database_url: database_url.clone(),
        redis_url: options.redis_url.or_else(redis_url),
        cors_allowed_origins: options.cors_allowed_origins,
        metrics_bind: options.metrics_bind,
        // The suite runs its nodes, PostgreSQL, Redis and two Chromiums on two cores,
        // where a server can be descheduled (or a new PostgreSQL connection take) longer
        // than production's 50 and 250 ms: the tests count calls and never time them,
        // so wider bounds only keep a busy moment from reading as an outage.
        resilience: tailor::config::Resilience {
            redis_timeout_ms: 250,
            database_acquire_timeout_ms: 2000,
            probe_timeout_ms: 2000,
            ..Default::default()
        },
        content_dir: root.join("content"),
        locales_dir: root.join("locales"),
        signing_secret: options.signing_secret.map(Secret::new),
        catalog_poll_secs: options.poll_secs,
        governance_evaluate_secs: options.governance_evaluate_secs,
        purge_webhook_url: options.purge_webhook_url,
        trusted_proxies: options
            .trusted_proxies
            .iter()
            .map(|n| n.parse().expect("a CIDR"))
            .collect(),
        rate_limits: options.rate_limits.unwrap_or_default(),
        governance_max_auto_retirements: options.max_auto_retirements,
        workers: Some(1),
        dev_token_secret: Some(Secret::new(DEV_TOKEN_SECRET)),
        dev_mode: true,
        metrics_token: Some(Secret::new(METRICS_TOKEN)),
        server_api_keys: vec![Secret::new(SERVER_KEY)],
        identity_tokens: Some(tailor::config::TokenSettings {
            issuer: IDP_ISSUER.into(),
            audience: IDP_AUDIENCE.into(),
            algorithms: vec!["ES256".into()],
            key_file: Some(repo_root().join("tests/fixtures/idp-es256.pub.pem")),
            jwks_file: None,
            hs256_secret: None,
            leeway_secs: 5,
            max_token_age_secs: 3600,
        }),
        ..Settings::default()
    };
    if let Some(tweak) = options.tweak {
        tweak(&mut settings);
    }
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        database_url,
        metrics_address,
        _dir: dir,
    }
}

impl TestApp {
    /// A connection to the app's database (as a node connects), to check what it stored
    /// or to change it behind the app's back.
    pub async fn db(&self) -> sea_orm::DatabaseConnection {
        tailor::storage::connect(&self.database_url, || {})
            .await
            .expect("connect to the test database")
    }

    /// Another node on this app's database, with the default options.
    /// Waits until the filter of known identifiers is built (in the background after
    /// start, and after every subscription to Redis): from then on the node does no
    /// database work of its own accord, and unknown visitors cost no lookup.
    pub async fn filter_ready(&self) {
        within(
            std::time::Instant::now(),
            std::time::Duration::from_secs(30),
            "the filter of known identifiers was never trusted",
            || async { self.metric("tailor_known_identifiers_trusted").await == 1.0 },
        )
        .await;
    }

    pub async fn second_node(&self) -> TestApp {
        spawn_app_with(Options {
            database_url: Some(self.database_url.clone()),
            ..Options::default()
        })
        .await
    }

    /// The tracking token of a content answer (expecting `200`).
    pub async fn tracking_token(&self, path: &str) -> String {
        self.json(path).await["tracking_token"]
            .as_str()
            .expect("tracking token")
            .to_string()
    }

    /// `POST /v1/governance/evaluations` as governance, expecting `200`; the report.
    pub async fn evaluate(&self, dry_run: bool) -> serde_json::Value {
        let response = self
            .admin(
                reqwest::Method::POST,
                &format!("/v1/governance/evaluations?dry_run={dry_run}"),
                &staff_token(&["governance"], ""),
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json body")
    }

    /// `GET` with a staff token of these roles, expecting `200`; the JSON answer.
    pub async fn staff_json(&self, path: &str, roles: &[&str]) -> serde_json::Value {
        let response = self
            .get_with(path, &[("Authorization", &bearer(&staff_token(roles, "")))])
            .await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json body")
    }

    /// A tracking token per variant a placement answers with, asking as different
    /// anonymous visitors until `variants` distinct ones have answered.
    pub async fn variant_tokens(
        &self,
        path: &str,
        variants: usize,
    ) -> std::collections::BTreeMap<String, String> {
        let mut tokens = std::collections::BTreeMap::new();
        for i in 0..400 {
            let body: serde_json::Value = self
                .get_with(path, &[("X-Anonymous-Id", &format!("visitor-{i}"))])
                .await
                .json()
                .await
                .expect("json body");
            tokens
                .entry(
                    body["variant"]["id"]
                        .as_str()
                        .expect("a variant")
                        .to_string(),
                )
                .or_insert_with(|| body["tracking_token"].as_str().unwrap_or("").to_string());
            if tokens.len() == variants {
                return tokens;
            }
        }
        panic!(
            "{path} answered with {} variants, not {variants}",
            tokens.len()
        );
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{}", self.address, path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{}", self.address, path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    pub async fn json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.expect("json body")
    }

    /// The `/metrics` text (with the metrics token).
    pub async fn metrics(&self) -> String {
        let response = self
            .get_with("/metrics", &[("Authorization", &bearer(METRICS_TOKEN))])
            .await;
        assert_eq!(response.status(), 200, "GET /metrics");
        response.text().await.expect("metrics text")
    }

    /// Reads one counter from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Asserts a problem+json answer with this status, type and field.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    kind: &str,
    field: Option<&str>,
) -> serde_json::Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.expect("problem body");
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    if let Some(field) = field {
        assert_eq!(body["field"], field, "{body}");
    }
    body
}

/// An identity token from the test identity provider (ES256) for a customer id,
/// expiring `exp_in` seconds from now (negative: already expired).
pub fn identity_token(customer: &str, exp_in: i64) -> String {
    let pem = std::fs::read(repo_root().join("tests/fixtures/idp-es256.pk8.pem")).expect("key");
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&pem).expect("ES256 key");
    let claims = serde_json::json!({
        "sub": customer,
        "iss": IDP_ISSUER,
        "aud": IDP_AUDIENCE,
        "iat": chrono::Utc::now().timestamp().min(chrono::Utc::now().timestamp() + exp_in),
        "exp": chrono::Utc::now().timestamp() + exp_in,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        &claims,
        &key,
    )
    .expect("sign")
}

/// An `Authorization` header's value for a token.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A development staff token with these roles and scopes.
pub fn staff_token(roles: &[&str], scope: &str) -> String {
    staff_token_for("reviewer-ana", roles, scope)
}

/// A development staff token for a named member of staff.
pub fn staff_token_for(subject: &str, roles: &[&str], scope: &str) -> String {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    tailor::auth::mint_development(
        &Secret::new(DEV_TOKEN_SECRET),
        subject,
        Some((&roles, scope)),
        600,
    )
    .expect("mint")
}

impl TestApp {
    /// `POST /v1/identify` with the server key.
    pub async fn identify(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/identify", self.address))
            .header("X-Api-Key", SERVER_KEY)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// `POST /v1/identify`, expecting success; the answer.
    pub async fn identified(&self, body: serde_json::Value) -> serde_json::Value {
        let response = self.identify(body.clone()).await;
        assert_eq!(response.status(), 200, "identify {body}");
        response.json().await.expect("json")
    }
}

impl TestApp {
    /// An authenticated admin call with a JSON body (or none).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// An admin call expected to succeed (2xx); its JSON answer.
    pub async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let response = self.admin(method.clone(), path, token, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// A workflow step (`submit`, `approve`, `publish`, `archive`…) on the newest
    /// version of the document at `path`, named explicitly (as a reviewer who read it
    /// would).
    pub async fn step(&self, path: &str, action: &str, token: &str) -> reqwest::Response {
        let history = self
            .admin(
                reqwest::Method::GET,
                &format!("{path}/versions"),
                token,
                None,
            )
            .await;
        let body = match history.status().as_u16() {
            200 => {
                let history: serde_json::Value = history.json().await.expect("json");
                let newest = history["versions"]
                    .as_array()
                    .and_then(|v| v.last())
                    .map(|v| v["version"].clone());
                newest.map(|version| serde_json::json!({ "version": version }))
            }
            _ => None,
        };
        self.admin(
            reqwest::Method::POST,
            &format!("{path}/{action}"),
            token,
            body,
        )
        .await
    }

    /// `PUT` of a Fluent resource as text/plain.
    pub async fn put_ftl(&self, path: &str, token: &str, source: &str) -> reqwest::Response {
        self.client
            .put(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(source.to_string())
            .send()
            .await
            .expect("request sent")
    }
}

/// What a poll answers: `true`, or `Some` of what it found, once its condition holds.
pub trait Holds {
    type Value;
    fn value(self) -> Option<Self::Value>;
}

impl Holds for bool {
    type Value = ();
    fn value(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Holds for Option<T> {
    type Value = T;
    fn value(self) -> Option<T> {
        self
    }
}

/// The one polling loop of the tests: asks `check` every 20 ms until it holds (`true`,
/// or `Some(value)`: then the value), failing with `what` once `limit` has passed since
/// `started` (taken before the change whose spread is being timed, or now for a plain
/// generous deadline).
pub async fn within<F, Fut>(
    started: std::time::Instant,
    limit: std::time::Duration,
    what: &str,
    mut check: F,
) -> <Fut::Output as Holds>::Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
    Fut::Output: Holds,
{
    loop {
        if let Some(value) = check().await.value() {
            return value;
        }
        assert!(started.elapsed() < limit, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A client address in its own /24, for the `n`th simulated network.
pub fn network(n: usize) -> String {
    format!("10.{}.{}.7", n / 256, n % 256)
}

/// The claims of a token Tailor signed (with the test secret), expired or not.
pub fn tracking_claims(token: &str) -> serde_json::Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SIGNING_SECRET.as_bytes()),
        &validation,
    )
    .expect("a token signed with the test secret")
    .claims
}

/// Claims signed as Tailor signs tracking tokens (HS256, the test secret).
pub fn sign_tracking(claims: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SIGNING_SECRET.as_bytes()),
    )
    .expect("sign")
}

/// The claims of a tracking token Tailor signed, re-signed with the test secret as if
/// it had been issued at `issued_at` (for engagement in the past: the server refuses
/// events that happened before their token was issued).
pub fn token_issued_at(token: &str, issued_at: chrono::DateTime<chrono::Utc>) -> String {
    let mut claims = tracking_claims(token);
    claims["iat"] = serde_json::json!(issued_at.timestamp());
    claims["exp"] = serde_json::json!(chrono::Utc::now().timestamp() + 3600);
    sign_tracking(&claims)
}

impl TestApp {
    /// `POST /v1/events` with this body, as is; the response.
    pub async fn post_events(&self, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/events", self.address))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Posts events spread over `networks` client networks (through the trusted proxy),
    /// event `i` from network `i % networks`, in batches of at most 500; every batch
    /// must be accepted whole.
    pub async fn post_events_from(&self, events: &[serde_json::Value], networks: usize) {
        self.post_events_as(events, networks, None).await;
    }

    /// As [`TestApp::post_events_from`], with a User-Agent.
    pub async fn post_events_as(
        &self,
        events: &[serde_json::Value],
        networks: usize,
        user_agent: Option<&str>,
    ) {
        let mut per_network: Vec<Vec<serde_json::Value>> = vec![Vec::new(); networks.max(1)];
        for (i, event) in events.iter().enumerate() {
            per_network[i % networks.max(1)].push(event.clone());
        }
        for (n, batch) in per_network.iter().enumerate() {
            for chunk in batch.chunks(500) {
                let mut request = self
                    .client
                    .post(format!("{}/v1/events", self.address))
                    .header("X-Forwarded-For", network(n))
                    .json(&serde_json::json!({ "events": chunk }));
                if let Some(ua) = user_agent {
                    request = request.header("User-Agent", ua);
                }
                let response = request.send().await.expect("request sent");
                let status = response.status();
                let body: serde_json::Value = response.json().await.expect("json");
                assert_eq!(status, 202, "{body}");
                assert_eq!(body["rejected"], serde_json::json!([]), "{body}");
            }
        }
    }
}

/// The `tailor` binary, run in a root with `content/` and `locales/`. None of the test
/// process's own `DATABASE_URL` or `REDIS_URL` reaches it: what a run needs is set on it.
pub struct Tailor {
    root: PathBuf,
    env: Vec<(String, Option<String>)>,
}

/// What a run of `tailor` left.
#[derive(Debug)]
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

/// `tailor` in `root` (see [`Tailor`]).
pub fn tailor(root: &Path) -> Tailor {
    Tailor {
        root: root.to_path_buf(),
        env: vec![("DATABASE_URL".into(), None), ("REDIS_URL".into(), None)],
    }
}

impl Tailor {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), Some(value.into())));
        self
    }

    pub fn env_remove(mut self, name: &str) -> Self {
        self.env.push((name.into(), None));
        self
    }

    /// `DATABASE_URL`.
    pub fn database(self, url: &str) -> Self {
        self.env("DATABASE_URL", url)
    }

    /// The command with these arguments, for a test that spawns it.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"));
        command.args(args).current_dir(&self.root);
        for (name, value) in &self.env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        command
    }

    /// Runs to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run tailor");
        Run {
            status: output.status,
            stdout: String::from_utf8(output.stdout).expect("UTF-8 on stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 on stderr"),
        }
    }

    /// Runs to the end, expecting success.
    pub fn run_ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert!(run.ok(), "tailor {args:?}: {run:?}");
        run
    }
}

/// Whether this machine can run the browser test: Debian's Chromium and the
/// `tests/browser` packages (`npm ci` there). CI sets `REQUIRE_BROWSER_TESTS=1`, so a
/// missing browser fails there instead of skipping.
pub fn browser_ready() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = std::path::Path::new(&chromium).exists()
        && repo_root()
            .join("tests/browser/node_modules/playwright-core")
            .exists();
    if !ready && std::env::var("REQUIRE_BROWSER_TESTS").is_ok() {
        panic!(
            "REQUIRE_BROWSER_TESTS is set but Chromium or tests/browser/node_modules is missing"
        );
    }
    ready
}

/// Runs one of `tests/browser`'s scripts under Node with `args`; it must succeed and
/// print one JSON line: what the browser saw.
pub async fn browser_run(script: &str, args: &[String]) -> serde_json::Value {
    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/browser").join(script))
        .args(args)
        .output()
        .await
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("one JSON line")
}

/// A one-page web server on its own port (another origin than the API).
pub async fn page_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let page = "<!doctype html><title>shop</title><p>a shop page";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}
