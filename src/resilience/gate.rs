//! The database gate: routes that cannot answer anything without the database are
//! refused at once (`503`, `Retry-After`) while its breaker is open, instead of each
//! request waiting out the pool's acquire timeout. Each area declares its own routes
//! (`NEEDS_DATABASE` in its `http` module); the application installs the gate once.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};

use super::Dependency;
use crate::problem::{Problem, ProblemType};

pub struct DatabaseGate {
    database: Arc<Dependency>,
    /// Path prefixes of the routes that need the database for every answer.
    prefixes: Vec<&'static str>,
}

impl DatabaseGate {
    pub fn new(database: Arc<Dependency>, prefixes: Vec<&'static str>) -> DatabaseGate {
        DatabaseGate { database, prefixes }
    }

    fn refuses(&self, path: &str) -> bool {
        self.prefixes.iter().any(|prefix| path.starts_with(prefix)) && !self.database.available()
    }
}

/// Middleware: `App::new().app_data(web::Data<DatabaseGate>).wrap(from_fn(gate::guard))`.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let gate = req.app_data::<web::Data<DatabaseGate>>().cloned();
    if let Some(gate) = gate.filter(|gate| gate.refuses(req.path())) {
        gate.database.count("short_circuited");
        let problem = Problem::new(
            ProblemType::Unavailable,
            "the database is unavailable; try again shortly",
        )
        .with_retry_after(1);
        return Ok(req
            .into_response(problem.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
