//! Decision latency: one full decision without content, through the pure engine.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use http::Method;
use raigate::context::{RequestContext, RouteSpec};
use raigate::engine::{DecisionInput, Placement, Upstream, decide};
use raigate::policy::CompiledPolicy;
use raigate::tenants::{TenantSettings, TenantSnapshot};

fn bench(c: &mut Criterion) {
    let policy =
        CompiledPolicy::load(concat!(env!("CARGO_MANIFEST_DIR"), "/policies").as_ref()).unwrap();
    // 10 000 tenants so the lookup is realistic.
    let tenants = TenantSnapshot::new((0..10_000).map(|i| {
        let t = TenantSettings::new(format!("tenant-{i}")).opt_out("clips");
        if i % 2 == 0 { t.region("eu") } else { t }
    }));
    let route = RouteSpec::new(Method::POST, "/v1/chat/completions")
        .unwrap()
        .feature("assistant");
    let region: Arc<str> = Arc::from("eu-central-1");
    let upstreams = vec![
        Upstream::new("ai-us", "us-east-1"),
        Upstream::new("ai-eu", "eu-west-1"),
    ];
    let mut ctx = RequestContext::for_tenant("tenant-4242");
    ctx.user = Some("user-1".into());
    ctx.purpose = Some("content-moderation".into());
    let placement = Placement::with_upstreams(&region, &upstreams);
    let input = DecisionInput::new(&ctx, &route, placement);
    assert!(decide(&input, &tenants, &policy).is_allowed());
    c.bench_function("decision/allow_pinned_with_purpose_no_content", |b| {
        b.iter(|| decide(black_box(&input), black_box(&tenants), black_box(&policy)))
    });
    let mut denied_ctx = RequestContext::for_tenant("tenant-4242");
    denied_ctx.purpose = Some("protected-characteristic-inference".into());
    let denied = DecisionInput::new(&denied_ctx, &route, placement);
    c.bench_function("decision/deny_prohibited_purpose", |b| {
        b.iter(|| decide(black_box(&denied), black_box(&tenants), black_box(&policy)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
