//! Black-box tests: the real application on a free port, a real database (SQLite, or
//! PostgreSQL via DATABASE_URL) and Redis via REDIS_URL.

mod allocation;
mod authoring;
mod cli;
mod clients;
mod delivery;
mod engagement;
mod faults;
mod governance;
mod helpers;
mod hostile;
mod identity;
mod integrity;
mod ops;
mod purges;
mod services;
mod staff_routes;
mod sync;
