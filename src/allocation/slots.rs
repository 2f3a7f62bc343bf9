//! Bucket slots: how an adaptive placement's traffic is split between its arms while
//! every person keeps their variant as long as they can.
//!
//! A placement ranks the [`BUCKETS`] buckets by its own permutation (the catalog's
//! `bucket_rank`); slot `s` is the bucket of rank `s`. A [`SlotMap`] gives each slot an
//! owner arm. When shares change, [`rebalance`] moves as few slots as it can: an arm
//! that shrinks gives up its highest slots, an arm that grows takes the lowest free
//! ones, and no other slot changes hands. So a person changes variant only when their
//! bucket falls out of a shrinking arm, into a growing one.
//!
//! Each slot also remembers every arm it has been in. A shrinking arm gives up first
//! the slots that were never in an arm now growing, and a growing arm takes first the
//! free slots that were never in it: when shares sway back, other people move, not the
//! same ones back again, for as long as there are people who have not moved.

use crate::catalog::BUCKETS;

/// Most arms an adaptive placement may have (an owner is one byte).
pub const MAX_ARMS: usize = 64;

/// Who owns each slot: `owners[slot]` indexes `arms`; `visited[slot]` has bit `a` set
/// for every arm `a` the slot has been in (its owner included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotMap {
    pub arms: Vec<String>,
    pub owners: Vec<u8>,
    pub visited: Vec<u64>,
}

impl SlotMap {
    /// Slots each arm owns, in `arms` order.
    pub fn counts(&self) -> Vec<u16> {
        let mut counts = vec![0u16; self.arms.len()];
        for &owner in &self.owners {
            if let Some(count) = counts.get_mut(usize::from(owner)) {
                *count += 1;
            }
        }
        counts
    }

    /// The arm owning the slot of bucket rank `rank`.
    pub fn owner(&self, rank: u16) -> Option<&str> {
        let owner = *self.owners.get(usize::from(rank))?;
        self.arms.get(usize::from(owner)).map(String::as_str)
    }

    /// Is this a whole map (one owner per slot, each a known arm)?
    pub fn is_sound(&self) -> bool {
        self.owners.len() == usize::from(BUCKETS)
            && self.visited.len() == usize::from(BUCKETS)
            && self.arms.len() <= MAX_ARMS
            && self
                .owners
                .iter()
                .all(|&o| usize::from(o) < self.arms.len())
    }
}

/// Whole slots for each share (shares sum to 1): the largest-remainder method, so the
/// counts sum to [`BUCKETS`] and each is within one slot of its exact share.
pub fn targets(shares: &[f64]) -> Vec<u16> {
    let total = f64::from(BUCKETS);
    let sum: f64 = shares.iter().map(|s| s.max(0.0)).sum();
    if shares.is_empty() || sum <= 0.0 {
        return vec![0; shares.len()];
    }
    let exact: Vec<f64> = shares.iter().map(|s| s.max(0.0) / sum * total).collect();
    let mut counts: Vec<u16> = exact.iter().map(|e| e.floor() as u16).collect();
    let given: u16 = counts.iter().sum();
    let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
    by_remainder.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in by_remainder
        .iter()
        .cycle()
        .take(usize::from(BUCKETS - given))
    {
        counts[i] += 1;
    }
    // Every arm with a share keeps at least one slot (taken from the largest).
    for i in 0..shares.len() {
        if counts[i] == 0 && shares[i] > 0.0 {
            let largest = (0..counts.len())
                .max_by_key(|&j| (counts[j], std::cmp::Reverse(j)))
                .unwrap_or(i);
            if counts[largest] > 1 {
                counts[largest] -= 1;
                counts[i] += 1;
            }
        }
    }
    counts
}

/// Which of the parts weighing `weights` the bucket rank `rank` falls in: part `i`
/// holds the ranks `r` with `r / BUCKETS` in `[cum(i-1), cum(i)) / total`. Parts that
/// all weigh nothing share evenly. The weighted split of delivery and the first slot
/// map both read it, so they agree slot for slot. Allocates nothing.
pub fn part_of(rank: u16, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let even = weights.clone().all(|w| w == 0);
    let weight = |w: u32| if even { 1 } else { u64::from(w) };
    let total: u64 = weights.clone().map(weight).sum();
    let mut cumulative = 0u64;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        cumulative += weight(w);
        last = i;
        // rank / BUCKETS < cumulative / total, in integers.
        if u64::from(rank) * total < cumulative * u64::from(BUCKETS) {
            return i;
        }
    }
    last
}

/// The map delivery serves before any allocation: each slot to the arm whose share of
/// the weights its rank falls in ([`part_of`]), arms in order.
pub fn weighted_layout(arms: &[String], weights: &[u32]) -> SlotMap {
    let owners: Vec<u8> = (0..BUCKETS)
        .map(|rank| part_of(rank, weights.iter().copied()) as u8)
        .collect();
    SlotMap {
        arms: arms.to_vec(),
        visited: owners.iter().map(|&o| 1u64 << o).collect(),
        owners,
    }
}

/// The map for `arms` owning `targets` slots each (summing to [`BUCKETS`]), moving as
/// few slots of `previous` as possible. Arms are matched to `previous` by id; slots of
/// an arm that is gone are free.
pub fn rebalance(previous: Option<&SlotMap>, arms: &[String], targets: &[u16]) -> SlotMap {
    debug_assert_eq!(arms.len(), targets.len());
    debug_assert_eq!(
        targets.iter().map(|&t| u32::from(t)).sum::<u32>(),
        u32::from(BUCKETS)
    );
    let slots = usize::from(BUCKETS);
    // Each slot's owner and visited arms, among the new arms.
    let (carried, mut visited): (Vec<Option<usize>>, Vec<u64>) = match previous {
        Some(map) if map.is_sound() => {
            let index: Vec<Option<usize>> = map
                .arms
                .iter()
                .map(|id| arms.iter().position(|a| a == id))
                .collect();
            let remap = |bits: u64| {
                index
                    .iter()
                    .enumerate()
                    .filter(|(old, _)| bits & (1 << old) != 0)
                    .filter_map(|(_, new)| *new)
                    .fold(0u64, |acc, new| acc | (1 << new))
            };
            (
                map.owners.iter().map(|&o| index[usize::from(o)]).collect(),
                map.visited.iter().map(|&bits| remap(bits)).collect(),
            )
        }
        _ => (vec![None; slots], vec![0; slots]),
    };
    let mut held = vec![0u16; arms.len()];
    for arm in carried.iter().flatten() {
        held[*arm] += 1;
    }
    let growing: u64 = (0..arms.len())
        .filter(|&a| held[a] < targets[a])
        .fold(0, |acc, a| acc | (1 << a));
    // A shrinking arm keeps the slots that would go back to a growing arm they were in,
    // then its lowest ones; it gives up the rest.
    let mut owners: Vec<Option<usize>> = carried.clone();
    for arm in 0..arms.len() {
        let excess = held[arm].saturating_sub(targets[arm]);
        if excess == 0 {
            continue;
        }
        let mut mine: Vec<usize> = (0..slots).filter(|&s| carried[s] == Some(arm)).collect();
        // Released first: slots that were never in a growing arm, highest first.
        mine.sort_by_key(|&s| (visited[s] & growing != 0, std::cmp::Reverse(s)));
        for &slot in mine.iter().take(usize::from(excess)) {
            owners[slot] = None;
        }
    }
    let mut kept: Vec<u16> = vec![0; arms.len()];
    for arm in owners.iter().flatten() {
        kept[*arm] += 1;
    }
    // Growing arms take free slots they were never in first, lowest first.
    for fresh_only in [true, false] {
        for arm in 0..arms.len() {
            for slot in 0..slots {
                if kept[arm] >= targets[arm] {
                    break;
                }
                if owners[slot].is_none() && (!fresh_only || visited[slot] & (1 << arm) == 0) {
                    owners[slot] = Some(arm);
                    kept[arm] += 1;
                }
            }
        }
    }
    let owners: Vec<u8> = owners.into_iter().map(|o| o.unwrap_or(0) as u8).collect();
    for (bits, &owner) in visited.iter_mut().zip(&owners) {
        *bits |= 1 << owner;
    }
    SlotMap {
        arms: arms.to_vec(),
        owners,
        visited,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arms(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("v{i}")).collect()
    }

    #[test]
    fn targets_sum_to_every_slot_and_round_fairly() {
        assert_eq!(targets(&[0.5, 0.3, 0.2]), [500, 300, 200]);
        assert_eq!(targets(&[1.0 / 3.0; 3]), [334, 333, 333]);
        assert_eq!(targets(&[0.0, 0.0]), [0, 0]);
        assert_eq!(targets(&[0.9995, 0.0005]).iter().sum::<u16>(), 1000);
    }

    #[test]
    fn a_first_map_gives_each_arm_a_contiguous_run() {
        let map = rebalance(None, &arms(3), &[500, 300, 200]);
        assert!(map.is_sound());
        assert_eq!(map.counts(), [500, 300, 200]);
        assert_eq!(map.owner(0), Some("v0"));
        assert_eq!(map.owner(499), Some("v0"));
        assert_eq!(map.owner(500), Some("v1"));
        assert_eq!(map.owner(999), Some("v2"));
    }

    #[test]
    fn a_removed_arm_frees_its_slots_and_a_new_arm_takes_only_free_ones() {
        let first = rebalance(None, &arms(3), &[400, 300, 300]);
        let next_arms = vec!["v0".to_string(), "v2".to_string(), "new".to_string()];
        let next = rebalance(Some(&first), &next_arms, &[400, 300, 300]);
        for slot in 0..1000u16 {
            match first.owner(slot) {
                Some("v1") => assert_eq!(next.owner(slot), Some("new")),
                owner => assert_eq!(next.owner(slot), owner),
            }
        }
    }

    #[test]
    fn when_shares_sway_back_other_people_move_not_the_same_ones_back() {
        let arms = arms(2);
        let first = rebalance(None, &arms, &[500, 500]);
        let second = rebalance(Some(&first), &arms, &[400, 600]);
        let third = rebalance(Some(&second), &arms, &[500, 500]);
        let mut back = 0;
        let mut moved = 0;
        for slot in 0..usize::from(BUCKETS) {
            let path = [first.owners[slot], second.owners[slot], third.owners[slot]];
            moved += usize::from(path[0] != path[1]) + usize::from(path[1] != path[2]);
            back += usize::from(path[0] != path[1] && path[2] == path[0]);
        }
        assert_eq!(moved, 200);
        assert_eq!(back, 0, "nobody went back to the arm they left");
    }

    fn shares(n: usize) -> impl Strategy<Value = Vec<f64>> {
        proptest::collection::vec(0.0..1.0f64, n).prop_map(|v| {
            let sum: f64 = v.iter().sum::<f64>() + 1e-9;
            v.into_iter().map(|x| x / sum).collect()
        })
    }

    proptest! {
        /// The law of stickiness: a slot changes hands only from an arm that shrank to
        /// an arm that grew, and exactly the difference moves.
        #[test]
        fn only_slots_of_shrinking_arms_move_and_only_to_growing_arms(
            (before, after) in (2..6usize).prop_flat_map(|n| (shares(n), shares(n)))
        ) {
            let arms = arms(before.len());
            let first = rebalance(None, &arms, &targets(&before));
            let (old, new) = (targets(&before), targets(&after));
            let second = rebalance(Some(&first), &arms, &new);
            prop_assert!(second.is_sound());
            prop_assert_eq!(second.counts(), new.clone());
            let mut moved = 0u32;
            for slot in 0..BUCKETS {
                let (was, is) = (first.owners[usize::from(slot)], second.owners[usize::from(slot)]);
                if was != is {
                    moved += 1;
                    prop_assert!(new[usize::from(was)] < old[usize::from(was)], "a slot left an arm that did not shrink");
                    prop_assert!(new[usize::from(is)] > old[usize::from(is)], "a slot joined an arm that did not grow");
                }
            }
            let shrinkage: u32 = old.iter().zip(&new).map(|(&o, &n)| u32::from(o.saturating_sub(n))).sum();
            prop_assert_eq!(moved, shrinkage);
        }

        #[test]
        fn unchanged_targets_change_nothing(s in (2..6usize).prop_flat_map(shares)) {
            let arms = arms(s.len());
            let first = rebalance(None, &arms, &targets(&s));
            prop_assert_eq!(rebalance(Some(&first), &arms, &targets(&s)), first);
        }
    }
}
