//! What engagement integrity adds per request and per evaluation:
//!
//!   cargo bench --bench integrity
//!
//! Per `POST /v1/events` request: the client address behind a trusted proxy, the keyed
//! network source, the User-Agent class (isbot's pattern list). Per evaluation: the
//! evidence gate over a target with 10,000 sources, and a sample-ratio test.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tailor::engagement::provenance::{ForwardedHeader, SourceNamer, TrafficClass, TrustedProxies};
use tailor::governance::integrity::{sample_ratio, EvidenceKind, SourceEvidence};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn bench(c: &mut Criterion) {
    let proxies = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
    let peer = "10.1.2.3".parse().unwrap();
    c.bench_function("client address behind a trusted proxy (XFF, 3 hops)", |b| {
        b.iter(|| {
            proxies.client_address(
                black_box(peer),
                ForwardedHeader::XForwardedFor,
                black_box(Some("203.0.113.9, 198.51.100.7, 10.9.9.9")),
            )
        })
    });
    let names = SourceNamer::new(b"bench-secret-bench-secret-bench-secret");
    let client = "198.51.100.7".parse().unwrap();
    c.bench_function("keyed network source (HMAC-SHA256)", |b| {
        b.iter(|| names.network(black_box(client)))
    });
    // The pattern list compiles once per process; the first call pays for it.
    TrafficClass::of_user_agent(Some(CHROME));
    c.bench_function("traffic class of a browser User-Agent", |b| {
        b.iter(|| TrafficClass::of_user_agent(black_box(Some(CHROME))))
    });
    c.bench_function("traffic class of a bot User-Agent", |b| {
        b.iter(|| {
            TrafficClass::of_user_agent(black_box(Some(
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            )))
        })
    });
    let mut evidence = SourceEvidence::default();
    for i in 0..10_000 {
        evidence.add(&format!("net:{i:020}"), EvidenceKind::Impression, 40);
        evidence.add(
            &format!("net:{i:020}"),
            EvidenceKind::OptOut,
            (i % 3) as i64,
        );
    }
    c.bench_function("evidence gate, 10,000 sources", |b| {
        b.iter(|| {
            black_box(&evidence)
                .diversity(&[EvidenceKind::OptOut])
                .gate(50, 0.05)
        })
    });
    let arms = vec![("a".to_string(), 70, 70_310), ("b".to_string(), 30, 29_690)];
    c.bench_function("sample-ratio test, two arms", |b| {
        b.iter(|| sample_ratio("home.hero", black_box(&arms)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
