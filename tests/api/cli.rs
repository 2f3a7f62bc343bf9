//! The `tailor` binary: validation messages, configuration errors, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

#[test]
fn validate_accepts_the_demo_content() {
    let run = tailor(&repo_root()).run(&["validate"]);
    assert!(run.ok(), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("12 placements"), "{}", run.stderr);
}

fn line_of(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle} not in {}", path.display()))
}

#[test]
fn validate_reports_each_kind_of_problem_at_its_file_and_line() {
    type Edit = fn(&Path) -> (String, String);
    let cases: Vec<(&str, Edit)> = vec![
        ("toml syntax", |root| {
            let file = root.join("content/placements/checkout.banner.toml");
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&file, format!("{text}\n[[variant]\nid = \"broken\"\n")).unwrap();
            let line = text.lines().count() + 2;
            (format!("checkout.banner.toml:{line}:"), String::new())
        }),
        ("unknown channel", |root| {
            let file = root.join("content/placements/home.hero.toml");
            replace_in(
                &file,
                "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]",
                "channels = [\"web\", \"fax\"]",
            );
            (
                format!(
                    "home.hero.toml:{}:",
                    line_of(&file, "channels = [\"web\", \"fax\"]")
                ),
                "unknown channel `fax`".into(),
            )
        }),
        ("allow_fallback naming no locale", |root| {
            let file = root.join("content/placements/home.hero.toml");
            replace_in(
                &file,
                "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\n",
                "channels = [\"web\", \"mobile_app\", \"email\", \"sms\", \"push\"]\nallow_fallback = [\"xx-YY\"]\n",
            );
            (
                format!("home.hero.toml:{}:", line_of(&file, "allow_fallback")),
                "allow_fallback: `xx-YY` is not a locale with messages".into(),
            )
        }),
        ("unknown placement", |root| {
            let file = root.join("content/variants/winter-sale-2026.toml");
            replace_in(
                &file,
                "placement = \"home.hero\"",
                "placement = \"home.heroes\"",
            );
            (
                format!("winter-sale-2026.toml:{}:", line_of(&file, "home.heroes")),
                "unknown placement `home.heroes`".into(),
            )
        }),
        ("unknown rule attribute", |root| {
            let file = root.join("content/placements/home.hero.toml");
            replace_in(
                &file,
                "rule = 'tier == \"gold\"'",
                "rule = 'loyalty_level == \"gold\"'",
            );
            (
                format!("home.hero.toml:{}:", line_of(&file, "loyalty_level")),
                "unknown attribute `loyalty_level`".into(),
            )
        }),
        ("message missing in the default locale", |root| {
            let ftl = root.join("locales/en/home.ftl");
            let text = std::fs::read_to_string(&ftl).unwrap();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with("home-hero-spring-title"))
                .collect();
            std::fs::write(&ftl, kept.join("\n")).unwrap();
            let file = root.join("content/placements/home.hero.toml");
            (
                format!(
                    "home.hero.toml:{}:",
                    line_of(&file, "message = \"home-hero-spring-title\"")
                ),
                "message `home-hero-spring-title` is missing in the default locale en".into(),
            )
        }),
        ("fluent syntax", |root| {
            let ftl = root.join("locales/de/home.ftl");
            let text = std::fs::read_to_string(&ftl).unwrap();
            std::fs::write(&ftl, format!("{text}\nbroken-message = {{ $points\n")).unwrap();
            let line = text.lines().count() + 2;
            (
                format!("locales/de/home.ftl:{line}:"),
                "Fluent syntax error".into(),
            )
        }),
        ("sms segments in one locale", |root| {
            let ftl = root.join("locales/pl/sms.ftl");
            let long = "Zażółć gęślą jaźń ".repeat(8);
            replace_in(
                &ftl,
                "sms-loyalty-reminder-body = Northwind Rewards: Twoje punkty czekają.",
                &format!("sms-loyalty-reminder-body = {long}"),
            );
            (
                format!(
                    "locales/pl/sms.ftl:{}:",
                    line_of(&ftl, "sms-loyalty-reminder-body =")
                ),
                "locale pl, message `sms-loyalty-reminder-body`: needs 3 Ucs2 SMS segments".into(),
            )
        }),
        ("push title length in one locale", |root| {
            let ftl = root.join("locales/ja/push.ftl");
            replace_in(
                &ftl,
                "push-points-expiring-title = ",
                &format!("push-points-expiring-title = {}", "長い".repeat(40)),
            );
            (
                format!(
                    "locales/ja/push.ftl:{}:",
                    line_of(&ftl, "push-points-expiring-title =")
                ),
                "channel `push`, locale ja, message `push-points-expiring-title`".into(),
            )
        }),
        ("email subject length in one locale", |root| {
            let ftl = root.join("locales/en-GB/email.ftl");
            replace_in(
                &ftl,
                "email-welcome-subject = Welcome to Northwind",
                &format!(
                    "email-welcome-subject = {}Welcome to Northwind",
                    "Very ".repeat(20)
                ),
            );
            (
                format!(
                    "locales/en-GB/email.ftl:{}:",
                    line_of(&ftl, "email-welcome-subject =")
                ),
                "locale en-GB, message `email-welcome-subject`".into(),
            )
        }),
    ];
    for (name, edit) in cases {
        let mut expected = (String::new(), String::new());
        let fixture = content_fixture(|root| expected = edit(root));
        let Run {
            status,
            stdout,
            stderr,
        } = tailor(fixture.path()).run(&["validate"]);
        assert!(
            !status.success(),
            "{name}: validate passed:\n{stdout}{stderr}"
        );
        let (location, message) = expected;
        let hit = stdout.lines().find(|l| l.contains(&location));
        let hit = hit.unwrap_or_else(|| panic!("{name}: no finding at {location}:\n{stdout}"));
        assert!(
            hit.contains(&message),
            "{name}: {hit:?} lacks {message:?}\n{stdout}"
        );
    }
}

#[test]
fn a_bad_configuration_value_stops_start_up_with_its_name() {
    let run = tailor(&repo_root())
        .env("TAILOR_BIND", "not-an-address")
        .run(&["validate"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stderr.contains("`bind`"), "{}", run.stderr);

    let run = tailor(&repo_root())
        .env("TAILOR_CACHE__MAX_AGE_SECS", "soon")
        .run(&["validate"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        run.stderr.to_lowercase().contains("max_age_secs"),
        "{}",
        run.stderr
    );
}

/// Starts `tailor serve` on a free port; returns the child and its port.
fn spawn_serve(database_url: &str) -> (std::process::Child, u16) {
    let mut child = tailor(&repo_root())
        .database(database_url)
        .env("TAILOR_LOG_FORMAT", "json")
        .env("TAILOR_SIGNING_SECRET", SIGNING_SECRET)
        // The fault tests flood events from one address: no per-client limit here
        // (nested settings from the environment, as operators set them).
        .env("TAILOR_RATE_LIMITS__EVENTS__PER_SECOND", "0")
        .command(&["serve", "--bind", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut port = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
            if event["message"] == "listening" {
                port = event["port"].as_u64();
                break;
            }
        }
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port.expect("the server reported its port") as u16)
}

async fn wait_for_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    within(
        Instant::now(),
        Duration::from_secs(30),
        "still running 30 s after SIGTERM",
        || std::future::ready(child.try_wait().unwrap()),
    )
    .await
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn serve_shuts_down_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = spawn_serve(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.db").display()
    ));
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    sigterm(&child);
    let exit = wait_for_exit(&mut child).await;
    assert!(exit.success(), "{exit:?}");
}

#[tokio::test]
async fn every_acknowledged_event_survives_a_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(dir.path()).await;
    let (mut child, port) = spawn_serve(&database_url);
    let base = format!("http://127.0.0.1:{port}");
    let content: serde_json::Value =
        reqwest::get(format!("{base}/v1/content/home.hero?channel=web&locale=en"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let token = content["tracking_token"].as_str().unwrap().to_string();

    // Four senders post batches until the server goes away, recording what was acknowledged.
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (base, token, acknowledged) = (base.clone(), token.clone(), acknowledged.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for batch in 0..10_000 {
                let ids: Vec<String> = (0..20).map(|i| format!("s{sender}-b{batch}-e{i}")).collect();
                let events: Vec<serde_json::Value> = ids
                    .iter()
                    .map(|id| serde_json::json!({"event_id": id, "type": "impression", "tracking_token": token}))
                    .collect();
                let sent = client.post(format!("{base}/v1/events")).json(&serde_json::json!({"events": events})).send().await;
                match sent {
                    Ok(response) if response.status() == 202 => {
                        let body: serde_json::Value = response.json().await.unwrap();
                        assert_eq!(body["accepted"], 20);
                        acknowledged.lock().unwrap().extend(ids);
                    }
                    _ => break,
                }
            }
        }));
    }
    within(
        Instant::now(),
        Duration::from_secs(60),
        "events are not being acknowledged",
        || std::future::ready(acknowledged.lock().unwrap().len() >= 2_000),
    )
    .await;
    sigterm(&child);
    let exit = wait_for_exit(&mut child).await;
    assert!(exit.success(), "{exit:?}");
    for sender in senders {
        sender.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    let stored: std::collections::HashSet<String> = texts(&db, "SELECT event_id FROM events")
        .await
        .into_iter()
        .collect();
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(acknowledged.len() >= 2_000);
}

#[test]
fn import_is_idempotent_and_reports_what_changed() {
    let fixture = content_fixture(|_| {});
    let database = format!(
        "sqlite://{}?mode=rwc",
        fixture.path().join("import.db").display()
    );
    let cli = tailor(fixture.path()).database(&database);
    let import = || {
        let run = cli.run_ok(&["import"]);
        (run.stdout, run.stderr)
    };
    let (stdout, _) = import();
    assert!(stdout.contains("added placement home.hero"), "{stdout}");
    assert!(
        stdout.contains("added variant home-hero-winter-sale"),
        "{stdout}"
    );
    assert!(
        stdout.contains("added locale file fr-CA/home.ftl"),
        "{stdout}"
    );

    let (stdout, stderr) = import();
    assert!(
        stdout.is_empty(),
        "nothing changed, nothing reported: {stdout}"
    );
    assert!(stderr.contains("0 added, 0 updated"), "{stderr}");

    replace_in(
        &fixture.path().join("locales/en/home.ftl"),
        "Built for the trail",
        "Made for the trail",
    );
    let (stdout, stderr) = import();
    assert_eq!(stdout.trim(), "updated locale file en/home.ftl");
    assert!(stderr.contains("(generation 2)"), "{stderr}");
}

#[test]
fn export_writes_back_what_import_loaded() {
    let fixture = content_fixture(|_| {});
    let database = format!(
        "sqlite://{}?mode=rwc",
        fixture.path().join("export.db").display()
    );
    let cli = tailor(fixture.path()).database(&database);
    cli.run_ok(&["import"]);
    let out = tempfile::tempdir().unwrap();
    let stdout = cli
        .run_ok(&["export", "--out", out.path().to_str().unwrap()])
        .stdout;
    assert!(stdout.contains("placements/home.hero.toml"), "{stdout}");
    // The campaign variant, imported from content/variants/, is exported inside its placement.
    let hero =
        std::fs::read_to_string(out.path().join("content/placements/home.hero.toml")).unwrap();
    assert!(hero.contains("home-hero-winter-sale"));
    // What was exported is valid content, and importing it back changes nothing.
    let run = tailor(out.path()).run(&["validate"]);
    assert!(run.ok(), "{}{}", run.stdout, run.stderr);
    let reimport = tailor(out.path()).database(&database).run(&["import"]);
    assert!(reimport.ok());
    assert!(
        reimport.stderr.contains("0 added, 0 updated"),
        "{reimport:?}"
    );
}

#[tokio::test]
async fn token_mints_development_tokens_the_server_accepts() {
    let mint = |args: &[&str], secret: Option<&str>| {
        let cli = match secret {
            Some(secret) => tailor(&repo_root())
                .env("TAILOR_DEV_MODE", "true")
                .env("TAILOR_DEV_TOKEN_SECRET", secret),
            None => tailor(&repo_root()).env_remove("TAILOR_DEV_TOKEN_SECRET"),
        };
        cli.run(&[&["token"], args].concat())
    };
    // Outside development mode the secret is refused, minting included.
    let production = tailor(&repo_root())
        .env_remove("TAILOR_DEV_MODE")
        .env("TAILOR_DEV_TOKEN_SECRET", DEV_TOKEN_SECRET)
        .run(&["token", "--role", "privacy"]);
    assert!(!production.ok(), "{production:?}");
    assert!(production.stderr.contains("dev_mode"), "{production:?}");
    let output = mint(&["--role", "privacy"], Some(DEV_TOKEN_SECRET));
    assert!(output.ok());
    let token = output.stdout.trim();
    assert_eq!(token.split('.').count(), 3, "the token alone on stdout");

    let app = spawn_app().await;
    let response = app
        .client
        .delete(format!("{}/v1/people/no-such-person", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_problem(response, 404, "not-found", Some("id")).await;

    assert_eq!(
        mint(&["--role", "wizard"], Some(DEV_TOKEN_SECRET))
            .status
            .code(),
        Some(2)
    );
    assert_eq!(mint(&["--role", "privacy"], None).status.code(), Some(2));
    let customer = mint(&["--customer", "C-1"], Some(DEV_TOKEN_SECRET));
    assert!(customer.ok());
}

#[test]
fn validate_checks_segments_and_the_segments_rules_name() {
    let fixture = content_fixture(|root| {
        replace_in(
            &root.join("content/segments.toml"),
            "rule = \"influence_score >= 70\"",
            "rule = 'channel == \"web\"'",
        );
        replace_in(
            &root.join("content/placements/email.welcome.toml"),
            "rule = 'segments contains \"vip\"'",
            "rule = 'segments contains \"vipp\"'",
        );
        replace_in(
            &root.join("content/governance.toml"),
            "window_days = 28\nmin_sample = 2000",
            "window_days = 0\nmin_sample = 2000",
        );
    });
    let Run { status, stdout, .. } = tailor(fixture.path()).run(&["validate"]);
    assert!(!status.success());
    let segments = fixture.path().join("content/segments.toml");
    let line = line_of(&segments, "channel == ");
    assert!(
        stdout.contains(&format!("segments.toml:{line}:"))
            && stdout.contains("may read only traits"),
        "{stdout}"
    );
    let governance = fixture.path().join("content/governance.toml");
    let line = line_of(&governance, "window_days = 0");
    assert!(
        stdout.contains(&format!("governance.toml:{line}:")) && stdout.contains("window_days"),
        "{stdout}"
    );
    let welcome = fixture.path().join("content/placements/email.welcome.toml");
    let line = line_of(&welcome, "vipp");
    assert!(
        stdout.contains(&format!("email.welcome.toml:{line}:"))
            && stdout.contains("unknown segment `vipp`"),
        "{stdout}"
    );
}

#[test]
fn governance_evaluate_runs_the_policies_once_and_prints_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let cli = tailor(&repo_root()).database(&url);
    assert!(cli.run(&["import"]).ok());
    let output = cli.run(&["governance", "evaluate", "--dry-run"]);
    assert!(output.ok(), "{}", output.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&output.stdout).expect("the report as JSON on stdout");
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        report["actions"],
        serde_json::json!([]),
        "no engagement yet: nothing to act on"
    );
    assert!(output.stderr.contains("dry run"));
}

#[test]
fn governance_backtest_and_as_of_judge_past_days_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let cli = tailor(&repo_root()).database(&url);
    assert!(cli.run(&["import"]).ok());
    let today = chrono::Utc::now().date_naive();
    let day = |ago: i64| (today - chrono::Duration::days(ago)).to_string();

    let yesterday = cli.run(&["governance", "evaluate", "--as-of", &day(1)]);
    assert!(yesterday.ok(), "{}", yesterday.stderr);
    let report: serde_json::Value = serde_json::from_str(&yesterday.stdout).unwrap();
    assert_eq!(report["period"], day(1));
    assert_eq!(report["dry_run"], true, "a past day is never acted on");

    let backtest = cli.run(&[
        "governance",
        "backtest",
        "--from",
        &day(2),
        "--to",
        &day(0),
        "--json",
    ]);
    assert!(backtest.ok(), "{}", backtest.stderr);
    let replay: serde_json::Value = serde_json::from_str(&backtest.stdout).unwrap();
    let days = replay["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[0]["day"], day(2));
    assert_eq!(days[2]["retired"], serde_json::json!([]));

    let policy = dir.path().join("try.toml");
    std::fs::write(
        &policy,
        "[[policy]]\nid = \"try-ctr\"\nscope = \"channel\"\nmetric = \"click_through\"\nthreshold = { absolute = 0.5 }\nwindow_days = 7\nmin_sample = 10\nconfidence = 0.95\nconsecutive_failures = 1\nmode = \"propose\"\n",
    )
    .unwrap();
    let tried = cli.run(&[
        "governance",
        "backtest",
        "--from",
        &day(1),
        "--to",
        &day(0),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    assert!(tried.ok(), "{}", tried.stderr);
    assert!(tried.stdout.starts_with("day"), "{}", tried.stdout);
    assert!(tried.stderr.contains("2 days replayed"), "{}", tried.stderr);

    let backwards = cli.run(&["governance", "backtest", "--from", &day(0), "--to", &day(3)]);
    assert!(!backwards.ok());
    assert!(backwards.stderr.contains("--from"), "{}", backwards.stderr);
    let far = cli.run(&[
        "governance",
        "backtest",
        "--from=-262143-01-01",
        "--to=-262143-01-02",
    ]);
    assert_eq!(far.status.code(), Some(1), "{}", far.stderr);
    assert!(far.stderr.contains("2000-01-01"), "{}", far.stderr);
    let twice = dir.path().join("twice.toml");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(&twice, format!("{text}\n{text}")).unwrap();
    let duplicated = cli.run(&[
        "governance",
        "backtest",
        "--from",
        &day(1),
        "--to",
        &day(0),
        "--policy",
        twice.to_str().unwrap(),
    ]);
    assert!(!duplicated.ok());
    assert!(
        duplicated.stderr.contains("given twice"),
        "{}",
        duplicated.stderr
    );
    let future = cli.run(&[
        "governance",
        "evaluate",
        "--as-of",
        &(today + chrono::Duration::days(2)).to_string(),
    ]);
    assert!(!future.ok());
    assert!(future.stderr.contains("--as-of"), "{}", future.stderr);
}
