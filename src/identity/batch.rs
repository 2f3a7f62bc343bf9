//! Identify calls planned together, for one transaction (group commit): what each call
//! does, and the rows the whole group writes. No storage here: the caller reads a
//! [`Snapshot`] of everything the group's identifiers touch (with those identifiers
//! and people locked), and writes the returned [`Writes`] set-wise.
//!
//! Calls are planned one after another, each against the graph as the calls before it
//! left it, with the same rules as a call on its own ([`graph::plan`]). Only the two
//! common outcomes are planned here: a new person, and identifiers attached to one
//! known person. A call that would merge people, is refused as a conflict, or names a
//! person merged away meanwhile is left to run on its own after the group
//! ([`Planned::Alone`]), with its full checks and records; so is every later call of
//! the group that names one of its identifiers or people, so related calls still take
//! effect in the order they arrived.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::graph::{self, Identifier, IdentifierTypes, KnownPerson, Plan, TraitValue};
use super::model::{IdentifyCommand, IdentifyOutcome};

/// A person the group's identifiers belong to, as stored (row locked).
#[derive(Clone, Debug, Default)]
pub struct StoredPerson {
    pub created_at: DateTime<Utc>,
    /// Merged into another person: whoever names them must start again on their own.
    pub merged: bool,
    pub identifiers: BTreeSet<Identifier>,
    pub traits: BTreeMap<String, TraitValue>,
    pub consents: BTreeMap<String, bool>,
}

/// What the group's identifiers and people are before the group.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Who each known identifier of the group belongs to (unknown ones are absent).
    pub owners: HashMap<Identifier, String>,
    /// Every person in `owners`; one missing (erased meanwhile) sends its calls alone.
    pub people: HashMap<String, StoredPerson>,
}

/// What became of one call of the group.
#[derive(Clone, Debug, PartialEq)]
pub enum Planned {
    Done(IdentifyOutcome),
    /// Run it on its own once the group has committed.
    Alone,
}

/// A person the group creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPerson {
    pub id: String,
    pub sticky_key: String,
}

/// One call's link: its first identifier to another of its identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub from: Identifier,
    pub to: Identifier,
    pub person_id: String,
    pub actor: String,
}

/// Every row the group writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Writes {
    pub people: Vec<NewPerson>,
    /// Identifiers new to the graph, with their person.
    pub identifiers: Vec<(Identifier, String)>,
    pub links: Vec<NewLink>,
    /// (person, trait) → its value, or `None` to remove it.
    pub traits: BTreeMap<(String, String), Option<TraitValue>>,
    /// (person, channel) → granted.
    pub consents: BTreeMap<(String, String), bool>,
    /// Known people the group changed (their `updated_at`).
    pub touched: BTreeSet<String>,
}

impl Writes {
    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
            && self.identifiers.is_empty()
            && self.links.is_empty()
            && self.traits.is_empty()
            && self.consents.is_empty()
            && self.touched.is_empty()
    }
}

/// Plans `commands` in order against `snapshot`; `new_id` names each new person.
pub fn plan_group(
    commands: &[&IdentifyCommand],
    mut snapshot: Snapshot,
    types: &IdentifierTypes,
    now: DateTime<Utc>,
    mut new_id: impl FnMut() -> String,
) -> (Vec<Planned>, Writes) {
    let mut writes = Writes::default();
    let mut links_seen: HashSet<(Identifier, Identifier)> = HashSet::new();
    // What calls sent alone name: later calls naming any of it go alone too.
    let mut alone_identifiers: HashSet<Identifier> = HashSet::new();
    let mut alone_people: HashSet<String> = HashSet::new();
    let mut planned = Vec::with_capacity(commands.len());
    for command in commands {
        let mut given = command.identifiers.clone();
        given.sort();
        given.dedup();
        let owners: Vec<Option<String>> = given
            .iter()
            .map(|id| snapshot.owners.get(id).cloned())
            .collect();
        let mut owner_ids: Vec<&String> = owners.iter().flatten().collect();
        owner_ids.sort();
        owner_ids.dedup();
        let related_to_alone = given.iter().any(|id| alone_identifiers.contains(id))
            || owner_ids.iter().any(|p| alone_people.contains(*p));
        let people: Option<Vec<KnownPerson>> = owner_ids
            .iter()
            .map(|id| {
                let stored = snapshot.people.get(*id).filter(|p| !p.merged)?;
                Some(KnownPerson {
                    id: (*id).clone(),
                    created_at: stored.created_at,
                    strong: stored
                        .identifiers
                        .iter()
                        .filter(|i| types.is_strong(&i.kind))
                        .cloned()
                        .collect(),
                })
            })
            .collect();
        let plan = match people {
            Some(people) if !related_to_alone => Some(graph::plan(&given, &owners, &people, types)),
            _ => None,
        };
        let (person_id, created) = match plan {
            Some(Plan::Create { sticky_key }) => {
                let id = new_id();
                writes.people.push(NewPerson {
                    id: id.clone(),
                    sticky_key,
                });
                snapshot.people.insert(
                    id.clone(),
                    StoredPerson {
                        created_at: now,
                        ..StoredPerson::default()
                    },
                );
                (id, true)
            }
            Some(Plan::Attach { person }) => (person, false),
            Some(Plan::Merge { .. } | Plan::Conflict(_)) | None => {
                alone_identifiers.extend(given);
                alone_people.extend(owner_ids.into_iter().cloned());
                planned.push(Planned::Alone);
                continue;
            }
        };
        let mut outcome = IdentifyOutcome {
            person_id: person_id.clone(),
            created,
            ..IdentifyOutcome::default()
        };
        let Some(person) = snapshot.people.get_mut(&person_id) else {
            // Cannot happen (just inserted, or checked above); alone is always safe.
            planned.push(Planned::Alone);
            continue;
        };
        for (id, owner) in given.iter().zip(&owners) {
            if owner.is_none() {
                snapshot.owners.insert(id.clone(), person_id.clone());
                person.identifiers.insert(id.clone());
                writes.identifiers.push((id.clone(), person_id.clone()));
                outcome.linked.push(id.clone());
            }
        }
        if let Some((first, rest)) = given.split_first() {
            for other in rest {
                if links_seen.insert((first.clone(), other.clone())) {
                    writes.links.push(NewLink {
                        from: first.clone(),
                        to: other.clone(),
                        person_id: person_id.clone(),
                        actor: command.actor.clone(),
                    });
                }
            }
        }
        for (name, value) in &command.traits {
            let change = match (person.traits.get(name), value.is_null()) {
                (None, true) => None,
                (Some(_), true) => Some(None),
                (Some(old), false) if old == value => None,
                _ => Some(Some(value.clone())),
            };
            if let Some(change) = change {
                match &change {
                    Some(value) => person.traits.insert(name.clone(), value.clone()),
                    None => person.traits.remove(name),
                };
                writes
                    .traits
                    .insert((person_id.clone(), name.clone()), change);
                outcome.traits_changed.push(name.clone());
            }
        }
        for (channel, granted) in &command.consents {
            if person.consents.get(channel) != Some(granted) {
                person.consents.insert(channel.clone(), *granted);
                writes
                    .consents
                    .insert((person_id.clone(), channel.clone()), *granted);
                outcome.consents_changed.push(channel.clone());
            }
        }
        if !created && outcome.changed() {
            writes.touched.insert(person_id.clone());
        }
        outcome.identifiers = person.identifiers.iter().cloned().collect();
        planned.push(Planned::Done(outcome));
    }
    (planned, writes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn id(kind: &str, value: &str) -> Identifier {
        Identifier {
            kind: kind.into(),
            value: value.into(),
        }
    }

    fn call(ids: &[(&str, &str)], traits: serde_json::Value) -> IdentifyCommand {
        IdentifyCommand {
            identifiers: ids.iter().map(|(k, v)| id(k, v)).collect(),
            traits: serde_json::from_value(traits).unwrap(),
            consents: BTreeMap::new(),
            actor: "server-key:test".into(),
        }
    }

    fn counter() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("p{n}")
        }
    }

    fn done(planned: &Planned) -> &IdentifyOutcome {
        match planned {
            Planned::Done(outcome) => outcome,
            Planned::Alone => panic!("planned alone"),
        }
    }

    #[test]
    fn later_calls_see_what_earlier_calls_of_the_group_did() {
        let types = IdentifierTypes::default();
        let a = call(
            &[("customer_id", "c1"), ("anonymous_id", "a1")],
            json!({"tier": "gold"}),
        );
        let b = call(
            &[("customer_id", "c1"), ("anonymous_id", "a2")],
            json!({"tier": "gold", "points": 3}),
        );
        let again = a.clone();
        let (planned, writes) = plan_group(
            &[&a, &b, &again],
            Snapshot::default(),
            &types,
            Utc::now(),
            counter(),
        );
        let (first, second, third) = (done(&planned[0]), done(&planned[1]), done(&planned[2]));
        assert!(first.created && !second.created && !third.created);
        assert_eq!(second.person_id, "p1");
        assert_eq!(second.traits_changed, vec!["points".to_string()]);
        assert_eq!(second.identifiers.len(), 3);
        // The same call twice changes nothing the second time.
        assert!(!third.changed());
        assert_eq!(writes.people.len(), 1);
        assert_eq!(writes.identifiers.len(), 3);
        assert_eq!(writes.traits.len(), 2);
        assert!(writes.touched.contains("p1"));
    }

    #[test]
    fn merges_conflicts_and_what_they_name_are_left_to_run_alone() {
        let types = IdentifierTypes::default();
        let mut snapshot = Snapshot::default();
        for (person, customer) in [("old", "c1"), ("other", "c2")] {
            let ident = id("customer_id", customer);
            snapshot.owners.insert(ident.clone(), person.into());
            snapshot.people.insert(
                person.into(),
                StoredPerson {
                    identifiers: [ident].into(),
                    ..StoredPerson::default()
                },
            );
        }
        snapshot
            .owners
            .insert(id("anonymous_id", "a9"), "other".into());
        snapshot
            .people
            .get_mut("other")
            .unwrap()
            .identifiers
            .insert(id("anonymous_id", "a9"));
        // Two strong values of one type: a conflict.
        let conflict = call(&[("customer_id", "c1"), ("customer_id", "c3")], json!({}));
        // Names c1 too: must wait for the conflict to be recorded first.
        let follower = call(&[("customer_id", "c1"), ("anonymous_id", "a1")], json!({}));
        // Joins two people: a merge.
        let merge = call(&[("anonymous_id", "a9"), ("device_id", "d1")], json!({}));
        let merge2 = call(&[("customer_id", "c1"), ("anonymous_id", "a9")], json!({}));
        // Unrelated: planned in the group.
        let unrelated = call(&[("customer_id", "c7")], json!({}));
        let (planned, writes) = plan_group(
            &[&conflict, &follower, &merge, &merge2, &unrelated],
            snapshot,
            &types,
            Utc::now(),
            counter(),
        );
        assert_eq!(planned[0], Planned::Alone);
        assert_eq!(planned[1], Planned::Alone);
        // `merge` only attaches d1 to `other`; `merge2` would merge old and other.
        assert_eq!(done(&planned[2]).person_id, "other");
        assert_eq!(planned[3], Planned::Alone);
        assert!(done(&planned[4]).created);
        assert_eq!(writes.people.len(), 1);
    }

    #[test]
    fn a_person_merged_away_meanwhile_sends_the_call_alone() {
        let types = IdentifierTypes::default();
        let mut snapshot = Snapshot::default();
        snapshot
            .owners
            .insert(id("anonymous_id", "a1"), "gone".into());
        snapshot.people.insert(
            "gone".into(),
            StoredPerson {
                merged: true,
                ..StoredPerson::default()
            },
        );
        let named = call(&[("anonymous_id", "a1")], json!({"tier": "gold"}));
        let (planned, writes) = plan_group(&[&named], snapshot, &types, Utc::now(), counter());
        assert_eq!(planned, vec![Planned::Alone]);
        assert!(writes.is_empty());
    }

    proptest! {
        /// Planning a group gives each call what planning the calls one by one (each in
        /// a group of its own, against what the earlier ones wrote) gives it.
        #[test]
        fn a_group_plans_what_its_calls_one_by_one_would(
            calls in proptest::collection::vec(
                (0u8..6, proptest::option::of(0u8..4), 0u8..3, proptest::option::of(any::<bool>())),
                1..12,
            )
        ) {
            let types = IdentifierTypes::default();
            let commands: Vec<IdentifyCommand> = calls
                .iter()
                .map(|(anon, customer, points, consent)| {
                    let mut ids = vec![("anonymous_id", format!("a{anon}"))];
                    if let Some(c) = customer {
                        ids.push(("customer_id", format!("c{c}")));
                    }
                    let ids: Vec<(&str, &str)> = ids.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let mut command = call(&ids, json!({"points": points}));
                    if let Some(granted) = consent {
                        command.consents.insert("email".into(), *granted);
                    }
                    command
                })
                .collect();
            let now = Utc::now();
            let refs: Vec<&IdentifyCommand> = commands.iter().collect();
            let (together, _) = plan_group(&refs, Snapshot::default(), &types, now, counter());

            // One by one: each call planned alone against the state the earlier left.
            let mut state = Snapshot::default();
            let mut next = counter();
            let mut stopped = false;
            for (command, grouped) in commands.iter().zip(&together) {
                let (mut single, writes) = plan_group(&[command], state.clone(), &types, now, &mut next);
                let single = single.remove(0);
                if stopped {
                    // After a call that went alone, related calls go alone too; the
                    // others may still be planned: nothing more to compare in order.
                    break;
                }
                match (&single, grouped) {
                    (Planned::Alone, Planned::Alone) => { stopped = true; }
                    (Planned::Done(a), Planned::Done(b)) => {
                        prop_assert_eq!(a, b);
                    }
                    (a, b) => prop_assert!(false, "alone {:?} vs group {:?}", a, b),
                }
                apply(&mut state, &writes, now);
            }
        }
    }

    /// What writing `writes` does to a snapshot (for the one-by-one comparison).
    fn apply(state: &mut Snapshot, writes: &Writes, now: DateTime<Utc>) {
        for person in &writes.people {
            state.people.insert(
                person.id.clone(),
                StoredPerson {
                    created_at: now,
                    ..StoredPerson::default()
                },
            );
        }
        for (ident, person) in &writes.identifiers {
            state.owners.insert(ident.clone(), person.clone());
            if let Some(p) = state.people.get_mut(person) {
                p.identifiers.insert(ident.clone());
            }
        }
        for ((person, name), value) in &writes.traits {
            if let Some(p) = state.people.get_mut(person) {
                match value {
                    Some(v) => p.traits.insert(name.clone(), v.clone()),
                    None => p.traits.remove(name),
                };
            }
        }
        for ((person, channel), granted) in &writes.consents {
            if let Some(p) = state.people.get_mut(person) {
                p.consents.insert(channel.clone(), *granted);
            }
        }
    }
}
