//! The live sequencers, by stream name.
//!
//! An entry caches what the data path needs to know about a stream (its
//! metadata) next to its sequencer's handle, so that appends and reads on an
//! active stream do not touch stored metadata.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use super::{
    sequencer::{Retire, SequencerHandle},
    usage::BasinUsage,
};
use crate::{
    names::{BasinName, StreamName},
    storage::{StreamId, StreamMeta},
};

pub type StreamKey = (BasinName, StreamName);

#[derive(Clone)]
pub struct LiveStream {
    pub meta: Arc<StreamMeta>,
    pub sequencer: SequencerHandle,
    /// The counters of the stream's basin.
    pub usage: Arc<BasinUsage>,
}

#[derive(Default)]
struct Maps {
    by_name: HashMap<StreamKey, LiveStream>,
    names: HashMap<StreamId, StreamKey>,
}

#[derive(Default)]
pub struct Registry {
    maps: Mutex<Maps>,
    generations: AtomicU64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding this lock leaves the maps consistent (every
        // mutation is a single insert or remove), so poisoning is ignored.
        self.maps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &StreamKey) -> Option<LiveStream> {
        self.lock().by_name.get(key).filter(|live| !live.sequencer.is_closed()).cloned()
    }

    /// Streams with a live sequencer.
    pub fn live_count(&self) -> usize {
        self.lock().by_name.len()
    }

    pub fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed)
    }

    /// Returns the live entry for the stream, inserting `make()` if there is
    /// none (or the one there has stopped).
    pub fn get_or_insert(&self, key: StreamKey, make: impl FnOnce() -> LiveStream) -> LiveStream {
        let mut maps = self.lock();
        if let Some(live) = maps.by_name.get(&key) {
            if !live.sequencer.is_closed() {
                return live.clone();
            }
        }
        let live = make();
        maps.names.insert(live.meta.id, key.clone());
        maps.by_name.insert(key, live.clone());
        live
    }

    /// Forgets the stream's sequencer; it stops once its handles are gone.
    pub fn remove(&self, key: &StreamKey) -> Option<LiveStream> {
        let mut maps = self.lock();
        let live = maps.by_name.remove(key)?;
        maps.names.remove(&live.meta.id);
        Some(live)
    }

    /// Replaces the cached metadata of a live stream.
    pub fn update_meta(&self, key: &StreamKey, meta: StreamMeta) {
        if let Some(live) = self.lock().by_name.get_mut(key) {
            live.meta = Arc::new(meta);
        }
    }
}

impl Retire for Registry {
    fn retire(&self, id: StreamId, generation: u64, idle: &dyn Fn() -> bool) -> bool {
        let mut maps = self.lock();
        let Some(key) = maps.names.get(&id).cloned() else {
            // Already forgotten (the stream is being deleted).
            return idle();
        };
        match maps.by_name.get(&key) {
            Some(live) if live.sequencer.generation() == generation => {
                if !idle() {
                    return false;
                }
                maps.by_name.remove(&key);
                maps.names.remove(&id);
                true
            }
            // A newer sequencer owns the stream; this one was forgotten.
            _ => idle(),
        }
    }
}
