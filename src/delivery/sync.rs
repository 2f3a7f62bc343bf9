//! Offline sync for apps: everything a channel may show, pre-rendered for one cohort in
//! each asked locale, and later only what changed.
//!
//! A sync answers one entry per (placement, asked locale) that has something to show,
//! with a digest of what it shows (variant, version, served locale, fields; not the
//! tracking token, which is re-signed as it ages). The list of those digests, the
//! *manifest*, is stored once under its own hash, and the sync token names it. A later
//! sync `since` that token compares the stored manifest with the current one: entries
//! whose digest changed or that are new come back in full, entries that no longer have
//! anything to show are `removed`, and a variant the client held that governance has
//! retired is listed under `retired` (whether or not something replaced it).
//!
//! Nothing here knows HTTP or the database: [`diff`] is the whole comparison.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one (placement, asked locale) showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub placement: String,
    /// The locale the client asked for (the answer says which one served).
    pub locale: String,
    pub digest: String,
    pub variant: String,
}

/// Every entry of one sync, ordered by (placement, locale).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    entries: Vec<Entry>,
}

impl Manifest {
    pub fn new(mut entries: Vec<Entry>) -> Manifest {
        entries.sort_by(|a, b| (&a.placement, &a.locale).cmp(&(&b.placement, &b.locale)));
        entries.dedup_by(|a, b| a.placement == b.placement && a.locale == b.locale);
        Manifest { entries }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The stored form.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.entries).unwrap_or_else(|_| "[]".into())
    }

    pub fn from_json(text: &str) -> Option<Manifest> {
        serde_json::from_str(text).ok().map(Manifest::new)
    }

    /// The manifest's id: a hash of its stored form (equal content, equal id).
    pub fn id(&self) -> String {
        format!(
            "{:032x}",
            xxhash_rust::xxh3::xxh3_128(self.to_json().as_bytes())
        )
    }
}

/// Why an entry the client held is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gone {
    /// Governance retired what it showed and nothing else is eligible.
    Retired,
    /// Archived, ended, no longer eligible here, or the placement is gone.
    Removed,
}

/// An entry to drop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub placement: String,
    pub locale: String,
    pub variant: String,
    pub reason: Gone,
}

/// A variant the client held that governance retired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Retired {
    pub placement: String,
    pub locale: String,
    pub variant: String,
}

/// What changed between two manifests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delta {
    /// Indices into the new manifest's entries: new or changed.
    pub changed: Vec<usize>,
    pub retired: Vec<Retired>,
    pub removed: Vec<Removed>,
}

/// What a client holding `old` must do to hold `new`. `is_retired(variant)`: whether
/// governance has retired that variant now.
pub fn diff(old: &Manifest, new: &Manifest, is_retired: impl Fn(&str) -> bool) -> Delta {
    let held: BTreeMap<(&str, &str), &Entry> = old
        .entries
        .iter()
        .map(|e| ((e.placement.as_str(), e.locale.as_str()), e))
        .collect();
    let mut delta = Delta::default();
    let mut still_there = std::collections::BTreeSet::new();
    for (index, entry) in new.entries.iter().enumerate() {
        let key = (entry.placement.as_str(), entry.locale.as_str());
        still_there.insert(key);
        match held.get(&key) {
            Some(before) if before.digest == entry.digest => {}
            Some(before) => {
                delta.changed.push(index);
                if before.variant != entry.variant && is_retired(&before.variant) {
                    delta.retired.push(Retired {
                        placement: before.placement.clone(),
                        locale: before.locale.clone(),
                        variant: before.variant.clone(),
                    });
                }
            }
            None => delta.changed.push(index),
        }
    }
    for (key, before) in &held {
        if still_there.contains(key) {
            continue;
        }
        let retired = is_retired(&before.variant);
        if retired {
            delta.retired.push(Retired {
                placement: before.placement.clone(),
                locale: before.locale.clone(),
                variant: before.variant.clone(),
            });
        }
        delta.removed.push(Removed {
            placement: before.placement.clone(),
            locale: before.locale.clone(),
            variant: before.variant.clone(),
            reason: if retired {
                Gone::Retired
            } else {
                Gone::Removed
            },
        });
    }
    delta
}

/// The digest of an answer's content: everything but its tracking token (signed anew
/// as it ages, and not something the client needs to refetch for).
pub fn digest_of(answer: &serde_json::Value) -> String {
    let mut content = answer.clone();
    if let Some(object) = content.as_object_mut() {
        object.remove("tracking_token");
    }
    format!(
        "{:032x}",
        xxhash_rust::xxh3::xxh3_128(content.to_string().as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(placement: &str, locale: &str, digest: &str, variant: &str) -> Entry {
        Entry {
            placement: placement.into(),
            locale: locale.into(),
            digest: digest.into(),
            variant: variant.into(),
        }
    }

    #[test]
    fn an_unchanged_manifest_has_no_delta_and_the_same_id_in_any_order() {
        let a = Manifest::new(vec![
            entry("b", "en", "1", "v1"),
            entry("a", "fr", "2", "v2"),
        ]);
        let b = Manifest::new(vec![
            entry("a", "fr", "2", "v2"),
            entry("b", "en", "1", "v1"),
        ]);
        assert_eq!(a.id(), b.id());
        assert_eq!(diff(&a, &b, |_| false), Delta::default());
        assert_eq!(Manifest::from_json(&a.to_json()), Some(a));
    }

    #[test]
    fn a_publish_a_retirement_and_an_archive_are_changed_retired_and_removed() {
        let old = Manifest::new(vec![
            entry("hero", "en", "d1", "hero-a"),
            entry("banner", "en", "d2", "banner-a"),
            entry("survey", "en", "d3", "survey-a"),
            entry("promo", "en", "d4", "promo-a"),
        ]);
        let new = Manifest::new(vec![
            // Published: a new version of the same variant.
            entry("hero", "en", "d1b", "hero-a"),
            // Retired, and another variant took its place.
            entry("banner", "en", "d5", "banner-b"),
            // New placement.
            entry("footer", "en", "d6", "footer-a"),
            // survey: retired with nothing else; promo: archived.
        ]);
        let retired = |v: &str| matches!(v, "banner-a" | "survey-a");
        let delta = diff(&old, &new, retired);
        let changed: Vec<&str> = delta
            .changed
            .iter()
            .map(|&i| new.entries()[i].placement.as_str())
            .collect();
        assert_eq!(changed, ["banner", "footer", "hero"]);
        let retired: Vec<&str> = delta.retired.iter().map(|r| r.variant.as_str()).collect();
        assert_eq!(retired, ["banner-a", "survey-a"]);
        assert_eq!(
            delta.removed,
            vec![
                Removed {
                    placement: "promo".into(),
                    locale: "en".into(),
                    variant: "promo-a".into(),
                    reason: Gone::Removed
                },
                Removed {
                    placement: "survey".into(),
                    locale: "en".into(),
                    variant: "survey-a".into(),
                    reason: Gone::Retired
                },
            ]
        );
    }

    #[test]
    fn the_tracking_token_is_not_part_of_the_digest() {
        let a = serde_json::json!({"variant": {"id": "v", "version": 1}, "fields": {"t": "Hi"}, "tracking_token": "x"});
        let b = serde_json::json!({"variant": {"id": "v", "version": 1}, "fields": {"t": "Hi"}, "tracking_token": "y"});
        let c = serde_json::json!({"variant": {"id": "v", "version": 2}, "fields": {"t": "Hi"}, "tracking_token": "x"});
        assert_eq!(digest_of(&a), digest_of(&b));
        assert_ne!(digest_of(&a), digest_of(&c));
    }

    fn manifests() -> impl Strategy<Value = Manifest> {
        prop::collection::vec(
            // A digest covers the variant (as the content's does).
            (0..6u8, 0..2u8, 0..3u8, 0..3u8).prop_map(|(p, l, d, v)| {
                entry(
                    &format!("p{p}"),
                    &format!("l{l}"),
                    &format!("d{d}v{v}"),
                    &format!("v{v}"),
                )
            }),
            0..12,
        )
        .prop_map(Manifest::new)
    }

    proptest! {
        /// Applying the delta to what the client held gives exactly the new manifest.
        #[test]
        fn applying_the_delta_to_the_old_manifest_gives_the_new_one(old in manifests(), new in manifests()) {
            let delta = diff(&old, &new, |v| v == "v1");
            let mut held: BTreeMap<(String, String), Entry> = old
                .entries()
                .iter()
                .map(|e| ((e.placement.clone(), e.locale.clone()), e.clone()))
                .collect();
            for removed in &delta.removed {
                prop_assert!(held.remove(&(removed.placement.clone(), removed.locale.clone())).is_some());
            }
            for &i in &delta.changed {
                let e = &new.entries()[i];
                held.insert((e.placement.clone(), e.locale.clone()), e.clone());
            }
            let rebuilt = Manifest::new(held.into_values().collect());
            prop_assert_eq!(rebuilt, new.clone());
            // Nothing unchanged is sent again.
            let again = diff(&new, &new, |_| true);
            prop_assert!(again.changed.is_empty() && again.removed.is_empty() && again.retired.is_empty());
        }
    }
}
