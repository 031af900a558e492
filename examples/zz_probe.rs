#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]
use raigate::scan::{RuleSpec, Scanner, normalize};
use std::time::Instant;
fn main() {
    let text = std::fs::read_to_string("/tmp/probe/benign.txt").unwrap();
    let text = normalize(&text);
    let b: toml::Value =
        toml::from_str(&std::fs::read_to_string("policies/content.toml").unwrap()).unwrap();
    let rules = b["content_rule"].as_array().unwrap();
    let mut all_p = vec![];
    let mut all_r = vec![];
    for r in rules {
        let id = r["id"].as_str().unwrap();
        let ph: Vec<String> = r
            .get("phrases")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let pa: Vec<String> = r
            .get("patterns")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        all_p.extend(ph.clone());
        all_r.extend(pa.clone());
        for (kind, spec) in [
            (
                "phrases",
                RuleSpec {
                    phrases: &ph,
                    patterns: &[],
                },
            ),
            (
                "patterns",
                RuleSpec {
                    phrases: &[],
                    patterns: &pa,
                },
            ),
        ] {
            let s = Scanner::new(&[spec]).unwrap();
            let t = Instant::now();
            for _ in 0..200 {
                std::hint::black_box(s.scan(&text));
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / 200.0;
            if us > 15.0 {
                println!("{id:40} {kind:8} {us:8.1} us  {s:?}");
            }
        }
    }
    for (name, spec) in [
        (
            "all phrases",
            RuleSpec {
                phrases: &all_p,
                patterns: &[],
            },
        ),
        (
            "all patterns",
            RuleSpec {
                phrases: &[],
                patterns: &all_r,
            },
        ),
    ] {
        let s = Scanner::new(&[spec]).unwrap();
        let t = Instant::now();
        for _ in 0..200 {
            std::hint::black_box(s.scan(&text));
        }
        println!(
            "{name}: {:.1} us {s:?}",
            t.elapsed().as_secs_f64() * 1e6 / 200.0
        );
    }
}
