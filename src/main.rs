//! The `tailor` command: parses the command line and calls the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tailor::catalog::files;
use tailor::{storage, Application, Settings};

#[derive(Parser)]
#[command(
    name = "tailor",
    version,
    about = "Contextual, localised, edge-cacheable content delivery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API (migrates and imports content on start).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080, or TAILOR_BIND).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Check content/ and locales/; exits non-zero with file:line messages.
    Validate,
    /// Apply the database schema.
    Migrate,
    /// Load content/ and locales/ into the database (idempotent; reports changes).
    Import,
    /// Write the database's content back to files (content/ and locales/, or under --out).
    Export {
        /// Write DIR/content and DIR/locales instead of the configured directories.
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Retirement policies.
    Governance {
        #[command(subcommand)]
        action: GovernanceCommand,
    },
    /// Mint a development token (needs TAILOR_DEV_TOKEN_SECRET); prints it alone.
    Token {
        /// A staff token with this role (repeatable).
        #[arg(long, conflicts_with = "customer")]
        role: Vec<String>,
        /// Space-separated scopes for a staff token, e.g. `identify`.
        #[arg(long, default_value = "", conflicts_with = "customer")]
        scope: String,
        /// Staff token subject (who acts).
        #[arg(long, default_value = "dev-staff")]
        subject: String,
        /// An identity token for this customer id.
        #[arg(long)]
        customer: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

#[derive(Subcommand)]
enum GovernanceCommand {
    /// Run the policies once and print the report (JSON); acts unless --dry-run.
    Evaluate {
        /// Judge and report what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Judge as if it were the end of this UTC day (YYYY-MM-DD): windows, periods
        /// and failure runs for that day. Always a dry run.
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
    /// Replay the policies day by day over stored engagement, changing nothing: what
    /// would have been flagged, proposed and retired each day, had they been switched
    /// on at --from.
    Backtest {
        /// First UTC day (YYYY-MM-DD).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last UTC day (YYYY-MM-DD), today at the latest.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Policies to try (a file of `[[policy]]` tables like content/governance.toml)
        /// instead of the stored ones.
        #[arg(long)]
        policy: Option<std::path::PathBuf>,
        /// One JSON document (every day with its findings) instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

/// `tailor governance backtest`: a summary line per day (or `--json`), exit 0.
async fn governance_backtest(
    settings: &Settings,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    policy_file: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    if let Err(problem) = tailor::governance::check_range(from, to) {
        return failed(format!(
            "--{}: {}",
            problem.field.as_deref().unwrap_or("from"),
            problem.detail
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct PolicyFile {
        #[serde(default, rename = "policy")]
        policies: Vec<tailor::governance::policy::PolicyDef>,
    }
    let tried = match policy_file {
        None => None,
        Some(path) => {
            let parsed = read_small(path)
                .and_then(|text| toml::from_str::<PolicyFile>(&text).map_err(|e| e.to_string()))
                .map(|file| file.policies);
            match parsed {
                Ok(policies) => Some(policies),
                Err(e) => return failed(format!("{}: {e}", path.display())),
            }
        }
    };
    let result = async {
        let db = storage::open(&settings.database_url)
            .await
            .map_err(|e| e.to_string())?;
        let (content, _) = storage::load_content(&db)
            .await
            .map_err(|e| e.to_string())?;
        let channels: Vec<&str> = content.channels.iter().map(|c| c.id.as_str()).collect();
        let policies = match tried {
            Some(policies) => {
                if let Some(problem) = tailor::governance::policy::check_list(&policies, &channels)
                {
                    return Err(problem);
                }
                policies
            }
            None => content.policies.clone(),
        };
        tailor::governance::evaluator::backtest(&db, &policies, settings.safeguards(), from, to)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    let days = match result {
        Ok(days) => days,
        Err(e) => return failed(e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"from": from, "to": to, "days": days})
            )
            .unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "-".to_string()
        } else {
            items.join(" ")
        }
    };
    println!("day         flagged | proposed | retired | recovered");
    for day in &days {
        println!(
            "{}  {} | {} | {} | {}",
            day.day,
            list(&day.flagged),
            list(&day.proposed),
            list(&day.retired),
            list(&day.recovered)
        );
    }
    let acted = days.iter().filter(|d| d.acted()).count();
    eprintln!(
        "{} days replayed, {acted} with a retirement or proposal (nothing was changed)",
        days.len()
    );
    ExitCode::SUCCESS
}

/// A policy file, read whole only if it is small (what the API takes in a body).
fn read_small(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    const LIMIT: u64 = 256 * 1024;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > LIMIT {
        return Err("larger than 256 KiB".into());
    }
    Ok(text)
}

fn settings() -> Result<Settings, ExitCode> {
    Settings::load().map_err(|e| {
        eprintln!("tailor: {e}");
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match settings() {
        Ok(s) => s,
        Err(code) => return code,
    };
    tailor::telemetry::init(settings.log_format);
    tailor::l10n::configure_parsed_cache(settings.cache.parsed_fluent_mb << 20);
    match cli.command {
        Command::Serve { bind } => serve(settings, bind).await,
        Command::Governance {
            action: GovernanceCommand::Evaluate { dry_run, as_of },
        } => governance_evaluate(&settings, dry_run, as_of).await,
        Command::Governance {
            action:
                GovernanceCommand::Backtest {
                    from,
                    to,
                    policy,
                    json,
                },
        } => governance_backtest(&settings, from, to, policy.as_deref(), json).await,
        Command::Token {
            role,
            scope,
            subject,
            customer,
            ttl,
        } => token(&settings, &role, &scope, &subject, customer.as_deref(), ttl),
        Command::Validate => validate(&settings),
        Command::Migrate => match storage::open(&settings.database_url).await {
            Ok(_) => {
                eprintln!("migrations applied");
                ExitCode::SUCCESS
            }
            Err(e) => failed(e),
        },
        Command::Export { out } => export(&settings, out).await,
        Command::Import => import(&settings).await,
    }
}

/// `tailor: <error>` on stderr, exit status 1.
fn failed(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("tailor: {error}");
    ExitCode::FAILURE
}

async fn serve(mut settings: Settings, bind: Option<String>) -> ExitCode {
    if let Some(bind) = bind {
        settings.bind = bind;
    }
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(e) => return failed(format_args!("{e:#}")),
    };
    tracing::info!(port = app.port(), "listening");
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(format_args!("server error: {e}")),
    }
}

async fn governance_evaluate(
    settings: &Settings,
    dry_run: bool,
    as_of: Option<chrono::NaiveDate>,
) -> ExitCode {
    if let Some(day) = as_of {
        if let Err(problem) = tailor::governance::check_past_day("as_of", day) {
            return failed(format!("--as-of {day}: {}", problem.detail));
        }
    }
    // A past day is judged, never acted on.
    let dry_run = dry_run || as_of.is_some();
    let now = as_of.map_or_else(chrono::Utc::now, tailor::governance::backtest::end_of);
    let result = async {
        let db = storage::open(&settings.database_url).await?;
        let (content, _) = storage::load_content(&db).await?;
        let report = tailor::governance::evaluator::evaluate(
            &db,
            &content.policies,
            settings.safeguards(),
            now,
            dry_run,
        )
        .await?;
        Ok::<_, storage::StorageError>((db, report))
    }
    .await;
    let (db, report) = match result {
        Ok(done) => done,
        Err(e) => return failed(e),
    };
    // Nodes also notice the new generation by polling; Redis is faster.
    if let (Some(generation), Some(url)) = (report.generation, &settings.redis_url) {
        if let Err(e) = tailor::catalog::live::publish_generation(url, generation).await {
            eprintln!("tailor: could not tell the nodes through Redis: {e}");
        }
    }
    if let Some(generation) = report.generation {
        for key in &report.purge_keys {
            eprintln!("purge {key}");
        }
        // Both rounds: the second once every node has polled the change.
        let purger = tailor::delivery::purge::Purger::new(
            settings,
            Some(db),
            std::sync::Arc::new(tailor::metrics::Metrics::new()),
        );
        if let Some(purging) = purger.purge(
            report.purge_keys.clone(),
            format!("governance evaluation {}", report.period),
            generation,
        ) {
            let _ = purging.await;
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    eprintln!(
        "{} findings, {} actions{}",
        report.findings.len(),
        report.actions.len(),
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
    ExitCode::SUCCESS
}

fn token(
    settings: &Settings,
    role: &[String],
    scope: &str,
    subject: &str,
    customer: Option<&str>,
    ttl: u64,
) -> ExitCode {
    let Some(secret) = &settings.dev_token_secret else {
        eprintln!("tailor: set TAILOR_DEV_TOKEN_SECRET (development only) to mint tokens");
        return ExitCode::from(2);
    };
    let unknown = tailor::auth::unknown_roles(role);
    if !unknown.is_empty() {
        eprintln!(
            "tailor: unknown role(s) {}; known: {}",
            unknown.join(", "),
            tailor::auth::ROLES.join(", ")
        );
        return ExitCode::from(2);
    }
    let minted = match customer {
        Some(customer) => tailor::auth::mint_development(secret, customer, None, ttl),
        None if role.is_empty() && scope.is_empty() => {
            eprintln!("tailor: give --role ROLE (staff) or --customer ID (identity)");
            return ExitCode::from(2);
        }
        None => tailor::auth::mint_development(secret, subject, Some((role, scope)), ttl),
    };
    match minted {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

fn validate(settings: &Settings) -> ExitCode {
    let (loaded, findings) = files::check(
        &settings.content_dir,
        &settings.locales_dir,
        &settings.default_locale,
    );
    for finding in &findings {
        println!("{finding}");
    }
    if !findings.is_empty() {
        eprintln!("{} problem(s) found", findings.len());
        return ExitCode::FAILURE;
    }
    let content = &loaded.content;
    let variants: usize = content.placements.iter().map(|p| p.variants.len()).sum();
    let locales: std::collections::BTreeSet<&str> =
        content.fluent.iter().map(|f| f.locale.as_str()).collect();
    eprintln!(
        "ok: {} channels, {} placements, {} variants, {} locales",
        content.channels.len(),
        content.placements.len(),
        variants,
        locales.len()
    );
    ExitCode::SUCCESS
}

async fn export(settings: &Settings, out: Option<std::path::PathBuf>) -> ExitCode {
    let (content_dir, locales_dir) = match &out {
        Some(dir) => (dir.join("content"), dir.join("locales")),
        None => (settings.content_dir.clone(), settings.locales_dir.clone()),
    };
    let loaded = async {
        let db = storage::open(&settings.database_url).await?;
        storage::load_content(&db).await
    }
    .await;
    let content = match loaded {
        Ok((content, _)) => content,
        Err(e) => return failed(e),
    };
    match files::write(&content, &content_dir, &locales_dir) {
        Ok(written) => {
            for path in &written {
                println!("wrote {}", path.display());
            }
            eprintln!("{} files written", written.len());
            ExitCode::SUCCESS
        }
        Err(e) => failed(e),
    }
}

async fn import(settings: &Settings) -> ExitCode {
    let (loaded, findings) = files::check(
        &settings.content_dir,
        &settings.locales_dir,
        &settings.default_locale,
    );
    if !findings.is_empty() {
        for finding in &findings {
            println!("{finding}");
        }
        eprintln!("{} problem(s) found; nothing imported", findings.len());
        return ExitCode::FAILURE;
    }
    let result = async {
        let db = storage::open(&settings.database_url).await?;
        storage::import(&db, &loaded.content, Some(&files::digest(&loaded.content))).await
    }
    .await;
    let report = match result {
        Ok(report) => report,
        Err(e) => return failed(e),
    };
    for item in &report.added {
        println!("added {item}");
    }
    for item in &report.updated {
        println!("updated {item}");
    }
    for item in &report.kept {
        println!("kept {item} (the database has a newer version; run `tailor export`)");
    }
    for item in &report.conflicts {
        println!("conflict {item}: not imported; export, redo the edit there, import again");
    }
    eprintln!(
        "{} added, {} updated, {} kept, {} unchanged (generation {})",
        report.added.len(),
        report.updated.len(),
        report.kept.len(),
        report.unchanged,
        report.generation
    );
    if let (true, Some(url)) = (report.changed(), &settings.redis_url) {
        if let Err(e) = tailor::catalog::live::publish_generation(url, report.generation).await {
            eprintln!(
                "tailor: imported, but could not tell the servers through Redis ({e}); they will poll"
            );
        }
    }
    if report.conflicts.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{} conflict(s): those files were not imported",
            report.conflicts.len()
        );
        ExitCode::FAILURE
    }
}
