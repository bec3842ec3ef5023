//! The order a batch is applied in, so that the set path (`rounds`: game rounds, and the
//! sessions and bonus wagering progress among them) gets large sets.
//!
//! Applying a batch strictly in order cuts the sets short wherever another event (a deposit, a
//! bonus, a registration) lies between them. But only events that share state must keep their
//! order: one player's events (their money and aggregates depend on it), and events naming the
//! same ledger transaction (`(kind, reference)` is the ledger's idempotency key: whichever is
//! recorded first wins, a different player's is refused). Everything else commutes: no rule
//! reads another player's profile, balances or aggregates, and house accounts are never checked.
//!
//! So the valid items are split into *groups*: the items of one player, joined with the groups
//! of other players whose events name the same ledger transaction. Each group keeps its batch
//! order. Then the batch goes in phases: every group first gives its leading events that the
//! set path does not take (applied one by one, in batch order), then its leading run of events
//! it does; the runs of all groups make one set. The sets needed are as many as the most such
//! runs any one group has in the batch, however the groups interleave.
//!
//! A player is keyed by the platform's id as sent, trimmed: a registration stores the id
//! trimmed, so `" p1"` registering and `"p1"` playing are the same player.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

use pitboss_payments::TxKind;

use crate::apply::ledger_ref;
use crate::batch::Item;
use crate::sets::in_set;

/// One step of applying a batch; positions are into the batch's valid items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Apply this item on its own, under a savepoint.
    One(usize),
    /// Apply these items (each [`in_set`]) as one set, in this order.
    Set(Vec<usize>),
}

/// The steps that apply `items` with every group's order kept and sets merged across groups.
pub(crate) fn plan(items: &[Item]) -> Vec<Step> {
    let group = groups(items);
    let count = group.iter().max().map_or(0, |g| g + 1);
    let mut queues: Vec<VecDeque<usize>> = vec![VecDeque::new(); count];
    for (position, g) in group.into_iter().enumerate() {
        queues[g].push_back(position);
    }
    let set = |p: usize| in_set(items[p].1.event_type);
    let mut steps = Vec::new();
    while !queues.is_empty() {
        // Each group's leading events that the set path does not take, one by one, in batch order.
        let mut others = Vec::new();
        for q in &mut queues {
            while let Some(&p) = q.front().filter(|&&p| !set(p)) {
                others.push(p);
                q.pop_front();
            }
        }
        others.sort_unstable();
        steps.extend(others.into_iter().map(Step::One));
        // Then each group's leading run of events it does take, all in one set.
        let mut run = Vec::new();
        for q in &mut queues {
            while let Some(&p) = q.front().filter(|&&p| set(p)) {
                run.push(p);
                q.pop_front();
            }
        }
        run.sort_unstable();
        match run.len() {
            0 => {}
            1 => steps.push(Step::One(run[0])),
            _ => steps.push(Step::Set(run)),
        }
        queues.retain(|q| !q.is_empty());
    }
    steps
}

/// The player key of an event: the platform's player id as the players module stores it.
fn player_key(player_ref: &str) -> &str {
    player_ref.trim()
}

/// Each item's group, numbered from 0.
fn groups(items: &[Item]) -> Vec<usize> {
    let mut parent: Vec<usize> = Vec::new();
    let mut players: HashMap<&str, usize> = HashMap::new();
    let mut references: HashMap<(TxKind, &str), usize> = HashMap::new();
    let mut nodes = Vec::with_capacity(items.len());
    for (_, event, _) in items {
        let node = *players.entry(player_key(&event.player_ref)).or_insert_with(|| {
            parent.push(parent.len());
            parent.len() - 1
        });
        if let Some(reference) = ledger_ref(event) {
            match references.entry(reference) {
                Entry::Vacant(v) => {
                    v.insert(node);
                }
                Entry::Occupied(o) => {
                    let (a, b) = (root(&mut parent, *o.get()), root(&mut parent, node));
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
        nodes.push(node);
    }
    let mut numbers: HashMap<usize, usize> = HashMap::new();
    nodes
        .into_iter()
        .map(|n| {
            let r = root(&mut parent, n);
            let next = numbers.len();
            *numbers.entry(r).or_insert(next)
        })
        .collect()
}

fn root(parent: &mut [usize], mut n: usize) -> usize {
    while parent[n] != n {
        parent[n] = parent[parent[n]];
        n = parent[n];
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};
    use pitboss_core::Envelope;
    use serde_json::{Value, json};
    use uuid::Uuid;

    fn item(kind: &str, player: &str, payload: Value) -> Value {
        json!({"id": Uuid::now_v7(), "type": kind, "player_id": player,
            "occurred_at": (Utc::now() - Duration::minutes(1)).to_rfc3339(), "payload": payload})
    }

    fn round(player: &str, id: &str) -> Value {
        item(
            "game.round",
            player,
            json!({"round_id": id, "game": "g", "provider": "p", "category": "slots", "stake": 1, "win": 0, "currency": "EUR"}),
        )
    }

    fn session(player: &str) -> Value {
        item("session.started", player, json!({"session_id": "s"}))
    }

    fn update(player: &str) -> Value {
        item("player.updated", player, json!({"vip_tier": "gold"}))
    }

    fn deposit(player: &str, reference: &str) -> Value {
        item("payment.deposit.completed", player, json!({"transaction_id": reference, "amount": 5, "currency": "EUR"}))
    }

    fn items(values: &[Value]) -> Vec<Item> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let e = Envelope::parse(v, Utc::now()).unwrap();
                let hash = e.content_hash();
                (i, e, hash)
            })
            .collect()
    }

    /// Every position once, and each group's positions in increasing order.
    fn check_order(steps: &[Step], items: &[Item]) {
        let flat: Vec<usize> = steps
            .iter()
            .flat_map(|s| match s {
                Step::One(p) => vec![*p],
                Step::Set(ps) => ps.clone(),
            })
            .collect();
        let mut sorted = flat.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..items.len()).collect::<Vec<_>>());
        let group = groups(items);
        for g in 0..=group.iter().copied().max().unwrap_or(0) {
            let of: Vec<usize> = flat.iter().copied().filter(|&p| group[p] == g).collect();
            assert!(of.windows(2).all(|w| w[0] < w[1]), "group {g} keeps its order: {of:?}");
        }
    }

    #[test]
    fn rounds_of_different_players_merge_across_other_events() {
        let batch = items(&[
            update("a"),
            round("a", "r1"),
            update("b"),
            round("b", "r2"),
            round("a", "r3"),
            update("c"),
            round("b", "r4"),
            round("c", "r5"),
        ]);
        let steps = plan(&batch);
        assert_eq!(steps, vec![Step::One(0), Step::One(2), Step::One(5), Step::Set(vec![1, 3, 4, 6, 7])]);
        check_order(&steps, &batch);
    }

    #[test]
    fn sessions_and_payments_go_with_the_rounds() {
        let batch = items(&[
            session("a"),
            round("a", "r1"),
            session("b"),
            round("b", "r2"),
            update("a"),
            round("a", "r3"),
            session("b"),
            deposit("b", "d1"),
        ]);
        let steps = plan(&batch);
        assert_eq!(steps, vec![Step::Set(vec![0, 1, 2, 3, 6, 7]), Step::One(4), Step::One(5)]);
        check_order(&steps, &batch);
    }

    #[test]
    fn one_players_events_keep_their_order() {
        let batch = items(&[
            round("a", "r1"),
            round("b", "r2"),
            update("a"),
            round("a", "r3"),
            update("a"),
            round("b", "r4"),
            round("a", "r5"),
        ]);
        let steps = plan(&batch);
        assert_eq!(steps, vec![Step::Set(vec![0, 1, 5]), Step::One(2), Step::One(3), Step::One(4), Step::One(6)]);
        check_order(&steps, &batch);
    }

    #[test]
    fn players_sharing_a_reference_or_a_trimmed_id_keep_their_order_together() {
        let batch = items(&[
            deposit("a", "d1"),
            round("b", "r1"),
            update("b"),
            deposit("b", "d1"),
            round("a", "r2"),
            round(" c", "r3"),
            update("c"),
            round("c ", "r4"),
            // The same reference under another kind is another transaction.
            deposit("d", "r2"),
            round("d", "r5"),
        ]);
        let group = groups(&batch);
        assert_eq!(group[0], group[1], "a and b both name deposit d1");
        assert_eq!(group[5], group[6]);
        assert_eq!(group[5], group[7]);
        assert_ne!(group[8], group[4]);
        let steps = plan(&batch);
        check_order(&steps, &batch);
        // a/b: d1(a), r1(b) | update(b) | d1(b), r2(a); c: r3 | update | r4; d: deposit, r5.
        assert_eq!(steps, vec![Step::Set(vec![0, 1, 5, 8, 9]), Step::One(2), Step::One(6), Step::Set(vec![3, 4, 7])]);
    }
}
