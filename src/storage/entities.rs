//! sea-orm entities for the content tables (schema in `migrations/`).

pub mod channel {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channels")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub state: String,
        pub definition: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod trait_def {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "traits")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub definition: String,
        pub content_hash: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod placement {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "placements")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub definition: String,
        pub content_hash: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod variant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "variants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub placement_id: String,
        pub version: i32,
        pub state: String,
        pub definition: String,
        pub content_hash: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod fluent_resource {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "fluent_resources")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub locale: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub path: String,
        pub source: String,
        pub content_hash: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod key_value {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "key_values")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub value: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Declares a plain sea-orm entity (no relations): table name, then the model's fields.
macro_rules! entity {
    ($module:ident, $table:literal, { $($body:tt)* }) => {
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                $($body)*
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

entity!(segment, "segments", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub definition: String,
    pub content_hash: String,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(person, "people", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub sticky_key: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
    pub merged_into: Option<String>,
});

entity!(identifier, "identifiers", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub value: String,
    pub person_id: String,
    pub created_at: ChronoDateTimeUtc,
});

entity!(identity_link, "identity_links", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub from_value: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_kind: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub to_value: String,
    pub person_id: String,
    pub actor: String,
    pub created_at: ChronoDateTimeUtc,
});

entity!(person_trait, "person_traits", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub person_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub value: String,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(person_consent, "person_consents", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub person_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub channel: String,
    pub granted: bool,
    pub source: String,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(identity_merge, "identity_merges", {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub survivor_id: String,
    pub merged_id: String,
    pub identifiers: String,
    pub actor: String,
    pub created_at: ChronoDateTimeUtc,
});

entity!(identity_conflict, "identity_conflicts", {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub person_ids: String,
    pub detail: String,
    pub actor: String,
    pub created_at: ChronoDateTimeUtc,
});

entity!(audit_entry, "audit_log", {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub created_at: ChronoDateTimeUtc,
});

entity!(governance_policy, "governance_policies", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub definition: String,
    pub content_hash: String,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(governance_status, "governance_status", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub policy_id: String,
    pub failures: i32,
    pub last_period: String,
    pub last_verdict: String,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(governance_decision, "governance_decisions", {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub period: String,
    pub scope: String,
    pub target: String,
    pub policy_id: String,
    pub action: String,
    pub status: String,
    pub evidence: String,
    pub proposed_by: String,
    pub reviewed_by: Option<String>,
    pub review_comment: Option<String>,
    pub decided_by: Option<String>,
    pub decision_comment: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(governance_state, "governance_states", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub target: String,
    pub state: String,
    pub updated_at: ChronoDateTimeUtc,
});

entity!(content_version, "content_versions", {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub version: i32,
    pub state: String,
    pub document: String,
    pub placement_id: Option<String>,
    pub author: String,
    pub created_at: ChronoDateTimeUtc,
    pub changed_by: String,
    pub changed_at: ChronoDateTimeUtc,
    pub note: Option<String>,
});

entity!(purge, "purges", {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub created_at: ChronoDateTimeUtc,
    pub provider: String,
    pub round: i32,
    pub keys: String,
    pub reason: String,
    pub generation: i64,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: Option<ChronoDateTimeUtc>,
});

entity!(sync_manifest, "sync_manifests", {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub created_at: ChronoDateTimeUtc,
    pub manifest: String,
});
