//! Checked rules kept by a stored condition's identity (its owner and version): a condition
//! changes rarely and is evaluated on every event, so each version is parsed and checked once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Rule, RuleError};

/// Rules by key, e.g. `(segment id, version)`; a failed check is kept too, with its error.
pub struct RuleCache<K> {
    rules: Mutex<HashMap<K, Result<Arc<Rule>, RuleError>>>,
}

impl<K: Hash + Eq> Default for RuleCache<K> {
    fn default() -> Self {
        RuleCache { rules: Mutex::new(HashMap::new()) }
    }
}

impl<K: Hash + Eq> RuleCache<K> {
    /// The rule `text` checks to, parsed the first time `key` is asked for.
    pub fn get(&self, key: K, text: &str) -> Result<Arc<Rule>, RuleError> {
        // A panic elsewhere while holding the lock leaves only parsed rules behind: still usable.
        let mut rules = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        rules.entry(key).or_insert_with(|| crate::from_text(text).map(Arc::new)).clone()
    }
}
