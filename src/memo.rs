//! A process-wide memo for pure, content-keyed work (compiling a placement, checking
//! it): the same input gives the same output, so a large catalog in which one thing
//! changed redoes the work for that one thing only.
//!
//! Keys are 128-bit digests of everything the work reads. Each use of the memo is a
//! round ([`Memo::begin`] … [`Memo::finish`]); an entry no round has used for
//! `keep_rounds` rounds is dropped, so the memo holds what the serving catalog and the
//! last few checks used, never every version ever seen.

use std::collections::HashMap;
use std::sync::Mutex;

pub struct Memo<V> {
    entries: Mutex<Entries<V>>,
    keep_rounds: u64,
}

struct Entries<V> {
    round: u64,
    values: HashMap<u128, (u64, V)>,
}

impl<V: Clone> Memo<V> {
    pub fn new(keep_rounds: u64) -> Memo<V> {
        Memo {
            entries: Mutex::new(Entries {
                round: 0,
                values: HashMap::new(),
            }),
            keep_rounds,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a round; pass its number to [`Memo::get_or`] and [`Memo::finish`].
    pub fn begin(&self) -> u64 {
        let mut entries = self.lock();
        entries.round += 1;
        entries.round
    }

    /// The value for `key`, made by `make` (outside the lock) when there is none.
    pub fn get_or(&self, round: u64, key: u128, make: impl FnOnce() -> V) -> V {
        if let Some((used, value)) = self.lock().values.get_mut(&key) {
            *used = (*used).max(round);
            return value.clone();
        }
        let value = make();
        self.lock().values.insert(key, (round, value.clone()));
        value
    }

    /// The value for `key` if there is one (marked used in `round`).
    pub fn get(&self, round: u64, key: u128) -> Option<V> {
        let mut entries = self.lock();
        let (used, value) = entries.values.get_mut(&key)?;
        *used = (*used).max(round);
        Some(value.clone())
    }

    /// Keeps `value` for `key` (made elsewhere, e.g. read from the database).
    pub fn put(&self, round: u64, key: u128, value: V) {
        self.lock().values.insert(key, (round, value));
    }

    /// Ends a round: drops what the last `keep_rounds` rounds did not use.
    pub fn finish(&self, round: u64) {
        let oldest = round.saturating_sub(self.keep_rounds);
        self.lock().values.retain(|_, (used, _)| *used > oldest);
    }
}

/// A 128-bit digest of several parts (each length-prefixed, so parts cannot run together).
pub fn digest(parts: &[&[u8]]) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_made_once_and_dropped_when_no_round_uses_it() {
        let memo: Memo<u32> = Memo::new(2);
        let made = std::cell::Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            7
        };
        let round = memo.begin();
        assert_eq!(memo.get_or(round, 1, make), 7);
        assert_eq!(memo.get_or(round, 1, make), 7);
        memo.finish(round);
        assert_eq!(made.get(), 1);
        // Two rounds that use other keys: the entry survives the first, not the second.
        for _ in 0..2 {
            let round = memo.begin();
            memo.get_or(round, 2, || 0);
            memo.finish(round);
        }
        let round = memo.begin();
        memo.get_or(round, 1, make);
        assert_eq!(made.get(), 2, "made again after it was dropped");
    }

    #[test]
    fn parts_cannot_run_together() {
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
    }
}
