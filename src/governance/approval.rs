//! The decision workflow as a pure state machine: what a decision is ([`Decision`],
//! [`DecisionStatus`]), what staff may do to it ([`Verb`]) and the four-eyes rules
//! ([`apply`]). No I/O here: storage converts its rows into [`Decision`] and back, and
//! the HTTP layer maps [`ApprovalError`] to a problem in one place.
//!
//! A retirement proposal (or a policy change) is `pending`; someone other than the
//! proposer reviews it; a third person, neither proposer nor reviewer, approves it —
//! or rejects it, at any open stage. `approved` and `rejected` are terminal.

use std::fmt;

use chrono::{DateTime, Utc};

/// Where a decision stands. The stored strings are [`DecisionStatus::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DecisionStatus {
    /// Recorded by the evaluator for information (an at-risk mark).
    Recorded,
    /// Applied at once (an automatic retirement, a reinstatement).
    Applied,
    /// Proposed, waiting for a reviewer.
    Pending,
    /// Reviewed, waiting for an approver.
    Reviewed,
    Approved,
    Rejected,
    /// Closed without a decision: no longer needed, or replaced by a newer request.
    Withdrawn,
}

impl DecisionStatus {
    pub const ALL: [DecisionStatus; 7] = [
        DecisionStatus::Recorded,
        DecisionStatus::Applied,
        DecisionStatus::Pending,
        DecisionStatus::Reviewed,
        DecisionStatus::Approved,
        DecisionStatus::Rejected,
        DecisionStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionStatus::Recorded => "recorded",
            DecisionStatus::Applied => "applied",
            DecisionStatus::Pending => "pending",
            DecisionStatus::Reviewed => "reviewed",
            DecisionStatus::Approved => "approved",
            DecisionStatus::Rejected => "rejected",
            DecisionStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<DecisionStatus> {
        DecisionStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Waiting for a person (a reviewer or an approver).
    pub fn is_open(self) -> bool {
        matches!(self, DecisionStatus::Pending | DecisionStatus::Reviewed)
    }

    /// Was the decision taken when it was recorded (whoever recorded it decided it)?
    pub fn decided_on_insert(self) -> bool {
        matches!(self, DecisionStatus::Applied | DecisionStatus::Recorded)
    }
}

impl fmt::Display for DecisionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What staff do to an open decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Review,
    Approve,
    Reject,
}

impl Verb {
    pub fn parse(s: &str) -> Option<Verb> {
        match s {
            "review" => Some(Verb::Review),
            "approve" => Some(Verb::Approve),
            "reject" => Some(Verb::Reject),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Review => "review",
            Verb::Approve => "approve",
            Verb::Reject => "reject",
        }
    }
}

/// A governance decision with its evidence and who took part.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub id: i64,
    pub period: String,
    pub scope: String,
    pub target: String,
    pub policy: String,
    /// `at_risk`, `retire`, `reinstate` or `policy_change`.
    pub action: String,
    pub status: DecisionStatus,
    /// JSON, as recorded.
    pub evidence: String,
    pub proposed_by: String,
    pub reviewed_by: Option<String>,
    pub review_comment: Option<String>,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The four-eyes rule a step would break (answered `403`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FourEyes {
    ProposerReviews,
    ApproverTookPart,
    DeciderTookPart,
}

/// Why a step cannot be taken. The messages are part of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApprovalError {
    /// `review` of a decision that is not pending (`409`).
    NotPending(DecisionStatus),
    /// `approve` of a decision that has not been reviewed (`409`).
    NotReviewed(DecisionStatus),
    /// `reject` of a decision that is no longer open (`409`).
    NotOpen(DecisionStatus),
    /// A four-eyes rule (`403`).
    FourEyes(FourEyes),
    /// Someone else changed the decision between reading and saving it (`409`).
    Superseded,
    /// The policy a change was proposed against changed meanwhile; the change was
    /// withdrawn (`409`).
    PolicyChanged,
}

impl fmt::Display for ApprovalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApprovalError::NotPending(status) => write!(f, "the decision is {status}, not pending"),
            ApprovalError::NotReviewed(status) => write!(
                f,
                "the decision is {status}; it must be reviewed before it is approved"
            ),
            ApprovalError::NotOpen(status) => write!(f, "the decision is {status}, not open"),
            ApprovalError::FourEyes(FourEyes::ProposerReviews) => {
                f.write_str("the proposer cannot review their own proposal")
            }
            ApprovalError::FourEyes(FourEyes::ApproverTookPart) => {
                f.write_str("whoever proposed or reviewed a decision cannot also approve it")
            }
            ApprovalError::FourEyes(FourEyes::DeciderTookPart) => {
                f.write_str("whoever proposed or reviewed a decision cannot also decide it")
            }
            ApprovalError::Superseded => {
                f.write_str("someone else acted on this decision first; reload it")
            }
            ApprovalError::PolicyChanged => f.write_str(
                "the policy changed since this change was proposed, so it was withdrawn; propose it again against the current policy",
            ),
        }
    }
}

impl std::error::Error for ApprovalError {}

/// One allowed step: the decision moves from `from` to `to`, signed by `by`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: DecisionStatus,
    pub to: DecisionStatus,
    pub by: String,
    pub comment: String,
}

impl Transition {
    /// The decision after this step (the reviewer's or the decider's signature added).
    pub fn applied_to(&self, mut decision: Decision) -> Decision {
        decision.status = self.to;
        if self.to == DecisionStatus::Reviewed {
            decision.reviewed_by = Some(self.by.clone());
            decision.review_comment = Some(self.comment.clone());
        } else {
            decision.decided_by = Some(self.by.clone());
            decision.decision_comment = Some(self.comment.clone());
        }
        decision
    }
}

/// Whether `actor` may take `verb` on `decision` now, and what it leads to. The state
/// is checked before the four-eyes rules (a closed decision is a conflict whoever asks).
pub fn apply(
    decision: &Decision,
    verb: Verb,
    actor: &str,
    comment: &str,
) -> Result<Transition, ApprovalError> {
    let status = decision.status;
    let took_part = decision.proposed_by == actor || decision.reviewed_by.as_deref() == Some(actor);
    let to = match verb {
        Verb::Review => {
            if status != DecisionStatus::Pending {
                return Err(ApprovalError::NotPending(status));
            }
            if decision.proposed_by == actor {
                return Err(ApprovalError::FourEyes(FourEyes::ProposerReviews));
            }
            DecisionStatus::Reviewed
        }
        Verb::Approve => {
            if status != DecisionStatus::Reviewed {
                return Err(ApprovalError::NotReviewed(status));
            }
            if took_part {
                return Err(ApprovalError::FourEyes(FourEyes::ApproverTookPart));
            }
            DecisionStatus::Approved
        }
        Verb::Reject => {
            if !status.is_open() {
                return Err(ApprovalError::NotOpen(status));
            }
            if took_part {
                return Err(ApprovalError::FourEyes(FourEyes::DeciderTookPart));
            }
            DecisionStatus::Rejected
        }
    };
    Ok(Transition {
        from: status,
        to,
        by: actor.to_string(),
        comment: comment.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn proposal(by: &str) -> Decision {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        Decision {
            id: 1,
            period: "2024-01-01".into(),
            scope: "channel".into(),
            target: "sms".into(),
            policy: "ctr".into(),
            action: "retire".into(),
            status: DecisionStatus::Pending,
            evidence: "{}".into(),
            proposed_by: by.into(),
            reviewed_by: None,
            review_comment: None,
            decided_by: None,
            decision_comment: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn step(d: Decision, verb: Verb, actor: &str) -> Result<Decision, ApprovalError> {
        apply(&d, verb, actor, "ok").map(|t| t.applied_to(d))
    }

    #[test]
    fn statuses_round_trip_through_their_stored_strings() {
        for status in DecisionStatus::ALL {
            assert_eq!(DecisionStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DecisionStatus::parse("open"), None);
        for verb in [Verb::Review, Verb::Approve, Verb::Reject] {
            assert_eq!(Verb::parse(verb.as_str()), Some(verb));
        }
    }

    #[test]
    fn review_then_approve_by_three_people() {
        let d = step(proposal("ann"), Verb::Review, "bob").unwrap();
        assert_eq!(d.status, DecisionStatus::Reviewed);
        assert_eq!(d.reviewed_by.as_deref(), Some("bob"));
        assert_eq!(d.review_comment.as_deref(), Some("ok"));
        let d = step(d, Verb::Approve, "cy").unwrap();
        assert_eq!(d.status, DecisionStatus::Approved);
        assert_eq!(d.decided_by.as_deref(), Some("cy"));
        assert_eq!(d.decision_comment.as_deref(), Some("ok"));
    }

    #[test]
    fn four_eyes_rules_and_their_messages() {
        let err = step(proposal("ann"), Verb::Review, "ann").unwrap_err();
        assert_eq!(err, ApprovalError::FourEyes(FourEyes::ProposerReviews));
        assert_eq!(
            err.to_string(),
            "the proposer cannot review their own proposal"
        );
        let reviewed = step(proposal("ann"), Verb::Review, "bob").unwrap();
        for who in ["ann", "bob"] {
            let err = step(reviewed.clone(), Verb::Approve, who).unwrap_err();
            assert_eq!(
                err.to_string(),
                "whoever proposed or reviewed a decision cannot also approve it"
            );
            let err = step(reviewed.clone(), Verb::Reject, who).unwrap_err();
            assert_eq!(
                err.to_string(),
                "whoever proposed or reviewed a decision cannot also decide it"
            );
        }
        // Rejecting a pending one: only the proposer is excluded.
        assert!(step(proposal("ann"), Verb::Reject, "bob").is_ok());
    }

    #[test]
    fn wrong_states_are_conflicts_with_the_status_named() {
        let err = step(proposal("ann"), Verb::Approve, "cy").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the decision is pending; it must be reviewed before it is approved"
        );
        let reviewed = step(proposal("ann"), Verb::Review, "bob").unwrap();
        assert_eq!(
            step(reviewed.clone(), Verb::Review, "cy")
                .unwrap_err()
                .to_string(),
            "the decision is reviewed, not pending"
        );
        let rejected = step(reviewed, Verb::Reject, "cy").unwrap();
        assert_eq!(
            step(rejected, Verb::Reject, "dee").unwrap_err(),
            ApprovalError::NotOpen(DecisionStatus::Rejected)
        );
        let mut applied = proposal("evaluator");
        applied.status = DecisionStatus::Applied;
        assert_eq!(
            step(applied, Verb::Reject, "dee").unwrap_err().to_string(),
            "the decision is applied, not open"
        );
        // The state is checked first: a closed decision is a conflict even for its proposer.
        let mut withdrawn = proposal("ann");
        withdrawn.status = DecisionStatus::Withdrawn;
        assert_eq!(
            step(withdrawn, Verb::Review, "ann").unwrap_err(),
            ApprovalError::NotPending(DecisionStatus::Withdrawn)
        );
    }

    fn verb() -> impl Strategy<Value = Verb> {
        prop_oneof![Just(Verb::Review), Just(Verb::Approve), Just(Verb::Reject)]
    }

    fn actor() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("ann"), Just("bob"), Just("cy"), Just("dee")]
    }

    proptest! {
        /// Whatever anyone tries in whatever order: an approved decision was proposed,
        /// reviewed and approved by three different people; a rejected one was rejected
        /// by someone other than its proposer and reviewer; and once approved or
        /// rejected, no step succeeds or changes it.
        #[test]
        fn four_eyes_hold_and_terminal_states_stay(
            proposer in actor(),
            steps in proptest::collection::vec((verb(), actor()), 0..12),
        ) {
            let mut d = proposal(proposer);
            for (verb, who) in steps {
                let before = d.clone();
                match apply(&d, verb, who, "c") {
                    Ok(t) => {
                        prop_assert!(before.status.is_open());
                        prop_assert_eq!(t.from, before.status);
                        d = t.applied_to(d);
                    }
                    Err(ApprovalError::FourEyes(_)) => {
                        prop_assert!(before.status.is_open());
                        prop_assert!(who == before.proposed_by || before.reviewed_by.as_deref() == Some(who));
                    }
                    Err(ApprovalError::NotPending(s) | ApprovalError::NotReviewed(s) | ApprovalError::NotOpen(s)) => {
                        prop_assert_eq!(s, before.status);
                    }
                    Err(e) => prop_assert!(false, "unexpected {e:?}"),
                }
                if matches!(before.status, DecisionStatus::Approved | DecisionStatus::Rejected) {
                    prop_assert_eq!(&d, &before);
                }
                if d.status == DecisionStatus::Approved {
                    let reviewer = d.reviewed_by.as_deref().unwrap();
                    let decider = d.decided_by.as_deref().unwrap();
                    prop_assert!(d.proposed_by != reviewer);
                    prop_assert!(d.proposed_by != decider);
                    prop_assert!(reviewer != decider);
                }
                if d.status == DecisionStatus::Rejected {
                    let decider = d.decided_by.as_deref().unwrap();
                    prop_assert!(d.proposed_by != decider);
                    prop_assert!(d.reviewed_by.as_deref() != Some(decider));
                }
            }
        }
    }
}
