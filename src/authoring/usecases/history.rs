//! Histories: every version of a target with its audit trail, one version, and the
//! diff between two.

use super::off_the_runtime;
use crate::authoring::error::{AuthoringError, Result};
use crate::authoring::Authoring;
use crate::storage::authoring::{self as store, AuditEntry, Kind, Version};

/// Every version of a target, oldest first, and every change and step made to it.
pub struct History {
    pub versions: Vec<Version>,
    pub audit: Vec<AuditEntry>,
}

/// Two versions and a unified diff between their documents.
pub struct Diff {
    pub from: Version,
    pub to: Version,
    pub diff: String,
}

impl Authoring {
    pub async fn history(&self, kind: Kind, target: &str) -> Result<History> {
        let versions = self.versions(kind, target).await?;
        let audit = store::audit_trail(&self.db, kind, target).await?;
        Ok(History { versions, audit })
    }

    /// One version, with its document.
    pub async fn version(&self, kind: Kind, target: &str, number: u32) -> Result<Version> {
        self.versions(kind, target)
            .await?
            .into_iter()
            .find(|v| v.version == number)
            .ok_or_else(|| AuthoringError::not_found("such version", "version"))
    }

    async fn versions(&self, kind: Kind, target: &str) -> Result<Vec<Version>> {
        let versions = store::history(&self.db, kind, target).await?;
        if versions.is_empty() {
            return Err(AuthoringError::not_found(
                "history for it (nothing was saved or imported)",
                "id",
            ));
        }
        Ok(versions)
    }

    /// The diff from version `from` (the one before `to` when absent) to version `to`
    /// (the newest when absent).
    pub async fn diff(
        &self,
        kind: Kind,
        target: &str,
        from: Option<u32>,
        to: Option<u32>,
    ) -> Result<Diff> {
        let versions = store::history(&self.db, kind, target).await?;
        let newest = versions
            .last()
            .ok_or_else(|| AuthoringError::not_found("history for it", "id"))?
            .version;
        let to_number = to.unwrap_or(newest);
        let from_number = from.unwrap_or(to_number.saturating_sub(1));
        let find = |number: u32, field: &'static str| {
            versions
                .iter()
                .find(|v| v.version == number)
                .cloned()
                .ok_or_else(|| AuthoringError::not_found(format!("version {number}"), field))
        };
        let (from, to) = (find(from_number, "from")?, find(to_number, "to")?);
        let text = |version: &Version| match document_of(version) {
            serde_json::Value::String(source) => source,
            document => document.to_string(),
        };
        let (from_name, to_name) = (
            format!("{target} version {from_number}"),
            format!("{target} version {to_number}"),
        );
        let (from_text, to_text) = (text(&from), text(&to));
        let diff = off_the_runtime(move || {
            crate::authoring::diff(&from_name, &from_text, &to_name, &to_text)
        })
        .await?;
        Ok(Diff { from, to, diff })
    }
}

/// A version's document as the API shows it: a Fluent source as text, a definition as
/// JSON; a variant's carries the version's workflow stage (the stored definition keeps
/// the state it was written with).
pub fn document_of(version: &Version) -> serde_json::Value {
    match version.kind {
        Kind::Fluent => serde_json::Value::String(version.document.clone()),
        kind => {
            let mut document: serde_json::Value =
                serde_json::from_str(&version.document).unwrap_or(serde_json::Value::Null);
            if kind == Kind::Variant && document.is_object() {
                document["state"] = serde_json::Value::from(version.stage.as_str());
            }
            document
        }
    }
}
