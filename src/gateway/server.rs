use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use super::config::{GatewayConfig, GatewayConfigError};
use super::conn::{self, Acceptor, ConnLimits};
use super::drain::DrainUnread;
use super::proxy::{Proxy, UpstreamTarget};
use crate::RaigateLayer;
use crate::admin::{AdminState, AdminToken};
use crate::context::{RouteClass, RouteSpec, Unscannable};
use crate::policy::{PolicyError, PolicyHandle};
use crate::tenants::{StoreError, TenantSync, store};
#[cfg(feature = "otel")]
use crate::trace::OtlpPipeline;
use crate::trace::{
    DecisionSink, JsonlSink, JsonlSinkOptions, Pseudonymizer, Tee, TraceAccess, TraceError,
    TraceStore, admin_routes,
};

/// Why the gateway could not start or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The config file is wrong.
    #[error(transparent)]
    Config(#[from] GatewayConfigError),
    /// The policy bundle is wrong.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The tenant store cannot be opened or read.
    #[error("tenant store: {0}")]
    Store(#[from] StoreError),
    /// The decision store cannot be opened.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A file or socket failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// A gateway built from its config, ready to serve.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    layer: RaigateLayer,
    proxy: Proxy,
    admin: AdminState,
    sync: TenantSync,
    trace_store: TraceStore,
    checkpoint_key: Option<ed25519_dalek::VerifyingKey>,
    #[cfg(feature = "otel")]
    otlp: Option<OtlpPipeline>,
}

fn invalid(file: &std::path::Path, key: String, reason: impl Into<String>) -> GatewayConfigError {
    GatewayConfigError::Invalid {
        file: file.to_path_buf(),
        key,
        reason: reason.into(),
    }
}

impl Gateway {
    /// Load the policy, open the tenant store (creating missing `[[tenant]]` seeds and starting
    /// the sync task), open the trace and wire the proxy and the admin API.
    pub async fn build(config: GatewayConfig) -> Result<Self, GatewayError> {
        let policy = PolicyHandle::load(&config.policies.dir)?;
        // State directories (`examples/state/` in the example config) are made on first start.
        for dir in config.state_dirs() {
            std::fs::create_dir_all(&dir).map_err(|source| GatewayError::Io {
                what: format!("creating the state directory {}", dir.display()),
                source,
            })?;
        }
        let compiled = policy.current();

        let region = &config.server.region;
        if compiled.region_set_of(region).is_none() && !config.server.allow_region_outside_sets {
            return Err(invalid(
                &config.file,
                "server.region".into(),
                format!(
                    "`{region}` is in none of the policy's region sets (regions.toml in {}): \
                     a typo, or a region tenants cannot be pinned to. Correct it, or set \
                     [server] allow_region_outside_sets = true if this instance deliberately \
                     runs outside every set (it then serves only tenants that are not pinned)",
                    config.policies.dir.display()
                ),
            )
            .into());
        }
        let mut seeds = Vec::with_capacity(config.tenant.len());
        for (i, t) in config.tenant.iter().enumerate() {
            let key = |k: &str| format!("tenant[{i}].{k}");
            if t.id.is_empty() {
                return Err(invalid(&config.file, key("id"), "required").into());
            }
            crate::tenants::check_tenant_id(&t.id)
                .map_err(|e| invalid(&config.file, key("id"), e.to_string()))?;
            if t.version != 0 {
                return Err(
                    invalid(&config.file, key("version"), "set by the store, not here").into(),
                );
            }
            if let Some(r) = &t.region
                && !compiled.has_region_set(r)
            {
                return Err(invalid(
                    &config.file,
                    key("region"),
                    format!("`{r}` is not a region set of the policy"),
                )
                .into());
            }
            if let Some(f) = t.opted_out.iter().find(|f| compiled.feature(f).is_none()) {
                return Err(invalid(
                    &config.file,
                    key("opted_out"),
                    format!("`{f}` is not a feature of the policy"),
                )
                .into());
            }
            seeds.push(t.clone().version(1));
        }
        let mut tokens = Vec::with_capacity(config.admin.token.len());
        for (i, t) in config.admin.token.iter().enumerate() {
            if let Some(tenant) = &t.tenant {
                crate::tenants::check_tenant_id(tenant).map_err(|e| {
                    invalid(
                        &config.file,
                        format!("admin.token[{i}].tenant"),
                        e.to_string(),
                    )
                })?;
            }
            let token = AdminToken::from_config(&t.sha256, &t.role, t.tenant.as_deref())
                .map_err(|e| invalid(&config.file, format!("admin.token[{i}]"), e.to_string()))?;
            tokens.push(token);
        }
        let store = store::connect(&config.store.url).await?;
        let sync = TenantSync::builder(store.clone())
            .seed(seeds)
            .resync(Duration::from_secs(config.store.resync_secs.max(1)))
            .start()
            .await?;
        let tenants = sync.view();
        let max_staleness = Duration::from_secs(config.store.max_staleness_secs);

        let trace = &config.trace;
        let options = config.trace_options().map_err(|source| GatewayError::Io {
            what: format!(
                "reading checkpoint key {}",
                config.checkpoint_key_file().display()
            ),
            source,
        })?;
        let checkpoint_key = options.checkpoint_key.as_ref().map(|k| k.verifying_key());
        let journaled = options.durability == crate::trace::Durability::Async;
        let journal_tail = options.queue.saturating_add(options.batch);
        let trace_store = TraceStore::open(&config.trace_store_url(), options)?;
        if journaled {
            // Allowed requests were answered once their record was journaled: after a crash,
            // the store may lack the last of them.
            trace_store
                .recover_journal(&trace.path, journal_tail)
                .await?;
        }
        let jsonl = JsonlSink::with_options(
            &trace.path,
            JsonlSinkOptions {
                fsync: trace.fsync,
                ..JsonlSinkOptions::default()
            },
        )
        .map_err(|source| GatewayError::Io {
            what: format!("opening trace file {}", trace.path.display()),
            source,
        })?;
        let key_file = config.pseudonym_key_file();
        let pseudonymizer =
            Pseudonymizer::from_key_file(&key_file).map_err(|source| GatewayError::Io {
                what: format!("reading pseudonym key {}", key_file.display()),
                source,
            })?;

        #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
        let mut sink: Arc<dyn DecisionSink> = Arc::new(Tee::new(
            Arc::new(trace_store.clone()),
            vec![Arc::new(jsonl)],
        ));
        #[cfg(feature = "otel")]
        let otlp = {
            let otlp =
                OtlpPipeline::from_config(trace.otlp_endpoint.as_deref(), &config.server.region)
                    .map_err(|reason| {
                        invalid(&config.file, "trace.otlp_endpoint".into(), reason)
                    })?;
            if let Some(p) = &otlp {
                sink = Arc::new(p.sink(sink));
            }
            otlp
        };
        #[cfg(not(feature = "otel"))]
        if trace.otlp_endpoint.is_some() {
            return Err(invalid(
                &config.file,
                "trace.otlp_endpoint".into(),
                "this build has no OpenTelemetry export (the `otel` feature)",
            )
            .into());
        }
        let admin = AdminState::new(store, policy.clone(), sink.clone())
            .tokens(tokens)
            .view(tenants.clone())
            .region(&config.server.region)
            .max_staleness(max_staleness);
        let mut layer = RaigateLayer::new(policy, tenants, sink)
            .region(&config.server.region)
            .pseudonymizer(pseudonymizer)
            .max_body_bytes(config.limits.max_body_bytes)
            .max_label_bytes(config.limits.max_label_bytes)
            .label_budget_bytes(config.limits.label_budget_bytes)
            .max_staleness(max_staleness);

        #[cfg(not(feature = "jwt"))]
        config.identity.check_without_jwt(&config.file)?;
        #[cfg(feature = "jwt")]
        if let Some(jwt) = config.identity.jwt_resolver(&config.file)? {
            tracing::info!(algorithm = %jwt.algorithm(), "identity from verified JWTs; x-tenant-id and x-user-id are ignored and stripped");
            layer = layer.resolver(jwt);
        }

        if config.upstream.is_empty() {
            return Err(invalid(
                &config.file,
                "upstream".into(),
                "at least one [[upstream]] is needed",
            )
            .into());
        }
        let mut targets = HashMap::with_capacity(config.upstream.len());
        for (i, u) in config.upstream.iter().enumerate() {
            let target = UpstreamTarget::parse(&u.url)
                .map_err(|r| invalid(&config.file, format!("upstream[{i}].url"), r))?;
            if u.name.is_empty() {
                return Err(
                    invalid(&config.file, format!("upstream[{i}].name"), "required").into(),
                );
            }
            if targets
                .insert(Arc::<str>::from(u.name.as_str()), target)
                .is_some()
            {
                return Err(invalid(
                    &config.file,
                    format!("upstream[{i}].name"),
                    format!(
                        "`{}` names an earlier upstream too; names are unique",
                        u.name
                    ),
                )
                .into());
            }
            if compiled.region_set_of(&u.region).is_none() {
                tracing::warn!(upstream = %u.name, region = %u.region, "upstream region is in no region set: region-pinned tenants will never be sent there");
            }
            layer = layer.upstream(&u.name, &u.region, u.provider.as_deref());
        }

        #[cfg(feature = "guards")]
        for (i, g) in config.guard.iter().enumerate() {
            let spec = g
                .spec()
                .map_err(|(k, r)| invalid(&config.file, format!("guard[{i}].{k}"), r))?;
            layer = layer
                .guard(spec)
                .map_err(|e| invalid(&config.file, format!("guard[{i}].{}", e.key), e.reason))?;
            if compiled.region_set_of(&g.region).is_none() {
                tracing::warn!(guard = %g.name, region = %g.region, "guard region is in no region set: region-pinned tenants will never be sent there");
            }
        }
        #[cfg(not(feature = "guards"))]
        if !config.guard.is_empty() {
            return Err(invalid(
                &config.file,
                "guard".into(),
                "this build of raigate has no `guards` feature",
            )
            .into());
        }

        if config.route.is_empty() {
            return Err(invalid(
                &config.file,
                "route".into(),
                "at least one [[route]] is needed",
            )
            .into());
        }
        for (i, r) in config.route.iter().enumerate() {
            let key = |k: &str| format!("route[{i}].{k}");
            let method = Method::from_str(&r.method.to_ascii_uppercase()).map_err(|_| {
                invalid(
                    &config.file,
                    key("method"),
                    format!("`{}` is not an HTTP method", r.method),
                )
            })?;
            let class = match r.class.as_deref() {
                None | Some("inference") => RouteClass::Inference,
                Some("training") => RouteClass::Training,
                Some(other) => {
                    return Err(invalid(
                        &config.file,
                        key("class"),
                        format!("`{other}` is neither inference nor training"),
                    )
                    .into());
                }
            };
            let unscannable = match r.unscannable.as_deref() {
                None | Some("deny") => Unscannable::Deny,
                Some("allow") => Unscannable::Allow,
                Some(other) => {
                    return Err(invalid(
                        &config.file,
                        key("unscannable"),
                        format!("`{other}` is neither deny nor allow"),
                    )
                    .into());
                }
            };
            let mut spec = RouteSpec::new(method, &r.path)
                .map_err(|e| invalid(&config.file, key("path"), e.reason))?
                .class(class)
                .unscannable(unscannable);
            if let Some(f) = &r.feature {
                spec = spec.feature(f);
            }
            layer = layer
                .route(spec)
                .map_err(|e| invalid(&config.file, key("feature"), e.to_string()))?;
        }
        drop(compiled);
        Ok(Gateway {
            config,
            layer,
            proxy: Proxy::new(targets),
            admin,
            sync,
            trace_store,
            checkpoint_key,
            #[cfg(feature = "otel")]
            otlp,
        })
    }

    /// The durable decision store (for the admin routes: [`crate::trace::admin_routes`]).
    pub fn trace_store(&self) -> &TraceStore {
        &self.trace_store
    }

    /// The compliance routes (`/v1/decisions…`, `/v1/audit/verify`) over this gateway's store,
    /// trusting checkpoints signed by its checkpoint key, for the admin listener; `auth`
    /// decides who sees what.
    pub fn trace_routes(&self, auth: Arc<dyn TraceAccess>) -> axum::Router {
        admin_routes(self.trace_store.clone(), auth, self.checkpoint_key)
    }

    /// The layer in front of the proxy.
    pub fn layer(&self) -> &RaigateLayer {
        &self.layer
    }

    /// Bind `[server] listen` and serve until `shutdown` resolves, then drain connections.
    /// Prints the address it listens on.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), GatewayError> {
        let addr = self.config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Io {
                what: format!("binding {addr}"),
                source,
            })?;
        self.serve_on(listener, shutdown).await
    }

    /// The tenant store sync (its view is the layer's).
    pub fn tenant_sync(&self) -> &TenantSync {
        &self.sync
    }

    /// The admin API's state.
    pub fn admin(&self) -> &AdminState {
        &self.admin
    }

    /// Serve the proxy on a bound listener and the admin API on `[server] admin_listen` until
    /// `shutdown` resolves.
    pub async fn serve_on(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), GatewayError> {
        let addr = self.config.server.admin_listen;
        let admin = TcpListener::bind(addr)
            .await
            .map_err(|source| GatewayError::Io {
                what: format!("binding the admin API on {addr}"),
                source,
            })?;
        self.serve_with_admin(listener, admin, shutdown).await
    }

    /// Serve the proxy and the admin API on bound listeners until `shutdown` resolves.
    pub async fn serve_with_admin(
        self,
        listener: TcpListener,
        admin: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), GatewayError> {
        let admin_local = admin.local_addr().map_err(|source| GatewayError::Io {
            what: "reading the admin listen address".into(),
            source,
        })?;
        let local: SocketAddr = listener.local_addr().map_err(|source| GatewayError::Io {
            what: "reading the listen address".into(),
            source,
        })?;
        let policy = self.layer.policy().clone();
        println!(
            "raigate gateway listening on http://{local} (region {}, policy {} version {})",
            self.config.server.region,
            policy.current().name(),
            policy.current().version()
        );
        println!("raigate admin listening on http://{admin_local}");
        let reload = tokio::spawn(reload_on_sighup(policy));
        let server = &self.config.server;
        let admin_limits = ConnLimits {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(server.idle_timeout_ms),
            max_connections: server.admin_max_connections.max(1),
        };
        let mut proxy_limits = ConnLimits {
            max_connections: server.max_connections.max(1),
            ..admin_limits
        };
        if let Some(nofile) = conn::nofile_limit() {
            let fits = conn::fd_budget(
                nofile,
                proxy_limits.max_connections,
                admin_limits.max_connections,
            );
            if fits < proxy_limits.max_connections {
                tracing::warn!(
                    nofile,
                    max_connections = server.max_connections,
                    limited_to = fits,
                    admin_max_connections = admin_limits.max_connections,
                    "the file-descriptor limit (RLIMIT_NOFILE) is too low for [server] max_connections: proxy connections are limited to fewer, so that the admin API and the stores keep theirs"
                );
                proxy_limits.max_connections = fits;
            }
        }

        // The compliance routes share the admin listener and its bearer tokens.
        let admin_app = crate::admin::router(self.admin.clone())
            .merge(self.trace_routes(Arc::new(self.admin.clone())));
        let (stop_admin, mut admin_stopped) = tokio::sync::watch::channel(false);
        let admin_graceful = GracefulShutdown::new();
        let admin_acceptor = Acceptor {
            name: "admin",
            listener: admin,
            limits: admin_limits,
        };
        let admin_task = tokio::spawn(async move {
            admin_acceptor
                .run(
                    TowerToHyperService::new(admin_app),
                    &admin_graceful,
                    async move {
                        let _ = admin_stopped.changed().await;
                    },
                )
                .await;
            admin_graceful.shutdown().await;
        });

        let service = DrainUnread {
            inner: ServiceBuilder::new()
                .layer(self.layer.clone())
                .service(self.proxy.clone()),
            timeout: proxy_limits.header_read_timeout,
        };
        let graceful = GracefulShutdown::new();
        Acceptor {
            name: "proxy",
            listener,
            limits: proxy_limits,
        }
        .run(TowerToHyperService::new(service), &graceful, shutdown)
        .await;
        println!("raigate gateway shutting down: draining connections");
        if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 10 s; closing");
        }
        reload.abort();
        let _ = stop_admin.send(true);
        if tokio::time::timeout(Duration::from_secs(5), admin_task)
            .await
            .is_err()
        {
            tracing::warn!("admin API still busy after 5 s; closing");
        }
        drop(self.sync);
        // Everything answered is committed already; this also signs a last checkpoint.
        if let Err(e) = self.trace_store.flush().await {
            tracing::warn!(error = %e, "decision store flush at shutdown failed");
        }
        if let Err(e) = self.trace_store.checkpoint().await {
            tracing::warn!(error = %e, "decision checkpoint at shutdown failed");
        }
        // Flushes the last spans and metrics (blocking exporters: off the runtime).
        #[cfg(feature = "otel")]
        if let Some(p) = self.otlp {
            let _ = tokio::task::spawn_blocking(move || drop(p)).await;
        }
        Ok(())
    }
}

#[cfg(unix)]
async fn reload_on_sighup(policy: PolicyHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: policy reload disabled");
        return;
    };
    while hup.recv().await.is_some() {
        let before = policy.current().version().clone();
        // Compiling a bundle takes CPU time (every language's patterns): keep it off the
        // executor threads that serve requests.
        let handle = policy.clone();
        let reloaded = match tokio::task::spawn_blocking(move || handle.reload()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(version = %before, "policy reload task failed, keeping the current bundle: {e}");
                continue;
            }
        };
        match reloaded {
            Ok(v) if v == before => tracing::info!(version = %v, "policy reloaded: unchanged"),
            Ok(v) => tracing::info!(from = %before, to = %v, "policy reloaded"),
            Err(e) => {
                tracing::error!(version = %before, "policy reload rejected, keeping the current bundle: {e}")
            }
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_policy: PolicyHandle) {}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
