//! Fluent resources (`<locale>/<file>.ftl`): parsed on every save, reviewed like
//! variants; publishing one is refused if a published variant would lose its message.

use crate::authoring::error::{AuthoringError, Result};
use crate::authoring::workflow::Stage;
use crate::authoring::Authoring;
use crate::catalog::model::FluentFile;
use crate::storage::authoring::{self as store, Kind, NewVersion, Saved, Version};

/// One version's source.
pub struct FluentSource {
    pub version: u32,
    pub stage: Stage,
    pub source: String,
}

/// A resource that is live, pending, or both.
pub struct FluentFileState {
    pub locale: String,
    pub file: String,
    pub live: bool,
    /// The newest version's number and stage, if the resource has a history.
    pub latest: Option<(u32, Stage)>,
}

impl Authoring {
    /// A version of a resource (the newest when `number` is absent); a live resource
    /// without history reads as its version 1.
    pub async fn fluent_source(
        &self,
        locale: &str,
        file: &str,
        number: Option<u32>,
    ) -> Result<FluentSource> {
        let target = store::fluent_target(locale, file);
        let version = match number {
            Some(n) => store::version(&self.db, Kind::Fluent, &target, n).await?,
            None => store::latest(&self.db, Kind::Fluent, &target).await?,
        };
        match version {
            Some(v) => Ok(FluentSource {
                version: v.version,
                stage: v.stage,
                source: v.document,
            }),
            None if number.is_none() => {
                let (_, _, source) = store::live_fluent(&self.db)
                    .await?
                    .into_iter()
                    .find(|(l, p, _)| l == locale && p == file)
                    .ok_or_else(|| AuthoringError::not_found("such Fluent resource", "file"))?;
                Ok(FluentSource {
                    version: 1,
                    stage: Stage::Published,
                    source,
                })
            }
            None => Err(AuthoringError::not_found("such version", "version")),
        }
    }

    /// Saves a new draft version of a resource, parsed beside the live resources of its
    /// locale first. With whether the resource is new.
    pub async fn save_fluent(
        &self,
        actor: &str,
        locale: &str,
        file: &str,
        source: String,
        based_on: Option<u32>,
    ) -> Result<(Version, bool)> {
        let live = store::live_fluent(&self.db).await?;
        let live_files: Vec<FluentFile> = live
            .iter()
            .map(|(l, p, s)| FluentFile {
                locale: l.clone(),
                path: p.clone(),
                source: s.as_str().into(),
            })
            .collect();
        let candidate = FluentFile {
            locale: locale.to_string(),
            path: file.to_string(),
            source: source.as_str().into(),
        };
        let errors = crate::authoring::check_fluent(&live_files, &candidate);
        if !errors.is_empty() {
            return Err(AuthoringError::InvalidContent {
                detail: format!(
                    "{} Fluent error(s); the first: {}",
                    errors.len(),
                    errors[0].reason
                ),
                errors,
            });
        }
        let target = store::fluent_target(locale, file);
        let seed = live
            .iter()
            .find(|(l, p, _)| l == locale && p == file)
            .map(|(_, _, s)| (1, s.clone()));
        let created = seed.is_none()
            && store::latest(&self.db, Kind::Fluent, &target)
                .await?
                .is_none();
        let saved = store::save(
            &self.db,
            NewVersion {
                kind: Kind::Fluent,
                target: &target,
                placement_id: None,
                document: &|_| source.clone(),
                actor,
                based_on,
                publish: false,
                seed,
                checked_at: None,
            },
        )
        .await?;
        match saved {
            Saved::Stale { latest } => Err(AuthoringError::Stale { latest }),
            Saved::ContentChanged => Err(AuthoringError::ContentChanged),
            Saved::Version { version, .. } => Ok((*version, created)),
        }
    }

    /// Every resource, live or pending, by locale and file.
    pub async fn fluent_files(&self) -> Result<Vec<FluentFileState>> {
        let mut files: Vec<FluentFileState> = store::live_fluent(&self.db)
            .await?
            .into_iter()
            .map(|(locale, file, _)| FluentFileState {
                locale,
                file,
                live: true,
                latest: None,
            })
            .collect();
        for version in store::latest_per_target(&self.db, Kind::Fluent, None).await? {
            let Some((locale, file)) = version.target.split_once('/') else {
                continue;
            };
            let latest = Some((version.version, version.stage));
            match files
                .iter_mut()
                .find(|f| f.locale == locale && f.file == file)
            {
                Some(state) => state.latest = latest,
                None => files.push(FluentFileState {
                    locale: locale.to_string(),
                    file: file.to_string(),
                    live: false,
                    latest,
                }),
            }
        }
        files.sort_by(|a, b| (&a.locale, &a.file).cmp(&(&b.locale, &b.file)));
        Ok(files)
    }

    /// The live Fluent files with each file's pending (newest unpublished) version in
    /// place of the live one: what a submitted variant will meet once translations land.
    pub(crate) async fn fluent_with_pending(&self, live: &[FluentFile]) -> Result<Vec<FluentFile>> {
        Ok(self
            .pending_fluent(live)
            .await?
            .unwrap_or_else(|| live.to_vec()))
    }

    /// [`Self::fluent_with_pending`], or `None` when no Fluent version is pending (the
    /// live resources stand, and what was compiled from them can be reused).
    pub(crate) async fn pending_fluent(
        &self,
        live: &[FluentFile],
    ) -> Result<Option<Vec<FluentFile>>> {
        let pending = store::latest_pending_per_target(&self.db, Kind::Fluent, None).await?;
        if pending.is_empty() {
            return Ok(None);
        }
        let mut files = live.to_vec();
        for version in pending {
            let Some((locale, path)) = version.target.split_once('/') else {
                continue;
            };
            match files
                .iter_mut()
                .find(|f| f.locale == locale && f.path == path)
            {
                Some(file) => file.source = version.document.as_str().into(),
                None => files.push(FluentFile {
                    locale: locale.to_string(),
                    path: path.to_string(),
                    source: version.document.as_str().into(),
                }),
            }
        }
        Ok(Some(files))
    }
}
