//! OpenTelemetry for decisions: one span per decision, counters and a latency histogram, and
//! OTLP (HTTP/protobuf, no TLS stack) export switched on by `[trace] otlp_endpoint` or the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT`.
//!
//! [`OtelSink`] wraps the sink the layer records into, so every decision the layer makes is
//! seen exactly once. Attributes carry ids and categories only: never the prompt, never the
//! user id or its pseudonym, and metrics are labelled by outcome and rule only (no tenant:
//! bounded cardinality).

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::{Span, SpanKind, Tracer};
use opentelemetry_sdk::trace::SdkTracer;

use super::DecisionRecord;
use super::record::parse_time_us;
use super::sink::{Commit, DecisionSink, Durability, SinkError};

/// `raigate.outcome`: `allow` or `deny`.
pub const RAIGATE_OUTCOME: &str = "raigate.outcome";
/// `raigate.rule`: the rule that decided.
pub const RAIGATE_RULE: &str = "raigate.rule";
/// `raigate.tenant`: the tenant id.
pub const RAIGATE_TENANT: &str = "raigate.tenant";
/// `raigate.feature`: the AI feature.
pub const RAIGATE_FEATURE: &str = "raigate.feature";
/// `raigate.policy_version`: sha-256 of the policy bundle.
pub const RAIGATE_POLICY_VERSION: &str = "raigate.policy_version";
/// `raigate.decision_id`: the decision record's id.
pub const RAIGATE_DECISION_ID: &str = "raigate.decision_id";
/// `raigate.shadow`: a shadow-mode rule would have denied.
pub const RAIGATE_SHADOW: &str = "raigate.shadow";
/// `raigate.route`: `METHOD /path-template`.
pub const RAIGATE_ROUTE: &str = "raigate.route";
/// GenAI semantic conventions: the operation (`chat`, `generate_content`).
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// GenAI semantic conventions: the provider (the upstream, named as in `AI-Disclosure`).
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// GenAI semantic conventions: the requested model (not in the record yet: set when known).
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// Name of the decision span.
pub const SPAN_NAME: &str = "raigate.decision";
/// Counter of decisions, by outcome and rule.
pub const METRIC_DECISIONS: &str = "raigate.decisions";
/// Histogram of decision latency in seconds, by outcome and rule.
pub const METRIC_DURATION: &str = "raigate.decision.duration";

/// The GenAI operation a feature performs.
pub fn operation_of(feature: &str) -> &'static str {
    match feature {
        "assistant" => "chat",
        _ => "generate_content",
    }
}

/// Emits a span and metrics per decision record, then hands the record to the inner sink.
#[derive(Clone)]
pub struct OtelSink {
    inner: Arc<dyn DecisionSink>,
    tracer: SdkTracer,
    decisions: Counter<u64>,
    duration: Histogram<f64>,
}

impl std::fmt::Debug for OtelSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelSink").finish_non_exhaustive()
    }
}

impl OtelSink {
    /// Observe records going to `inner` with `tracer` and instruments from `meter`.
    pub fn new(inner: Arc<dyn DecisionSink>, tracer: SdkTracer, meter: &Meter) -> Self {
        OtelSink {
            inner,
            tracer,
            decisions: meter
                .u64_counter(METRIC_DECISIONS)
                .with_description("AI requests decided, by outcome and rule")
                .build(),
            duration: meter
                .f64_histogram(METRIC_DURATION)
                .with_unit("s")
                .with_description("time spent deciding, by outcome and rule")
                .build(),
        }
    }

    fn observe(&self, r: &DecisionRecord) {
        let rule = r.rule.clone().unwrap_or_else(|| "none".to_owned());
        let labels = [
            KeyValue::new(RAIGATE_OUTCOME, r.outcome.clone()),
            KeyValue::new(RAIGATE_RULE, rule),
        ];
        let seconds = r.latency_us as f64 / 1e6;
        self.decisions.add(1, &labels);
        self.duration.record(seconds, &labels);

        let mut attrs = vec![
            KeyValue::new(RAIGATE_OUTCOME, r.outcome.clone()),
            KeyValue::new(RAIGATE_POLICY_VERSION, r.policy_version.clone()),
            KeyValue::new(RAIGATE_DECISION_ID, r.id.clone()),
            KeyValue::new(RAIGATE_SHADOW, r.shadow),
            KeyValue::new(RAIGATE_ROUTE, r.route.clone()),
        ];
        if let Some(rule) = &r.rule {
            attrs.push(KeyValue::new(RAIGATE_RULE, rule.clone()));
        }
        if let Some(t) = &r.tenant {
            attrs.push(KeyValue::new(RAIGATE_TENANT, t.clone()));
        }
        if let Some(f) = &r.feature {
            attrs.push(KeyValue::new(RAIGATE_FEATURE, f.clone()));
            attrs.push(KeyValue::new(GEN_AI_OPERATION_NAME, operation_of(f)));
        }
        if let Some(u) = &r.upstream {
            attrs.push(KeyValue::new(GEN_AI_PROVIDER_NAME, u.clone()));
        }
        let end = parse_time_us(&r.time)
            .and_then(|us| u64::try_from(us).ok())
            .map_or_else(std::time::SystemTime::now, |us| {
                UNIX_EPOCH + Duration::from_micros(us)
            });
        let start = end
            .checked_sub(Duration::from_micros(r.latency_us))
            .unwrap_or(end);
        let mut span = self
            .tracer
            .span_builder(SPAN_NAME)
            .with_kind(SpanKind::Internal)
            .with_start_time(start)
            .with_attributes(attrs)
            .start(&self.tracer);
        span.end_with_timestamp(end);
    }
}

impl DecisionSink for OtelSink {
    fn submit(&self, record: DecisionRecord) -> Result<Commit, SinkError> {
        self.observe(&record);
        self.inner.submit(record)
    }

    fn durability(&self) -> Durability {
        self.inner.durability()
    }
}

/// OTLP pipelines (traces and metrics) for the gateway; shut down (flushed) on drop.
pub struct OtlpPipeline {
    tracer_provider: opentelemetry_sdk::trace::SdkTracerProvider,
    meter_provider: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl std::fmt::Debug for OtlpPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpPipeline").finish_non_exhaustive()
    }
}

impl OtlpPipeline {
    /// Export to `endpoint` (base URL, e.g. `http://127.0.0.1:4318`; `/v1/traces` and
    /// `/v1/metrics` are appended), or, when `None`, to `OTEL_EXPORTER_OTLP_ENDPOINT` if set.
    /// `Ok(None)` when neither is given.
    pub fn from_config(endpoint: Option<&str>, region: &str) -> Result<Option<Self>, String> {
        use opentelemetry_otlp::WithExportConfig;
        let env = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty());
        if endpoint.is_none() && env.is_none() {
            return Ok(None);
        }
        // The exporter's HTTP client is built without TLS (a TLS stack for reqwest would bring
        // aws-lc-rs, a C and assembly build, into every build with `otel`). An https:// URL
        // would fail on every export, silently; refuse it at start instead.
        let configured = [
            ("the endpoint", endpoint.map(str::to_owned)),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", env.clone()),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                std::env::var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").ok(),
            ),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                std::env::var("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT").ok(),
            ),
        ];
        for (what, url) in configured {
            if let Some(url) = url.filter(|u| !u.is_empty())
                && !url.starts_with("http://")
            {
                return Err(format!(
                    "{what} `{url}` is not an http:// URL: this build exports OTLP over plain \
                     HTTP only (no TLS). Send to an OpenTelemetry Collector next to raigate \
                     (e.g. http://127.0.0.1:4318) and let it export over TLS"
                ));
            }
        }
        let base = endpoint.map(|e| e.trim_end_matches('/').to_owned());
        let mut spans = opentelemetry_otlp::SpanExporter::builder().with_http();
        let mut metrics = opentelemetry_otlp::MetricExporter::builder().with_http();
        if let Some(b) = &base {
            spans = spans.with_endpoint(format!("{b}/v1/traces"));
            metrics = metrics.with_endpoint(format!("{b}/v1/metrics"));
        }
        let spans = spans.build().map_err(|e| e.to_string())?;
        let metrics = metrics.build().map_err(|e| e.to_string())?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("raigate")
            .with_attribute(KeyValue::new("cloud.region", region.to_owned()))
            .build();
        let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(spans)
            .with_resource(resource.clone())
            .build();
        let meter_provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(metrics).build())
            .with_resource(resource)
            .build();
        Ok(Some(OtlpPipeline {
            tracer_provider,
            meter_provider,
        }))
    }

    /// Wrap `inner` so its records are observed by this pipeline.
    pub fn sink(&self, inner: Arc<dyn DecisionSink>) -> OtelSink {
        use opentelemetry::metrics::MeterProvider;
        use opentelemetry::trace::TracerProvider;
        OtelSink::new(
            inner,
            self.tracer_provider.tracer("raigate"),
            &self.meter_provider.meter("raigate"),
        )
    }
}

impl Drop for OtlpPipeline {
    fn drop(&mut self) {
        let _ = self.tracer_provider.shutdown();
        let _ = self.meter_provider.shutdown();
    }
}
