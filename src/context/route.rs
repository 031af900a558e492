use std::sync::Arc;

use http::Method;

/// Whether a route runs inference or trains a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteClass {
    /// Inference (the default).
    #[default]
    Inference,
    /// Training: fine-tuning, dataset upload, feedback-for-training.
    Training,
}

impl RouteClass {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Inference => "inference",
            RouteClass::Training => "training",
        }
    }
}

/// What a content-scanned route does with a body it cannot read as text (a binary media type,
/// an unknown content coding, a charset other than UTF-8). JSON, multipart text parts, form
/// values and UTF-8 text are always read, whatever the headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unscannable {
    /// Refuse it: `415 unsupported-media-type` (the default: fail closed).
    #[default]
    Deny,
    /// Let it through unscanned; the decision record says so in its `reason`.
    Allow,
}

impl Unscannable {
    /// The config name (`deny`, `allow`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unscannable::Deny => "deny",
            Unscannable::Allow => "allow",
        }
    }
}

/// A route raigate guards: method, path template and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    method: Method,
    path: Arc<str>,
    prefix: bool,
    label: Arc<str>,
    /// The AI feature behind the route.
    pub feature: Option<Arc<str>>,
    /// Inference or training.
    pub class: RouteClass,
    /// What to do with a body content rules cannot read (default: refuse it).
    pub unscannable: Unscannable,
}

/// Why a route could not be configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route `{route}`: {reason}")]
pub struct RouteConfigError {
    /// The route as written.
    pub route: String,
    /// Why.
    pub reason: String,
}

impl RouteSpec {
    /// A route on `path`: exact, or a prefix when it ends in `/*`.
    pub fn new(method: Method, path: &str) -> Result<Self, RouteConfigError> {
        let err = |reason: &str| RouteConfigError {
            route: format!("{method} {path}"),
            reason: reason.to_owned(),
        };
        if !path.starts_with('/') {
            return Err(err("path must start with `/`"));
        }
        let (stem, prefix) = match path.strip_suffix("/*") {
            Some(stem) => (format!("{stem}/"), true),
            None => (path.to_owned(), false),
        };
        if stem.contains('*') {
            return Err(err("`*` is only allowed as a final `/*`"));
        }
        Ok(RouteSpec {
            label: Arc::from(format!("{method} {path}")),
            method,
            path: Arc::from(stem),
            prefix,
            feature: None,
            class: RouteClass::Inference,
            unscannable: Unscannable::Deny,
        })
    }

    /// Set the feature.
    #[must_use]
    pub fn feature(mut self, feature: &str) -> Self {
        self.feature = Some(Arc::from(feature));
        self
    }

    /// Set the class.
    #[must_use]
    pub fn class(mut self, class: RouteClass) -> Self {
        self.class = class;
        self
    }

    /// Set what to do with a body content rules cannot read.
    #[must_use]
    pub fn unscannable(mut self, unscannable: Unscannable) -> Self {
        self.unscannable = unscannable;
        self
    }

    /// `METHOD /path-template`, as written in decision records.
    pub fn label(&self) -> &Arc<str> {
        &self.label
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        *method == self.method
            && if self.prefix {
                path.starts_with(&*self.path)
            } else {
                path == &*self.path
            }
    }
}

/// The routes raigate guards. First match wins; exact routes should come before prefixes
/// that cover them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteTable {
    routes: Vec<Arc<RouteSpec>>,
}

impl RouteTable {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Add a route.
    pub(crate) fn push(&mut self, route: RouteSpec) {
        self.routes.push(Arc::new(route));
    }

    /// The route for a request, if any.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<&Arc<RouteSpec>> {
        self.routes.iter().find(|r| r.matches(method, path))
    }
}
