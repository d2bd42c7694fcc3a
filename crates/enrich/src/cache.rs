//! A bounded memo of User-Agent verdicts: a campaign's opens repeat a few hundred agents, and
//! woothee takes 0.5-1.5 µs per parse against ~50 ns for a hit here.

use std::collections::HashMap;
use std::sync::Mutex;

/// Agents longer than this are parsed every time instead of being kept.
const MAX_CACHED_UA_LEN: usize = 512;

/// Two generations, as in [`ActivityTracker`](crate::ActivityTracker): bounded, O(1), and an
/// agent still in use survives a rotation by being promoted.
#[derive(Debug)]
pub(crate) struct AgentCache<V> {
    generations: Mutex<Generations<V>>,
    generation_size: usize,
}

#[derive(Debug)]
struct Generations<V> {
    young: HashMap<Box<str>, V>,
    old: HashMap<Box<str>, V>,
}

impl<V: Copy> AgentCache<V> {
    /// Remembers up to `capacity` agents; 0 turns caching off.
    pub(crate) fn new(capacity: usize) -> AgentCache<V> {
        AgentCache {
            generations: Mutex::new(Generations {
                young: HashMap::new(),
                old: HashMap::new(),
            }),
            generation_size: capacity / 2,
        }
    }

    pub(crate) fn get_or_insert_with(&self, ua: &str, compute: impl FnOnce() -> V) -> V {
        if self.generation_size == 0 || ua.len() > MAX_CACHED_UA_LEN {
            return compute();
        }
        // A poisoned lock only means another thread panicked mid-insert; the maps stay valid.
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(value) = generations.young.get(ua) {
            return *value;
        }
        let value = match generations.old.remove_entry(ua) {
            Some((key, value)) => {
                generations.young.insert(key, value);
                return value;
            }
            None => compute(),
        };
        if generations.young.len() >= self.generation_size {
            generations.old = std::mem::take(&mut generations.young);
        }
        generations.young.insert(ua.into(), value);
        value
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        generations.young.len() + generations.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lookup_is_served_from_the_cache() {
        let cache = AgentCache::new(8);
        assert_eq!(cache.get_or_insert_with("a", || 1), 1);
        assert_eq!(cache.get_or_insert_with("a", || 2), 1);
    }

    #[test]
    fn size_stays_within_capacity() {
        let cache = AgentCache::new(8);
        for n in 0..100 {
            cache.get_or_insert_with(&n.to_string(), || n);
        }
        assert!(cache.len() <= 8, "cache holds {}", cache.len());
    }

    #[test]
    fn an_agent_in_use_survives_rotation() {
        let cache = AgentCache::new(4);
        cache.get_or_insert_with("busy", || 1);
        for n in 0..20 {
            cache.get_or_insert_with(&n.to_string(), || 0);
            assert_eq!(cache.get_or_insert_with("busy", || 2), 1, "after {n}");
        }
    }

    #[test]
    fn zero_capacity_never_caches() {
        let cache = AgentCache::new(0);
        assert_eq!(cache.get_or_insert_with("a", || 1), 1);
        assert_eq!(cache.get_or_insert_with("a", || 2), 2);
    }

    #[test]
    fn very_long_agents_are_not_kept() {
        let cache = AgentCache::new(8);
        let long = "x".repeat(MAX_CACHED_UA_LEN + 1);
        assert_eq!(cache.get_or_insert_with(&long, || 1), 1);
        assert_eq!(cache.get_or_insert_with(&long, || 2), 2);
    }
}
