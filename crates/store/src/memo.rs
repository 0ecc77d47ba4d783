//! A bounded memo that forgets its oldest entries in bulk.
//!
//! The committers remember instances, run ids and people between batches.
//! A memo that simply started over when full lost every entry at once: each
//! open instance then had to be read back from the database on its next step,
//! and the whole map was dropped inside the cache's lock. This one keeps two
//! generations: entries go into the young one; when it holds half the limit,
//! it becomes the old one and the previous old generation is handed back to
//! the caller to drop outside its lock. What was used within the last half
//! limit of insertions is always still there.

use std::collections::HashMap;
use std::hash::Hash;

pub(crate) struct Memo<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    /// Entries the young generation takes before it ages.
    generation: usize,
}

impl<K: Hash + Eq, V> Memo<K, V> {
    /// A memo holding at most `limit` entries (at least two).
    pub fn new(limit: usize) -> Self {
        Self { young: HashMap::new(), old: HashMap::new(), generation: (limit / 2).max(1) }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.young.get(key).or_else(|| self.old.get(key))
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.young.get_mut(key) {
            Some(value) => Some(value),
            None => self.old.get_mut(key),
        }
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let young = self.young.remove(key);
        let old = self.old.remove(key);
        young.or(old)
    }

    /// Inserts an entry; returns the generation that aged out, if one did,
    /// for the caller to drop once it has let go of any lock.
    #[must_use = "drop the aged-out generation outside the lock"]
    pub fn insert(&mut self, key: K, value: V) -> Option<HashMap<K, V>> {
        self.old.remove(&key);
        let aged = if self.young.len() >= self.generation && !self.young.contains_key(&key) {
            let young = std::mem::replace(&mut self.young, HashMap::with_capacity(self.generation));
            Some(std::mem::replace(&mut self.old, young)).filter(|aged| !aged.is_empty())
        } else {
            None
        };
        self.young.insert(key, value);
        aged
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }
}

impl<K: Hash + Eq, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self::new(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_the_limit_and_always_the_latest_half() {
        let mut memo = Memo::new(10);
        for n in 0..1_000u32 {
            let _ = memo.insert(n, n * 2);
            assert!(memo.len() <= 10, "{} entries after inserting {n}", memo.len());
            for recent in n.saturating_sub(4)..=n {
                assert_eq!(memo.get(&recent), Some(&(recent * 2)), "entry {recent} after inserting {n}");
            }
        }
        assert_eq!(memo.get(&0), None);
    }

    #[test]
    fn an_aged_generation_is_handed_back_whole() {
        let mut memo = Memo::new(4);
        let mut aged = Vec::new();
        for n in 0..7 {
            if let Some(generation) = memo.insert(n, ()) {
                let mut keys: Vec<_> = generation.into_keys().collect();
                keys.sort_unstable();
                aged.push(keys);
            }
        }
        // Generations of two: {0,1} becomes old at 2 and is handed back at 4; {2,3} at 6.
        assert_eq!(aged, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn a_key_lives_in_one_generation_only() {
        let mut memo = Memo::new(4);
        let _ = memo.insert("a", 1);
        let _ = memo.insert("b", 2);
        let _ = memo.insert("c", 3); // "a" and "b" are old now
        let _ = memo.insert("a", 10); // back in the young generation, gone from the old
        assert_eq!(memo.remove(&"a"), Some(10));
        assert_eq!(memo.remove(&"a"), None, "no stale copy left behind");
        assert_eq!(memo.get(&"b"), Some(&2));
        assert_eq!(memo.len(), 2);
    }

    #[test]
    fn replacing_a_young_entry_does_not_age_the_generation() {
        let mut memo = Memo::new(4);
        let _ = memo.insert(1, "one");
        let _ = memo.insert(2, "two");
        assert!(memo.insert(2, "deux").is_none());
        assert_eq!(memo.get(&1), Some(&"one"));
        assert_eq!(memo.get(&2), Some(&"deux"));
    }
}
