//! Decide + render on the demo catalog, without HTTP or a database.
//!
//! `cargo bench --bench decide_render`

use std::path::Path;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, Criterion};
use fluent_bundle::{FluentArgs, FluentValue};
use tailor::catalog::{files, Catalog};
use tailor::context::{parse_params, resolve, Attributes, RawRequest};
use tailor::decide::decide;
use tailor::identity::Person;
use tailor::render::render;
use tailor::tokens::Signer;

fn catalog() -> Catalog {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let loaded = files::load(&root.join("content"), &root.join("locales"));
    assert!(loaded.errors.is_empty(), "demo content must load");
    Catalog::compile(&loaded.content, "en", 1).0
}

fn bench(c: &mut Criterion) {
    let catalog = catalog();
    let signer = Signer::new(b"bench-secret-bench-secret-bench-secret");
    let query = "channel=sms&device=mobile&anonymous_id=visitor-42";
    let raw = RawRequest {
        query,
        accept_language: Some("fr-CA,fr;q=0.9,en;q=0.5"),
        ..RawRequest::default()
    };
    let params = parse_params(query).expect("params");
    let person = Some(Person::anonymous("visitor-42"));
    let ctx =
        resolve(&raw, &params, &catalog, &signer, Utc::now(), person.clone()).expect("context");
    let (_, placement) = catalog.placement("home.hero").expect("placement");

    c.bench_function(
        "context: resolve (params + Accept-Language, negotiation cached)",
        |b| {
            b.iter(|| {
                let params = parse_params(std::hint::black_box(query)).expect("params");
                resolve(&raw, &params, &catalog, &signer, Utc::now(), person.clone())
                    .map(|c| c.channel)
            })
        },
    );

    c.bench_function("decide: home.hero, sticky weighted choice", |b| {
        let attributes = Attributes {
            context: &ctx,
            catalog: &catalog,
        };
        b.iter(|| {
            let input = ctx.decision_input(&attributes);
            decide(std::hint::black_box(placement), &input).variant
        })
    });

    c.bench_function(
        "decide + render: home.hero on sms in fr-CA (uncached)",
        |b| {
            let attributes = Attributes {
                context: &ctx,
                catalog: &catalog,
            };
            b.iter(|| {
                let input = ctx.decision_input(&attributes);
                let chosen = decide(placement, &input).variant.expect("a variant");
                let mut args = FluentArgs::new();
                args.set("channel", FluentValue::from("sms"));
                args.set("device", FluentValue::from("mobile"));
                render(
                    &catalog,
                    &placement.variants[chosen],
                    ctx.channel,
                    &ctx.chain,
                    &args,
                )
                .fields
                .len()
            })
        },
    );

    let (_, gold) = catalog.placement("checkout.banner").expect("placement");
    let personal_query = "channel=web&device=desktop&locale=pl&t.points=1250&t.first_name=Ola";
    let personal_params = parse_params(personal_query).expect("params");
    let personal = resolve(
        &RawRequest {
            query: personal_query,
            ..RawRequest::default()
        },
        &personal_params,
        &catalog,
        &signer,
        Utc::now(),
        None,
    )
    .expect("context");
    c.bench_function("decide + render: personal plural message (pl, web)", |b| {
        let attributes = Attributes {
            context: &personal,
            catalog: &catalog,
        };
        b.iter(|| {
            let input = personal.decision_input(&attributes);
            let chosen = decide(gold, &input).variant.expect("a variant");
            let mut args = FluentArgs::new();
            args.set("points", FluentValue::from(1250));
            args.set("first_name", FluentValue::from("Ola"));
            render(
                &catalog,
                &gold.variants[chosen],
                personal.channel,
                &personal.chain,
                &args,
            )
            .fields
            .len()
        })
    });
}

/// The demo catalog with `home.hero` adaptive (the winter campaign, at another priority,
/// left out) and a stored allocation of 20/80 over its two arms attached.
fn adaptive_catalog() -> Catalog {
    use base64::Engine;
    use tailor::allocation::{slots, thompson::ArmVerdict, Allocation};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut content = files::load(&root.join("content"), &root.join("locales")).content;
    let hero = content
        .placements
        .iter_mut()
        .find(|p| p.id == "home.hero")
        .expect("home.hero");
    hero.allocation = tailor::catalog::model::AllocationMode::Adaptive;
    hero.variants.retain(|v| v.id != "home-hero-winter-sale");
    let mut catalog = Catalog::compile(&content, "en", 1).0;
    let arms = vec![
        "home-hero-default".to_string(),
        "home-hero-spring-b".to_string(),
    ];
    let map = slots::rebalance(None, &arms, &[200, 800]);
    let verdict = |variant: &str, share: f64| ArmVerdict {
        variant: variant.into(),
        impressions: 0,
        rewards: 0,
        opt_outs: 0,
        nps_answers: 0,
        nps_detractors: 0,
        sources: 0,
        discounted_sources: 0,
        discounted_events: 0,
        thin: false,
        reward_rate: 0.0,
        p_best: share,
        guardrail: None,
        share,
    };
    let day = Utc::now().date_naive();
    let document = Allocation {
        placement: "home.hero".into(),
        reward: tailor::catalog::model::Reward::Click,
        computed_at: Utc::now(),
        since: day,
        until: day,
        arms: vec![verdict(&arms[0], 0.2), verdict(&arms[1], 0.8)],
        slots: map.counts(),
        slots_changed_at: Utc::now(),
        owners: base64::engine::general_purpose::STANDARD.encode(&map.owners),
        visited: String::new(),
    };
    tailor::allocation::attach(
        &mut catalog,
        vec![(
            "home.hero".into(),
            serde_json::to_string(&document).unwrap(),
        )],
    );
    assert!(catalog.allocations.contains_key("home.hero"), "attached");
    catalog
}

/// The sticky choice of an adaptive placement: the person's slot's owner, read from
/// the slot map loaded with the catalog (no I/O, no allocation).
fn bench_adaptive(c: &mut Criterion) {
    let catalog = adaptive_catalog();
    let signer = Signer::new(b"bench-secret-bench-secret-bench-secret");
    let query = "channel=web&device=mobile&anonymous_id=visitor-42";
    let raw = RawRequest {
        query,
        ..RawRequest::default()
    };
    let params = parse_params(query).expect("params");
    let person = Some(Person::anonymous("visitor-42"));
    let ctx = resolve(&raw, &params, &catalog, &signer, Utc::now(), person).expect("context");
    let (_, placement) = catalog.placement("home.hero").expect("placement");
    c.bench_function("decide: home.hero, adaptive slot map", |b| {
        let attributes = Attributes {
            context: &ctx,
            catalog: &catalog,
        };
        b.iter(|| {
            let input = ctx.decision_input(&attributes);
            tailor::decide::decide_allocated(
                std::hint::black_box(placement),
                catalog.allocation(placement),
                &input,
            )
            .variant
        })
    });
}

criterion_group!(benches, bench, bench_adaptive);
criterion_main!(benches);
