//! The authoring use cases: each loads what it needs, runs the content checks, stores the
//! version (or the step), and when live content changed announces it and purges the CDN.
//! They return typed [`AuthoringError`](super::error::AuthoringError)s and know nothing
//! of HTTP; the handlers in [`super::http`]'s modules map them to answers.

mod fluent;
mod history;
mod placements;
mod steps;
mod variants;

pub use fluent::{FluentFileState, FluentSource};
pub use history::{document_of, Diff, History};
pub use placements::PlacementState;
pub use steps::{StepOutcome, StepRequest};
pub use variants::{LiveView, VariantView};

use super::error::Result;
use super::Authoring;
use crate::catalog::model::ContentSet;
use crate::storage;

impl Authoring {
    pub(crate) async fn live_content(&self) -> Result<ContentSet> {
        Ok(storage::load_content(&self.db).await?.0)
    }

    /// The live content and the catalog generation it is: a change checked against it
    /// goes live only if nothing else did meanwhile.
    pub(crate) async fn live_content_at(&self) -> Result<(ContentSet, u64)> {
        Ok(storage::load_content(&self.db).await?)
    }

    /// Tells every node and the CDN that live content changed.
    async fn went_live(&self, generation: u64, keys: Vec<String>, reason: String) {
        self.catalog.announce_change(generation).await;
        // The purge runs on by itself; its outcome is in the purge log.
        drop(self.purger.purge(keys, reason, generation));
    }

    /// Translation coverage of what serves.
    pub async fn coverage(&self) -> Result<super::Coverage> {
        let catalog = self.catalog.current().await?;
        let content = self.live_content().await?;
        Ok(super::coverage(&content, &catalog.l10n))
    }
}

/// Runs content checks (Fluent parsing, rendering every locale) off the async workers.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    Ok(tokio::task::spawn_blocking(work).await?)
}
