//! Hot reload: the live policy sits behind an atomic pointer; a bad bundle never replaces a good one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use super::{CompiledPolicy, PolicyError};

/// A shared, swappable handle on the live policy. Cloning shares the same policy.
///
/// Readers on the hot path call [`PolicyHandle::current`] (one atomic load); watchers that
/// need to react to a change subscribe through [`PolicyHandle::subscribe`].
#[derive(Debug, Clone)]
pub struct PolicyHandle {
    current: Arc<ArcSwap<CompiledPolicy>>,
    changes: watch::Sender<Arc<str>>,
    dir: Option<PathBuf>,
}

impl PolicyHandle {
    /// A handle on a compiled policy.
    pub fn new(policy: CompiledPolicy) -> Self {
        let (changes, _) = watch::channel(policy.version().clone());
        PolicyHandle {
            current: Arc::new(ArcSwap::from_pointee(policy)),
            changes,
            dir: None,
        }
    }

    /// Load the bundle in `dir`; [`PolicyHandle::reload`] reads the same directory again.
    pub fn load(dir: &Path) -> Result<Self, PolicyError> {
        let mut handle = Self::new(CompiledPolicy::load(dir)?);
        handle.dir = Some(dir.to_path_buf());
        Ok(handle)
    }

    /// The live policy.
    pub fn current(&self) -> Arc<CompiledPolicy> {
        self.current.load_full()
    }

    /// Replace the live policy.
    pub fn replace(&self, policy: CompiledPolicy) {
        let version = policy.version().clone();
        self.current.store(Arc::new(policy));
        self.changes.send_replace(version);
    }

    /// Read the bundle directory again. On error the live policy stays as it was.
    /// Returns the version now in force.
    pub fn reload(&self) -> Result<Arc<str>, PolicyError> {
        let Some(dir) = &self.dir else {
            return Ok(self.current().version().clone());
        };
        let policy = CompiledPolicy::load(dir)?;
        let version = policy.version().clone();
        self.replace(policy);
        Ok(version)
    }

    /// A receiver that sees the version of every policy put in force.
    pub fn subscribe(&self) -> watch::Receiver<Arc<str>> {
        self.changes.subscribe()
    }
}
