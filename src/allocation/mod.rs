//! Adaptive allocation: a placement with `allocation = "adaptive"` moves traffic
//! between its arms (published variants without a rule) toward what earns its
//! `reward`, within guardrails, and never stops learning.
//!
//! - [`thompson`] turns each arm's engagement into a share (evidence gate, Thompson
//!   sampling, guardrails, floor); pure.
//! - [`slots`] turns shares into bucket slots, moving as few people as it can; pure.
//! - [`Allocator::recompute`] runs both on a schedule over the rollups (never per
//!   request, never from the database on a request's path), stores each placement's
//!   [`Allocation`] and bumps the content generation, so every node loads the new slot
//!   maps with its catalog through the usual invalidation, and CDNs are purged.
//! - Delivery reads the loaded [`Serving`] form: the person's bucket, ranked by the
//!   placement's permutation, is a slot; its owner is served when it is eligible for
//!   the context, otherwise the eligible arms split by their slots.

pub mod http;
#[cfg(test)]
mod simulation;
pub mod slots;
pub mod thompson;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use crate::catalog::live::LiveCatalog;
use crate::catalog::model::Reward;
use crate::catalog::{Catalog, Placement, BUCKETS};
use crate::engagement::EvidenceKind;
use crate::problem::Problem;
use crate::storage::allocations as store;
use slots::SlotMap;
use thompson::{ArmInput, ArmVerdict, SourceCounts, Tuning};

/// Shares move only when some arm's slots would change by at least this many (2 % of
/// traffic): posterior noise from one recompute to the next moves nobody.
pub const MIN_MOVE_SLOTS: u16 = 20;

/// How long one recompute may hold the lease (other nodes skip their turn meanwhile).
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
const LEASE_KEY: &str = "allocation_lock";

/// An adaptive placement's allocation, as stored and as reviewers read it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Allocation {
    pub placement: String,
    pub reward: Reward,
    pub computed_at: DateTime<Utc>,
    /// The engagement window read, inclusive (UTC days).
    pub since: NaiveDate,
    pub until: NaiveDate,
    /// The judgement on each arm, in slot-map order.
    pub arms: Vec<ArmVerdict>,
    /// Slots (of 1,000) each arm owns, in `arms` order: the shares being served. Each
    /// recompute steps them half way to `arms[].share` ([`STEP`]) unless no arm would
    /// move by [`MIN_MOVE_SLOTS`], so they can rest up to about twice that from it.
    pub slots: Vec<u16>,
    /// When the served slots last changed.
    pub slots_changed_at: DateTime<Utc>,
    /// Each slot's owner (an index into `arms`), 1,000 bytes in base64.
    pub owners: String,
    /// The arms each slot has been in (bit `a` for `arms[a]`), 1,000 little-endian
    /// 64-bit masks in base64 (absent: each slot has been in its owner only).
    #[serde(default)]
    pub visited: String,
}

impl Allocation {
    /// The stored slot map, if it is whole.
    pub fn slot_map(&self) -> Option<SlotMap> {
        let owners = base64::engine::general_purpose::STANDARD
            .decode(&self.owners)
            .ok()?;
        let visited: Vec<u64> = if self.visited.is_empty() {
            owners.iter().map(|&o| 1u64 << (o % 64)).collect()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(&self.visited)
                .ok()?
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                .collect()
        };
        let map = SlotMap {
            arms: self.arms.iter().map(|a| a.variant.clone()).collect(),
            owners,
            visited,
        };
        map.is_sound().then_some(map)
    }
}

/// A slot map as delivery reads it: slot → variant index, and each variant's slots.
#[derive(Clone, Debug)]
pub struct Serving {
    /// The stored map it was built from (a preview rebuilds it for its own compile).
    map: Arc<SlotMap>,
    /// The variant index owning each slot; `u16::MAX` where the owner is not in the
    /// catalog (a variant since removed).
    slot_variant: Arc<[u16]>,
    /// Slots per variant index.
    slots_of: Arc<[u32]>,
}

impl Serving {
    /// The same slot map for another compile of the placement (a preview's).
    pub fn for_placement(&self, placement: &Placement) -> Serving {
        Serving::build(placement, self.map.clone())
    }

    fn build(placement: &Placement, map: Arc<SlotMap>) -> Serving {
        let index: Vec<u16> = map
            .arms
            .iter()
            .map(|id| {
                placement
                    .variants
                    .iter()
                    .position(|v| *v.id == **id)
                    .map_or(u16::MAX, |i| i as u16)
            })
            .collect();
        let slot_variant: Vec<u16> = map.owners.iter().map(|&o| index[usize::from(o)]).collect();
        let mut slots_of = vec![0u32; placement.variants.len()];
        for &v in &slot_variant {
            if let Some(count) = slots_of.get_mut(usize::from(v)) {
                *count += 1;
            }
        }
        Serving {
            map,
            slot_variant: slot_variant.into(),
            slots_of: slots_of.into(),
        }
    }

    /// Slots the variant at `index` owns.
    pub fn slots_of(&self, index: usize) -> u32 {
        self.slots_of.get(index).copied().unwrap_or(0)
    }

    /// The variant owning slot `rank` (a bucket ranked by the placement's permutation).
    pub fn owner(&self, rank: u16) -> Option<usize> {
        let v = *self.slot_variant.get(usize::from(rank))?;
        (v != u16::MAX).then_some(usize::from(v))
    }

    /// The owner of the first slot from `rank` on (wrapping) that one of `candidates`
    /// owns: a context whose own slot's variant is not eligible (another channel or
    /// device) is served from the nearest slot that is, which changes only when the
    /// slots between move. `None` when no candidate owns a slot.
    pub fn owner_from(&self, rank: u16, candidates: &[usize]) -> Option<usize> {
        let slots = self.slot_variant.len();
        (0..slots)
            .map(|offset| self.slot_variant[(usize::from(rank) + offset) % slots])
            .map(usize::from)
            .find(|v| candidates.contains(v))
    }
}

/// Gives `catalog` the stored allocations of its adaptive placements (documents that
/// do not parse, or name a placement that is not adaptive, are skipped).
pub fn attach(catalog: &mut Catalog, stored: Vec<(String, String)>) {
    for (placement_id, document) in stored {
        let Some((_, placement)) = catalog.placement(&placement_id) else {
            continue;
        };
        if placement.adaptive.is_none() || arms_problem(placement).is_some() {
            continue;
        }
        let map = serde_json::from_str::<Allocation>(&document)
            .ok()
            .and_then(|a| a.slot_map());
        match map {
            Some(map) => {
                let serving = Serving::build(placement, Arc::new(map));
                let id = placement.id.clone();
                catalog.allocations.insert(id, serving);
            }
            None => {
                tracing::warn!(placement = %placement_id, "stored allocation unreadable; splitting by weight")
            }
        }
    }
}

/// What one recompute did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RecomputeReport {
    pub computed_at: DateTime<Utc>,
    /// Why nothing was stored: another node holds the lease, or changed allocations
    /// while this one computed.
    pub skipped: Option<String>,
    /// The new content generation, when some slots moved.
    pub generation: Option<u64>,
    pub placements: Vec<PlacementOutcome>,
    /// Adaptive placements that cannot be allocated, and why (they split by weight).
    pub not_allocated: Vec<NotAllocated>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PlacementOutcome {
    pub placement: String,
    /// The served slots changed.
    pub moved: bool,
    /// Slots that changed owner (people whose variant changed, per 1,000).
    pub moved_slots: u32,
    pub allocation: Allocation,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct NotAllocated {
    pub placement: String,
    pub reason: String,
}

/// Why a placement's arms cannot be allocated, if they cannot: fewer than two, more
/// than [`slots::MAX_ARMS`], or at different priorities (a variant of a higher
/// priority would win every request it is eligible for, and a lower one none).
pub fn arms_problem(placement: &Placement) -> Option<String> {
    let count = placement.arms().count();
    if count < 2 {
        return Some(format!(
            "{count} published variant(s) without a rule; adaptive allocation needs two"
        ));
    }
    if count > slots::MAX_ARMS {
        return Some(format!(
            "{count} variants without a rule; adaptive allocation takes at most {}",
            slots::MAX_ARMS
        ));
    }
    let mut priorities: Vec<i32> = placement.arms().map(|(_, v)| v.priority).collect();
    priorities.sort_unstable();
    priorities.dedup();
    if priorities.len() > 1 {
        return Some(format!(
            "its variants without a rule have different priorities ({priorities:?}); adaptive allocation needs them in one group"
        ));
    }
    None
}

/// The allocation area: recomputes and reports.
pub struct Allocator {
    pub db: DatabaseConnection,
    pub catalog: LiveCatalog,
    /// Moved slots change answers: CDNs purge the placement.
    pub purger: crate::delivery::purge::Purger,
}

impl Allocator {
    /// The stored allocations.
    pub async fn list(&self) -> Result<Vec<Allocation>, Problem> {
        Ok(self
            .stored()
            .await?
            .into_values()
            .filter_map(|(allocation, _)| allocation)
            .collect())
    }

    /// Every stored document by placement, parsed where it parses.
    async fn stored(
        &self,
    ) -> Result<std::collections::BTreeMap<String, (Option<Allocation>, String)>, Problem> {
        Ok(store::load_all(&self.db)
            .await?
            .into_iter()
            .map(|(placement, document)| {
                (placement, (serde_json::from_str(&document).ok(), document))
            })
            .collect())
    }

    /// Recomputes every adaptive placement from the rollups of its window ending `now`;
    /// one node at a time (a lease in the database).
    pub async fn recompute(&self, now: DateTime<Utc>) -> Result<RecomputeReport, Problem> {
        let holder = uuid::Uuid::new_v4().simple().to_string();
        let mut report = RecomputeReport {
            computed_at: now,
            skipped: None,
            generation: None,
            placements: Vec::new(),
            not_allocated: Vec::new(),
        };
        if !crate::storage::governance::try_lock_key(&self.db, LEASE_KEY, &holder, now, LEASE)
            .await?
        {
            report.skipped = Some("another recompute holds the lease".into());
            return Ok(report);
        }
        let outcome = self.recompute_locked(now, &mut report).await;
        if let Err(e) = crate::storage::governance::unlock_key(&self.db, LEASE_KEY, &holder).await {
            tracing::warn!(error = %e, "could not release the allocation lease; it expires");
        }
        outcome?;
        Ok(report)
    }

    async fn recompute_locked(
        &self,
        now: DateTime<Utc>,
        report: &mut RecomputeReport,
    ) -> Result<(), Problem> {
        let catalog = self.catalog.current().await?;
        let mut stored = self.stored().await?;
        let until = now.date_naive();
        // (placement, the document read, the document to store or None to delete).
        let mut writes: Vec<store::Write> = Vec::new();
        let mut moved: Vec<String> = Vec::new();
        for placement in catalog.placements.iter() {
            let Some((reward, tuning)) = placement.adaptive else {
                continue;
            };
            let read = stored.remove(&*placement.id);
            if let Some(reason) = arms_problem(placement) {
                report.not_allocated.push(NotAllocated {
                    placement: placement.id.to_string(),
                    reason,
                });
                // Serving splits by weight meanwhile; the stored map is kept for when
                // the arms are one group again.
                continue;
            }
            let arms: Vec<String> = placement.arms().map(|(_, v)| v.id.to_string()).collect();
            let weights: Vec<u32> = placement.arms().map(|(_, v)| v.weight).collect();
            let since = until - chrono::Duration::days(i64::from(tuning.window_days) - 1);
            let inputs = self
                .evidence(&placement.id, &arms, reward, since, until)
                .await?;
            let thompson_tuning = Tuning {
                floor: tuning.floor,
                min_sources: tuning.min_sources,
                max_source_share: tuning.max_source_share,
                guardrail_factor: tuning.guardrail_factor,
            };
            let salt = placement.id.to_string();
            // Tens of thousands of posterior draws: off the async workers.
            let verdicts = tokio::task::spawn_blocking(move || {
                thompson::allocate(&inputs, &thompson_tuning, &salt)
            })
            .await
            .map_err(|e| Problem::internal(&e))?;
            if verdicts.len() != arms.len() {
                continue;
            }
            let previous = read.as_ref().and_then(|(a, _)| a.as_ref());
            let outcome = next_allocation(
                &placement.id,
                reward,
                previous,
                &weights,
                tuning.floor,
                verdicts,
                now,
                since,
                until,
            );
            if outcome.moved {
                moved.push(format!("placement/{}", placement.id));
            }
            writes.push(store::Write {
                placement: placement.id.to_string(),
                read: read.map(|(_, document)| document),
                write: Some(
                    serde_json::to_string(&outcome.allocation)
                        .map_err(|e| Problem::internal(&e))?,
                ),
            });
            report.placements.push(outcome);
        }
        // Documents of placements no longer adaptive (or gone) are not kept, once this
        // node's catalog is the stored one (a node behind could take a placement that
        // just became adaptive for one that is not).
        if crate::storage::generation(&self.db).await? == catalog.generation {
            for (placement, (_, document)) in stored {
                writes.push(store::Write::delete(&placement, document));
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        // Evidence alone changes no answer: the generation moves only with the slots.
        let generation = match store::save(&self.db, &writes, !moved.is_empty()).await? {
            store::Saved::Stored(generation) => generation,
            store::Saved::Raced => {
                report.skipped =
                    Some("another recompute changed allocations meanwhile; nothing stored".into());
                report.placements.clear();
                return Ok(());
            }
        };
        if let Some(generation) = generation {
            report.generation = Some(generation);
            self.catalog.announce_change(generation).await;
            drop(
                self.purger
                    .purge(moved, "adaptive allocation".to_string(), generation),
            );
        }
        Ok(())
    }

    /// Each arm's judged events over `[since, until]`, per source.
    async fn evidence(
        &self,
        placement: &str,
        arms: &[String],
        reward: Reward,
        since: NaiveDate,
        until: NaiveDate,
    ) -> Result<Vec<ArmInput>, Problem> {
        let reward_kind = match reward {
            Reward::Click => EvidenceKind::Click,
            Reward::Conversion => EvidenceKind::Conversion,
        };
        let detractor = crate::engagement::rollup::NPS_DETRACTOR_KIND;
        let names = [
            EvidenceKind::Impression.as_str(),
            reward_kind.as_str(),
            EvidenceKind::OptOut.as_str(),
            EvidenceKind::Nps.as_str(),
            detractor,
        ];
        let placements = [placement.to_string()];
        let rows = store::sources(&self.db, &placements, &names, since, until).await?;
        let mut per_source: Vec<HashMap<String, SourceCounts>> = vec![HashMap::new(); arms.len()];
        for (_, variant, source, kind, events) in rows {
            let Some(arm) = arms.iter().position(|a| *a == variant) else {
                continue;
            };
            let counts = per_source[arm].entry(source).or_default();
            let events = events.max(0) as u64;
            match kind.as_str() {
                k if k == detractor => counts.detractors += events,
                k if k == EvidenceKind::Impression.as_str() => counts.impressions += events,
                k if k == EvidenceKind::OptOut.as_str() => counts.opt_outs += events,
                k if k == EvidenceKind::Nps.as_str() => counts.nps += events,
                k if k == reward_kind.as_str() => counts.rewards += events,
                _ => {}
            }
        }
        Ok(arms
            .iter()
            .zip(per_source)
            .map(|(variant, sources)| {
                let mut sources: Vec<(String, SourceCounts)> = sources.into_iter().collect();
                sources.sort_by(|a, b| a.0.cmp(&b.0));
                ArmInput {
                    variant: variant.clone(),
                    sources,
                }
            })
            .collect())
    }

    /// Recomputes every `every`, logging each report; runs until aborted.
    pub async fn recompute_periodically(&self, every: std::time::Duration) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            match self.recompute(Utc::now()).await {
                Ok(report) => tracing::info!(
                    placements = report.placements.len(),
                    moved = report.placements.iter().filter(|p| p.moved).count(),
                    not_allocated = report.not_allocated.len(),
                    skipped = report.skipped.is_some(),
                    "allocation recompute"
                ),
                Err(problem) => tracing::warn!(%problem, "allocation recompute failed"),
            }
        }
    }
}

/// Each recompute moves the served shares this part of the way to Thompson's: on arms
/// that are nearly equal, Thompson's shares sway with each day's noise, and every sway
/// moves people; a half step halves the sway (and costs a known best arm about one
/// recompute on its way up).
pub const STEP: f64 = 0.5;

/// The shares to serve: [`STEP`] of the way from `served` to the verdicts' shares,
/// except that an arm a guardrail cut goes to its share (the floor) at once, and no arm
/// is served under `floor` (an arm just published is raised to it at once). Sums to 1.
fn stepped(verdicts: &[ArmVerdict], served: Option<&[f64]>, floor: f64) -> Vec<f64> {
    let Some(served) = served else {
        return verdicts.iter().map(|v| v.share).collect();
    };
    let n = verdicts.len();
    let floor = floor.clamp(0.0, 1.0 / n as f64);
    let raw: Vec<f64> = verdicts
        .iter()
        .zip(served)
        .map(|(v, &was)| match v.guardrail {
            Some(_) => v.share,
            None => was + STEP * (v.share - was),
        })
        .collect();
    // Water-fill: cut arms are pinned at their share; the others share the rest in
    // their stepped proportions, and any that would fall under the floor is pinned
    // there, until none does.
    let mut pinned: Vec<Option<f64>> = verdicts
        .iter()
        .map(|v| v.guardrail.as_ref().map(|_| v.share))
        .collect();
    loop {
        let budget = (1.0 - pinned.iter().flatten().sum::<f64>()).max(0.0);
        let free: Vec<usize> = (0..n).filter(|&i| pinned[i].is_none()).collect();
        if free.is_empty() {
            let total: f64 = pinned.iter().flatten().sum();
            return pinned
                .iter()
                .map(|p| p.unwrap_or(0.0) / total.max(f64::MIN_POSITIVE))
                .collect();
        }
        let free_raw: f64 = free.iter().map(|&i| raw[i]).sum();
        let share = |i: usize| {
            if free_raw > 0.0 {
                raw[i] * budget / free_raw
            } else {
                budget / free.len() as f64
            }
        };
        let under: Vec<usize> = free.iter().copied().filter(|&i| share(i) < floor).collect();
        if under.is_empty() {
            return (0..n)
                .map(|i| pinned[i].unwrap_or_else(|| share(i)))
                .collect();
        }
        for i in under {
            pinned[i] = Some(floor);
        }
    }
}

/// The allocation that follows `previous` (none yet: the split by `weights`, in arm
/// order, as delivery served it) given new verdicts: the served shares step toward the
/// verdicts' ([`stepped`]), and the slots move only when some arm would gain or lose
/// at least [`MIN_MOVE_SLOTS`] (or the arms changed).
#[allow(clippy::too_many_arguments)]
fn next_allocation(
    placement: &str,
    reward: Reward,
    previous: Option<&Allocation>,
    weights: &[u32],
    floor: f64,
    verdicts: Vec<ArmVerdict>,
    now: DateTime<Utc>,
    since: NaiveDate,
    until: NaiveDate,
) -> PlacementOutcome {
    let arms: Vec<String> = verdicts.iter().map(|v| v.variant.clone()).collect();
    let old_map = previous
        .and_then(|p| p.slot_map())
        .or_else(|| Some(slots::weighted_layout(&arms, weights)));
    let same_arms = old_map.as_ref().is_some_and(|m| m.arms == arms);
    // What each arm is served now (a new arm: nothing), over the arms that remain.
    let served: Option<Vec<f64>> = old_map.as_ref().and_then(|m| {
        let counts = m.counts();
        let held: Vec<f64> = arms
            .iter()
            .map(|id| {
                m.arms
                    .iter()
                    .position(|a| a == id)
                    .map_or(0.0, |i| f64::from(counts[i]))
            })
            .collect();
        let total: f64 = held.iter().sum();
        (total > 0.0).then(|| held.iter().map(|h| h / total).collect())
    });
    // With no arm's evidence trusted yet, Thompson's shares are the prior's: nothing has
    // been learned, so the served split stays as it is.
    let learned = verdicts.iter().any(|v| !v.thin);
    let shares = match (&served, learned && same_arms) {
        (Some(served), false) if same_arms => served.clone(),
        _ => stepped(&verdicts, served.as_deref(), floor),
    };
    let targets = slots::targets(&shares);
    // The floor in whole slots: an arm under it moves however small the step, and so
    // does a cut arm above its share.
    let floor_slots =
        (floor.clamp(0.0, 1.0 / arms.len().max(1) as f64) * f64::from(BUCKETS)).floor() as u16;
    let small = same_arms
        && old_map.as_ref().is_some_and(|m| {
            let counts = m.counts();
            counts.iter().all(|&was| was >= floor_slots)
                && counts
                    .iter()
                    .zip(&targets)
                    .zip(&verdicts)
                    .all(|((&was, &is), v)| v.guardrail.is_none() || was <= is)
                && counts
                    .iter()
                    .zip(&targets)
                    .all(|(&was, &is)| was.abs_diff(is) < MIN_MOVE_SLOTS)
        });
    let (map, moved, changed_at) = match (&old_map, small) {
        (Some(map), true) => (
            map.clone(),
            false,
            previous.map_or(now, |p| p.slots_changed_at),
        ),
        _ => (
            slots::rebalance(old_map.as_ref(), &arms, &targets),
            true,
            now,
        ),
    };
    let moved_slots = match &old_map {
        Some(old) if moved => (0..usize::from(BUCKETS))
            .filter(|&s| {
                old.arms.get(usize::from(old.owners[s])) != map.arms.get(usize::from(map.owners[s]))
            })
            .count() as u32,
        Some(_) => 0,
        None => 0,
    };
    PlacementOutcome {
        placement: placement.to_string(),
        moved,
        moved_slots,
        allocation: Allocation {
            placement: placement.to_string(),
            reward,
            computed_at: now,
            since,
            until,
            slots: map.counts(),
            owners: base64::engine::general_purpose::STANDARD.encode(&map.owners),
            visited: base64::engine::general_purpose::STANDARD.encode(
                map.visited
                    .iter()
                    .flat_map(|bits| bits.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
            slots_changed_at: changed_at,
            arms: verdicts,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(variant: &str, share: f64) -> ArmVerdict {
        ArmVerdict {
            variant: variant.into(),
            impressions: 0,
            rewards: 0,
            opt_outs: 0,
            nps_answers: 0,
            nps_detractors: 0,
            sources: 0,
            discounted_sources: 0,
            discounted_events: 0,
            thin: false,
            reward_rate: 0.0,
            p_best: share,
            guardrail: None,
            share,
        }
    }

    fn next(previous: Option<&Allocation>, shares: &[f64]) -> PlacementOutcome {
        let verdicts = shares
            .iter()
            .enumerate()
            .map(|(i, &s)| verdict(&format!("v{i}"), s))
            .collect();
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        next_allocation(
            "p",
            Reward::Click,
            previous,
            &vec![1; shares.len()],
            0.05,
            verdicts,
            Utc::now(),
            day,
            day,
        )
    }

    #[test]
    fn a_context_whose_slot_variant_is_not_eligible_gets_the_nearest_eligible_slot() {
        use crate::catalog::model::*;
        let toml = r#"
            id = "p"
            channels = ["web"]
            allocation = "adaptive"
            [[variant]]
            id = "a"
            version = 1
            state = "published"
            [[variant]]
            id = "b"
            version = 1
            state = "published"
            [[variant]]
            id = "c"
            version = 1
            state = "published"
        "#;
        let def: PlacementDef = toml::from_str(toml).unwrap();
        let content = ContentSet {
            channels: vec![toml::from_str(r#"id = "web""#).unwrap()],
            traits: vec![],
            placements: vec![def],
            fluent: vec![],
            segments: vec![],
            policies: vec![],
        };
        let catalog = Catalog::compile(&content, "en", 1).0;
        let placement = &catalog.placements[0];
        let arms: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let map = slots::rebalance(None, &arms, &[300, 300, 400]);
        let serving = Serving::build(placement, Arc::new(map));
        assert_eq!(serving.owner(0), Some(0));
        // Slots 0–299 are a's: without a, they go to b's first slot (300), not to a
        // split that would move with every rebalance.
        assert_eq!(serving.owner_from(10, &[1, 2]), Some(1));
        assert_eq!(serving.owner_from(650, &[0, 1]), Some(0), "wraps around");
        assert_eq!(serving.owner_from(10, &[5]), None);
    }

    #[test]
    fn a_guardrail_cut_goes_to_the_floor_at_once_while_other_moves_step() {
        let first = next(None, &[0.5, 0.5]);
        let mut verdicts = vec![verdict("v0", 0.05), verdict("v1", 0.95)];
        verdicts[0].guardrail = Some("opt-outs".into());
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let cut = next_allocation(
            "p",
            Reward::Click,
            Some(&first.allocation),
            &[1, 1],
            0.05,
            verdicts,
            Utc::now(),
            day,
            day,
        );
        assert_eq!(cut.allocation.slots, [50, 950]);
    }

    #[test]
    fn the_first_allocation_steps_from_the_weighted_split_moving_only_its_difference() {
        let verdicts = vec![verdict("v0", 0.1), verdict("v1", 0.9)];
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let first = next_allocation(
            "p",
            Reward::Click,
            None,
            &[70, 30],
            0.05,
            verdicts,
            Utc::now(),
            day,
            day,
        );
        // Half way from 70/30 to 10/90; the 300 slots of v1 stay v1's.
        assert_eq!(first.allocation.slots, [400, 600]);
        assert_eq!(first.moved_slots, 300);
        let map = first.allocation.slot_map().unwrap();
        assert!((700..1000).all(|slot| map.owners[slot] == 1));
    }

    proptest::proptest! {
        /// Served shares are whole: they sum to 1, none is under the floor, and a cut
        /// arm gets exactly its share.
        #[test]
        fn stepped_shares_sum_to_one_and_keep_the_floor(
            raw in proptest::collection::vec((0.0..1.0f64, 0.0..1.0f64, proptest::bool::weighted(0.2)), 2..7)
        ) {
            let n = raw.len() as f64;
            let floor = 0.05;
            let earned_sum: f64 = raw.iter().map(|r| r.0).sum::<f64>() + 1e-9;
            let served_sum: f64 = raw.iter().map(|r| r.1).sum::<f64>() + 1e-9;
            let verdicts: Vec<ArmVerdict> = raw
                .iter()
                .enumerate()
                .map(|(i, &(e, _, cut))| {
                    let mut v = verdict(&format!("v{i}"), floor + (1.0 - n * floor) * e / earned_sum);
                    if cut {
                        v.share = floor;
                        v.guardrail = Some("cut".into());
                    }
                    v
                })
                .collect();
            let served: Vec<f64> = raw.iter().map(|r| r.1 / served_sum).collect();
            let shares = stepped(&verdicts, Some(&served), floor);
            let sum: f64 = shares.iter().sum();
            proptest::prop_assert!((sum - 1.0).abs() < 1e-9, "{shares:?}");
            for (share, v) in shares.iter().zip(&verdicts) {
                proptest::prop_assert!(*share >= floor - 1e-9, "{shares:?}");
                if v.guardrail.is_some() && verdicts.iter().any(|v| v.guardrail.is_none()) {
                    proptest::prop_assert!((share - v.share).abs() < 1e-9, "{shares:?}");
                }
            }
        }
    }

    #[test]
    fn without_trusted_evidence_the_served_split_stays() {
        let mut verdicts = vec![verdict("v0", 0.5), verdict("v1", 0.5)];
        for v in verdicts.iter_mut() {
            v.thin = true;
        }
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let first = next_allocation(
            "p",
            Reward::Click,
            None,
            &[70, 30],
            0.05,
            verdicts,
            Utc::now(),
            day,
            day,
        );
        assert!(!first.moved, "nothing learned, nobody moves");
        assert_eq!(first.allocation.slots, [700, 300]);
    }

    #[test]
    fn an_arm_under_the_floor_is_raised_to_it_however_small_the_step() {
        // A third arm published since: it holds nothing yet.
        let two = next(None, &[0.5, 0.5]);
        let mut verdicts = vec![
            verdict("v0", 0.475),
            verdict("v1", 0.475),
            verdict("v2", 0.05),
        ];
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let mut previous = two.allocation;
        for _ in 0..4 {
            let outcome = next_allocation(
                "p",
                Reward::Click,
                Some(&previous),
                &[1, 1, 1],
                0.05,
                verdicts.clone(),
                Utc::now(),
                day,
                day,
            );
            assert!(
                outcome.allocation.slots[2] >= 50,
                "{:?}",
                outcome.allocation.slots
            );
            previous = outcome.allocation;
            verdicts[2].share = 0.05;
        }
    }

    #[test]
    fn small_changes_move_nobody_and_large_ones_move_only_the_difference() {
        let first = next(None, &[0.5, 0.5]);
        assert!(!first.moved, "the weighted split already is 50/50");
        assert_eq!(first.allocation.slots, [500, 500]);
        let nudge = next(Some(&first.allocation), &[0.505, 0.495]);
        assert!(!nudge.moved);
        assert_eq!(nudge.allocation.slots, [500, 500]);
        assert_eq!(nudge.allocation.owners, first.allocation.owners);
        // Half way to Thompson's 70/30.
        let shift = next(Some(&nudge.allocation), &[0.7, 0.3]);
        assert!(shift.moved);
        assert_eq!(shift.moved_slots, 100);
        assert_eq!(shift.allocation.slots, [600, 400]);
        assert!(shift.allocation.slot_map().is_some());
    }
}
