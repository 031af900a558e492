//! The policy bundle: a model that is pure data ([`model`]), loading with JSON-Schema
//! validation ([`load_dir`]), and compilation into a [`CompiledPolicy`] the engine reads.
//!
//! ```no_run
//! use raigate::policy::CompiledPolicy;
//!
//! let policy = CompiledPolicy::load(std::path::Path::new("policies"))?;
//! println!("policy {} version {}", policy.name(), policy.version());
//! # Ok::<(), raigate::policy::PolicyError>(())
//! ```
//! A bad bundle is a [`PolicyError`] listing every problem as `file: /json/pointer: reason`.

mod compile;
mod load;
pub mod model;
mod reload;

pub use compile::{
    CompiledPolicy, ContentRule, CoreRuleIds, DisclosureText, Feature, PurposeRule, RuleRef,
};
pub use load::{LoadedBundle, PolicyError, PolicyIssue, load_dir};
pub use model::{Mode, PurposeRuleKind, QuotedUse};
pub use reload::PolicyHandle;
