//! Loads N decisions (default 1,000,000) into a fresh SQLite file or PostgreSQL schema through
//! the store's own writer, then times filtered first pages, deep pages and a time range.
//!
//! ```sh
//! cargo run --release --example trace_query_1m -- sqlite
//! cargo run --release --example trace_query_1m -- postgres postgres://postgres@127.0.0.1:5432/test
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant, UNIX_EPOCH};

use raigate::trace::{
    DecisionQuery, DecisionRecord, DecisionSink, Durability, Phase, TraceOptions, TraceStore,
};

const RULES: [&str; 8] = [
    "content-prompt-injection",
    "content-deepfake",
    "feature-opted-out",
    "consent-required",
    "region-pinned",
    "training-data-blocked",
    "unknown-tenant",
    "human-oversight-required",
];
const FEATURES: [&str; 6] = [
    "assistant",
    "captions",
    "summarization",
    "translation",
    "clips",
    "quiz-generation",
];
const START: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn record(i: u64) -> DecisionRecord {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let deny = h.is_multiple_of(10);
    let mut r = DecisionRecord::new(
        Phase::Request,
        uuid::Uuid::now_v7().to_string(),
        humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_secs(START + i)).to_string(),
    );
    r.tenant = Some(format!("tenant-{:03}", (h >> 8) % 200));
    r.subject = Some(format!("ps_{:032x}", (h >> 16) % 50_000));
    r.feature = Some(FEATURES[((h >> 24) % 6) as usize].to_owned());
    r.route = "POST /v1/chat/completions".into();
    r.class = "inference".into();
    r.data_class = "customer".into();
    r.region = "eu-central-1".into();
    r.upstream = Some("ai-eu".into());
    r.outcome = if deny { "deny" } else { "allow" }.into();
    r.rule = deny.then(|| RULES[((h >> 32) % 8) as usize].to_owned());
    r.reason = if deny { "denied" } else { "allowed" }.into();
    r.obligations = vec!["ai-disclosure".into()];
    r.policy_version = "a".repeat(64);
    r.tenant_version = Some(1);
    r.latency_us = 40;
    r
}

fn q(f: impl FnOnce(&mut DecisionQuery)) -> DecisionQuery {
    let mut q = DecisionQuery {
        limit: Some(100),
        ..DecisionQuery::default()
    };
    f(&mut q);
    q
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let n: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let schema = format!("raigate_bench_{}", std::process::id());
    let (url, pg_schema) = match backend {
        "sqlite" => (
            format!("sqlite://{}", dir.path().join("bench.db").display()),
            None,
        ),
        _ => (
            args.get(2)
                .cloned()
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into()),
            Some(schema.clone()),
        ),
    };
    let store = TraceStore::open(
        &url,
        TraceOptions {
            durability: Durability::Async,
            queue: 100_000,
            batch: 5000,
            pg_schema: pg_schema.clone(),
            ..TraceOptions::default()
        },
    )
    .unwrap();

    let t = Instant::now();
    for i in 0..n {
        let mut c = store.submit(record(i)).unwrap();
        c.queued().await.unwrap();
    }
    store.flush().await.unwrap();
    let load = t.elapsed();
    println!(
        "{backend}: loaded {n} decisions in {:.1} s ({:.0} records/s, hash chain included)",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64()
    );

    let mid =
        humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(START + n / 2)).to_string();
    let mid_end = humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(START + n / 2 + 3600))
        .to_string();
    let late =
        humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(START + n * 9 / 10)).to_string();
    let cases: Vec<(&str, DecisionQuery)> = vec![
        ("no filter, first page", q(|_| {})),
        ("tenant", q(|q| q.tenant = Some("tenant-042".into()))),
        (
            "tenant + outcome=deny",
            q(|q| {
                q.tenant = Some("tenant-042".into());
                q.outcome = Some("deny".into());
            }),
        ),
        (
            "tenant + deny + rule",
            q(|q| {
                q.tenant = Some("tenant-042".into());
                q.outcome = Some("deny".into());
                q.rule = Some("consent-required".into());
            }),
        ),
        ("feature", q(|q| q.feature = Some("clips".into()))),
        ("rule", q(|q| q.rule = Some("region-pinned".into()))),
        (
            "one hour mid-range",
            q(|q| {
                q.since = Some(mid.clone());
                q.until = Some(mid_end.clone());
            }),
        ),
        (
            "tenant + one hour mid-range",
            q(|q| {
                q.tenant = Some("tenant-042".into());
                q.since = Some(mid.clone());
                q.until = Some(mid_end.clone());
            }),
        ),
        (
            "since the last 10 % (wide range far from the start)",
            q(|q| q.since = Some(late.clone())),
        ),
        (
            "tenant + since the last 10 %",
            q(|q| {
                q.tenant = Some("tenant-042".into());
                q.since = Some(late.clone());
            }),
        ),
        (
            "subject",
            q(|q| q.subject = Some(format!("ps_{:032x}", 777))),
        ),
    ];
    println!("| query (limit 100) | first page median | first page max | page 5 median | rows |");
    println!("|---|---|---|---|---|");
    for (name, query) in cases {
        let mut firsts = Vec::new();
        let mut rows = 0;
        for _ in 0..15 {
            let t = Instant::now();
            let p = store.list(&query).await.unwrap();
            firsts.push(t.elapsed());
            rows = p.decisions.len();
        }
        // Page 5 via cursors.
        let mut cursor = None;
        for _ in 0..4 {
            let p = store
                .list(&DecisionQuery {
                    cursor: cursor.clone(),
                    ..query.clone()
                })
                .await
                .unwrap();
            cursor = p.next_cursor;
        }
        let mut deeps = Vec::new();
        if cursor.is_some() {
            for _ in 0..15 {
                let t = Instant::now();
                store
                    .list(&DecisionQuery {
                        cursor: cursor.clone(),
                        ..query.clone()
                    })
                    .await
                    .unwrap();
                deeps.push(t.elapsed());
            }
        }
        firsts.sort();
        deeps.sort();
        let ms = |d: Option<&Duration>| {
            d.map_or("-".to_owned(), |d| {
                format!("{:.2} ms", d.as_secs_f64() * 1000.0)
            })
        };
        println!(
            "| {name} | {} | {} | {} | {rows} |",
            ms(firsts.get(firsts.len() / 2)),
            ms(firsts.last()),
            ms(deeps.get(deeps.len() / 2)),
        );
    }
    let t = Instant::now();
    let report = raigate::trace::verify(&store, None).await.unwrap();
    println!(
        "verify: ok={} records={} in {:.1} s",
        report.ok,
        report.records,
        t.elapsed().as_secs_f64()
    );
    if let Some(s) = pg_schema {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(&format!("DROP SCHEMA \"{s}\" CASCADE"))
            .await
            .unwrap();
    }
}
