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
