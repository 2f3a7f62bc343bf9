//! Tailor's schema, for SQLite and PostgreSQL. Migrations are timestamped and only ever
//! appended; `tailor migrate` (and `tailor serve` on start) applies the pending ones.

pub use sea_orm_migration::prelude::*;

mod columns;

mod m20261123_000001_content;
mod m20261123_000002_engagement;
mod m20261125_000003_identity;
mod m20261125_000004_governance;
mod m20261125_000005_event_segments;
mod m20261125_000006_authoring;
mod m20261130_000007_event_provenance;
mod m20261130_000008_event_arrivals;
mod m20261201_000009_purges;
mod m20261201_000010_sync_manifests;
mod m20261201_000011_nps_detractors_per_source;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_content::Migration),
            Box::new(m20261123_000002_engagement::Migration),
            Box::new(m20261125_000003_identity::Migration),
            Box::new(m20261125_000004_governance::Migration),
            Box::new(m20261125_000005_event_segments::Migration),
            Box::new(m20261125_000006_authoring::Migration),
            Box::new(m20261130_000007_event_provenance::Migration),
            Box::new(m20261130_000008_event_arrivals::Migration),
            Box::new(m20261201_000009_purges::Migration),
            Box::new(m20261201_000010_sync_manifests::Migration),
            Box::new(m20261201_000011_nps_detractors_per_source::Migration),
        ]
    }
}
