//! Decision ids: UUIDv7 (RFC 9562), time-ordered, without a system call per id.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

/// Seed from the OS once per thread; ids need uniqueness, not secrecy.
fn seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (nanos as u64 ^ u64::from(std::process::id()).rotate_left(32)).to_le_bytes();
    }
    u64::from_le_bytes(b)
}

/// wyrand: a fast, well-distributed 64-bit generator.
fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    })
}

/// A UUIDv7 for a decision taken at `now`.
pub fn decision_id(now: SystemTime) -> uuid::Uuid {
    let millis = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 10];
    let (a, b) = (next_u64().to_le_bytes(), next_u64().to_le_bytes());
    for (dst, src) in random.iter_mut().zip(a.iter().chain(b.iter())) {
        *dst = *src;
    }
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_7_unique_and_time_ordered() {
        let t0 = SystemTime::now();
        let ids: Vec<uuid::Uuid> = (0..10_000)
            .map(|i| decision_id(t0 + std::time::Duration::from_millis(i / 100)))
            .collect();
        assert!(ids.iter().all(|u| u.get_version_num() == 7));
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        let later = decision_id(t0 + std::time::Duration::from_secs(1));
        assert!(ids.iter().all(|u| *u < later), "ids sort by time");
    }
}
