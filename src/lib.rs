//! Tailor: contextual, localised, edge-cacheable content delivery.
//!
//! The flow, one module per stage: [`context`] (who/where/what language) → [`identity`]
//! (the person and their bucket) → [`catalog`] + [`l10n`] (compiled content and Fluent
//! bundles) → [`decide`] (which variant) → [`render`] + [`shaping`] (the fields, as the
//! channel needs them) → [`delivery`] (HTTP, caching headers). [`storage`] is the only
//! module that speaks SQL; [`app`] wires everything together.

pub mod allocation;
pub mod app;
pub mod auth;
pub mod authoring;
pub mod catalog;
pub mod config;
pub mod context;
pub mod cors;
pub mod decide;
pub mod delivery;
pub mod engagement;
pub mod fuzzing;
pub mod governance;
pub mod identity;
pub mod l10n;
pub mod memo;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod problem;
pub mod ratelimit;
pub mod redis_link;
pub mod render;
pub mod resilience;
pub mod shaping;
pub mod storage;
pub mod telemetry;
pub mod tokens;
pub mod wire;

pub use app::Application;
pub use config::Settings;
