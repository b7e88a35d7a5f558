//! Values parked under an id until they are used or expire, at most a fixed number of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Values by id, each with the time it expires. `ttl` counts from parking or the last
/// [`Parked::touch`].
pub(super) struct Parked<T> {
    ttl: Duration,
    max: usize,
    entries: HashMap<String, (Instant, T)>,
}

impl<T> Parked<T> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Parked {
            ttl,
            max,
            entries: HashMap::new(),
        }
    }

    /// Parks `value` under `id`; when full, the entry closest to expiring makes room.
    pub fn put(&mut self, id: String, value: T, now: Instant) {
        if self.entries.len() >= self.max && !self.entries.contains_key(&id) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (until, _))| *until)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.entries.insert(id, (now + self.ttl, value));
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.entries.get(id).map(|(_, v)| v)
    }

    pub fn take(&mut self, id: &str) -> Option<T> {
        self.entries.remove(id).map(|(_, v)| v)
    }

    /// Restarts `id`'s time to live (a pipe that just got a chunk).
    pub fn touch(&mut self, id: &str, now: Instant) {
        if let Some((until, _)) = self.entries.get_mut(id) {
            *until = now + self.ttl;
        }
    }

    /// Removes what expired by `now`, except entries `busy` says are in use.
    pub fn expire(&mut self, now: Instant, busy: impl Fn(&T) -> bool) {
        self.entries.retain(|_, (until, v)| *until > now || busy(v));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}
