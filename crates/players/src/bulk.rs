//! Profiles a set at a time: registrations and profile changes of many events decided in
//! memory by the same rules as [`crate::create`] and [`crate::update`], then written with one
//! statement per table. Ingest applies a batch of events this way.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use pitboss_store::{Arg, Engine, Tx, fetch_values};
use uuid::Uuid;

use crate::PlayerError;
use crate::profile::{NewPlayer, Player, PlayerPatch};
use crate::repo::{COLUMNS, PlayerRow, insert, new_profile, patched, write_changes};

/// The profiles one set creates or changes, as they now stand, and those it read to change.
pub struct ProfileSet {
    now: DateTime<Utc>,
    profiles: HashMap<Uuid, Player>,
    /// Of each profile read from the database: its version and tags as read.
    read: HashMap<Uuid, (i64, Vec<String>)>,
    /// Profiles the set created, in order.
    created: Vec<Uuid>,
    /// Profiles read from the database that the set changed.
    changed: BTreeSet<Uuid>,
}

impl ProfileSet {
    /// Reads the profiles the set may change. On PostgreSQL they stay locked until commit, so a
    /// concurrent change waits for this one.
    pub async fn load(tx: &mut Tx, ids: &[Uuid], now: DateTime<Utc>) -> Result<ProfileSet, PlayerError> {
        let lock = if tx.engine() == Engine::Postgres { " ORDER BY id FOR UPDATE" } else { "" };
        let keys: Vec<Vec<Arg>> = ids.iter().map(|id| vec![Arg::Id(*id)]).collect();
        let rows: Vec<PlayerRow> =
            fetch_values(tx, &format!("SELECT {COLUMNS} FROM players WHERE id IN (VALUES {{values}}){lock}"), &keys)
                .await?;
        // Ordered as `get_in` reads them, so that a change compares the same way.
        let tags: Vec<(Uuid, String)> = fetch_values(
            tx,
            "SELECT player_id, tag FROM player_tags WHERE player_id IN (VALUES {values}) ORDER BY player_id, tag",
            &keys,
        )
        .await?;
        let mut tags_of: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (id, tag) in tags {
            tags_of.entry(id).or_default().push(tag);
        }
        let profiles: HashMap<Uuid, Player> = rows
            .into_iter()
            .map(|row| {
                let tags = tags_of.remove(&row.id()).unwrap_or_default();
                let player = row.into_player(tags);
                (player.id, player)
            })
            .collect();
        let read = profiles.values().map(|p| (p.id, (p.version, p.tags.clone()))).collect();
        Ok(ProfileSet { now, profiles, read, created: Vec::new(), changed: BTreeSet::new() })
    }

    /// Creates a profile as [`crate::create`] does; `registered` tells whether an external id
    /// is already taken (in the database, or earlier in the set).
    pub fn create(&mut self, new: NewPlayer, registered: impl FnOnce(&str) -> bool) -> Result<Player, PlayerError> {
        let new = new.normalized(self.now.date_naive())?;
        if registered(&new.external_id) {
            return Err(PlayerError::DuplicateExternalId(new.external_id));
        }
        let player = new_profile(new, self.now);
        self.created.push(player.id);
        self.profiles.insert(player.id, player.clone());
        Ok(player)
    }

    /// Changes a profile as [`crate::update`] does. The profile must have been loaded or
    /// created by this set.
    pub fn update(&mut self, id: Uuid, patch: &PlayerPatch) -> Result<Player, PlayerError> {
        let current = self.profiles.get(&id).ok_or(PlayerError::NotFound(id))?;
        let Some(n) = patched(current, patch, self.now)? else { return Ok(current.clone()) };
        if self.read.contains_key(&id) {
            self.changed.insert(id);
        }
        self.profiles.insert(id, n.clone());
        Ok(n)
    }

    /// Writes what the set did: new profiles as they finally stand, then changed ones.
    pub async fn write(self, tx: &mut Tx) -> Result<(), PlayerError> {
        let created: Vec<&Player> = self.created.iter().map(|id| &self.profiles[id]).collect();
        insert(tx, &created, self.now).await?;
        let changes: Vec<(&Player, i64, &Vec<String>)> = self
            .changed
            .iter()
            .map(|id| {
                let (version, tags) = &self.read[id];
                (&self.profiles[id], *version, tags)
            })
            .collect();
        write_changes(tx, &changes).await
    }
}
