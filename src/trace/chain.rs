//! The hash chain and signed checkpoints.
//!
//! `hash = sha-256("raigate-decision-v1" 0x00 ‖ seq as 8 bytes big-endian ‖ prev_hash as 64
//! lowercase hex ‖ canonical record)`, where the canonical record ([`canonical`]) is the
//! record's JSON without the chain fields (`seq`, `prev_hash`, `hash`), members in a fixed
//! order, no white space, integers as JSON integers. Members added after v0.1.0 join it only
//! when they carry something, so older records keep their hashes. The first record's
//! `prev_hash` is [`GENESIS`].
//!
//! A checkpoint is an ed25519 signature over `"raigate-checkpoint-v1\n{seq}\n{hash}\n{time}"`:
//! the chain head at that moment (like a Certificate Transparency signed tree head). The
//! verifier trusts a chain up to a checkpoint whose signature checks with the trusted public
//! key, so old records can be dropped behind a checkpoint (retention) and verification still
//! starts from there.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DecisionRecord;
use super::record::Phase;

/// `prev_hash` of the first record: 64 zeros.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical encoding of a record: the v0.1.0 members in their fixed order (`null` where
/// empty), then each member added later **only when it carries something**: `phase` when it is
/// not the one its `class` implies (`admin` for admin changes, `request` otherwise), the other
/// new members when not `null` / `[]`. So a record written before those members existed hashes
/// exactly as it did then, and a migrated database still verifies.
pub(crate) fn canonical(record: &DecisionRecord) -> Vec<u8> {
    serde_json::to_vec(&Canonical::of(record)).unwrap_or_default()
}

#[derive(Serialize)]
struct Canonical<'a> {
    id: &'a str,
    time: &'a str,
    tenant: &'a Option<String>,
    subject: &'a Option<String>,
    feature: &'a Option<String>,
    route: &'a str,
    class: &'a str,
    purpose: &'a Option<String>,
    data_class: &'a str,
    region: &'a str,
    upstream: &'a Option<String>,
    outcome: &'a str,
    shadow: bool,
    rule: &'a Option<String>,
    reason: &'a str,
    obligations: &'a [String],
    policy_version: &'a str,
    tenant_version: Option<u64>,
    trace_id: &'a Option<String>,
    latency_us: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    phase: Option<Phase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detector: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    view: &'a Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    output_sha256: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    output_bytes: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    labels: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    end: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_class: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_region: &'a Option<String>,
}

impl<'a> Canonical<'a> {
    fn of(r: &'a DecisionRecord) -> Self {
        Canonical {
            id: &r.id,
            time: &r.time,
            tenant: &r.tenant,
            subject: &r.subject,
            feature: &r.feature,
            route: &r.route,
            class: &r.class,
            purpose: &r.purpose,
            data_class: &r.data_class,
            region: &r.region,
            upstream: &r.upstream,
            outcome: &r.outcome,
            shadow: r.shadow,
            rule: &r.rule,
            reason: &r.reason,
            obligations: &r.obligations,
            policy_version: &r.policy_version,
            tenant_version: r.tenant_version,
            trace_id: &r.trace_id,
            latency_us: r.latency_us,
            phase: (r.phase != Phase::implied_by(&r.class)).then_some(r.phase),
            parent_id: &r.parent_id,
            detector: &r.detector,
            score: r.score,
            view: &r.view,
            output_sha256: &r.output_sha256,
            output_bytes: r.output_bytes,
            labels: &r.labels,
            end: &r.end,
            provider: &r.provider,
            endpoint_class: &r.endpoint_class,
            provider_region: &r.provider_region,
        }
    }
}

/// The chain hash of `record` at `seq` after `prev_hash` (hex).
pub(crate) fn record_hash(seq: u64, prev_hash: &str, record: &DecisionRecord) -> String {
    let mut h = Sha256::new();
    h.update(b"raigate-decision-v1\0");
    h.update(seq.to_be_bytes());
    h.update(prev_hash.as_bytes());
    h.update(canonical(record));
    hex::encode(h.finalize())
}

/// Clamp the integers a database stores as signed 64-bit, so a record hashes the same before
/// and after it is stored.
pub(crate) fn normalise(record: &mut DecisionRecord) {
    let max = i64::MAX as u64;
    record.latency_us = record.latency_us.min(max);
    record.tenant_version = record.tenant_version.map(|v| v.min(max));
    record.output_bytes = record.output_bytes.map(|v| v.min(max));
}

/// Give `record` its place after (`head_seq`, `head_hash`); returns the new head.
pub(crate) fn stamp(record: &mut DecisionRecord, head_seq: u64, head_hash: &str) -> (u64, String) {
    normalise(record);
    let seq = head_seq + 1;
    let hash = record_hash(seq, head_hash, record);
    record.seq = Some(seq);
    record.prev_hash = Some(head_hash.to_owned());
    record.hash = Some(hash.clone());
    (seq, hash)
}

/// A signed statement of the chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// seq of the last record covered.
    pub seq: u64,
    /// hash of that record ([`GENESIS`] for an empty chain).
    pub hash: String,
    /// RFC 3339 time of signing.
    pub time: String,
    /// ed25519 public key (hex) that signed.
    pub public_key: String,
    /// ed25519 signature (hex) over [`Checkpoint::message`].
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes.
    pub fn message(seq: u64, hash: &str, time: &str) -> Vec<u8> {
        format!("raigate-checkpoint-v1\n{seq}\n{hash}\n{time}").into_bytes()
    }

    /// Whether the signature checks with its own public key and, if given, that key is
    /// `trusted`.
    pub fn check(&self, trusted: Option<&VerifyingKey>) -> Result<(), String> {
        let pk = decode_public_key(&self.public_key)?;
        if let Some(t) = trusted
            && t != &pk
        {
            return Err(format!(
                "checkpoint at seq {} is signed by an untrusted key {}",
                self.seq, self.public_key
            ));
        }
        let sig_bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("checkpoint at seq {}: malformed signature", self.seq))?;
        let sig = Signature::from_bytes(&sig_bytes);
        pk.verify(&Self::message(self.seq, &self.hash, &self.time), &sig)
            .map_err(|_| format!("checkpoint at seq {}: bad signature", self.seq))
    }
}

/// Parse a hex ed25519 public key.
pub fn decode_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a public key is 64 hex digits".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("bad public key: {e}"))
}

/// The ed25519 key that signs checkpoints.
#[derive(Clone)]
pub struct CheckpointKey {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("public_key", &self.public_key_hex())
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        CheckpointKey {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// A fresh random key.
    pub fn generate() -> std::io::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Self::from_seed(seed))
    }

    /// Read the key (32 raw bytes) from `path`, creating a random one (mode 0600) if absent.
    pub fn from_key_file(path: &Path) -> std::io::Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let seed: [u8; 32] = bytes.try_into().map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: a checkpoint key is 32 bytes", path.display()),
                    )
                })?;
                Ok(Self::from_seed(seed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(path)?;
                f.write_all(&seed)?;
                f.sync_all()?;
                Ok(Self::from_seed(seed))
            }
            Err(e) => Err(e),
        }
    }

    /// The public key that verifies this key's checkpoints.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key, hex (what `raigate audit public-key` prints).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// Sign the head (`seq`, `hash`) now.
    pub fn sign(&self, seq: u64, hash: &str) -> Checkpoint {
        let time = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
        let sig = self.key.sign(&Checkpoint::message(seq, hash, &time));
        Checkpoint {
            seq,
            hash: hash.to_owned(),
            time,
            public_key: self.public_key_hex(),
            signature: hex::encode(sig.to_bytes()),
        }
    }
}

pub(crate) use super::record::parse_time_us;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_sign_and_check() {
        let k = CheckpointKey::from_seed([7u8; 32]);
        let cp = k.sign(3, GENESIS);
        assert!(cp.check(Some(&k.verifying_key())).is_ok());
        let mut bad = cp.clone();
        bad.seq = 4;
        assert!(bad.check(None).is_err());
        let other = CheckpointKey::from_seed([8u8; 32]);
        assert!(cp.check(Some(&other.verifying_key())).is_err());
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time_us("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(
            parse_time_us("1970-01-01T00:00:01.000002Z"),
            Some(1_000_002)
        );
        assert_eq!(parse_time_us("nope"), None);
    }
}
