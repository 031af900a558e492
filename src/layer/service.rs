use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body::Body;
use http_body_util::BodyExt;
use tower_service::Service;

use super::body::{BoxError, ResponseBody};
use super::future::{Prepared, ResponseFuture};
use super::labeller::Labeller;
use super::layer::Shared;
use crate::context::{RequestContext, RouteSpec, Unscannable};
use crate::engine::checks::request;
use crate::engine::{Decision, DecisionInput, Denial, Placement, body_needs, decide};
use crate::policy::CompiledPolicy;
use crate::problem::Problem;
use crate::scan::{ExtractError, ScanText, extract_body};
use crate::tenants::TenantSnapshot;
use crate::trace::{Commit, DecisionRecord, Phase, SinkError, decision_id};

/// What raigate decided for a request. Inserted into request extensions (for the service
/// behind the layer) and response extensions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecisionInfo {
    /// The decision id (UUIDv7), also sent as `Raigate-Decision-Id`.
    pub id: Arc<str>,
    /// The decision.
    pub decision: Decision,
    /// Version of the policy that decided.
    pub policy_version: Arc<str>,
    /// Name of the upstream chosen, if upstreams were configured.
    pub upstream: Option<Arc<str>>,
}

/// Middleware enforcing the Responsible-AI policy. Built by [`super::RaigateLayer`].
#[derive(Clone)]
pub struct Raigate<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S> Raigate<S> {
    /// The service behind the layer.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The service behind the layer, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The service behind the layer, taking the middleware apart.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> std::fmt::Debug for Raigate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raigate").finish_non_exhaustive()
    }
}

/// One request's decision in the making.
#[derive(Clone)]
struct Job {
    shared: Arc<Shared>,
    route: Arc<RouteSpec>,
    policy: Arc<CompiledPolicy>,
    id: Arc<str>,
    started: Instant,
    now: SystemTime,
    /// What the record's `reason` adds about the body's text (binary parts not scanned, a body
    /// let through unscanned), never the text itself.
    note: Option<String>,
    /// The external guard that decided (or was not heard), for the record's `detector`.
    #[cfg(feature = "guards")]
    guard: Option<super::guards::GuardMark>,
}

/// A conclusion: either known now, or after waiting for the record to be durable.
enum Conclusion<F> {
    Now(Prepared<F>),
    Later(Pin<Box<dyn std::future::Future<Output = Prepared<F>> + Send>>),
}

impl Job {
    /// Decide with the facts gathered so far: the context, the body's text and length once
    /// read, and the age of the tenant snapshot (measured here: the engine has no clock).
    fn decide(
        &self,
        ctx: &RequestContext,
        tenants: &TenantSnapshot,
        content: Option<&ScanText>,
        body_len: Option<u64>,
    ) -> Decision {
        let input = DecisionInput::new(
            ctx,
            &self.route,
            Placement::with_upstreams(&self.shared.region, &self.shared.upstreams),
        )
        .content(content)
        .body_len(body_len)
        .settings_age(self.shared.tenants.staleness(), self.shared.max_staleness);
        let d = decide(&input, tenants, &self.policy);
        if d.rule.as_deref() == Some(crate::engine::RULE_UNAVAILABLE) {
            tracing::warn!(decision_id = %self.id, reason = %d.reason(), "AI request refused: policy unavailable");
        }
        d
    }

    fn record(&self, ctx: Option<&RequestContext>, d: &Decision) -> DecisionRecord {
        let s = &self.shared;
        let mut r = DecisionRecord::new(
            Phase::Request,
            self.id.to_string(),
            humantime::format_rfc3339_micros(self.now).to_string(),
        );
        r.tenant = ctx.and_then(|c| c.tenant.clone());
        r.subject = ctx
            .and_then(|c| c.user.as_deref())
            .and_then(|u| s.pseudonymizer.as_ref().map(|p| p.pseudonym(u)));
        r.feature = self.route.feature.as_deref().map(str::to_owned);
        r.route = self.route.label().to_string();
        r.class = self.route.class.as_str().to_owned();
        r.purpose = ctx.and_then(|c| c.purpose.clone());
        r.data_class = ctx.map_or("customer", |c| c.data_class.as_str()).to_owned();
        r.region = s.region.to_string();
        r.upstream = self.upstream_name(d).map(|n| n.to_string());
        r.outcome = d.outcome.as_str().to_owned();
        r.shadow = d.shadow;
        r.rule = d.rule.as_deref().map(str::to_owned);
        r.reason = match &self.note {
            Some(note) => format!("{}; {note}", d.reason()),
            None => d.reason(),
        };
        if let Some(Denial::ProhibitedUse(p)) = &d.denial {
            r.detector = p.detector.map(|x| x.as_str().to_owned());
            r.view = p.view.map(|v| v.as_str().to_owned());
        }
        r.obligations = d
            .obligations
            .names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        r.policy_version = self.policy.version().to_string();
        r.tenant_version = d.tenant_version;
        r.trace_id = ctx.and_then(|c| c.trace_id.clone());
        r.latency_us = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        #[cfg(feature = "guards")]
        if let Some(g) = &self.guard {
            r.detector = Some(g.detector.clone());
            r.score = g.score;
        }
        r
    }

    fn upstream(&self, d: &Decision) -> Option<&crate::engine::Upstream> {
        d.upstream.and_then(|i| self.shared.upstreams.get(i))
    }

    fn upstream_name(&self, d: &Decision) -> Option<&Arc<str>> {
        self.upstream(d).map(|u| &u.name)
    }

    fn info(&self, d: &Decision) -> DecisionInfo {
        DecisionInfo {
            id: self.id.clone(),
            decision: d.clone(),
            policy_version: self.policy.version().clone(),
            upstream: self.upstream_name(d).cloned(),
        }
    }

    fn denial_response(&self, d: &Decision) -> Response<Bytes> {
        let fallback;
        let d = if d.denial.is_some() {
            d
        } else {
            fallback = request::unavailable("decision without a reason");
            &fallback
        };
        let problem = d
            .denial
            .as_ref()
            .map_or_else(Problem::route_not_found, Problem::for_denial);
        let mut resp = problem.decided(&self.id, d.rule.as_deref()).into_response();
        resp.extensions_mut().insert(self.info(d));
        resp
    }

    fn sink_failed(&self, e: &SinkError) -> Response<Bytes> {
        tracing::error!(decision_id = %self.id, error = %e, "decision record not durable; request refused");
        let d = request::unavailable(format!(
            "{e}; the request was refused so that no decision goes unrecorded"
        ));
        self.denial_response(&d)
    }

    fn labeller(&self, info: Arc<DecisionInfo>, model: Option<String>) -> Labeller {
        let d = &info.decision;
        let disclosure = self.policy.disclosure();
        let provider = self
            .upstream(d)
            .map(|u| u.provider.as_ref().unwrap_or(&u.name).clone())
            .or_else(|| self.shared.provider.clone());
        Labeller {
            decision_id: self.id.clone(),
            label: d.obligations.ai_disclosure,
            human_review_notice: d.obligations.human_review_notice,
            mode: disclosure.mode.clone(),
            notice: disclosure.notice.clone(),
            digital_source_type: disclosure.digital_source_type.clone(),
            provider,
            model,
            max_buffer: self.shared.max_label_bytes,
            budget: self.shared.label_budget.clone(),
            date_unix: self
                .now
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX)),
            info,
        }
    }

    /// Record the decision, then answer: a denial, or the inner call once the record is durable.
    fn conclude<S, B>(
        self,
        ctx: Option<&RequestContext>,
        d: Decision,
        model: Option<String>,
        mut inner: S,
        req: Option<Request<B>>,
    ) -> Conclusion<S::Future>
    where
        S: Service<Request<B>> + Send + 'static,
        S::Future: Send + 'static,
        B: Send + 'static,
    {
        log_decision(&self.id, ctx, &d);
        // Denials (and, with `durability = "sync"`, every request) wait for the commit; other
        // allowed requests only for the record to be queued (never dropped, see trace::Durability).
        let wait = self
            .shared
            .sink
            .durability()
            .waits_for_commit(d.is_allowed());
        let mut commit = match self.shared.sink.submit(self.record(ctx, &d)) {
            Ok(c) => c,
            Err(e) => return Conclusion::Now(Prepared::Respond(self.sink_failed(&e))),
        };
        let allowed = match req {
            Some(mut req) if d.is_allowed() => {
                let info = Arc::new(self.info(&d));
                req.extensions_mut().insert((*info).clone());
                Some((req, self.labeller(info, model)))
            }
            _ => None,
        };
        let then = move |job: Job, result: Result<(), SinkError>| match (result, allowed) {
            (Err(e), _) => Prepared::Respond(job.sink_failed(&e)),
            (Ok(()), Some((req, labeller))) => Prepared::Call(inner.call(req), labeller),
            (Ok(()), None) => Prepared::Respond(job.denial_response(&d)),
        };
        if commit.is_done() || (!wait && commit.is_queued()) {
            Conclusion::Now(then(self, Ok(())))
        } else {
            Conclusion::Later(Box::pin(async move {
                let result = if wait {
                    commit_result(commit).await
                } else {
                    commit.queued().await
                };
                then(self, result)
            }))
        }
    }
}

async fn commit_result(commit: Commit) -> Result<(), SinkError> {
    commit.await
}

fn log_decision(id: &str, ctx: Option<&RequestContext>, d: &Decision) {
    tracing::debug!(
        decision_id = id,
        tenant = ctx.and_then(|c| c.tenant.as_deref()),
        outcome = d.outcome.as_str(),
        shadow = d.shadow,
        rule = d.rule.as_deref(),
        "decision"
    );
}

/// Most bytes read and thrown away past the limit before answering 413, so that a client
/// still sending a moderately oversized body reads the answer instead of a reset connection.
const MAX_DRAIN: usize = 1024 * 1024;

/// How reading a request body ended without a body.
enum ReadFailure {
    /// More than the limit was sent (what was read is dropped).
    TooLarge,
    /// The body could not be read.
    Unreadable,
}

async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, ReadFailure>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut over = declared.is_some_and(|n| n > limit as u64);
    let drain_limit = limit.min(MAX_DRAIN);
    let mut drained = 0usize;
    let mut buf = bytes::BytesMut::new();
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            if over {
                break;
            }
            return Err(ReadFailure::Unreadable);
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if over {
            drained = drained.saturating_add(data.len());
            if drained > drain_limit {
                break;
            }
        } else if buf.len().saturating_add(data.len()) > limit {
            over = true;
            drained = buf.len().saturating_add(data.len()) - limit;
            buf = bytes::BytesMut::new();
        } else {
            buf.extend_from_slice(&data);
        }
    }
    if over {
        Err(ReadFailure::TooLarge)
    } else {
        Ok(buf.freeze())
    }
}

/// Bodies larger than this are scanned on the blocking pool, not on the async executor.
const OFF_EXECUTOR_BYTES: usize = 64 * 1024;

/// The decision on a read body, with what the record and the labeller need.
struct Examined {
    decision: Decision,
    model: Option<String>,
    note: Option<String>,
    /// The text that was scanned, for the stages after the engine (external guards).
    #[cfg_attr(not(feature = "guards"), allow(dead_code))]
    text: Option<ScanText>,
}

impl Examined {
    fn refused(decision: Decision) -> Self {
        Examined {
            decision,
            model: None,
            note: None,
            text: None,
        }
    }
}

impl Job {
    /// Extract the body's text (when content rules apply) and decide. CPU-bound: for a large
    /// body the caller runs it off the executor.
    fn examine(
        &self,
        ctx: &RequestContext,
        tenants: &TenantSnapshot,
        headers: &HeaderMap,
        bytes: &[u8],
        scan: bool,
        limit: usize,
    ) -> Examined {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if !scan {
            return Examined::refused(self.decide(ctx, tenants, None, Some(len)));
        }
        let instance_limit = self.shared.max_body_bytes;
        let (text, note) = match extract_body(headers, bytes, limit) {
            Ok(text) => {
                let note = (text.binary_parts() > 0).then(|| {
                    format!(
                        "{} binary part(s) of the multipart body not scanned",
                        text.binary_parts()
                    )
                });
                (text, note)
            }
            Err(ExtractError::TooLarge { .. }) if limit < instance_limit => {
                // Over a check's own, smaller cap once decoded: that check decides.
                let over = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
                return Examined::refused(self.decide(ctx, tenants, None, Some(over)));
            }
            Err(ExtractError::TooLarge { .. }) => {
                return Examined::refused(request::body_too_large(instance_limit));
            }
            Err(e @ ExtractError::Unscannable { .. }) => match self.route.unscannable {
                Unscannable::Deny => {
                    return Examined::refused(request::unsupported_media_type(&e));
                }
                Unscannable::Allow => (
                    ScanText::default(),
                    Some(format!(
                        "body not scanned (route allows unscannable bodies): {e}"
                    )),
                ),
            },
            Err(e) => return Examined::refused(request::malformed(e.to_string())),
        };
        let decision = self.decide(ctx, tenants, Some(&text), Some(len));
        Examined {
            decision,
            model: text.model().map(str::to_owned),
            note,
            text: Some(text),
        }
    }
}

/// Run CPU-bound work on the runtime's blocking pool, a few at a time (one fewer than the
/// cores, at least one), so that large bodies neither stall the async executor nor take every
/// core from small requests. Outside a Tokio runtime it runs inline. `None` if the work
/// panicked.
async fn off_executor<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return Some(work());
    };
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        tokio::sync::Semaphore::new(cores.saturating_sub(1).max(1))
    });
    let _permit = slots.acquire().await.ok()?;
    handle.spawn_blocking(work).await.ok()
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Raigate<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body<Data = Bytes> + From<Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes>,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let Some(route) = self
            .shared
            .routes
            .find(req.method(), req.uri().path())
            .cloned()
        else {
            return ResponseFuture::respond(Problem::route_not_found().into_response());
        };
        // Use the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let now = SystemTime::now();
        let job = Job {
            policy: shared.policy.current(),
            id: Arc::from(decision_id(now).to_string()),
            now,
            shared,
            route,
            started,
            note: None,
            #[cfg(feature = "guards")]
            guard: None,
        };
        let tenants = job.shared.tenants.snapshot();
        let (mut parts, body) = req.into_parts();

        let resolved = match request::check_path(parts.uri.path()) {
            Some(refused) => Err(refused),
            None => job
                .shared
                .resolver
                .resolve(&parts)
                .map_err(request::unresolved),
        };
        let ctx = match resolved {
            Ok(ctx) => ctx,
            Err(d) => return into_future(job.conclude::<S, ReqBody>(None, d, None, inner, None)),
        };
        // What the service behind must not see (e.g. client-sent identity in JWT mode).
        job.shared.resolver.strip(&mut parts);
        let d = job.decide(&ctx, &tenants, None, None);
        let instance_limit = job.shared.max_body_bytes;
        let tenant = ctx.tenant.as_deref().and_then(|t| tenants.get(t));
        let needs = body_needs(&job.route, &job.policy, tenant, instance_limit);
        let Some(limit) = needs
            .limit
            .filter(|_| d.is_allowed() && !body.is_end_stream())
        else {
            let req = Request::from_parts(parts, body);
            return into_future(job.conclude(Some(&ctx), d, None, inner, Some(req)));
        };

        // A check needs the body: read it (bounded), extract its text where content rules
        // apply, decide again.
        let scan = needs.scan;
        ResponseFuture::prepare(Box::pin(async move {
            let mut job = job;
            let examined = match read_body(&parts.headers, body, limit).await {
                Err(ReadFailure::Unreadable) => Err(request::body_unreadable()),
                // Over a check's own, smaller cap: that check decides (one byte over).
                Err(ReadFailure::TooLarge) if limit < instance_limit => {
                    let over = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
                    Err(job.decide(&ctx, &tenants, None, Some(over)))
                }
                Err(ReadFailure::TooLarge) => Err(request::body_too_large(instance_limit)),
                Ok(bytes) if scan && bytes.len() > OFF_EXECUTOR_BYTES => {
                    let (j, c, t, h, b) = (
                        job.clone(),
                        ctx.clone(),
                        tenants.clone(),
                        parts.headers.clone(),
                        bytes.clone(),
                    );
                    let examined =
                        off_executor(move || j.examine(&c, &t, &h, &b, scan, limit)).await;
                    Ok((
                        bytes,
                        examined.unwrap_or_else(|| {
                            Examined::refused(request::unavailable(
                                "the content scan of the request body failed",
                            ))
                        }),
                    ))
                }
                Ok(bytes) => {
                    let examined = job.examine(&ctx, &tenants, &parts.headers, &bytes, scan, limit);
                    Ok((bytes, examined))
                }
            };
            #[cfg(feature = "guards")]
            let examined = match examined {
                Ok((bytes, e)) => Ok((bytes, job.ask_guards(&ctx, &tenants, e).await)),
                Err(d) => Err(d),
            };
            let conclusion = match examined {
                Err(d) => job.conclude::<S, ReqBody>(Some(&ctx), d, None, inner, None),
                Ok((bytes, e)) => {
                    job.note = e.note;
                    // What is forwarded is the body as received.
                    let req = Request::from_parts(parts, ReqBody::from(bytes));
                    job.conclude(Some(&ctx), e.decision, e.model, inner, Some(req))
                }
            };
            match conclusion {
                Conclusion::Now(p) => p,
                Conclusion::Later(f) => f.await,
            }
        }))
    }
}

#[cfg(feature = "guards")]
impl Job {
    /// The external guards, on a request the engine allowed and whose text was read: the last
    /// stage of the content checks (deterministic, semantic, guards).
    async fn ask_guards(
        &mut self,
        ctx: &RequestContext,
        tenants: &TenantSnapshot,
        mut e: Examined,
    ) -> Examined {
        let Some(guards) = self.shared.guards.clone() else {
            return e;
        };
        let Some(text) = e.text.take() else {
            return e;
        };
        if !e.decision.is_allowed() || text.is_empty() {
            return e;
        }
        let pinned = ctx
            .tenant
            .as_deref()
            .and_then(|t| tenants.get(t))
            .and_then(|s| s.region.clone());
        let reports = guards.ask(&text, pinned.as_deref(), &self.policy).await;
        let upstream = e.decision.upstream;
        let obligations = e.decision.obligations;
        let stage = super::guards::apply(&reports, &self.policy, e.decision);
        e.decision = stage.decision;
        if e.decision.is_allowed() {
            e.decision.upstream = upstream;
            e.decision.obligations = obligations;
        }
        e.note = match (e.note.take(), stage.note) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        self.guard = stage.mark;
        e
    }
}

fn into_future<F, B>(c: Conclusion<F>) -> ResponseFuture<F, B> {
    match c {
        Conclusion::Now(Prepared::Respond(r)) => ResponseFuture::respond(r),
        Conclusion::Now(Prepared::Call(f, l)) => ResponseFuture::call(f, l),
        Conclusion::Later(f) => ResponseFuture::prepare(f),
    }
}
