//! One placement's answer: decide, render (or reuse a cached rendering), and say how the
//! answer may be shared.

use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use bytes::Bytes;
use fluent_bundle::{FluentArgs, FluentValue};
use serde::ser::SerializeMap;
use serde::Serialize;

use super::Delivery;
use crate::catalog::rules::Value;
use crate::catalog::{Catalog, CompiledField, Variant};
use crate::context::{Attributes, HeadersRead, RequestContext};
use crate::decide::{blocks, chosen, decide_allocated, Blocked, PlacementFacts};
use crate::l10n::Chain;
use crate::problem::{Problem, ProblemType};
use crate::render::{render_live, Warning};
use crate::shaping::SmsInfo;

/// Key of a shareable rendering. The generation makes every publish a clean slate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RenderKey {
    generation: u64,
    placement: u32,
    variant: u32,
    channel: u8,
    device: u8,
    chain: Arc<Chain>,
    /// The segment set (its tracking token names it); 0 for none.
    segments: u64,
    /// When the answer's tracking token was issued: a new stretch of its lifetime is a
    /// new rendering, so a cached answer never carries an expiring token for long.
    issued_at: u64,
}

/// A rendered answer, ready to send.
pub struct CachedAnswer {
    pub body: Bytes,
    pub etag: HeaderValue,
    /// `placement/<id> variant/<id> channel/<id>`, for purges.
    pub purge_keys: PurgeKeys,
    pub personal: bool,
}

/// Purge keys as ready-made header values (`Surrogate-Key` space-separated, `Cache-Tag`
/// comma-separated): built once per rendering, cloned by reference count per response.
#[derive(Clone, Debug)]
pub struct PurgeKeys {
    pub keys: String,
    pub surrogate_key: HeaderValue,
    pub cache_tag: HeaderValue,
}

impl PurgeKeys {
    pub fn new(keys: String) -> PurgeKeys {
        // Ids are validated to [a-z0-9_.-], so these are always valid header values.
        let header = |value: String| {
            HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
        };
        PurgeKeys {
            surrogate_key: header(keys.clone()),
            cache_tag: header(keys.replace(' ', ",")),
            keys,
        }
    }
}

/// Who may keep an answer, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sharing {
    pub private: bool,
    pub max_age: u32,
    /// Seconds until a schedule boundary can change the answer: neither freshness nor
    /// staleness may outlive it, or an ended campaign would live on in caches.
    pub until_change: Option<u32>,
    /// A rule read the clock: short-lived, never served stale.
    pub temporal: bool,
    /// Who the person is could change the answer (several candidates, a rule on the
    /// bucket, a trait rule): `X-Anonymous-Id` belongs in `Vary` if it was looked at.
    pub person_matters: bool,
}

impl Sharing {
    pub fn shared() -> Sharing {
        Sharing {
            private: false,
            max_age: u32::MAX,
            until_change: None,
            temporal: false,
            person_matters: false,
        }
    }

    pub fn merge(&mut self, other: &Sharing) {
        self.private |= other.private;
        self.max_age = self.max_age.min(other.max_age);
        self.until_change = match (self.until_change, other.until_change) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.temporal |= other.temporal;
        self.person_matters |= other.person_matters;
    }

    /// Headers the answer depends on; the person headers only when the person mattered.
    pub fn vary(&self, read: HeadersRead) -> HeadersRead {
        HeadersRead {
            anonymous_id: read.anonymous_id && self.person_matters,
            authorization: read.authorization && self.person_matters,
            ..read
        }
    }
}

pub enum Outcome {
    Content {
        answer: Arc<CachedAnswer>,
        sharing: Sharing,
    },
    Empty {
        sharing: Sharing,
        placement: Arc<str>,
    },
}

/// Time-dependent rules can change the answer at any minute.
const TEMPORAL_MAX_AGE: u32 = 60;

/// Has the request's person reached the placement's frequency cap? Answers from
/// `fatigue`, this node's cache of their recent impressions; a miss (or no cache, as in
/// preview) reads them from the database, through its breaker when `database` is given
/// (a request path: an outage is then an error the caller can degrade on).
pub async fn is_capped(
    fatigue: Option<&super::FatigueCache>,
    db: &sea_orm::DatabaseConnection,
    database: Option<&crate::resilience::Dependency>,
    catalog: &Catalog,
    ctx: &RequestContext,
    placement_id: &str,
) -> Result<bool, crate::storage::StorageError> {
    let (Some((_, placement)), Some(person)) = (catalog.placement(placement_id), &ctx.person)
    else {
        return Ok(false);
    };
    let Some(cap) = placement.frequency_cap else {
        return Ok(false);
    };
    let window_start = ctx.now - chrono::Duration::days(i64::from(cap.days));
    let key = (person.key.clone(), placement.id.clone());
    let times = match fatigue.and_then(|f| f.get(&key)) {
        Some(times) => times,
        None => {
            let read = crate::storage::events::impressions_since(
                db,
                &person.key,
                &placement.id,
                window_start,
            );
            let times = Arc::new(match database {
                Some(database) => {
                    database
                        .call(read, crate::storage::StorageError::is_outage)
                        .await?
                }
                None => read.await?,
            });
            if let Some(fatigue) = fatigue {
                fatigue.insert(key, times.clone());
            }
            times
        }
    };
    let recent = times.iter().filter(|t| **t >= window_start).count();
    Ok(recent >= cap.impressions as usize)
}

pub fn answer(
    state: &Delivery,
    catalog: &Catalog,
    ctx: &RequestContext,
    placement_id: &str,
    capped: bool,
) -> Result<Outcome, Problem> {
    let (placement_index, placement) = catalog.placement(placement_id).ok_or_else(|| {
        Problem::new(
            ProblemType::UnknownPlacement,
            format!("no placement `{placement_id}`"),
        )
        .with_field("placement")
    })?;
    // A person who opted out of this channel gets nothing on it, whichever id named them.
    // A cohort key carries its members' opt-outs: the empty answer is then the same for
    // all of them, so it stays shareable.
    let channel_id = &catalog.channels[ctx.channel].id;
    let person_opted_out = ctx.person.as_ref().and_then(|p| p.consent(channel_id)) == Some(false);
    let cohort_opted_out = ctx
        .cohort
        .as_ref()
        .is_some_and(|c| c.o.iter().any(|o| **o == **channel_id));
    let facts = PlacementFacts {
        // Context resolution answered 410 for a retired channel already.
        channel_retired: false,
        opted_out: person_opted_out || cohort_opted_out,
        capped,
        ..PlacementFacts::new(placement, ctx.channel)
    };
    // The first block decides; a capped placement still needs the decision (below) for
    // how its empty answer may be shared.
    let blocked = blocks(&facts).next();
    match blocked {
        Some(Blocked::ChannelNotOffered) => {
            return Err(Problem::new(
                ProblemType::UnknownPlacement,
                format!("placement `{placement_id}` is not offered on channel `{channel_id}`"),
            )
            .with_field("placement"));
        }
        Some(Blocked::OptedOut) => {
            return Ok(Outcome::Empty {
                sharing: Sharing {
                    private: person_opted_out,
                    person_matters: true,
                    ..Sharing::shared()
                },
                placement: placement.id.clone(),
            });
        }
        Some(Blocked::ChannelRetired | Blocked::FrequencyCap) | None => {}
    }
    let attributes = Attributes {
        context: ctx,
        catalog,
    };
    let input = ctx.decision_input(&attributes);
    let decision = decide_allocated(placement, catalog.allocation(placement), &input);
    let mut sharing = Sharing {
        private: decision.personal,
        max_age: if decision.temporal {
            TEMPORAL_MAX_AGE
        } else {
            u32::MAX
        },
        until_change: decision
            .next_change
            .map(|next| (next - ctx.now).num_seconds().clamp(1, i64::from(u32::MAX)) as u32),
        temporal: decision.temporal,
        // A capped placement answers differently for people who have seen it enough; a
        // person the graph knows may have withdrawn consent by the next request.
        person_matters: decision.bucket_sensitive
            || decision.personal
            || placement.frequency_cap.is_some()
            || ctx.person.as_ref().is_some_and(|p| p.record.is_some()),
    };
    if blocked.is_some() {
        sharing.private = true;
        return Ok(Outcome::Empty {
            sharing,
            placement: placement.id.clone(),
        });
    }
    let Some(chosen) = chosen(&facts, &decision) else {
        return Ok(Outcome::Empty {
            sharing,
            placement: placement.id.clone(),
        });
    };
    let (rendered, personal_render, tracked) =
        rendering(state, catalog, ctx, placement_index, placement, chosen);
    // Trait values went into rendering: private even if no placeable showed them.
    sharing.private |= rendered.personal || personal_render || tracked;
    Ok(Outcome::Content {
        sharing,
        answer: rendered,
    })
}

/// The chosen variant's answer: built for this request when it carries the person
/// (trait placeables, tracked links), else from (or into) the shared rendering cache.
/// With whether trait values were rendered and whether the links name the person.
fn rendering(
    state: &Delivery,
    catalog: &Catalog,
    ctx: &RequestContext,
    placement_index: usize,
    placement: &crate::catalog::Placement,
    chosen: usize,
) -> (Arc<CachedAnswer>, bool, bool) {
    let variant = &placement.variants[chosen];
    let personal_render = ctx.has_traits()
        && variant
            .fields
            .iter()
            .any(|f| matches!(f.value, CompiledField::Message { personal: true, .. }));
    // Tracked links name the person so their clicks and opens count for them (link tokens
    // are readable, so an unverified caller's links carry only the id they sent).
    let channel_def = &catalog.channels[ctx.channel].def;
    let tracked_person = ctx
        .person
        .as_ref()
        .filter(|_| channel_def.tracked_links)
        .map(|p| p.visible_key());
    let validity = state.token_lifetimes.current(
        &catalog.channels[ctx.channel].id,
        ctx.now.timestamp().max(0) as u64,
    );
    let rendered = if personal_render || tracked_person.is_some() {
        Arc::new(build(
            state,
            catalog,
            ctx,
            variant,
            &placement.id,
            personal_render,
            tracked_person,
            validity,
        ))
    } else {
        let key = RenderKey {
            generation: catalog.generation,
            placement: placement_index as u32,
            variant: chosen as u32,
            channel: ctx.channel as u8,
            device: ctx.device as u8,
            chain: ctx.chain.clone(),
            segments: if ctx.segments.is_empty() {
                0
            } else {
                crate::catalog::stable_hash(
                    &ctx.segments
                        .iter()
                        .map(|s| s.as_bytes())
                        .collect::<Vec<_>>(),
                )
            },
            issued_at: validity.issued_at,
        };
        if let Some(hit) = state.rendered.get(&key) {
            state.metrics.render_cache.with_label_values(&["hit"]).inc();
            hit
        } else {
            state
                .metrics
                .render_cache
                .with_label_values(&["miss"])
                .inc();
            let built = Arc::new(build(
                state,
                catalog,
                ctx,
                variant,
                &placement.id,
                false,
                None,
                validity,
            ));
            state.rendered.insert(key, built.clone());
            built
        }
    };
    (rendered, personal_render, tracked_person.is_some())
}

struct Fields<'a>(&'a [(Arc<str>, serde_json::Value)]);

impl Serialize for Fields<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(&**name, value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct VariantRef<'a> {
    id: &'a str,
    version: u32,
}

/// Tracked URLs for channels whose links are counted (email, SMS).
#[derive(Serialize)]
struct Tracking {
    /// Link field → tracked redirect URL.
    links: std::collections::BTreeMap<String, String>,
    /// Email only: the open pixel.
    #[serde(skip_serializing_if = "Option::is_none")]
    open_pixel: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    placement: &'a str,
    variant: VariantRef<'a>,
    locale: &'a str,
    channel: &'a str,
    device: &'a str,
    fields: Fields<'a>,
    tracking_token: String,
    warnings: &'a [Warning],
    #[serde(skip_serializing_if = "Option::is_none")]
    sms: Option<SmsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tracking: Option<Tracking>,
}

#[allow(clippy::too_many_arguments)]
fn build(
    state: &Delivery,
    catalog: &Catalog,
    ctx: &RequestContext,
    variant: &Variant,
    placement: &str,
    with_traits: bool,
    person: Option<&str>,
    validity: crate::tokens::Validity,
) -> CachedAnswer {
    let channel = &catalog.channels[ctx.channel].id;
    let args = fluent_args(catalog, ctx, with_traits);
    let (rendered, answered) = render_live(catalog, variant, ctx.channel, &ctx.chain, &args);
    let locale = catalog.l10n.locale_name(answered);
    let mut claims = crate::tokens::Signer::tracking_claims(
        placement,
        &variant.id,
        variant.version,
        channel,
        ctx.device.as_str(),
        locale,
        catalog.generation,
        validity,
    );
    // Segments come sorted from cohort keys and from the catalog's definition order.
    claims.sg = ctx.segments.join(",");
    let tracking_token = state.signer.sign_tracking(&claims);
    let channel_def = &catalog.channels[ctx.channel].def;
    let tracking = channel_def.tracked_links.then(|| Tracking {
        links: variant
            .fields
            .iter()
            .filter(|f| f.kind == crate::catalog::model::FieldKind::Link)
            .map(|f| {
                let token = state.signer.link_token(&claims, Some(&f.name), person);
                (
                    f.name.to_string(),
                    format!("{}/v1/t/{token}", state.public_url),
                )
            })
            .collect(),
        open_pixel: (channel_def.text == crate::catalog::model::TextMode::Html).then(|| {
            let token = state.signer.link_token(&claims, None, person);
            format!("{}/v1/o/{token}.gif", state.public_url)
        }),
    });
    let body = Body {
        placement,
        variant: VariantRef {
            id: &variant.id,
            version: variant.version,
        },
        locale,
        channel,
        device: ctx.device.as_str(),
        fields: Fields(&rendered.fields),
        tracking_token,
        warnings: &rendered.warnings,
        sms: rendered.sms,
        tracking,
    };
    let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    CachedAnswer {
        etag: etag_of(&body),
        purge_keys: PurgeKeys::new(format!(
            "placement/{placement} variant/{} channel/{channel}",
            variant.id
        )),
        personal: rendered.personal,
        body,
    }
}

/// The variables messages see: the context's channel and device, and the person's
/// traits when they may be rendered.
pub fn fluent_args<'a>(
    catalog: &'a Catalog,
    ctx: &RequestContext,
    with_traits: bool,
) -> FluentArgs<'a> {
    let mut args = FluentArgs::new();
    args.set(
        "channel",
        FluentValue::from(catalog.channels[ctx.channel].id.to_string()),
    );
    args.set("device", FluentValue::from(ctx.device.as_str()));
    if with_traits {
        for (def, value) in catalog.traits.iter().zip(&ctx.traits) {
            match value {
                Some(Value::Text(s)) => args.set(def.id.as_str(), FluentValue::from(s.to_string())),
                Some(Value::Number(n)) => args.set(def.id.as_str(), FluentValue::from(*n)),
                Some(Value::Bool(b)) => args.set(def.id.as_str(), FluentValue::from(b.to_string())),
                _ => {}
            }
        }
    }
    args
}

/// The answer `body` (an object with a `warnings` list, or a batch) with `extra`
/// warnings added. Only for degraded answers, which are rare and never cached shared:
/// the cached rendering stays as it was.
pub fn with_warnings(body: &[u8], extra: &[Warning]) -> Bytes {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(body) else {
        return Bytes::copy_from_slice(body);
    };
    let warnings = object
        .entry("warnings")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let serde_json::Value::Array(list) = warnings {
        list.extend(extra.iter().filter_map(|w| serde_json::to_value(w).ok()));
    }
    Bytes::from(serde_json::to_vec(&object).unwrap_or_default())
}

pub fn etag_of(body: &[u8]) -> HeaderValue {
    let hash = xxhash_rust::xxh3::xxh3_128(body);
    HeaderValue::from_str(&format!("\"{hash:032x}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The batch's item for a placement with nothing eligible.
pub fn empty_decision(
    placement: &str,
    catalog: &Catalog,
    ctx: &RequestContext,
) -> serde_json::Value {
    serde_json::json!({
        "placement": placement,
        "variant": null,
        "locale": &**catalog.l10n.locale_name(ctx.chain.primary()),
        "fields": {},
        "tracking_token": null,
        "warnings": [{"code": "no-eligible-variant", "detail": "no variant of this placement is eligible for this context"}],
    })
}

/// OpenAPI shape of a content answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ContentAnswerDoc {
    placement: String,
    /// `{"id", "version"}` of the chosen variant.
    variant: serde_json::Value,
    /// The locale actually used.
    locale: String,
    channel: String,
    device: String,
    /// Rendered fields by name: strings for text/html/image/link, JSON for data.
    fields: serde_json::Value,
    /// Signed token naming the decision (never the person); send it back with events.
    tracking_token: String,
    warnings: Vec<Warning>,
    /// SMS only: encoding and segment count of the body.
    sms: Option<SmsInfo>,
}

/// One placement's item in a batch: its answer, an empty decision, or its problem.
pub struct BatchItemDoc;

impl utoipa::PartialSchema for BatchItemDoc {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::openapi::any_of(&["ContentAnswerDoc", "EmptyDecisionDoc", "Problem"])
    }
}

impl utoipa::ToSchema for BatchItemDoc {}

/// A placement with nothing eligible, in a batch (alone, it is a `204`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EmptyDecisionDoc {
    placement: String,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    variant: (),
    locale: String,
    fields: serde_json::Value,
    /// Always `null`.
    #[schema(value_type = Option<String>)]
    tracking_token: (),
    warnings: Vec<Warning>,
}

/// OpenAPI shape of the batch answer.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct BatchDoc {
    items: Vec<BatchItemDoc>,
    /// Only on a degraded answer (a dependency was down): what it had to do without,
    /// e.g. `person-unresolved`, `frequency-cap-unchecked`.
    warnings: Option<Vec<Warning>>,
}
