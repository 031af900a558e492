//! The durable decision store on both backends: write, query, paginate, export, verify,
//! tamper detection, checkpoints and retention.

use std::collections::HashSet;
use std::time::Duration;

use crate::support::trace::{Backend, backends, options, write};
use raigate::trace::{DecisionQuery, ExportFormat, TraceError, verify};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn write_query_paginate_and_export_on_both_backends() {
    for b in backends().await {
        write_query_paginate_and_export(&b).await;
        b.cleanup().await;
    }
}

type Keep = Box<dyn Fn(&raigate::trace::DecisionRecord) -> bool>;

async fn write_query_paginate_and_export(b: &Backend) {
    let name = b.name;
    let store = b.open(options());
    let recs = write(&store, 0, 250).await;

    // Every filter, paginated with a small page: exactly the matching records, in seq order.
    let cases: Vec<(DecisionQuery, Keep)> = vec![
        (DecisionQuery::default(), Box::new(|_| true)),
        (
            DecisionQuery {
                tenant: Some("acme".into()),
                ..Default::default()
            },
            Box::new(|r| r.tenant.as_deref() == Some("acme")),
        ),
        (
            DecisionQuery {
                tenant: Some("globex".into()),
                outcome: Some("deny".into()),
                ..Default::default()
            },
            Box::new(|r| r.tenant.as_deref() == Some("globex") && r.outcome == "deny"),
        ),
        (
            DecisionQuery {
                feature: Some("captions".into()),
                ..Default::default()
            },
            Box::new(|r| r.feature.as_deref() == Some("captions")),
        ),
        (
            DecisionQuery {
                rule: Some("content-prompt-injection".into()),
                ..Default::default()
            },
            Box::new(|r| r.rule.as_deref() == Some("content-prompt-injection")),
        ),
        (
            DecisionQuery {
                since: Some("2026-01-01T00:01:00Z".into()),
                until: Some("2026-01-01T00:02:00Z".into()),
                ..Default::default()
            },
            Box::new(|r| {
                r.time.as_str() >= "2026-01-01T00:01:00" && r.time.as_str() < "2026-01-01T00:02:00"
            }),
        ),
    ];
    for (q, keep) in cases {
        let want: Vec<&str> = recs
            .iter()
            .filter(|r| keep(r))
            .map(|r| r.id.as_str())
            .collect();
        assert!(!want.is_empty(), "{name}: the case {q:?} selects something");
        let mut got = Vec::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store
                .list(&DecisionQuery {
                    limit: Some(40),
                    cursor: cursor.clone(),
                    ..q.clone()
                })
                .await
                .unwrap();
            assert!(page.decisions.len() <= 40);
            got.extend(page.decisions.iter().map(|r| r.id.clone()));
            pages += 1;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(got, want, "{name}: {q:?}");
        assert_eq!(
            pages,
            want.len().div_ceil(40).max(1),
            "{name}: pages for {q:?}"
        );
    }
    // A minute holds 60 records: the time filter is exact.
    let minute = store
        .list(&DecisionQuery {
            since: Some("2026-01-01T00:01:00Z".into()),
            until: Some("2026-01-01T00:02:00Z".into()),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(minute.decisions.len(), 60, "{name}");

    // Get by id: the record as written, plus its chain fields.
    let one = store.get(&recs[7].id).await.unwrap().unwrap();
    assert_eq!(one.seq, Some(8), "{name}");
    let mut plain = one.clone();
    plain.seq = None;
    plain.prev_hash = None;
    plain.hash = None;
    assert_eq!(plain, recs[7], "{name}: round trip");
    assert!(store.get("nope").await.unwrap().is_none());

    // Bad parameters are errors, not empty pages.
    for bad in [
        DecisionQuery {
            cursor: Some("garbage".into()),
            ..Default::default()
        },
        DecisionQuery {
            since: Some("yesterday".into()),
            ..Default::default()
        },
        DecisionQuery {
            outcome: Some("maybe".into()),
            ..Default::default()
        },
    ] {
        assert!(
            matches!(store.list(&bad).await, Err(TraceError::Query(_))),
            "{name}: {bad:?}"
        );
    }

    // Exports: JSON Lines and CSV with a header row, all matching records.
    let q = DecisionQuery {
        tenant: Some("initech".into()),
        ..Default::default()
    };
    let want = recs
        .iter()
        .filter(|r| r.tenant.as_deref() == Some("initech"))
        .count();
    let mut out = Vec::new();
    let n = store
        .export_to(&q, ExportFormat::Jsonl, &mut out)
        .await
        .unwrap();
    assert_eq!(n as usize, want);
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), want, "{name}");
    assert!(
        lines
            .iter()
            .all(|l| l["tenant"] == "initech" && l["hash"].is_string())
    );
    let mut out = Vec::new();
    store
        .export_to(&q, ExportFormat::Csv, &mut out)
        .await
        .unwrap();
    let csv = String::from_utf8(out).unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows[0], raigate::trace::CSV_COLUMNS.join(","));
    assert_eq!(rows.len(), want + 1, "{name}: header + rows");
    assert!(
        csv.contains("\"prohibited, \"\"quoted\"\"\""),
        "{name}: CSV quoting"
    );

    // The streaming export gives the same bytes as the direct one.
    let mut stream = store.export_stream(&q, ExportFormat::Csv).unwrap();
    let mut streamed = Vec::new();
    while let Some(chunk) = std::future::poll_fn(|cx| {
        futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
    })
    .await
    {
        streamed.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(String::from_utf8(streamed).unwrap(), csv, "{name}");

    let report = verify(&store, None).await.unwrap();
    assert!(report.ok, "{name}: {report:?}");
    assert_eq!(report.records, 250);
}

/// A fresh store with 30 records, one checkpoint after 20.
async fn chain(b: &Backend) -> raigate::trace::TraceStore {
    let store = b.open(options());
    write(&store, 0, 20).await;
    assert_eq!(store.checkpoint().await.unwrap().map(|c| c.seq), Some(20));
    write(&store, 20, 30).await;
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_first_tampered_seq_on_both_backends() {
    let key = raigate::trace::CheckpointKey::from_seed([42u8; 32]).verifying_key();
    // (what, SQL against the store's tables, the seq verify must name)
    let cases: &[(&str, &str, u64)] = &[
        ("untouched", "SELECT 1", 0),
        (
            "modify a field",
            "UPDATE raigate_decisions SET tenant = 'evil' WHERE seq = 12",
            12,
        ),
        (
            "modify the reason",
            "UPDATE raigate_decisions SET reason = 'x' WHERE seq = 25",
            25,
        ),
        (
            "modify the indexed time",
            "UPDATE raigate_decisions SET ts = ts + 1 WHERE seq = 5",
            5,
        ),
        (
            "delete a row",
            "DELETE FROM raigate_decisions WHERE seq = 17",
            17,
        ),
        (
            "delete the tail",
            "DELETE FROM raigate_decisions WHERE seq >= 28",
            28,
        ),
        (
            "delete the head of the log",
            "DELETE FROM raigate_decisions WHERE seq <= 3",
            1,
        ),
        (
            "insert a row in the middle",
            "UPDATE raigate_decisions SET seq = seq + 1000 WHERE seq > 14; \
             UPDATE raigate_decisions SET seq = seq - 999 WHERE seq > 1000; \
             INSERT INTO raigate_decisions SELECT 15, 'forged', time, tenant, subject, feature, route, class, purpose, data_class, region, upstream, 'allow', shadow, rule, reason, obligations, policy_version, tenant_version, trace_id, latency_us, prev_hash, hash, ts, phase, parent_id, detector, score, view, output_sha256, output_bytes, labels, \"end\", provider, endpoint_class, provider_region FROM raigate_decisions WHERE seq = 14",
            15,
        ),
        (
            "append a row",
            "INSERT INTO raigate_decisions SELECT 31, 'forged', time, tenant, subject, feature, route, class, purpose, data_class, region, upstream, outcome, shadow, rule, reason, obligations, policy_version, tenant_version, trace_id, latency_us, hash, hash, ts, phase, parent_id, detector, score, view, output_sha256, output_bytes, labels, \"end\", provider, endpoint_class, provider_region FROM raigate_decisions WHERE seq = 30",
            31,
        ),
        (
            "reorder two rows",
            "UPDATE raigate_decisions SET seq = -9 WHERE seq = 9; \
             UPDATE raigate_decisions SET seq = 9 WHERE seq = 10; \
             UPDATE raigate_decisions SET seq = 10 WHERE seq = -9",
            9,
        ),
        (
            "rewrite the signed part and its chain",
            "UPDATE raigate_checkpoints SET hash = 'ab' WHERE seq = 20",
            20,
        ),
    ];
    for b in backends().await {
        for (what, sql, bad) in cases {
            let fresh = match b.name {
                "sqlite" => crate::support::trace::sqlite(),
                _ => crate::support::trace::postgres().await.unwrap(),
            };
            let store = chain(&fresh).await;
            fresh.exec(sql).await;
            let r = verify(&store, Some(&key)).await.unwrap();
            if *bad == 0 {
                assert!(r.ok, "{} {what}: {r:?}", b.name);
                assert_eq!(r.records, 30);
                assert_eq!(r.first_bad_seq, None);
            } else {
                assert!(!r.ok, "{} {what}: not detected: {r:?}", b.name);
                assert_eq!(r.first_bad_seq, Some(*bad), "{} {what}: {r:?}", b.name);
                assert!(!r.detail.is_empty());
            }
            drop(store);
            fresh.cleanup().await;
        }
        b.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_drops_records_behind_a_checkpoint_and_the_rest_verifies() {
    for b in backends().await {
        let name = b.name;
        let store = chain(&b).await;
        // Nothing is older than a day: nothing goes.
        assert_eq!(
            store
                .apply_retention(Duration::from_secs(86_400))
                .await
                .unwrap(),
            0
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Everything is older than zero: only what the checkpoint at seq 20 covers goes.
        assert_eq!(
            store.apply_retention(Duration::ZERO).await.unwrap(),
            20,
            "{name}"
        );
        let r = verify(&store, None).await.unwrap();
        assert!(r.ok, "{name}: {r:?}");
        assert_eq!(r.records, 10);
        // A checkpoint by another key is not trusted.
        let other = raigate::trace::CheckpointKey::from_seed([1u8; 32]).verifying_key();
        let r = verify(&store, Some(&other)).await.unwrap();
        assert!(!r.ok, "{name}: {r:?}");
        // Without that checkpoint the gap is caught.
        b.exec("DELETE FROM raigate_checkpoints").await;
        let r = verify(&store, None).await.unwrap();
        assert_eq!(r.first_bad_seq, Some(1), "{name}: {r:?}");
        drop(store);
        b.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_writers_share_one_gapless_chain() {
    // Two stores on one database stand for two replicas.
    for b in backends().await {
        let s1 = b.open(options());
        let s2 = b.open(options());
        let (a, c) = tokio::join!(write(&s1, 0, 300), write(&s2, 300, 600));
        let ids: HashSet<String> = a.iter().chain(c.iter()).map(|r| r.id.clone()).collect();
        let r = verify(&s1, None).await.unwrap();
        assert!(r.ok, "{}: {r:?}", b.name);
        assert_eq!(r.records, 600);
        let page = s2
            .list(&DecisionQuery {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        let got: HashSet<String> = page.decisions.iter().map(|r| r.id.clone()).collect();
        assert_eq!(got, ids);
        drop((s1, s2));
        b.cleanup().await;
    }
}

#[test]
fn trace_config_keys_parse_and_bad_values_name_the_key() {
    use raigate::gateway::GatewayConfig;
    use raigate::trace::Durability;
    let base = std::path::Path::new("/etc/raigate");
    let text = |trace: &str| format!("[server]\nregion = \"eu-central-1\"\n\n[trace]\n{trace}\n");
    let c = GatewayConfig::parse(
        &text("durability = \"async\"\nenqueue_timeout_ms = 250\ncheckpoint_secs = 5\nretention_days = 30\ncheckpoint_key_file = \"keys/cp.key\"\notlp_endpoint = \"http://127.0.0.1:4318\""),
        "raigate.toml".as_ref(),
        base,
    )
    .unwrap();
    assert_eq!(c.trace.durability, Durability::Async);
    assert_eq!(c.trace.enqueue_timeout_ms, 250);
    assert_eq!(c.trace.retention_days, Some(30));
    assert_eq!(c.checkpoint_key_file(), base.join("keys/cp.key"));
    let d = GatewayConfig::parse(&text(""), "raigate.toml".as_ref(), base).unwrap();
    assert_eq!(d.trace.durability, Durability::Sync, "sync is the default");
    let e = GatewayConfig::parse(
        &text("durability = \"fast\""),
        "raigate.toml".as_ref(),
        base,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("durability") || e.contains("fast"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn time_ranges_page_in_time_order_even_when_commits_came_out_of_order() {
    use raigate::trace::DecisionSink;
    for b in backends().await {
        let store = b.open(options());
        // Committed newest first: seq order is the reverse of time order.
        let recs: Vec<_> = (0..100).rev().map(crate::support::trace::record).collect();
        let mut commits = Vec::new();
        for r in &recs {
            commits.push(store.submit(r.clone()).unwrap());
        }
        for c in commits {
            c.await.unwrap();
        }
        let q = DecisionQuery {
            since: Some("2026-01-01T00:00:10Z".into()),
            until: Some("2026-01-01T00:01:30Z".into()),
            limit: Some(7),
            ..Default::default()
        };
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list(&DecisionQuery {
                    cursor: cursor.clone(),
                    ..q.clone()
                })
                .await
                .unwrap();
            got.extend(page.decisions.iter().map(|r| r.time.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let want: Vec<String> = (10..90)
            .map(|i| crate::support::trace::record(i).time)
            .collect();
        assert_eq!(got, want, "{}", b.name);
        // A cursor of a time-ordered query does not fit a seq-ordered one.
        let first = store.list(&q).await.unwrap().next_cursor.unwrap();
        let wrong = DecisionQuery {
            cursor: Some(first),
            ..Default::default()
        };
        assert!(matches!(
            store.list(&wrong).await,
            Err(TraceError::Query(_))
        ));
        let mut out = Vec::new();
        let n = store
            .export_to(&q, ExportFormat::Jsonl, &mut out)
            .await
            .unwrap();
        assert_eq!(n, 80, "{}", b.name);
        drop(store);
        b.cleanup().await;
    }
}
