//! Decision ids: UUIDv7 (RFC 9562), time-ordered, from the `uuid` crate (its `fast-rng`
//! feature draws the random bits from a thread-local generator, so no system call per id).

use std::time::{SystemTime, UNIX_EPOCH};

/// A UUIDv7 for a decision taken at `now`.
pub fn decision_id(now: SystemTime) -> uuid::Uuid {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, d.as_secs(), d.subsec_nanos());
    uuid::Uuid::new_v7(ts)
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
