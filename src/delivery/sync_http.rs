//! `GET /v1/sync?channel=&locales=[&cohort=&device=&country=][&since=<token>]`: what a
//! channel may show, pre-rendered for a cohort in each asked locale, then only changes
//! (see [`super::sync`] for the model).

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Serialize;

use super::answer::{self, Outcome};
use super::sync::{self, Entry, Manifest};
use super::Delivery;
use crate::catalog::model::VariantState;
use crate::context::{self, Params, RawRequest};
use crate::problem::{Problem, ProblemType};
use crate::storage;

/// At most this many locales per sync.
const MAX_LOCALES: usize = 5;
/// Stored manifests are kept this long: a client that last synced earlier gets
/// everything again (`"full": true`).
pub const MANIFEST_RETENTION_DAYS: i64 = 30;
/// How often a node deletes manifests past retention.
const SWEEP_EVERY_SECS: u64 = 3600;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SyncAnswer {
    /// Pass as `since=` next time.
    sync_token: String,
    /// `true`: `changed` is everything; replace what you hold. `false`: apply the
    /// changes to what the last sync gave.
    full: bool,
    /// The catalog generation this reflects.
    generation: u64,
    channel: String,
    locales: Vec<String>,
    /// Entries that are new or changed (everything when `full`).
    changed: Vec<SyncItem>,
    /// Variants you held that governance has retired (replaced or not).
    #[schema(value_type = Vec<Object>)]
    retired: Vec<sync::Retired>,
    /// Entries with nothing to show any more: drop them. `reason`: `retired` or `removed`.
    #[schema(value_type = Vec<Object>)]
    removed: Vec<sync::Removed>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SyncItem {
    placement: String,
    /// The locale asked for; `content.locale` says which one served.
    locale: String,
    digest: String,
    /// The content answer, as `GET /v1/content/{placement}` gives it for this cohort.
    #[schema(value_type = Object)]
    content: serde_json::Value,
}

/// `GET /v1/sync`: a channel's content for offline use.
#[utoipa::path(
    get,
    path = "/v1/sync",
    tag = "delivery",
    params(
        ("channel" = String, Query, description = "The channel the app shows content on"),
        ("locales" = String, Query, description = "Comma-separated locales to render, at most 5 (each negotiated with its fallback chain)", pattern = r"^[A-Za-z0-9-]{1,35}(,[A-Za-z0-9-]{1,35}){0,4}$"),
        ("cohort" = Option<String>, Query, description = "Cohort key from GET /v1/context; without it, the answer for an unknown visitor"),
        ("device" = Option<String>, Query),
        ("country" = Option<String>, Query),
        ("since" = Option<String>, Query, description = "The sync_token of the last sync: only changes come back"),
    ),
    responses(
        (status = 200, description = "Everything, or the changes since `since`", body = SyncAnswer),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The channel is retired: drop everything", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the per-client `context` rate limit; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn sync(req: HttpRequest, state: web::Data<Delivery>) -> Result<HttpResponse, Problem> {
    let query = SyncQuery::parse(req.query_string())?;
    let catalog = state.catalog().await?;
    let now = Utc::now();
    let raw = RawRequest {
        query: "",
        accept_language: None,
        ch_ua_mobile: req
            .headers()
            .get("sec-ch-ua-mobile")
            .and_then(|v| v.to_str().ok()),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok()),
        // The answers are the cohort's, never one person's.
        anonymous_id: None,
        authorization: None,
        api_key: None,
    };

    let mut entries = Vec::new();
    let mut contents = Vec::new();
    let mut request_digest = None;
    for locale in &query.locales {
        let params = Params {
            channel: Some(Cow::Borrowed(&query.channel)),
            device: query.device.as_deref().map(Cow::Borrowed),
            locale: Some(Cow::Borrowed(locale)),
            country: query.country.as_deref().map(Cow::Borrowed),
            cohort: query.cohort.as_deref().map(Cow::Borrowed),
            ..Params::default()
        };
        let ctx = context::resolve(&raw, &params, &catalog, &state.signer, now, None).map_err(
            |mut problem| {
                // Each asked locale goes through the `locale` parameter's checks.
                if problem.field.as_deref() == Some("locale") {
                    problem.field = Some("locales".into());
                }
                problem
            },
        )?;
        request_digest.get_or_insert_with(|| {
            let cohort = ctx
                .cohort
                .as_ref()
                .map(|c| format!("{}|{}|{}", c.b, c.s.join(","), c.o.join(",")))
                .unwrap_or_default();
            format!(
                "{:016x}",
                crate::catalog::stable_hash(&[
                    query.channel.as_bytes(),
                    query.locales.join(",").as_bytes(),
                    ctx.device.as_str().as_bytes(),
                    ctx.country.as_deref().unwrap_or("").as_bytes(),
                    cohort.as_bytes(),
                ])
            )
        });
        for placement in &catalog.placements {
            if placement.channels & (1u64 << ctx.channel) == 0 {
                continue;
            }
            match answer::answer(&state, &catalog, &ctx, &placement.id, false)? {
                Outcome::Content { answer, .. } => {
                    let content: serde_json::Value = serde_json::from_slice(&answer.body)
                        .map_err(|e| Problem::new(ProblemType::Internal, e.to_string()))?;
                    let variant = content["variant"]["id"].as_str().unwrap_or("").to_string();
                    entries.push(Entry {
                        placement: placement.id.to_string(),
                        locale: locale.clone(),
                        digest: sync::digest_of(&content),
                        variant,
                    });
                    contents.push(content);
                }
                Outcome::Empty { .. } => {}
            }
        }
    }
    let request_digest = request_digest.unwrap_or_default();

    // The contents in the manifest's order.
    let mut by_key: std::collections::HashMap<(String, String), serde_json::Value> = entries
        .iter()
        .map(|e| (e.placement.clone(), e.locale.clone()))
        .zip(contents)
        .collect();
    let manifest = Manifest::new(entries);
    let id = manifest.id();
    remember(&state, &id, &manifest).await?;

    let previous = match query.since.as_deref() {
        Some(token) => previous_manifest(&state, token, &request_digest).await?,
        None => None,
    };
    let is_retired = |variant: &str| {
        catalog.placements.iter().any(|p| {
            p.variants
                .iter()
                .any(|v| *v.id == *variant && v.state == VariantState::Retired)
        })
    };
    let (full, delta) = match &previous {
        Some(old) => (false, sync::diff(old, &manifest, is_retired)),
        None => (
            true,
            sync::Delta {
                changed: (0..manifest.entries().len()).collect(),
                ..Default::default()
            },
        ),
    };
    let changed = delta
        .changed
        .iter()
        .map(|&i| {
            let entry = &manifest.entries()[i];
            SyncItem {
                placement: entry.placement.clone(),
                locale: entry.locale.clone(),
                digest: entry.digest.clone(),
                content: by_key
                    .remove(&(entry.placement.clone(), entry.locale.clone()))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let answer = SyncAnswer {
        sync_token: state
            .signer
            .sync_token(&id, &request_digest, now.timestamp().max(0) as u64),
        full,
        generation: catalog.generation,
        channel: query.channel,
        locales: query.locales,
        changed,
        retired: delta.retired,
        removed: delta.removed,
    };
    Ok(HttpResponse::Ok()
        // A cohort's sync could be shared, but it is small traffic and its token is
        // the client's own bookmark: keep it out of shared caches.
        .insert_header(("Cache-Control", "private, no-store"))
        .json(answer))
}

/// The query, checked: every problem names its parameter.
struct SyncQuery {
    channel: String,
    locales: Vec<String>,
    device: Option<String>,
    country: Option<String>,
    cohort: Option<String>,
    since: Option<String>,
}

impl SyncQuery {
    fn parse(query: &str) -> Result<SyncQuery, Problem> {
        let mut params = crate::problem::single_params(
            query,
            &["channel", "locales", "device", "country", "cohort", "since"],
        )?;
        let mut take = |name| params.remove(name).map(std::borrow::Cow::into_owned);
        let (channel, locales, device, country, cohort, since) = (
            take("channel"),
            take("locales"),
            take("device"),
            take("country"),
            take("cohort"),
            take("since"),
        );
        let channel = channel
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Problem::invalid("channel", "give the channel to sync"))?;
        let locales: Vec<String> = locales
            .ok_or_else(|| {
                Problem::invalid("locales", "give the locales to render: locales=fr-CA,en")
            })?
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        if locales.is_empty() || locales.len() > MAX_LOCALES {
            return Err(Problem::invalid(
                "locales",
                format!("give 1 to {MAX_LOCALES} locales"),
            ));
        }
        if locales.iter().enumerate().any(|(i, l)| {
            locales[..i].iter().any(|earlier| {
                earlier
                    .replace('_', "-")
                    .eq_ignore_ascii_case(&l.replace('_', "-"))
            })
        }) {
            return Err(Problem::invalid("locales", "a locale is listed twice"));
        }
        if since.as_deref().is_some_and(str::is_empty) {
            return Err(Problem::invalid(
                "since",
                "give the sync_token of the last sync",
            ));
        }
        Ok(SyncQuery {
            channel,
            locales,
            device,
            country,
            cohort,
            since,
        })
    }
}

/// Stores the manifest once (this node remembers which ones it stored), and now and then
/// forgets those past retention.
async fn remember(state: &Delivery, id: &str, manifest: &Manifest) -> Result<(), Problem> {
    if state.sync_manifests.contains_key(id) {
        return Ok(());
    }
    let json: Arc<str> = manifest.to_json().into();
    storage::sync::remember(&state.db, id, &json).await?;
    state.sync_manifests.insert(id.to_string(), json);
    let now = Utc::now().timestamp().max(0) as u64;
    let last = state.sync_swept.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= SWEEP_EVERY_SECS
        && state
            .sync_swept
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        if let Err(e) = storage::sync::forget_older_than(&state.db, MANIFEST_RETENTION_DAYS).await {
            tracing::warn!(error = %e, "could not forget old sync manifests");
        }
    }
    Ok(())
}

/// The manifest `token` names, when it continues this same sync and is still kept;
/// `None` means the client gets everything again.
async fn previous_manifest(
    state: &Delivery,
    token: &str,
    request_digest: &str,
) -> Result<Option<Manifest>, Problem> {
    let claims = state.signer.verify_sync(token).map_err(|_| {
        Problem::invalid(
            "since",
            "not a sync token from this service; sync without it",
        )
    })?;
    if claims.q != request_digest {
        // Another channel, locale list, device or cohort: the client's store is for
        // something else, so it gets everything.
        return Ok(None);
    }
    let json = match state.sync_manifests.get(&claims.m) {
        Some(json) => Some(json),
        None => storage::sync::manifest(&state.db, &claims.m)
            .await?
            .map(Arc::<str>::from),
    };
    Ok(json.and_then(|json| {
        state.sync_manifests.insert(claims.m.clone(), json.clone());
        Manifest::from_json(&json)
    }))
}
