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
use super::problem;
use crate::context::RouteSpec;
use crate::context::{RequestContext, ResolveError, ResolveErrorKind};
use crate::engine::{
    BodyTooLarge, Decision, DecisionInput, Denial, MalformedRequest, Placement, PolicyUnavailable,
    Unauthenticated, decide, needs_content,
};
use crate::policy::CompiledPolicy;
use crate::scan::{BodyFormat, ScanText, extract_text};
use crate::tenants::TenantSnapshot;
use crate::trace::{Commit, DecisionRecord, SinkError, decision_id};

/// What raigate decided for a request. Inserted into request extensions (for the service
/// behind the layer) and response extensions.
#[derive(Debug, Clone)]
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

impl<S> std::fmt::Debug for Raigate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Raigate").finish_non_exhaustive()
    }
}

/// Rule ids of refusals that no bundle rule makes.
const RULE_MALFORMED: &str = "request-malformed";
const RULE_TOO_LARGE: &str = "request-body-too-large";
const RULE_UNAVAILABLE: &str = "policy-unavailable";
const RULE_UNAUTHENTICATED: &str = "request-unauthenticated";

/// One request's decision in the making.
struct Job {
    shared: Arc<Shared>,
    route: Arc<RouteSpec>,
    policy: Arc<CompiledPolicy>,
    id: Arc<str>,
    started: Instant,
    now: SystemTime,
}

/// A conclusion: either known now, or after waiting for the record to be durable.
enum Conclusion<F> {
    Now(Prepared<F>),
    Later(Pin<Box<dyn std::future::Future<Output = Prepared<F>> + Send>>),
}

impl Job {
    fn decide(
        &self,
        ctx: &RequestContext,
        tenants: &TenantSnapshot,
        content: Option<&ScanText>,
    ) -> Decision {
        if let Some(stale) = self.stale_settings() {
            return refusal(stale.into());
        }
        let input = DecisionInput {
            ctx,
            route: &self.route,
            placement: Placement {
                instance_region: &self.shared.region,
                upstreams: &self.shared.upstreams,
            },
            content,
        };
        decide(&input, tenants, &self.policy)
    }

    /// Fail closed: the tenant snapshot is older than the layer's bound.
    fn stale_settings(&self) -> Option<PolicyUnavailable> {
        let age = self.shared.tenants.staleness()?;
        if age <= self.shared.max_staleness {
            return None;
        }
        tracing::warn!(
            decision_id = %self.id,
            stale_for_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
            "tenant settings snapshot is stale; AI request refused"
        );
        Some(PolicyUnavailable {
            detail: format!(
                "tenant settings have not been refreshed for {} s (bound {} s); AI requests are refused until they are",
                age.as_secs(),
                self.shared.max_staleness.as_secs()
            ),
        })
    }

    fn record(&self, ctx: Option<&RequestContext>, d: &Decision) -> DecisionRecord {
        let s = &self.shared;
        DecisionRecord {
            id: self.id.to_string(),
            time: humantime::format_rfc3339_micros(self.now).to_string(),
            tenant: ctx.and_then(|c| c.tenant.clone()),
            subject: ctx
                .and_then(|c| c.user.as_deref())
                .and_then(|u| s.pseudonymizer.as_ref().map(|p| p.pseudonym(u))),
            feature: self.route.feature.as_deref().map(str::to_owned),
            route: self.route.label().to_string(),
            class: self.route.class.as_str().to_owned(),
            purpose: ctx.and_then(|c| c.purpose.clone()),
            data_class: ctx.map_or("customer", |c| c.data_class.as_str()).to_owned(),
            region: s.region.to_string(),
            upstream: self.upstream_name(d).map(|n| n.to_string()),
            outcome: d.outcome.as_str().to_owned(),
            shadow: d.shadow,
            rule: d.rule.as_deref().map(str::to_owned),
            reason: d.reason(),
            obligations: d
                .obligations
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            policy_version: self.policy.version().to_string(),
            tenant_version: d.tenant_version,
            trace_id: ctx.and_then(|c| c.trace_id.clone()),
            latency_us: u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX),
            seq: None,
            prev_hash: None,
            hash: None,
        }
    }

    fn upstream_name(&self, d: &Decision) -> Option<&Arc<str>> {
        d.upstream.and_then(|i| self.shared.upstream_names.get(i))
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
        let mut resp = match &d.denial {
            Some(denial) => problem::denial_response(denial, &self.id, d.rule.as_deref()),
            None => self.unavailable("decision without a reason"),
        };
        resp.extensions_mut().insert(self.info(d));
        resp
    }

    fn unavailable(&self, detail: &str) -> Response<Bytes> {
        let denial = Denial::PolicyUnavailable(PolicyUnavailable {
            detail: detail.to_owned(),
        });
        problem::denial_response(&denial, &self.id, Some(RULE_UNAVAILABLE))
    }

    fn sink_failed(&self, e: &SinkError) -> Response<Bytes> {
        tracing::error!(decision_id = %self.id, error = %e, "decision record not durable; request refused");
        self.unavailable(&format!(
            "{e}; the request was refused so that no decision goes unrecorded"
        ))
    }

    fn labeller(&self, info: Arc<DecisionInfo>, model: Option<String>) -> Labeller {
        let d = &info.decision;
        let disclosure = self.policy.disclosure();
        let provider = d
            .upstream
            .and_then(|i| self.shared.providers.get(i).cloned().flatten())
            .or_else(|| self.upstream_name(d).cloned())
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

/// Paths that an upstream might resolve differently than we match them are refused.
fn check_path(path: &str) -> Result<(), String> {
    let lower = path.to_ascii_lowercase();
    let bad = path.contains("//")
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
        || ["%2e", "%2f", "%5c", "%00"]
            .iter()
            .any(|p| lower.contains(p));
    if bad {
        Err(
            "the request path contains dot segments, empty segments or encoded separators"
                .to_owned(),
        )
    } else {
        Ok(())
    }
}

/// Most bytes read and thrown away past the limit before answering 413, so that a client
/// still sending a moderately oversized body reads the answer instead of a reset connection.
const MAX_DRAIN: usize = 1024 * 1024;

async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Denial>
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
            return Err(MalformedRequest {
                detail: "the request body could not be read".to_owned(),
            }
            .into());
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
        Err(BodyTooLarge { limit }.into())
    } else {
        Ok(buf.freeze())
    }
}

fn scan_text(headers: &HeaderMap, bytes: &[u8]) -> Result<ScanText, Denial> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    extract_text(BodyFormat::from_content_type(ct), bytes).map_err(|e| {
        MalformedRequest {
            detail: format!("the request body cannot be read as its content type says: {e}"),
        }
        .into()
    })
}

fn resolve_denial(e: ResolveError) -> Denial {
    let detail = e.to_string();
    match e.kind {
        ResolveErrorKind::Malformed => MalformedRequest { detail }.into(),
        ResolveErrorKind::Unauthenticated | ResolveErrorKind::MissingCredentials => {
            Unauthenticated {
                detail,
                missing: e.kind == ResolveErrorKind::MissingCredentials,
            }
            .into()
        }
    }
}

fn refusal(denial: Denial) -> Decision {
    let rule = match &denial {
        Denial::BodyTooLarge(_) => RULE_TOO_LARGE,
        Denial::PolicyUnavailable(_) => RULE_UNAVAILABLE,
        Denial::Unauthenticated(_) => RULE_UNAUTHENTICATED,
        _ => RULE_MALFORMED,
    };
    Decision::deny(Arc::from(rule), denial)
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
            return ResponseFuture::respond(problem::route_not_found());
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
        };
        let tenants = job.shared.tenants.snapshot();
        let (mut parts, body) = req.into_parts();

        let resolved = check_path(parts.uri.path())
            .map_err(|detail| MalformedRequest { detail }.into())
            .and_then(|()| job.shared.resolver.resolve(&parts).map_err(resolve_denial));
        let ctx = match resolved {
            Ok(ctx) => ctx,
            Err(denial) => {
                let d = refusal(denial);
                return into_future(job.conclude::<S, ReqBody>(None, d, None, inner, None));
            }
        };
        // What the service behind must not see (e.g. client-sent identity in JWT mode).
        job.shared.resolver.strip(&mut parts);
        let d = job.decide(&ctx, &tenants, None);
        if !d.is_allowed() || !needs_content(&job.route, &job.policy) || body.is_end_stream() {
            let req = Request::from_parts(parts, body);
            return into_future(job.conclude(Some(&ctx), d, None, inner, Some(req)));
        }

        // Content rules need the body: read it (bounded), extract its text, decide again.
        let limit = job.shared.max_body_bytes;
        ResponseFuture::prepare(Box::pin(async move {
            let read = read_body(&parts.headers, body, limit)
                .await
                .and_then(|bytes| scan_text(&parts.headers, &bytes).map(|text| (bytes, text)));
            let conclusion = match read {
                Err(denial) => {
                    job.conclude::<S, ReqBody>(Some(&ctx), refusal(denial), None, inner, None)
                }
                Ok((bytes, text)) => {
                    let d = job.decide(&ctx, &tenants, Some(&text));
                    let model = text.model().map(str::to_owned);
                    let req = Request::from_parts(parts, ReqBody::from(bytes));
                    job.conclude(Some(&ctx), d, model, inner, Some(req))
                }
            };
            match conclusion {
                Conclusion::Now(p) => p,
                Conclusion::Later(f) => f.await,
            }
        }))
    }
}

fn into_future<F, B>(c: Conclusion<F>) -> ResponseFuture<F, B> {
    match c {
        Conclusion::Now(Prepared::Respond(r)) => ResponseFuture::respond(r),
        Conclusion::Now(Prepared::Call(f, l)) => ResponseFuture::call(f, l),
        Conclusion::Later(f) => ResponseFuture::prepare(f),
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn paths_an_upstream_could_resolve_elsewhere_are_refused() {
        for bad in [
            "/v1//chat",
            "/v1/fine_tuning/../chat",
            "/v1/./x",
            "/v1/%2e%2e/admin",
            "/v1/a%2Fb",
            "/v1\\x",
        ] {
            assert!(check_path(bad).is_err(), "{bad} should be refused");
        }
        for ok in [
            "/v1/chat/completions",
            "/v1/fine_tuning/jobs",
            "/v1/files.v2",
        ] {
            assert!(check_path(ok).is_ok(), "{ok} should pass");
        }
    }
}
