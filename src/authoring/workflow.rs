//! The review workflow, as a pure state machine: `draft → in_review → approved →
//! published → archived`, with who may take each step. Storage applies a step only
//! from the state it was decided on (compare-and-set), so two reviewers cannot both act.

use crate::auth::Role;
use serde::{Deserialize, Serialize};

/// Where one version of a variant or Fluent resource stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Draft,
    InReview,
    Approved,
    /// Serving (the one live version of its target).
    Published,
    /// Taken out of service, or withdrawn before it was published.
    Archived,
    /// Replaced: a newer version was saved before this one was published, or a newer
    /// version was published over it. Kept for history and diffs.
    Superseded,
    /// Retired in the content files (imported so): outside the review workflow, no step
    /// applies to it; a new version starts over.
    Retired,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Draft => "draft",
            Stage::InReview => "in_review",
            Stage::Approved => "approved",
            Stage::Published => "published",
            Stage::Archived => "archived",
            Stage::Superseded => "superseded",
            Stage::Retired => "retired",
        }
    }

    pub fn parse(value: &str) -> Option<Stage> {
        [
            Stage::Draft,
            Stage::InReview,
            Stage::Approved,
            Stage::Published,
            Stage::Archived,
            Stage::Superseded,
            Stage::Retired,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }

    /// The stages [`Stage::is_pending`] is true of.
    pub const PENDING: [Stage; 3] = [Stage::Draft, Stage::InReview, Stage::Approved];

    /// Not yet published and still in play: a newer save supersedes it.
    pub fn is_pending(self) -> bool {
        Stage::PENDING.contains(&self)
    }

    /// A stage the review workflow moves versions out of ([`step`]); imports may store
    /// others.
    pub fn in_workflow(self) -> bool {
        self != Stage::Retired
    }
}

/// A step in the workflow (`POST .../{action}`; the route admits only these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Submit,
    Approve,
    Reject,
    Publish,
    Archive,
}

impl Action {
    pub fn parse(value: &str) -> Option<Action> {
        Some(match value {
            "submit" => Action::Submit,
            "approve" => Action::Approve,
            "reject" => Action::Reject,
            "publish" => Action::Publish,
            "archive" => Action::Archive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Submit => "submit",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Publish => "publish",
            Action::Archive => "archive",
        }
    }

    /// The staff roles that may take this step. Only a publisher publishes or takes
    /// content out of service; an admin can do everything else.
    pub fn roles(self) -> &'static [Role] {
        match self {
            Action::Submit => &[Role::Marketer, Role::Admin],
            Action::Approve | Action::Reject => &[Role::Reviewer, Role::Admin],
            Action::Publish | Action::Archive => &[Role::Publisher],
        }
    }
}

/// Why a step cannot be taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("version {version} is {}; {} needs {}", .from.as_str(), .action.as_str(), expected(*.action))]
    WrongStage {
        version: u32,
        from: Stage,
        action: Action,
    },
    #[error("`{actor}` wrote version {version} and cannot approve it; another reviewer must")]
    OwnWork { actor: String, version: u32 },
}

fn expected(action: Action) -> &'static str {
    match action {
        Action::Submit => "a draft",
        Action::Approve => "a version in review",
        Action::Reject => "a version in review or approved",
        Action::Publish => "an approved version",
        Action::Archive => "a version that is not archived or superseded",
    }
}

/// The stage a version moves to, if `actor` may take `action` on it. `author` wrote the
/// version. Role checks happen before (see [`Action::roles`]).
pub fn step(
    action: Action,
    from: Stage,
    version: u32,
    actor: &str,
    author: &str,
) -> Result<Stage, StepError> {
    let wrong = || StepError::WrongStage {
        version,
        from,
        action,
    };
    match (action, from) {
        (Action::Submit, Stage::Draft) => Ok(Stage::InReview),
        (Action::Approve, Stage::InReview) if actor == author => Err(StepError::OwnWork {
            actor: actor.to_string(),
            version,
        }),
        (Action::Approve, Stage::InReview) => Ok(Stage::Approved),
        (Action::Reject, Stage::InReview | Stage::Approved) => Ok(Stage::Draft),
        (Action::Publish, Stage::Approved) => Ok(Stage::Published),
        (Action::Archive, s) if s.is_pending() || s == Stage::Published => Ok(Stage::Archived),
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_goes_draft_to_published_to_archived() {
        let mut stage = Stage::Draft;
        for (action, actor) in [
            (Action::Submit, "ann"),
            (Action::Approve, "rob"),
            (Action::Publish, "pat"),
            (Action::Archive, "pat"),
        ] {
            stage = step(action, stage, 1, actor, "ann").unwrap();
        }
        assert_eq!(stage, Stage::Archived);
    }

    #[test]
    fn an_author_cannot_approve_their_own_version() {
        assert_eq!(
            step(Action::Approve, Stage::InReview, 3, "ann", "ann"),
            Err(StepError::OwnWork {
                actor: "ann".into(),
                version: 3
            })
        );
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        for (action, from) in [
            (Action::Publish, Stage::Draft),
            (Action::Publish, Stage::InReview),
            (Action::Approve, Stage::Draft),
            (Action::Approve, Stage::Approved),
            (Action::Submit, Stage::Published),
            (Action::Reject, Stage::Published),
            (Action::Archive, Stage::Archived),
            (Action::Archive, Stage::Superseded),
        ] {
            assert!(
                matches!(
                    step(action, from, 1, "rob", "ann"),
                    Err(StepError::WrongStage { .. })
                ),
                "{action:?} from {from:?}"
            );
        }
    }

    #[test]
    fn only_publishers_publish() {
        assert_eq!(Action::Publish.roles(), [Role::Publisher]);
        assert!(!Action::Approve.roles().contains(&Role::Marketer));
    }
}
