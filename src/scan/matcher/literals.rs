//! Required-literal extraction: for each regex pattern, a set of byte strings one of which occurs
//! in every match, and whether each always starts at a word start. This is the analysis
//! `regex_syntax`'s prefix/suffix extractor does not do: it finds *inner* literals behind
//! anchors and optional words, so that a pattern runs only where one of its literals occurs.

use regex_syntax::hir::{Class, Hir, HirKind, Look};
use std::collections::BTreeMap;

/// Largest literal set tracked while analysing a pattern (large enough for
/// word-list alternations and short case-insensitive words).
const SET_LIMIT: usize = 256;
/// Largest character class expanded into single-character literals.
const CLASS_LIMIT: u32 = 8;
/// Patterns whose best literal set is weaker than this run unconditionally.
const MIN_ANCHOR_WEIGHT: usize = 3;
/// Literals at least this rare are rare enough: beyond it, fewer literals (a smaller
/// table in the word-start pass) beat longer ones.
const WEIGHT_CAP: usize = 10;

/// Whether every occurrence of a literal inside a match starts where the
/// previous byte is not an ASCII alphanumeric (or at the start of the text).
/// `IfAlnum` is only used for the empty string: a pending `\b` that anchors
/// the following literal if that starts with an ASCII alphanumeric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Anchor {
    No,
    IfAlnum,
    Yes,
}

fn resolve(flag: Anchor, next: &[u8]) -> Anchor {
    match (flag, next.first()) {
        (Anchor::IfAlnum, Some(b)) if b.is_ascii_alphanumeric() => Anchor::Yes,
        (Anchor::IfAlnum, Some(_)) => Anchor::No,
        (f, _) => f,
    }
}

type LitSet = BTreeMap<Vec<u8>, Anchor>;

/// Insert with "all occurrences" semantics: the weaker anchor wins.
fn set_insert(set: &mut LitSet, lit: Vec<u8>, flag: Anchor) {
    set.entry(lit)
        .and_modify(|f| *f = (*f).min(flag))
        .or_insert(flag);
}

fn singleton(lit: Vec<u8>, flag: Anchor) -> LitSet {
    let mut s = LitSet::new();
    s.insert(lit, flag);
    s
}

/// Every string of `a` followed by every string of `b`.
fn product(a: &LitSet, b: &LitSet) -> LitSet {
    let mut out = LitSet::new();
    for (x, &fx) in a {
        for (y, &fy) in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            let flag = if !x.is_empty() {
                fx
            } else if y.is_empty() {
                fx.max(fy)
            } else {
                resolve(fx, y).max(fy)
            };
            set_insert(&mut out, s, flag);
        }
    }
    out
}

/// What is known about the strings a sub-expression matches.
struct Info {
    /// The complete set of strings it can match, if small.
    exact: Option<LitSet>,
    /// A set of non-empty literals one of which occurs in every match.
    req: Option<LitSet>,
    /// A set of non-empty literals one of which *starts* every match (so a word boundary
    /// before the sub-expression anchors them).
    prefix: Option<LitSet>,
}

/// An exact set used as a prefix set: only when it has no empty string.
fn as_prefix(exact: &Option<LitSet>) -> Option<LitSet> {
    exact
        .as_ref()
        .filter(|e| !e.is_empty() && e.keys().all(|k| !k.is_empty()))
        .cloned()
}

/// A usable required set: non-empty, with no empty literal.
fn usable(set: Option<LitSet>) -> Option<LitSet> {
    set.filter(|s| !s.is_empty() && s.keys().all(|k| !k.is_empty()))
}

/// Words so common in English that a literal made of one of them (plus white
/// space) would send nearly every sentence to the regex.
const STOP_WORDS: &[&[u8]] = &[
    b"a", b"an", b"and", b"are", b"as", b"at", b"be", b"but", b"by", b"can", b"do", b"for",
    b"from", b"have", b"he", b"her", b"his", b"how", b"i", b"if", b"in", b"is", b"it", b"its",
    b"me", b"my", b"no", b"not", b"of", b"on", b"or", b"our", b"she", b"so", b"that", b"the",
    b"their", b"them", b"they", b"this", b"to", b"up", b"was", b"we", b"what", b"will", b"with",
    b"you", b"your",
];

fn literal_weight(lit: &[u8]) -> usize {
    let word = lit.trim_ascii();
    if STOP_WORDS.contains(&word) {
        return 1;
    }
    // Multi-word literals are much rarer than their length suggests.
    let spaces = lit.iter().filter(|&&b| b == b' ').count();
    (lit.len() + 3 * spaces).min(WEIGHT_CAP)
}

/// Heuristic quality of a required set: prefer sets anchored at word starts
/// (they are checked in the shared word-start pass), then rare (long,
/// multi-word) literals, then fewer literals.
fn score(set: &LitSet) -> (bool, usize, std::cmp::Reverse<usize>) {
    let weight = set.keys().map(|k| literal_weight(k)).min().unwrap_or(0);
    let anchored = set.values().all(|&f| f == Anchor::Yes);
    (
        anchored && weight >= MIN_ANCHOR_WEIGHT,
        weight,
        std::cmp::Reverse(set.len()),
    )
}

fn best(a: Option<LitSet>, b: Option<LitSet>) -> Option<LitSet> {
    match (usable(a), usable(b)) {
        (Some(a), Some(b)) => Some(if score(&b) > score(&a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Drop literals that contain another literal of the set: any text that
/// contains the longer one contains the shorter one too.
fn minimise(set: LitSet) -> LitSet {
    let mut lits: Vec<(Vec<u8>, Anchor)> = set.into_iter().collect();
    lits.sort_by_key(|(k, _)| k.len());
    let mut kept: Vec<(Vec<u8>, Anchor)> = Vec::with_capacity(lits.len());
    for (lit, flag) in lits {
        let mut absorbed = false;
        for (short, short_flag) in kept.iter_mut() {
            if let Some(pos) = find_sub(&lit, short) {
                // The shorter literal would also stand for occurrences inside
                // the longer one, which are anchored only at offset 0: absorb
                // only when that does not lose the word-start anchor.
                let inherited = if pos == 0 { flag } else { Anchor::No };
                if inherited >= *short_flag {
                    absorbed = true;
                    break;
                }
            }
        }
        if !absorbed {
            kept.push((lit, flag));
        }
    }
    kept.into_iter().collect()
}

fn find_sub(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn class_literals(class: &Class) -> Option<LitSet> {
    let mut set = LitSet::new();
    match class {
        Class::Unicode(c) => {
            let mut count = 0u32;
            for r in c.ranges() {
                count = count.saturating_add(u32::from(r.end()) - u32::from(r.start()) + 1);
            }
            if count > CLASS_LIMIT {
                return None;
            }
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    set.insert(ch.encode_utf8(&mut buf).as_bytes().to_vec(), Anchor::No);
                }
            }
        }
        Class::Bytes(c) => {
            let mut count = 0u32;
            for r in c.ranges() {
                count = count.saturating_add(u32::from(r.end()) - u32::from(r.start()) + 1);
            }
            if count > CLASS_LIMIT {
                return None;
            }
            for r in c.ranges() {
                for b in r.start()..=r.end() {
                    set.insert(vec![b], Anchor::No);
                }
            }
        }
    }
    Some(set)
}

fn look_anchor(look: Look) -> Anchor {
    match look {
        Look::Start
        | Look::StartLF
        | Look::StartCRLF
        | Look::WordStartAscii
        | Look::WordStartUnicode
        | Look::WordStartHalfAscii
        | Look::WordStartHalfUnicode => Anchor::Yes,
        Look::WordAscii | Look::WordUnicode => Anchor::IfAlnum,
        _ => Anchor::No,
    }
}

/// How a sub-expression ends, for anchoring the literal that follows it.
#[derive(Debug, Clone, Copy)]
struct Ends {
    /// Every match that `transparent` does not cover ends where an ASCII
    /// alphanumeric byte that follows starts a word: its last byte is not ASCII
    /// alphanumeric, or it ends with a word-boundary or start assertion.
    boundary: bool,
    /// It can match the empty string without asserting anything, so what
    /// precedes it decides.
    transparent: bool,
}

impl Ends {
    const UNKNOWN: Ends = Ends {
        boundary: false,
        transparent: true,
    };

    /// `prefix` followed by `self`.
    fn after(self, prefix: Ends) -> Ends {
        if self.transparent {
            Ends {
                boundary: self.boundary && prefix.boundary,
                transparent: prefix.transparent,
            }
        } else {
            self
        }
    }

    /// Whether what follows starts at a word start when it starts with an
    /// ASCII alphanumeric byte.
    fn anchors(self) -> bool {
        self.boundary && !self.transparent
    }
}

fn ends(hir: &Hir) -> Ends {
    match hir.kind() {
        HirKind::Empty => Ends::UNKNOWN,
        HirKind::Look(look) => match look_anchor(*look) {
            Anchor::Yes | Anchor::IfAlnum => Ends {
                boundary: true,
                transparent: false,
            },
            Anchor::No => Ends::UNKNOWN,
        },
        HirKind::Literal(lit) => match lit.0.last() {
            None => Ends::UNKNOWN,
            Some(b) => Ends {
                boundary: !b.is_ascii_alphanumeric(),
                transparent: false,
            },
        },
        HirKind::Class(class) => {
            let alnum = match class {
                Class::Unicode(c) => c
                    .ranges()
                    .iter()
                    .any(|r| hits_ascii_alnum(u32::from(r.start()), u32::from(r.end()))),
                Class::Bytes(c) => c
                    .ranges()
                    .iter()
                    .any(|r| hits_ascii_alnum(u32::from(r.start()), u32::from(r.end()))),
            };
            Ends {
                boundary: !alnum,
                transparent: false,
            }
        }
        HirKind::Capture(cap) => ends(&cap.sub),
        HirKind::Repetition(rep) => {
            if rep.max == Some(0) {
                return Ends::UNKNOWN;
            }
            let sub = ends(&rep.sub);
            Ends {
                boundary: sub.boundary,
                transparent: rep.min == 0 || sub.transparent,
            }
        }
        HirKind::Concat(subs) => subs
            .iter()
            .fold(Ends::UNKNOWN, |prefix, sub| ends(sub).after(prefix)),
        HirKind::Alternation(subs) => {
            let all: Vec<Ends> = subs.iter().map(ends).collect();
            Ends {
                boundary: all.iter().all(|e| e.boundary),
                transparent: all.iter().any(|e| e.transparent),
            }
        }
    }
}

/// Whether `lo..=hi` contains an ASCII letter or digit.
fn hits_ascii_alnum(lo: u32, hi: u32) -> bool {
    [(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)]
        .iter()
        .any(|&(a, b)| lo <= b && hi >= a)
}

/// Strengthen the anchors of literals that start right after `prefix`.
fn anchor_after(prefix: Ends, set: LitSet) -> LitSet {
    if !prefix.anchors() {
        return set;
    }
    let mut out = LitSet::new();
    for (lit, flag) in set {
        let f = if lit.is_empty() {
            flag.max(Anchor::IfAlnum)
        } else {
            flag.max(resolve(Anchor::IfAlnum, &lit))
        };
        out.insert(lit, f);
    }
    out
}

fn analyze(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty => Info {
            exact: Some(singleton(Vec::new(), Anchor::No)),
            req: None,
            prefix: None,
        },
        HirKind::Look(look) => Info {
            exact: Some(singleton(Vec::new(), look_anchor(*look))),
            req: None,
            prefix: None,
        },
        HirKind::Literal(lit) => {
            let set = singleton(lit.0.to_vec(), Anchor::No);
            Info {
                exact: Some(set.clone()),
                req: Some(set.clone()),
                prefix: Some(set),
            }
        }
        HirKind::Class(class) => {
            let set = class_literals(class);
            Info {
                exact: set.clone(),
                req: set.clone(),
                prefix: set,
            }
        }
        HirKind::Capture(cap) => analyze(&cap.sub),
        HirKind::Repetition(rep) => {
            let sub = analyze(&rep.sub);
            let req = if rep.min >= 1 {
                best(sub.req, sub.exact.clone())
            } else {
                None
            };
            let prefix = if rep.min >= 1 {
                sub.prefix.clone()
            } else {
                None
            };
            let exact = match (rep.min, rep.max) {
                (1, Some(1)) => sub.exact,
                (0, Some(1)) => sub.exact.map(|mut e| {
                    set_insert(&mut e, Vec::new(), Anchor::No);
                    e
                }),
                _ => None,
            };
            Info { exact, req, prefix }
        }
        HirKind::Concat(subs) => {
            let mut cur = singleton(Vec::new(), Anchor::No);
            let mut whole = true;
            let mut req: Option<LitSet> = None;
            // How the subs before the current one end: a literal restarting
            // after a prefix that always ends in a non-word byte is anchored.
            let mut prefix = Ends::UNKNOWN;
            // The set that starts every match: the exact product up to the first sub that is
            // not exact, followed by that sub's own prefix set.
            let mut starts: Option<Option<LitSet>> = None;
            for sub in subs {
                let info = analyze(sub);
                let sub_ends = ends(sub);
                req = best(req, info.req);
                // A sub that starts with known literals, after subs that end at a word
                // boundary: those literals are anchored there.
                if info.exact.is_none()
                    && let Some(p) = info.prefix.clone()
                    && prefix.anchors()
                {
                    req = best(req, Some(anchor_after(prefix, p)));
                }
                match info.exact {
                    Some(e) if cur.len().saturating_mul(e.len()) <= SET_LIMIT => {
                        cur = product(&cur, &e);
                    }
                    other => {
                        if starts.is_none() {
                            starts = Some(match &info.prefix {
                                Some(p) if cur.len().saturating_mul(p.len()) <= SET_LIMIT => {
                                    as_prefix(&Some(product(&cur, p)))
                                }
                                _ => as_prefix(&Some(cur.clone())),
                            });
                        }
                        whole = false;
                        let restart = match other.filter(|e| e.len() <= SET_LIMIT) {
                            Some(e) => anchor_after(prefix, e),
                            None => anchor_after(
                                sub_ends.after(prefix),
                                singleton(Vec::new(), Anchor::No),
                            ),
                        };
                        let flushed = std::mem::replace(&mut cur, restart);
                        req = best(req, Some(flushed));
                    }
                }
                prefix = sub_ends.after(prefix);
            }
            if whole {
                Info {
                    req: best(req, Some(cur.clone())),
                    prefix: as_prefix(&Some(cur.clone())),
                    exact: Some(cur),
                }
            } else {
                Info {
                    req: best(req, Some(cur)),
                    exact: None,
                    prefix: starts.flatten(),
                }
            }
        }
        HirKind::Alternation(subs) => {
            let mut exact = Some(LitSet::new());
            let mut req = Some(LitSet::new());
            let mut prefix = Some(LitSet::new());
            for sub in subs {
                let info = analyze(sub);
                let sub_prefix = info.prefix.or_else(|| as_prefix(&info.exact));
                prefix = match (prefix, sub_prefix) {
                    (Some(mut acc), Some(p)) if acc.len() + p.len() <= SET_LIMIT => {
                        for (k, f) in p {
                            set_insert(&mut acc, k, f);
                        }
                        Some(acc)
                    }
                    _ => None,
                };
                let sub_req = best(info.req, info.exact.clone());
                exact = match (exact, info.exact) {
                    (Some(mut acc), Some(e)) if acc.len() + e.len() <= SET_LIMIT => {
                        for (k, f) in e {
                            set_insert(&mut acc, k, f);
                        }
                        Some(acc)
                    }
                    _ => None,
                };
                req = match (req, sub_req) {
                    (Some(mut acc), Some(r)) if acc.len() + r.len() <= SET_LIMIT => {
                        for (k, f) in r {
                            set_insert(&mut acc, k, f);
                        }
                        Some(acc)
                    }
                    _ => None,
                };
            }
            Info { exact, req, prefix }
        }
    }
}

/// The literal set used to gate a pattern, if it has a usable one.
pub(super) fn required_literals(hir: &Hir) -> Option<LitSet> {
    let info = analyze(hir);
    let set = minimise(best(info.req, info.exact)?);
    let weight = set.keys().map(|k| literal_weight(k)).min().unwrap_or(0);
    (weight >= MIN_ANCHOR_WEIGHT).then_some(set)
}
