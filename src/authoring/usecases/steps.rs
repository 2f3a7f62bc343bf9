//! Workflow steps on variants and Fluent resources: plan the step (which version, from
//! which stage to which), check what would go live, apply it compare-and-set, and when
//! live content changed announce it and purge what it touched.

use super::off_the_runtime;
use super::variants::placement_of;
use crate::authoring::error::{AuthoringError, Result};
use crate::authoring::workflow::{self, Action, Stage};
use crate::authoring::{Authoring, LiveLocales, Strictness};
use crate::catalog::model::{ContentSet, FluentFile, VariantDef};
use crate::l10n::L10n;
use crate::storage::authoring::{self as store, Kind, Stepped, Version};
use crate::storage::StorageError;

/// What a step acts on, as the caller asked.
#[derive(Default)]
pub struct StepRequest {
    /// The version; the newest (or, archiving, the serving one) when absent.
    pub version: Option<u32>,
    pub note: Option<String>,
}

/// A step taken.
pub struct StepOutcome {
    pub target: String,
    pub version: u32,
    pub stage: Stage,
    /// The catalog generation, when live content changed.
    pub generation: Option<u64>,
    /// Publishing a variant: where it is live.
    pub locales: Option<LiveLocales>,
    /// Publishing a Fluent resource: the published variants using its messages, and
    /// where each is live now.
    pub variants: Vec<(String, LiveLocales)>,
    /// Surrogate keys purged from the CDN.
    pub purged: Vec<String>,
}

impl Authoring {
    /// A step on a variant. Submitting checks the variant against the Fluent resources
    /// as they will be once pending translations land; publishing against what is live.
    pub async fn step_variant(
        &self,
        actor: &str,
        id: &str,
        action: Action,
        request: &StepRequest,
    ) -> Result<StepOutcome> {
        let (version, to) = self
            .plan_step(Kind::Variant, id, action, request, actor)
            .await?;
        let placement_id = version.placement_id.clone().unwrap_or_default();
        let (mut content, generation) = self.live_content_at().await?;
        let mut locales = None;
        if matches!(action, Action::Submit | Action::Publish) {
            let def: VariantDef =
                serde_json::from_str(&version.document).map_err(|e| StorageError::Document {
                    id: id.to_string(),
                    source: e,
                })?;
            let placement = placement_of(&content, &placement_id)?.clone();
            if action == Action::Submit {
                let live_files = content.fluent.clone();
                content.fluent = self.fluent_with_pending(&live_files).await?;
            }
            let shared = std::sync::Arc::new(std::mem::take(&mut content));
            self.variant_errors(&shared, &placement, &def, Strictness::Submit)
                .await?;
            content = std::sync::Arc::try_unwrap(shared).unwrap_or_else(|s| (*s).clone());
            let (l10n, _) = L10n::build(&content.fluent, &self.default_locale);
            locales = Some(crate::authoring::live_locales(&l10n, &placement, &def));
        }
        // A publish goes live only on the content it was checked against.
        let checked_at = (action == Action::Publish).then_some(generation);
        let generation = self
            .apply_step(
                &version,
                to,
                action,
                actor,
                request.note.as_deref(),
                checked_at,
            )
            .await?;
        let mut purged = Vec::new();
        if let Some(generation) = generation {
            purged = vec![format!("placement/{placement_id}"), format!("variant/{id}")];
            self.went_live(
                generation,
                purged.clone(),
                format!("variant {id} version {} {}", version.version, to.as_str()),
            )
            .await;
        }
        Ok(StepOutcome {
            target: id.to_string(),
            version: version.version,
            stage: to,
            generation,
            locales: locales.filter(|_| action == Action::Publish),
            variants: Vec::new(),
            purged,
        })
    }

    /// A step on a Fluent resource. Publishing (or archiving) a version that would leave
    /// a published variant without its default-locale message is refused.
    pub async fn step_fluent(
        &self,
        actor: &str,
        locale: &str,
        file: &str,
        action: Action,
        request: &StepRequest,
    ) -> Result<StepOutcome> {
        let target = store::fluent_target(locale, file);
        let (version, to) = self
            .plan_step(Kind::Fluent, &target, action, request, actor)
            .await?;
        let (content, checked_generation) = self.live_content_at().await?;
        let goes_live =
            to == Stage::Published || (to == Stage::Archived && version.stage == Stage::Published);
        let (affected, mut purged) = if goes_live {
            self.fluent_going_live(content, locale, file, &version, to)
                .await?
        } else {
            (Vec::new(), Vec::new())
        };
        // Going live (a publish, or archiving what serves) only on the content checked.
        let checked_at = goes_live.then_some(checked_generation);
        let generation = self
            .apply_step(
                &version,
                to,
                action,
                actor,
                request.note.as_deref(),
                checked_at,
            )
            .await?;
        match generation {
            Some(generation) => {
                self.went_live(
                    generation,
                    purged.clone(),
                    format!(
                        "Fluent resource {target} version {} {}",
                        version.version,
                        to.as_str()
                    ),
                )
                .await
            }
            None => purged.clear(),
        }
        Ok(StepOutcome {
            target,
            version: version.version,
            stage: to,
            generation,
            locales: None,
            variants: affected,
            purged,
        })
    }

    /// Checks the live content as it would be with `version` published (or the resource
    /// archived), and finds what it touches: the published variants using its messages
    /// (with where each is live then) and the placements to purge.
    async fn fluent_going_live(
        &self,
        mut content: ContentSet,
        locale: &str,
        file: &str,
        version: &Version,
        to: Stage,
    ) -> Result<(Vec<(String, LiveLocales)>, Vec<String>)> {
        let old = content
            .fluent
            .iter()
            .find(|f| f.locale == locale && f.path == file)
            .map(|f| f.source.clone())
            .unwrap_or_default();
        let candidate = FluentFile {
            locale: locale.to_string(),
            path: file.to_string(),
            source: version.document.as_str().into(),
        };
        if to == Stage::Published {
            // Another resource of the locale may have gained one of its ids since the save.
            let errors = crate::authoring::check_fluent(&content.fluent, &candidate);
            if !errors.is_empty() {
                return Err(AuthoringError::invalid_content(errors));
            }
        }
        content
            .fluent
            .retain(|f| !(f.locale == locale && f.path == file));
        if to == Stage::Published {
            content.fluent.push(candidate);
        }
        // One build of the resulting bundles serves the check and the report.
        let default_locale = self.default_locale.clone();
        let (errors, l10n, content) = off_the_runtime(move || {
            let (l10n, _) = L10n::build(&content.fluent, &default_locale);
            (crate::authoring::broken_by(&content, &l10n), l10n, content)
        })
        .await?;
        if !errors.is_empty() {
            return Err(AuthoringError::invalid_content(errors));
        }
        let mut touched = crate::authoring::message_ids(&old);
        touched.extend(crate::authoring::message_ids(&version.document));
        let (mut affected, mut purged) = (Vec::new(), Vec::new());
        for (placement, variant) in content.published_variants() {
            let uses = |m: &str| touched.iter().any(|t| t == m);
            // Terms and message references reach any message of the locale, so every
            // placement that renders a message is purged, not only the direct users.
            let key = format!("placement/{}", placement.id);
            if crate::catalog::messages_of(variant).next().is_some() && !purged.contains(&key) {
                purged.push(key);
            }
            if crate::catalog::messages_of(variant).any(uses) {
                affected.push((
                    variant.id.clone(),
                    crate::authoring::live_locales(&l10n, placement, variant),
                ));
            }
        }
        Ok((affected, purged))
    }

    /// The version a step acts on and the stage it moves to.
    async fn plan_step(
        &self,
        kind: Kind,
        target: &str,
        action: Action,
        request: &StepRequest,
        actor: &str,
    ) -> Result<(Version, Stage)> {
        // Approving or publishing says what was read: a newer save must not ride along.
        if request.version.is_none() && matches!(action, Action::Approve | Action::Publish) {
            return Err(AuthoringError::invalid(
                "version",
                format!(
                    "name the version to {}: {{\"version\": N}}",
                    action.as_str()
                ),
            ));
        }
        let version = match request.version {
            Some(n) => store::version(&self.db, kind, target, n).await?,
            // Archiving takes the serving version out of service, whatever drafts exist.
            None if action == Action::Archive => {
                let history = store::history(&self.db, kind, target).await?;
                let serving = history.iter().rposition(|r| r.stage == Stage::Published);
                match serving {
                    Some(index) => history.into_iter().nth(index),
                    None => history.into_iter().last(),
                }
            }
            None => store::latest(&self.db, kind, target).await?,
        }
        .ok_or_else(|| match request.version {
            Some(_) => AuthoringError::not_found("such version", "version"),
            None => AuthoringError::not_found("version of it to act on", "id"),
        })?;
        // Imported files may carry stages outside the workflow (`retired`).
        if !version.stage.in_workflow() {
            return Err(AuthoringError::conflict(
                format!(
                    "version {} is `{}`, outside the review workflow; save a new version",
                    version.version,
                    version.stage.as_str()
                ),
                Some("version"),
            ));
        }
        if action == Action::Publish {
            // A pending version older than what serves (an import went live meanwhile)
            // would take the live content back in time.
            if let Some(newer) = store::history(&self.db, kind, target)
                .await?
                .iter()
                .find(|r| r.stage == Stage::Published && r.version > version.version)
            {
                return Err(AuthoringError::conflict(
                    format!(
                        "version {} is live and newer than version {}; save a new version",
                        newer.version, version.version
                    ),
                    Some("version"),
                ));
            }
        }
        let to = workflow::step(
            action,
            version.stage,
            version.version,
            actor,
            &version.author,
        )?;
        Ok((version, to))
    }

    async fn apply_step(
        &self,
        version: &Version,
        to: Stage,
        action: Action,
        actor: &str,
        note: Option<&str>,
        checked_at: Option<u64>,
    ) -> Result<Option<u64>> {
        match store::step(
            &self.db,
            version,
            to,
            actor,
            note,
            action.as_str(),
            checked_at,
        )
        .await?
        {
            Stepped::Done { generation } => Ok(generation),
            Stepped::ContentChanged => Err(AuthoringError::ContentChanged),
            Stepped::StateChanged => Err(AuthoringError::StateChanged {
                version: version.version,
            }),
        }
    }
}
