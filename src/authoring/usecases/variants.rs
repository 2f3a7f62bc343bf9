//! Variants: every save is a draft version; what serves changes only through the
//! workflow ([`super::steps`]).

use super::off_the_runtime;
use crate::authoring::error::{AuthoringError, Result};
use crate::authoring::{Authoring, Strictness};
use crate::catalog::model::{ContentSet, PlacementDef, VariantDef};
use crate::storage::authoring::{self as store, Kind, LiveVariant, NewVersion, Saved, Version};

/// What serves (or last served) of a variant, and its history's record of that version
/// (absent when the files put it live and it was never edited).
pub struct LiveView {
    pub live: LiveVariant,
    pub recorded: Option<Version>,
}

/// A variant: its placement, what serves, and its newest version.
pub struct VariantView {
    pub id: String,
    pub placement: String,
    pub live: Option<LiveView>,
    pub latest: Option<Version>,
}

impl Authoring {
    /// The variant, if it was ever saved or imported.
    pub async fn variant(&self, id: &str) -> Result<Option<VariantView>> {
        let live = store::live_variant(&self.db, id).await?;
        let latest = store::latest(&self.db, Kind::Variant, id).await?;
        let Some(placement) = latest
            .as_ref()
            .and_then(|r| r.placement_id.clone())
            .or_else(|| live.as_ref().map(|l| l.placement_id.clone()))
        else {
            return Ok(None);
        };
        let live = match live {
            Some(live) => Some(LiveView {
                recorded: store::version(&self.db, Kind::Variant, id, live.version).await?,
                live,
            }),
            None => None,
        };
        Ok(Some(VariantView {
            id: id.to_string(),
            placement,
            live,
            latest,
        }))
    }

    /// A new variant of a placement, as a draft (its messages may be unwritten yet).
    pub async fn create_variant(
        &self,
        actor: &str,
        placement: &str,
        def: VariantDef,
    ) -> Result<VariantView> {
        let content = std::sync::Arc::new(self.live_content().await?);
        let placement = placement_of(&content, placement)?;
        let id = &def.id;
        if store::live_variant(&self.db, id).await?.is_some()
            || store::latest(&self.db, Kind::Variant, id).await?.is_some()
        {
            return Err(AuthoringError::Exists {
                detail: format!("variant `{id}` exists; PUT /v1/admin/variants/{id} changes it"),
            });
        }
        self.variant_errors(&content, placement, &def, Strictness::Draft)
            .await?;
        let placement_id = placement.id.clone();
        self.save_variant(actor, &placement_id, def, Some(0), None)
            .await
    }

    /// A new draft version of a variant; what serves keeps serving.
    pub async fn change_variant(
        &self,
        actor: &str,
        def: VariantDef,
        based_on: Option<u32>,
    ) -> Result<VariantView> {
        let live = store::live_variant(&self.db, &def.id).await?;
        let latest = store::latest(&self.db, Kind::Variant, &def.id).await?;
        let placement_id = latest
            .as_ref()
            .and_then(|r| r.placement_id.clone())
            .or_else(|| live.as_ref().map(|l| l.placement_id.clone()))
            .ok_or_else(|| AuthoringError::not_found("such variant", "id"))?;
        let content = std::sync::Arc::new(self.live_content().await?);
        let placement = placement_of(&content, &placement_id)?;
        self.variant_errors(&content, placement, &def, Strictness::Draft)
            .await?;
        // The live definition becomes the first version when it has no history yet.
        let seed = live.map(|l| (l.version, l.definition));
        self.save_variant(actor, &placement_id, def, based_on, seed)
            .await
    }

    /// The content checks for a variant, off the async workers.
    pub(super) async fn variant_errors(
        &self,
        content: &std::sync::Arc<ContentSet>,
        placement: &PlacementDef,
        def: &VariantDef,
        strictness: Strictness,
    ) -> Result<()> {
        // Shared, not copied: a large catalog's content is tens of megabytes.
        let (content, placement, def) = (content.clone(), placement.clone(), def.clone());
        let default_locale = self.default_locale.clone();
        let errors = off_the_runtime(move || {
            crate::authoring::check_variant(&content, &placement, &def, &default_locale, strictness)
        })
        .await?;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AuthoringError::invalid_content(errors))
        }
    }

    async fn save_variant(
        &self,
        actor: &str,
        placement: &str,
        def: VariantDef,
        based_on: Option<u32>,
        seed: Option<(u32, String)>,
    ) -> Result<VariantView> {
        // Variants carry their version number inside the stored definition.
        let document = |number: u32| {
            crate::storage::to_json(&VariantDef {
                version: number,
                ..def.clone()
            })
        };
        match store::save(
            &self.db,
            NewVersion {
                kind: Kind::Variant,
                target: &def.id,
                placement_id: Some(placement),
                document: &document,
                actor,
                based_on,
                publish: false,
                seed,
                checked_at: None,
            },
        )
        .await?
        {
            // Another creation of the same id won the race.
            Saved::Stale { .. } if based_on == Some(0) => Err(AuthoringError::Exists {
                detail: format!("variant `{}` exists; PUT changes it", def.id),
            }),
            Saved::Stale { latest } => Err(AuthoringError::Stale { latest }),
            Saved::ContentChanged => Err(AuthoringError::ContentChanged),
            Saved::Version { .. } => self
                .variant(&def.id)
                .await?
                .ok_or_else(|| AuthoringError::not_found("such variant", "id")),
        }
    }
}

/// The placement a variant belongs to, live and not archived.
pub(super) fn placement_of<'c>(content: &'c ContentSet, id: &str) -> Result<&'c PlacementDef> {
    let placement = content
        .placements
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| AuthoringError::not_found("such placement", "placement"))?;
    if placement.archived {
        return Err(AuthoringError::conflict(
            format!("placement `{id}` is archived"),
            Some("placement"),
        ));
    }
    Ok(placement)
}
