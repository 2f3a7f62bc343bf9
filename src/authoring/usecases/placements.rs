//! Placements: no review, a change is live at once (it serves nothing until one of its
//! variants is published).

use std::collections::HashMap;

use super::off_the_runtime;
use crate::authoring::error::{AuthoringError, Result};
use crate::authoring::Authoring;
use crate::catalog::model::{ContentSet, PlacementDef};
use crate::storage::authoring::{self as store, Kind, NewVersion, Saved, Version};

/// A live placement, its newest version number, and the newest version of each of its
/// variants (pending or not).
pub struct PlacementState {
    pub def: PlacementDef,
    pub version: u32,
    pub variants: Vec<Version>,
}

impl Authoring {
    /// Every live placement.
    pub async fn placements(&self) -> Result<Vec<PlacementState>> {
        let content = self.live_content().await?;
        // Two queries for the whole list, not two per placement.
        let mut latest_variants: HashMap<String, Vec<Version>> = HashMap::new();
        for version in store::latest_per_target(&self.db, Kind::Variant, None).await? {
            let placement = version.placement_id.clone().unwrap_or_default();
            latest_variants.entry(placement).or_default().push(version);
        }
        let versions = store::latest_per_target(&self.db, Kind::Placement, None).await?;
        Ok(content
            .placements
            .into_iter()
            .map(|def| PlacementState {
                version: versions
                    .iter()
                    .find(|r| r.target == def.id)
                    .map_or(1, |r| r.version),
                variants: latest_variants.remove(&def.id).unwrap_or_default(),
                def,
            })
            .collect())
    }

    pub async fn placement(&self, id: &str) -> Result<PlacementState> {
        let content = self.live_content().await?;
        let def = content
            .placements
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| AuthoringError::not_found("such placement", "id"))?;
        self.placement_state(def).await
    }

    async fn placement_state(&self, def: PlacementDef) -> Result<PlacementState> {
        let version = store::latest(&self.db, Kind::Placement, &def.id)
            .await?
            .map_or(1, |r| r.version);
        let variants = store::latest_per_target(&self.db, Kind::Variant, Some(&def.id)).await?;
        Ok(PlacementState {
            def,
            version,
            variants,
        })
    }

    /// A new placement (its definition without variants), live at once.
    pub async fn create_placement(&self, actor: &str, def: PlacementDef) -> Result<PlacementState> {
        let content = self.live_content_at().await?;
        if content.0.placements.iter().any(|p| p.id == def.id)
            || store::latest(&self.db, Kind::Placement, &def.id)
                .await?
                .is_some()
        {
            return Err(exists(&def.id));
        }
        Ok(self.save_placement(actor, def, Some(0), &content).await?.0)
    }

    /// A new version of a live placement's definition, live at once; with the number
    /// the version got.
    pub async fn change_placement(
        &self,
        actor: &str,
        def: PlacementDef,
        based_on: Option<u32>,
    ) -> Result<(PlacementState, u32)> {
        let content = self.live_content_at().await?;
        if !content.0.placements.iter().any(|p| p.id == def.id) {
            return Err(AuthoringError::not_found(
                "such placement; POST /v1/admin/placements creates one",
                "id",
            ));
        }
        self.save_placement(actor, def, based_on, &content).await
    }

    /// Stops serving a placement; its history is kept.
    pub async fn archive_placement(&self, actor: &str, id: &str) -> Result<PlacementState> {
        let content = self.live_content_at().await?;
        let def = content
            .0
            .placements
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| AuthoringError::not_found("such placement", "id"))?;
        if def.archived {
            return Err(AuthoringError::conflict(
                "the placement is archived already",
                None,
            ));
        }
        let archived = PlacementDef {
            archived: true,
            variants: Vec::new(),
            ..def.clone()
        };
        Ok(self
            .save_placement(actor, archived, None, &content)
            .await?
            .0)
    }

    /// Checks a placement against the live content it was read with, stores it as a new
    /// published version (only if the catalog is still that content), announces it.
    async fn save_placement(
        &self,
        actor: &str,
        def: PlacementDef,
        based_on: Option<u32>,
        (content, generation): &(ContentSet, u64),
    ) -> Result<(PlacementState, u32)> {
        let mut checked = def.clone();
        checked.variants = content
            .placements
            .iter()
            .find(|p| p.id == def.id)
            .map(|p| p.variants.clone())
            .unwrap_or_default();
        let errors = {
            let (content, checked) = (content.clone(), checked.clone());
            let default_locale = self.default_locale.clone();
            off_the_runtime(move || {
                crate::authoring::check_placement(&content, &checked, &default_locale)
            })
            .await?
        };
        if !errors.is_empty() {
            return Err(AuthoringError::invalid_content(errors));
        }
        let document = crate::storage::to_json(&def);
        // The live definition becomes version 1 when it has no history yet (it came from
        // the content files).
        let seed = content.placements.iter().find(|p| p.id == def.id).map(|p| {
            (
                1,
                crate::storage::to_json(&PlacementDef {
                    variants: Vec::new(),
                    ..p.clone()
                }),
            )
        });
        let saved = store::save(
            &self.db,
            NewVersion {
                kind: Kind::Placement,
                target: &def.id,
                placement_id: None,
                document: &|_| document.clone(),
                actor,
                based_on,
                publish: true,
                seed,
                checked_at: Some(*generation),
            },
        )
        .await?;
        let (version, generation) = match saved {
            // Another creation of the same id won the race.
            Saved::Stale { .. } if based_on == Some(0) => return Err(exists(&def.id)),
            Saved::Stale { latest } => return Err(AuthoringError::Stale { latest }),
            Saved::ContentChanged => return Err(AuthoringError::ContentChanged),
            Saved::Version {
                version,
                generation,
            } => (version, generation),
        };
        if let Some(generation) = generation {
            self.went_live(
                generation,
                vec![format!("placement/{}", def.id)],
                format!("placement {} version {}", def.id, version.version),
            )
            .await;
        }
        let live = self
            .live_content()
            .await?
            .placements
            .into_iter()
            .find(|p| p.id == def.id)
            .unwrap_or(checked);
        Ok((self.placement_state(live).await?, version.version))
    }
}

fn exists(id: &str) -> AuthoringError {
    AuthoringError::Exists {
        detail: format!("placement `{id}` exists; PUT changes it"),
    }
}
