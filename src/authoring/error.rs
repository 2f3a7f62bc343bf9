//! What an authoring use case can fail with, and the one place those failures become
//! problem documents: statuses, `type` slugs, details and fields are part of the API
//! contract, so they are spelled here and nowhere else.

use crate::problem::{ContentError, Problem, ProblemType};
use crate::storage::StorageError;

use super::workflow::StepError;

#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    /// `no {what}`, naming the request field that pointed at nothing.
    #[error("no {what}")]
    NotFound { what: String, field: &'static str },
    /// A request parameter is wrong (`400`).
    #[error("{reason}")]
    Invalid { field: String, reason: String },
    /// Not in a state for this (`409`).
    #[error("{detail}")]
    Conflict {
        detail: String,
        field: Option<&'static str>,
    },
    /// A creation of an id that exists (`409` on `id`).
    #[error("{detail}")]
    Exists { detail: String },
    /// Someone saved since the version the editor started from (`412` on `If-Match`).
    #[error("version {latest} was saved since; reload it and apply the edit again")]
    Stale { latest: u32 },
    /// Live content changed between the checks and the write: check again.
    #[error("live content changed while this was being checked; try again")]
    ContentChanged,
    /// The version changed state between reading and stepping it.
    #[error("version {version} changed state meanwhile; reload it")]
    StateChanged { version: u32 },
    /// Content checks failed (`422`, every error listed).
    #[error("{detail}")]
    InvalidContent {
        detail: String,
        errors: Vec<ContentError>,
    },
    /// Allowed by role, refused for this caller (`403`).
    #[error("{detail}")]
    Forbidden {
        detail: String,
        field: Option<&'static str>,
    },
    /// The workflow refused the step.
    #[error(transparent)]
    Step(#[from] StepError),
    /// Another area answered with a problem of its own (context resolution, the live
    /// catalog, frequency caps): passed on as it is.
    #[error("{0}")]
    Passed(Problem),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A content check running off the async workers panicked or was cancelled.
    #[error("a content check did not finish: {0}")]
    Check(#[from] tokio::task::JoinError),
}

pub type Result<T, E = AuthoringError> = std::result::Result<T, E>;

impl AuthoringError {
    pub fn not_found(what: impl Into<String>, field: &'static str) -> AuthoringError {
        AuthoringError::NotFound {
            what: what.into(),
            field,
        }
    }

    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> AuthoringError {
        AuthoringError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn conflict(detail: impl Into<String>, field: Option<&'static str>) -> AuthoringError {
        AuthoringError::Conflict {
            detail: detail.into(),
            field,
        }
    }

    /// Content check errors; the detail is the first one's reason.
    pub fn invalid_content(errors: Vec<ContentError>) -> AuthoringError {
        let detail = errors.first().map(|e| e.reason.clone()).unwrap_or_default();
        AuthoringError::InvalidContent { detail, errors }
    }
}

impl From<Problem> for AuthoringError {
    fn from(problem: Problem) -> AuthoringError {
        AuthoringError::Passed(problem)
    }
}

impl From<AuthoringError> for Problem {
    fn from(error: AuthoringError) -> Problem {
        let detail = error.to_string();
        match error {
            AuthoringError::NotFound { field, .. } => {
                Problem::new(ProblemType::NotFound, detail).with_field(field)
            }
            AuthoringError::Invalid { field, reason } => Problem::invalid(field, reason),
            AuthoringError::Conflict { field, .. } => {
                let problem = Problem::new(ProblemType::Conflict, detail);
                match field {
                    Some(field) => problem.with_field(field),
                    None => problem,
                }
            }
            AuthoringError::Exists { .. } => {
                Problem::new(ProblemType::Conflict, detail).with_field("id")
            }
            AuthoringError::Stale { .. } => {
                Problem::new(ProblemType::VersionMismatch, detail).with_field("If-Match")
            }
            AuthoringError::ContentChanged => Problem::new(ProblemType::Conflict, detail),
            AuthoringError::StateChanged { .. } => {
                Problem::new(ProblemType::Conflict, detail).with_field("version")
            }
            AuthoringError::InvalidContent { detail, errors } => {
                Problem::invalid_content(detail, errors)
            }
            AuthoringError::Forbidden { field, .. } => {
                let problem = Problem::new(ProblemType::Forbidden, detail);
                match field {
                    Some(field) => problem.with_field(field),
                    None => problem,
                }
            }
            AuthoringError::Step(StepError::OwnWork { .. }) => {
                Problem::new(ProblemType::Forbidden, detail)
            }
            AuthoringError::Step(StepError::WrongStage { .. }) => {
                Problem::new(ProblemType::Conflict, detail).with_field("version")
            }
            AuthoringError::Passed(problem) => problem,
            AuthoringError::Storage(error) => error.into(),
            AuthoringError::Check(error) => Problem::internal(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_keeps_its_status_type_and_field() {
        let cases: Vec<(AuthoringError, u16, &str, Option<&str>)> = vec![
            (
                AuthoringError::not_found("such version", "version"),
                404,
                "not-found",
                Some("version"),
            ),
            (
                AuthoringError::Stale { latest: 3 },
                412,
                "version-mismatch",
                Some("If-Match"),
            ),
            (AuthoringError::ContentChanged, 409, "conflict", None),
            (
                AuthoringError::StateChanged { version: 2 },
                409,
                "conflict",
                Some("version"),
            ),
            (
                AuthoringError::invalid("note", "too long"),
                400,
                "invalid-parameter",
                Some("note"),
            ),
            (
                AuthoringError::Exists {
                    detail: "placement `a` exists; PUT changes it".into(),
                },
                409,
                "conflict",
                Some("id"),
            ),
        ];
        for (error, status, kind, field) in cases {
            let problem = Problem::from(error);
            assert_eq!((problem.status, problem.kind), (status, kind));
            assert_eq!(problem.field.as_deref(), field);
        }
    }

    #[test]
    fn not_found_and_stale_read_as_before() {
        assert_eq!(
            Problem::from(AuthoringError::not_found("such placement", "id")).detail,
            "no such placement"
        );
        assert_eq!(
            Problem::from(AuthoringError::Stale { latest: 4 }).detail,
            "version 4 was saved since; reload it and apply the edit again"
        );
    }
}
