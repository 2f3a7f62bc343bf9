//! `POST /v1/admin/preview`: what a context would get from a placement, and why. The
//! preview compiles its own catalog from the live content (plus, for authors, the
//! newest unpublished versions of the placement's variants and of every Fluent
//! resource), then runs the same context resolution, eligibility gate
//! ([`crate::decide::blocks`], [`crate::decide::eligibility`]), selection and rendering
//! as delivery, and explains every variant's eligibility gate by gate.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::workflow::Stage;
use super::Authoring;
use crate::auth::StaffUser;
use crate::catalog::model::{ChannelState, ContentSet, VariantDef, VariantState};
use crate::catalog::{Catalog, Placement, Variant};
use crate::context::{self, Attributes, Params, RawRequest, RequestContext};
use crate::decide::{
    blocks, chosen, decide_allocated, eligibility, eligible, Blocked, Decision, DecisionInput,
    Ineligible, PlacementFacts,
};
use crate::identity::Person;
use crate::problem::{read_json, Problem, ProblemType};
use crate::render::{render_live, Warning};
use crate::storage::authoring::{self as store, Kind};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub placement: String,
    /// Default `web`.
    #[serde(default)]
    pub channel: Option<String>,
    /// A device class; default `desktop`.
    #[serde(default)]
    pub device: Option<String>,
    /// Locales to render in, most preferred first (the first also drives selection);
    /// default: the default locale.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub locales: Vec<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    /// Trait values (they win over a person's stored traits).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub traits: BTreeMap<String, serde_json::Value>,
    /// A person of the identity graph: their traits, segments, consents, bucket and
    /// frequency caps apply.
    #[serde(default)]
    pub person_id: Option<String>,
    /// An anonymous visitor (their bucket and caps).
    #[serde(default)]
    pub anonymous_id: Option<String>,
    /// The moment to preview (schedules); default now.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    /// Include the newest unpublished version of each variant and Fluent resource.
    #[serde(default)]
    pub include_unpublished: bool,
    /// Render this variant even if another would be chosen.
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Reason {
    /// `state`, `channel`, `device`, `not_started`, `ended`, `rule`, `channel_retired`,
    /// `channel_not_offered`, `opted_out`, `frequency_cap`, `outranked`, `not_picked`.
    pub code: &'static str,
    pub detail: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VariantExplained {
    pub id: String,
    pub version: u32,
    /// `published`, or the workflow stage of an unpublished version being previewed.
    pub state: String,
    pub eligible: bool,
    pub chosen: bool,
    /// Why it was not eligible or not chosen; empty when chosen.
    pub reasons: Vec<Reason>,
    pub live_locales: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RenderedLocale {
    /// The locale asked for.
    pub requested: String,
    /// The locale answered (the first of the chain the variant is live in).
    pub locale: String,
    pub variant: String,
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub warnings: Vec<Warning>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChosenVariant {
    pub id: String,
    pub version: u32,
    pub state: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviewAnswer {
    pub placement: String,
    pub channel: String,
    pub channel_state: String,
    pub at: DateTime<Utc>,
    /// The variant the context gets; `null` when nothing is eligible or a block applies.
    pub chosen: Option<ChosenVariant>,
    pub variants: Vec<VariantExplained>,
    /// The chosen (or requested) variant, rendered in each requested locale.
    pub rendered: Vec<RenderedLocale>,
}

crate::role_set!(
    /// Authors, and privacy staff (who may name a stored person).
    pub Previewers = Marketer, Reviewer, Publisher, Admin, Privacy);

/// `POST /v1/admin/preview`
#[utoipa::path(post, path = "/v1/admin/preview", tag = "authoring", request_body = PreviewRequest,
    responses((status = 200, body = PreviewAnswer), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn preview(
    payload: web::Payload,
    state: web::Data<Authoring>,
    claims: StaffUser<Previewers>,
) -> Result<HttpResponse, Problem> {
    let request: PreviewRequest =
        read_json(payload, 64 * 1024, "a preview request is at most 64 KiB").await?;
    // A stored person's traits and consents are personal data: authors preview with
    // traits they give; only privacy staff and admins name a person.
    if request.person_id.is_some()
        && !super::http::PERSON_READERS
            .iter()
            .any(|role| claims.has(*role))
    {
        return Err(Problem::new(
            ProblemType::Forbidden,
            "previewing a stored person needs the role privacy or admin; give traits instead",
        )
        .with_field("person_id"));
    }
    if request.locales.len() > 10 {
        return Err(Problem::invalid("locales", "give at most 10 locales"));
    }
    let staged = staged_catalog(&state, &request).await?;
    let catalog = &staged.catalog;
    let person = person_of(&state, &request).await?;
    let locales = if request.locales.is_empty() {
        vec![state.default_locale.clone()]
    } else {
        request.locales.clone()
    };
    let at = request.at.unwrap_or_else(Utc::now);
    let ctx = context_of(
        &state,
        &request,
        catalog,
        &staged.channel,
        &locales,
        at,
        person,
    )?;
    let (_, placement) = catalog.placement(&request.placement).ok_or_else(|| {
        Problem::new(
            ProblemType::UnknownPlacement,
            "the placement did not compile",
        )
        .with_field("placement")
    })?;
    // The same gate as delivery's, every block kept.
    let facts = PlacementFacts {
        channel_retired: staged.channel_state == ChannelState::Retired,
        opted_out: ctx.person.as_ref().and_then(|p| p.consent(&staged.channel)) == Some(false),
        capped: crate::delivery::is_capped(
            None,
            &state.db,
            None,
            catalog,
            &ctx,
            &request.placement,
        )
        .await
        .map_err(Problem::from)?,
        ..PlacementFacts::new(placement, ctx.channel)
    };
    let attributes = Attributes {
        context: &ctx,
        catalog,
    };
    let input = ctx.decision_input(&attributes);
    let decision = decide_allocated(placement, catalog.allocation(placement), &input);
    let chosen_index = chosen(&facts, &decision);
    let variants = explain_variants(&staged, placement, &facts, &input, &decision);
    let shown = match &request.variant {
        Some(id) => Some(
            placement
                .variants
                .iter()
                .position(|v| *v.id == **id)
                .ok_or_else(|| {
                    Problem::new(
                        ProblemType::NotFound,
                        format!("placement `{}` has no variant `{id}`", placement.id),
                    )
                    .with_field("variant")
                })?,
        ),
        None => decision.variant,
    };
    let rendered = match shown {
        Some(index) => render(catalog, &ctx, &placement.variants[index], &locales)?,
        None => Vec::new(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(PreviewAnswer {
            placement: placement.id.to_string(),
            channel: staged.channel.clone(),
            channel_state: staged.channel_state.as_str().to_string(),
            at,
            chosen: chosen_index.map(|i| {
                let v = &placement.variants[i];
                ChosenVariant {
                    id: v.id.to_string(),
                    version: v.version,
                    state: staged
                        .pending
                        .get(v.id.as_ref())
                        .map_or("published", |s| s.as_str())
                        .to_string(),
                }
            }),
            variants,
            rendered,
        }))
}

/// The catalog a preview runs on, and what it needs to explain it.
struct Staged {
    catalog: Catalog,
    /// The channel asked for, and its real state (compiled as active, so a retired
    /// channel's would-be answer can still be shown).
    channel: String,
    channel_state: ChannelState,
    /// Unpublished versions standing in for the live ones, by variant id.
    pending: HashMap<String, Stage>,
    /// Each variant's rule as written, to quote it.
    rules: HashMap<String, String>,
}

/// Compiles the live content (plus, when asked, the newest unpublished versions of the
/// placement's variants and of every Fluent resource) with the channel active.
async fn staged_catalog(state: &Authoring, request: &PreviewRequest) -> Result<Staged, Problem> {
    let (mut content, mut fluent) = preview_content(state, &request.placement).await?;
    let placement_def = content
        .placements
        .iter_mut()
        .find(|p| p.id == request.placement && !p.archived)
        .ok_or_else(|| {
            Problem::new(
                ProblemType::UnknownPlacement,
                format!("no placement `{}`", request.placement),
            )
            .with_field("placement")
        })?;
    // Unpublished versions stand in for the live ones, as if published.
    let mut pending: HashMap<String, Stage> = HashMap::new();
    if request.include_unpublished {
        for version in
            store::latest_pending_per_target(&state.db, Kind::Variant, Some(&request.placement))
                .await?
        {
            if !version.stage.is_pending() {
                continue;
            }
            let Ok(mut def) = serde_json::from_str::<VariantDef>(&version.document) else {
                continue;
            };
            def.state = VariantState::Published;
            pending.insert(def.id.clone(), version.stage);
            match placement_def.variants.iter_mut().find(|v| v.id == def.id) {
                Some(existing) => *existing = def,
                None => placement_def.variants.push(def),
            }
        }
        if let Some(files) = state.pending_fluent(fluent.files()).await? {
            fluent = PreviewFluent::Stored(files);
        }
    }
    let rules: HashMap<String, String> = placement_def
        .variants
        .iter()
        .filter_map(|v| Some((v.id.clone(), v.rule.clone()?)))
        .collect();
    let channel = request.channel.clone().unwrap_or_else(|| "web".into());
    let channel_state = content
        .channels
        .iter_mut()
        .find(|c| c.id == channel)
        .map(|c| std::mem::replace(&mut c.state, ChannelState::Active))
        .ok_or_else(|| Problem::invalid("channel", format!("unknown channel `{channel}`")))?;
    let default_locale = state.default_locale.clone();
    let placement_id = request.placement.clone();
    let mut catalog = tokio::task::spawn_blocking(move || match fluent {
        PreviewFluent::Serving { l10n, .. } => Catalog::compile_with_l10n(&content, l10n, 0).0,
        PreviewFluent::Stored(files) => {
            Catalog::compile_with_fluent(&content, &files, &default_locale, 0).0
        }
    })
    .await
    .map_err(|e| Problem::internal(&e))?;
    // An adaptive placement previews with the slots it is served with.
    let live = state.catalog.current().await?;
    let served = live
        .placement(&placement_id)
        .and_then(|(_, p)| live.allocation(p).cloned());
    if let (Some(serving), Some((_, staged))) = (served, catalog.placement(&placement_id)) {
        let rebuilt = serving.for_placement(staged);
        let id = staged.id.clone();
        catalog.allocations.insert(id, rebuilt);
    }
    Ok(Staged {
        catalog,
        channel,
        channel_state,
        pending,
        rules,
    })
}

/// The Fluent resources a preview renders with.
enum PreviewFluent {
    /// The serving catalog's, already compiled (its content is what the database holds).
    Serving {
        source: Arc<ContentSet>,
        l10n: crate::l10n::L10n,
    },
    /// Read from the database, or with unpublished versions in place: compiled anew.
    Stored(Vec<crate::catalog::model::FluentFile>),
}

impl PreviewFluent {
    fn files(&self) -> &[crate::catalog::model::FluentFile] {
        match self {
            PreviewFluent::Serving { source, .. } => &source.fluent,
            PreviewFluent::Stored(files) => files,
        }
    }
}

/// What a preview compiles: the serving catalog's content when it is what the database
/// holds now (one read of the generation), else the stored content; with only the
/// previewed placement: the others cannot change its answer, and compiling a large
/// catalog's every placement took a second. The content comes without its Fluent
/// resources; those come apart, compiled already when they are the serving catalog's
/// (copying and re-checking 80 MB of them took most of a preview's time).
async fn preview_content(
    state: &Authoring,
    placement: &str,
) -> Result<(ContentSet, PreviewFluent), Problem> {
    let serving = state.catalog.current().await?;
    let stored_generation = crate::storage::generation(&state.db).await?;
    let (source, fluent) = match &serving.source {
        Some(source) if serving.generation == stored_generation => (
            source.clone(),
            PreviewFluent::Serving {
                source: source.clone(),
                l10n: serving.l10n.clone(),
            },
        ),
        _ => {
            let mut stored = crate::storage::load_content(&state.db).await?.0;
            let files = std::mem::take(&mut stored.fluent);
            (Arc::new(stored), PreviewFluent::Stored(files))
        }
    };
    let content = ContentSet {
        channels: source.channels.clone(),
        traits: source.traits.clone(),
        segments: source.segments.clone(),
        policies: Vec::new(),
        placements: source
            .placements
            .iter()
            .filter(|p| p.id == placement)
            .cloned()
            .collect(),
        fluent: Vec::new(),
    };
    Ok((content, fluent))
}

/// The person named by the request: a stored one, or an anonymous visitor.
async fn person_of(state: &Authoring, request: &PreviewRequest) -> Result<Option<Person>, Problem> {
    Ok(match (&request.person_id, &request.anonymous_id) {
        (Some(id), _) => {
            let record = crate::storage::identity::find_by_id(&state.db, id)
                .await?
                .ok_or_else(|| {
                    Problem::new(ProblemType::NotFound, "no such person").with_field("person_id")
                })?;
            Some(Person {
                key: record.sticky_key.clone(),
                own_key: record.sticky_key.clone(),
                record: Some(Arc::new(record)),
                verified: true,
                via_header: None,
            })
        }
        (None, Some(id)) => {
            crate::identity::check_anonymous_id(id)
                .map_err(|reason| Problem::invalid("anonymous_id", reason))?;
            Some(Person::anonymous(id))
        }
        (None, None) => None,
    })
}

/// Resolves the request's context as delivery would, with the preview's field names.
fn context_of(
    state: &Authoring,
    request: &PreviewRequest,
    catalog: &Catalog,
    channel: &str,
    locales: &[String],
    at: DateTime<Utc>,
    person: Option<Person>,
) -> Result<RequestContext, Problem> {
    let mut traits = Vec::new();
    for (name, value) in &request.traits {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(Problem::invalid(
                    format!("traits.{name}"),
                    "a trait value is a string, number or boolean",
                ))
            }
        };
        traits.push((Cow::Borrowed(name.as_str()), Cow::Owned(text)));
    }
    let params = Params {
        channel: Some(Cow::Borrowed(channel)),
        device: Some(Cow::Borrowed(
            request.device.as_deref().unwrap_or("desktop"),
        )),
        locale: Some(Cow::Owned(locales.join(","))),
        country: request.country.as_deref().map(Cow::Borrowed),
        traits,
        ..Params::default()
    };
    context::resolve(
        &RawRequest::default(),
        &params,
        catalog,
        &state.signer,
        at,
        person,
    )
    .map_err(|p| match p.field.as_deref() {
        Some(f) if f.starts_with("t.") => {
            let field = format!("traits.{}", &f[2..]);
            p.with_field(field)
        }
        Some("locale") => p.with_field("locales"),
        _ => p,
    })
}

/// Every variant, eligible or not and why: the placement's blocks first, then the
/// variant's own gate, or why an eligible one was not the one chosen.
fn explain_variants(
    staged: &Staged,
    placement: &Placement,
    facts: &PlacementFacts,
    input: &DecisionInput,
    decision: &Decision,
) -> Vec<VariantExplained> {
    let best = decision.variant.map(|i| {
        let v = &placement.variants[i];
        (v.priority, v.specificity)
    });
    let chosen_index = chosen(facts, decision);
    let names = staged.catalog.l10n.locale_names();
    placement
        .variants
        .iter()
        .enumerate()
        .map(|(index, variant)| {
            let verdict = eligibility(variant, input);
            let mut reasons: Vec<Reason> = blocks(facts)
                .map(|block| explain_block(block, &staged.channel, placement))
                .collect();
            match &verdict {
                Err(why) => reasons.push(explain(why, staged.rules.get(variant.id.as_ref()))),
                Ok(()) if decision.variant == Some(index) => {}
                Ok(()) if best.is_some_and(|b| (variant.priority, variant.specificity) < b) => {
                    reasons.push(Reason {
                        code: "outranked",
                        detail: format!(
                            "priority {} / specificity {}: a higher group is eligible",
                            variant.priority, variant.specificity
                        ),
                    })
                }
                Ok(()) => reasons.push(Reason {
                    code: "not_picked",
                    detail: format!(
                        "in the winning group, weight {}: this bucket went to another variant",
                        variant.weight
                    ),
                }),
            }
            VariantExplained {
                id: variant.id.to_string(),
                version: variant.version,
                state: staged.pending.get(variant.id.as_ref()).map_or_else(
                    || variant.state.as_str().to_string(),
                    |s| s.as_str().to_string(),
                ),
                eligible: eligible(facts, variant, input),
                chosen: chosen_index == Some(index),
                reasons,
                live_locales: names
                    .iter()
                    .enumerate()
                    .filter(|(l, _)| variant.is_live_in(*l))
                    .map(|(_, n)| n.to_string())
                    .collect(),
            }
        })
        .collect()
}

/// The variant rendered in each requested locale.
fn render(
    catalog: &Catalog,
    ctx: &RequestContext,
    variant: &Variant,
    locales: &[String],
) -> Result<Vec<RenderedLocale>, Problem> {
    let args = crate::delivery::fluent_args(catalog, ctx, true);
    let mut rendered = Vec::new();
    for requested in locales {
        let tag = requested.parse().map_err(|_| {
            Problem::invalid(
                "locales",
                format!("`{requested}` is not a BCP 47 language tag"),
            )
        })?;
        let chain = catalog.l10n.negotiate(&[tag]);
        let (out, answered) = render_live(catalog, variant, ctx.channel, &chain, &args);
        rendered.push(RenderedLocale {
            requested: requested.clone(),
            locale: catalog.l10n.locale_name(answered).to_string(),
            variant: variant.id.to_string(),
            fields: out
                .fields
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            warnings: out.warnings,
        });
    }
    Ok(rendered)
}

fn explain_block(block: Blocked, channel: &str, placement: &Placement) -> Reason {
    match block {
        Blocked::ChannelRetired => Reason {
            code: "channel_retired",
            detail: format!("channel `{channel}` is retired: delivery answers 410"),
        },
        Blocked::ChannelNotOffered => Reason {
            code: "channel_not_offered",
            detail: format!("placement `{}` is not offered on `{channel}`", placement.id),
        },
        Blocked::OptedOut => Reason {
            code: "opted_out",
            detail: format!("the person opted out of `{channel}`"),
        },
        Blocked::FrequencyCap => {
            let cap = placement.frequency_cap.map_or(String::new(), |c| {
                format!("{} impressions in {} days", c.impressions, c.days)
            });
            Reason {
                code: "frequency_cap",
                detail: format!("the person reached the placement's cap ({cap})"),
            }
        }
    }
}

fn explain(why: &Ineligible, rule: Option<&String>) -> Reason {
    match why {
        Ineligible::NotPublished(state) => Reason {
            code: "state",
            detail: format!("the variant is {}", state.as_str()),
        },
        Ineligible::Channel => Reason {
            code: "channel",
            detail: "the variant does not allow this channel".into(),
        },
        Ineligible::Device => Reason {
            code: "device",
            detail: "the variant does not allow this device class".into(),
        },
        Ineligible::NotStarted(at) => Reason {
            code: "not_started",
            detail: format!("scheduled from {}", at.to_rfc3339()),
        },
        Ineligible::Ended(at) => Reason {
            code: "ended",
            detail: format!("ended at {}", at.to_rfc3339()),
        },
        Ineligible::Rule => Reason {
            code: "rule",
            detail: format!(
                "rule `{}` is false for this context",
                rule.map_or("", String::as_str)
            ),
        },
    }
}
