//! A/B groups and the holdout: deterministic splits of players by a hash of their id and a salt.
//!
//! A player's group depends only on their id, the salt and the ratios, never on who else is in
//! the segment, so assignments stay put as a segment grows or shrinks. Different salts give
//! independent splits. The global holdout is one such split with its own salt: players in it
//! are kept out of every campaign, so that the campaigns' effect can be measured against them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::SegmentError;

/// A split into named groups with relative weights, e.g. A 50 / B 50, or control 10 / rest 90.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Split {
    /// Changing the salt reshuffles everyone; keep it for the life of an experiment.
    pub salt: String,
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Group {
    pub name: String,
    /// Relative weight: groups of weight 1 and 3 get a quarter and three quarters.
    pub weight: u32,
}

/// Where a player falls in `0 .. 2^64`, for this salt.
fn point(salt: &str, player: Uuid) -> u64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(player.as_bytes());
    let digest = h.finalize();
    u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]))
}

impl Split {
    pub fn validate(&self) -> Result<(), SegmentError> {
        if self.salt.trim().is_empty() || self.salt.len() > 200 {
            return Err(SegmentError::Invalid("split: give a salt of 1 to 200 characters".into()));
        }
        if self.groups.len() < 2 || self.groups.len() > 26 {
            return Err(SegmentError::Invalid("split: give 2 to 26 groups".into()));
        }
        if self.groups.iter().any(|g| g.weight == 0 || g.name.trim().is_empty()) {
            return Err(SegmentError::Invalid("split: every group needs a name and a weight above 0".into()));
        }
        let mut names: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != self.groups.len() {
            return Err(SegmentError::Invalid("split: group names must differ".into()));
        }
        Ok(())
    }

    /// The group a player is in.
    pub fn group_of(&self, player: Uuid) -> &str {
        let total: u128 = self.groups.iter().map(|g| u128::from(g.weight)).sum();
        if total == 0 {
            return "";
        }
        // Scale the 64-bit point to the total weight without bias worth measuring.
        let at = (u128::from(point(&self.salt, player)) * total) >> 64;
        let mut upto = 0u128;
        for g in &self.groups {
            upto += u128::from(g.weight);
            if at < upto {
                return &g.name;
            }
        }
        self.groups.last().map_or("", |g| g.name.as_str())
    }
}

/// The global holdout: `basis_points` of all players (100 = 1%), chosen by `salt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holdout {
    pub salt: String,
    pub basis_points: u32,
}

impl Holdout {
    pub fn contains(&self, player: Uuid) -> bool {
        let at = (u128::from(point(&self.salt, player)) * 10_000) >> 64;
        at < u128::from(self.basis_points.min(10_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: [&str; 8] = ["g0", "g1", "g0", "g0", "g1", "g0", "g1", "g0"];

    fn ab(weights: &[u32]) -> Split {
        Split {
            salt: "spring-test".into(),
            groups: weights.iter().enumerate().map(|(i, w)| Group { name: format!("g{i}"), weight: *w }).collect(),
        }
    }

    fn ids(n: usize) -> Vec<Uuid> {
        // Deterministic ids, as varied as real ones where the hash is concerned.
        (0..n as u128).map(|i| Uuid::from_u128(i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))).collect()
    }

    #[test]
    fn groups_follow_the_ratios() {
        let split = ab(&[10, 30, 60]);
        let players = ids(100_000);
        let mut counts = [0usize; 3];
        for p in &players {
            counts[split.group_of(*p)[1..].parse::<usize>().unwrap()] += 1;
        }
        for (i, expected) in [0.10, 0.30, 0.60].iter().enumerate() {
            let share = counts[i] as f64 / players.len() as f64;
            // Four standard deviations of a binomial share at n = 100,000.
            let sd = (expected * (1.0 - expected) / players.len() as f64).sqrt();
            assert!((share - expected).abs() < 4.0 * sd, "group {i}: {share} vs {expected}");
        }
    }

    #[test]
    fn assignments_are_pinned_across_releases_and_salts_are_independent() {
        // A running experiment must not reshuffle on upgrade: these are the groups today.
        let split = ab(&[1, 1]);
        let pinned: Vec<&str> = ids(8).iter().map(|p| split.group_of(*p)).collect();
        assert_eq!(pinned, PINNED);
        let players = ids(1_000);
        let other = Split { salt: "another".into(), ..split.clone() };
        let same = players.iter().filter(|p| split.group_of(**p) == other.group_of(**p)).count();
        assert!((400..600).contains(&same), "{same} of 1000 agree across salts");
    }

    #[test]
    fn the_holdout_takes_its_share() {
        let holdout = Holdout { salt: "global".into(), basis_points: 500 };
        let players = ids(100_000);
        let held = players.iter().filter(|p| holdout.contains(**p)).count();
        assert!((4_700..5_300).contains(&held), "{held}");
        assert_eq!(
            ids(1000).iter().filter(|p| Holdout { basis_points: 0, ..holdout.clone() }.contains(**p)).count(),
            0
        );
    }

    #[test]
    fn bad_splits_are_refused() {
        assert!(ab(&[1]).validate().is_err());
        assert!(ab(&[1, 0]).validate().is_err());
        assert!(ab(&[1, 1]).validate().is_ok());
    }
}
