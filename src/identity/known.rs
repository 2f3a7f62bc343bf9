//! Which identifiers the graph knows, in memory: a visitor nobody has identified (the
//! normal case on the web, a new `X-Anonymous-Id` per first visit) is recognised as
//! unknown without asking Redis or the database.
//!
//! A Bloom filter over every identifier's keyed digest ([`super::graph::Identifier::
//! digest128`]): "not in the filter" means "not in the graph"; "maybe" falls through to
//! the caches and the database as before, so a false positive (about 1 in 100 unknown
//! ids) only costs the lookup every unknown id used to cost. Deletions (erasure) leave
//! their bits set: more false positives until the next rebuild, never a wrong answer.
//!
//! **Why "not in the filter" can be trusted.** The filter is built from a full read of
//! the identifiers table and then learns every identifier of every change this node
//! hears of: its own identify calls (before they answer) and every other node's, over the
//! people channel they already announce on (the change names the digests of all the
//! identifiers involved). A rebuild starts collecting what it hears *before* it reads
//! the table, so a change committed during the read is in the new filter one way or
//! the other. While the node may be missing announcements (not yet subscribed, the
//! subscription lost, Redis away) the filter is not trusted and every lookup takes the
//! old path; each (re)subscription rebuilds it.
//!
//! **Just after an identify on another node**: that node publishes the change before it
//! answers its caller, and this node learns it when the message arrives (well under a
//! millisecond on one network). A request that reaches this node in between is answered
//! as the anonymous visitor it was a moment before, keyed `anon:<id>` like the person
//! the identify created (a person created from an anonymous id keeps its sticky key), so
//! the variant it gets does not change; only traits from the identify are not yet
//! applied. That is the window the per-node cache of unknown ids always had.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use fastbloom::AtomicBloomFilter;

/// Wrong "maybe" answers per unknown identifier.
const FALSE_POSITIVE_RATE: f64 = 0.01;

/// The smallest filter built (about 120 KB): a new graph grows into it without a rebuild.
pub const MIN_CAPACITY: usize = 100_000;

/// One filter and the number of identifiers it was sized for.
struct Filter {
    bloom: AtomicBloomFilter,
    capacity: usize,
}

impl Filter {
    fn sized_for(items: usize) -> Arc<Filter> {
        // Room to grow: a rebuild is needed only when the graph doubles.
        let capacity = items.saturating_mul(2).max(MIN_CAPACITY);
        Arc::new(Filter {
            bloom: AtomicBloomFilter::with_false_pos(FALSE_POSITIVE_RATE).expected_items(capacity),
            capacity,
        })
    }
}

/// The filter's hash of a key: the keyed digest is already uniform, so its halves folded
/// together are the hash (no hasher runs per lookup).
fn hash_of(key: u128) -> u64 {
    (key as u64) ^ ((key >> 64) as u64)
}

struct Filters {
    current: Arc<Filter>,
    /// The filter being rebuilt, which learns everything `current` learns meanwhile.
    next: Option<Arc<Filter>>,
}

/// The known-identifier filter of one node. Cheap to share; every method takes `&self`.
pub struct KnownIdentifiers {
    filters: RwLock<Filters>,
    /// Whether "not in the filter" may be believed (see the module's comment).
    trusted: AtomicBool,
    /// Bumped by [`KnownIdentifiers::distrust`]: a rebuild begun before the node lost
    /// announcements must not make the filter trusted when it ends.
    distrusts: AtomicU64,
    /// Identifiers learnt into `current` since it was built (an upper bound on its load).
    learnt: AtomicUsize,
}

impl Default for KnownIdentifiers {
    fn default() -> Self {
        KnownIdentifiers::new()
    }
}

impl KnownIdentifiers {
    /// An empty filter, not trusted until a rebuild finishes.
    pub fn new() -> KnownIdentifiers {
        KnownIdentifiers {
            filters: RwLock::new(Filters {
                current: Filter::sized_for(0),
                next: None,
            }),
            trusted: AtomicBool::new(false),
            distrusts: AtomicU64::new(0),
            learnt: AtomicUsize::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Filters> {
        self.filters.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The graph surely does not hold the identifier with this key. `false` means maybe
    /// (or the filter cannot be trusted just now): ask the caches and the database.
    pub fn surely_unknown(&self, key: u128) -> bool {
        self.trusted.load(Ordering::Acquire)
            && !self.read().current.bloom.contains_hash(hash_of(key))
    }

    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::Acquire)
    }

    /// Learns identifiers the graph now holds. Returns whether the filter has outgrown
    /// its size (its false-positive rate is climbing): time for a rebuild.
    pub fn learn(&self, keys: impl IntoIterator<Item = u128>) -> bool {
        let filters = self.read();
        let mut learnt = 0;
        for key in keys {
            let hash = hash_of(key);
            filters.current.bloom.insert_hash(hash);
            if let Some(next) = &filters.next {
                next.bloom.insert_hash(hash);
            }
            learnt += 1;
        }
        let total = self.learnt.fetch_add(learnt, Ordering::AcqRel) + learnt;
        total > filters.current.capacity
    }

    /// The node may be missing announcements: stop believing the filter until the next
    /// rebuild that begins after this.
    pub fn distrust(&self) {
        self.distrusts.fetch_add(1, Ordering::AcqRel);
        self.trusted.store(false, Ordering::Release);
    }

    /// Starts a rebuild for a graph of about `items` identifiers: from now on what the
    /// filter learns goes into the new one too. Fill it with [`Rebuild::add`] from a full
    /// read of the table, then [`Rebuild::finish`].
    pub fn begin_rebuild(&self, items: usize) -> Rebuild<'_> {
        let filter = Filter::sized_for(items);
        self.filters.write().unwrap_or_else(|e| e.into_inner()).next = Some(filter.clone());
        Rebuild {
            known: self,
            filter,
            distrusts: self.distrusts.load(Ordering::Acquire),
            added: 0,
            finished: false,
        }
    }
}

/// A filter being rebuilt; dropped unfinished (the read failed), it is discarded and the
/// current filter stays as it was.
pub struct Rebuild<'k> {
    known: &'k KnownIdentifiers,
    filter: Arc<Filter>,
    distrusts: u64,
    added: usize,
    finished: bool,
}

impl Rebuild<'_> {
    pub fn add(&mut self, key: u128) {
        self.filter.bloom.insert_hash(hash_of(key));
        self.added += 1;
    }

    /// Makes the new filter the current one; trusted unless announcements were lost
    /// since the rebuild began (a later rebuild will be).
    pub fn finish(mut self) {
        let mut filters = self
            .known
            .filters
            .write()
            .unwrap_or_else(|e| e.into_inner());
        filters.current = self.filter.clone();
        filters.next = None;
        self.known.learnt.store(self.added, Ordering::Release);
        if self.known.distrusts.load(Ordering::Acquire) == self.distrusts {
            self.known.trusted.store(true, Ordering::Release);
        }
        self.finished = true;
    }
}

impl Drop for Rebuild<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut filters = self
                .known
                .filters
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if filters
                .next
                .as_ref()
                .is_some_and(|next| Arc::ptr_eq(next, &self.filter))
            {
                filters.next = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u64) -> u128 {
        crate::identity::pseudonym(&[b"test", &n.to_le_bytes()])
    }

    fn rebuilt(keys: &[u128]) -> KnownIdentifiers {
        let known = KnownIdentifiers::new();
        let mut rebuild = known.begin_rebuild(keys.len());
        for k in keys {
            rebuild.add(*k);
        }
        rebuild.finish();
        known
    }

    #[test]
    fn an_untrusted_filter_never_says_unknown() {
        let known = KnownIdentifiers::new();
        assert!(!known.surely_unknown(key(1)), "before its first rebuild");
        let known = rebuilt(&[key(1)]);
        assert!(known.surely_unknown(key(2)));
        known.distrust();
        assert!(
            !known.surely_unknown(key(2)),
            "after announcements were lost"
        );
    }

    #[test]
    fn what_is_learnt_during_a_rebuild_is_in_the_new_filter() {
        let known = rebuilt(&[]);
        let mut rebuild = known.begin_rebuild(10);
        // Committed after the table read began: heard, not read.
        known.learn([key(7)]);
        rebuild.add(key(1));
        rebuild.finish();
        assert!(!known.surely_unknown(key(7)));
        assert!(!known.surely_unknown(key(1)));
    }

    #[test]
    fn a_rebuild_begun_before_a_distrust_does_not_restore_trust() {
        let known = rebuilt(&[]);
        let rebuild = known.begin_rebuild(0);
        known.distrust();
        rebuild.finish();
        assert!(!known.is_trusted());
        rebuilt_again(&known);
        assert!(known.is_trusted());
    }

    fn rebuilt_again(known: &KnownIdentifiers) {
        known.begin_rebuild(0).finish();
    }

    #[test]
    fn an_abandoned_rebuild_leaves_the_filter_as_it_was() {
        let known = rebuilt(&[key(1)]);
        drop(known.begin_rebuild(0));
        known.learn([key(2)]);
        assert!(!known.surely_unknown(key(1)));
        assert!(!known.surely_unknown(key(2)));
        assert!(known.is_trusted());
    }

    #[test]
    fn outgrowing_the_filter_asks_for_a_rebuild() {
        let known = rebuilt(&[]);
        assert!(!known.learn((0..MIN_CAPACITY as u64).map(key)));
        assert!(known.learn([key(u64::MAX)]));
    }

    #[test]
    fn false_positives_stay_near_the_rate_it_was_sized_for() {
        let members: Vec<u128> = (0..50_000).map(key).collect();
        let known = rebuilt(&members);
        let wrong = (1_000_000..1_100_000)
            .filter(|n| !known.surely_unknown(key(*n)))
            .count();
        // Sized for twice its load: well under the 1 % it is built for.
        assert!(
            wrong < 1_000,
            "{wrong} of 100,000 unknown keys answered maybe"
        );
    }

    proptest! {
        /// The law the delivery path rests on: no false negatives, whatever was read and
        /// whatever was heard, before, during or after a rebuild.
        #[test]
        fn what_the_graph_holds_is_never_called_unknown(
            read in proptest::collection::vec(any::<u64>(), 0..200),
            heard_before in proptest::collection::vec(any::<u64>(), 0..50),
            heard_during in proptest::collection::vec(any::<u64>(), 0..50),
            heard_after in proptest::collection::vec(any::<u64>(), 0..50),
        ) {
            let known = rebuilt(&[]);
            known.learn(heard_before.iter().map(|n| key(*n)));
            let mut rebuild = known.begin_rebuild(read.len());
            for n in &read {
                rebuild.add(key(*n));
            }
            known.learn(heard_during.iter().map(|n| key(*n)));
            rebuild.finish();
            known.learn(heard_after.iter().map(|n| key(*n)));
            for n in read.iter().chain(&heard_during).chain(&heard_after) {
                prop_assert!(!known.surely_unknown(key(*n)));
            }
        }
    }
}
