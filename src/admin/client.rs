use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::tenants::TenantSettings;
use crate::trace::{DecisionPage, DecisionQuery, DecisionRecord, ExportFormat, VerifyReport};

/// Why an admin API call could not be made or was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL or a path segment cannot be used.
    #[error("invalid admin URL: {0}")]
    Url(String),
    /// The API cannot be reached.
    #[error("cannot reach the admin API: {0}")]
    Http(String),
    /// The API answered with a problem.
    #[error("{status} {title}: {detail}")]
    Problem {
        /// HTTP status.
        status: u16,
        /// Problem title.
        title: String,
        /// Problem detail.
        detail: String,
    },
    /// Something answered at the URL, but not raigate's admin API: e.g. `--admin` names the
    /// proxy's port (`[server] listen`) instead of `[server] admin_listen`.
    #[error("{url} is not raigate's admin API: {detail}")]
    NotAdminApi {
        /// The base URL called.
        url: String,
        /// What answered instead.
        detail: String,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer from the admin API: {0}")]
    Decode(String),
}

/// A small client of the admin API (used by `raigate tenants …`, and by `raigate decisions …`
/// and `raigate audit verify` without `--config`: a reviewer needs a token, not the database).
///
/// ```no_run
/// # async fn demo() -> Result<(), raigate::admin::ClientError> {
/// let api = raigate::admin::AdminClient::new("http://127.0.0.1:8081").token("s3cret");
/// let acme = api.opt_out("acme", "captions", true).await?;
/// println!("acme is at version {}", acme.version);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdminClient {
    base: String,
    token: Option<String>,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct ListBody {
    tenants: Vec<TenantSettings>,
}

#[derive(Deserialize)]
struct ProblemBody {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    detail: String,
}

/// Percent-encode one path segment.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string of a decision query (`?tenant=…&limit=…`), empty when nothing is set.
fn query_string(q: &DecisionQuery) -> String {
    let pairs = [
        ("tenant", q.tenant.as_deref()),
        ("outcome", q.outcome.as_deref()),
        ("feature", q.feature.as_deref()),
        ("rule", q.rule.as_deref()),
        ("subject", q.subject.as_deref()),
        ("since", q.since.as_deref()),
        ("until", q.until.as_deref()),
        ("cursor", q.cursor.as_deref()),
        ("format", q.format.as_deref()),
    ];
    let limit = q.limit.map(|l| l.to_string());
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs
        .into_iter()
        .chain(std::iter::once(("limit", limit.as_deref())))
    {
        if let Some(v) = v {
            out.append_pair(k, v);
        }
    }
    let s = out.finish();
    if s.is_empty() { s } else { format!("?{s}") }
}

/// An error and its causes, `: `-separated (hyper's own message is only "client error
/// (Connect)"; the cause says "Connection refused").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

impl AdminClient {
    /// A client of the admin API at `base` (e.g. `http://127.0.0.1:8081`).
    pub fn new(base: &str) -> Self {
        AdminClient {
            base: base.trim_end_matches('/').to_owned(),
            token: None,
            http: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// Send `Authorization: Bearer <token>`.
    #[must_use]
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        if_match: Option<u64>,
        body: Option<String>,
    ) -> Result<Request<Full<Bytes>>, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json");
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(v) = if_match {
            req = req.header(header::IF_MATCH, format!("\"{v}\""));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        req.body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Url(e.to_string()))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        if_match: Option<u64>,
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let req = self.request(method, path, if_match, body)?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Http(error_chain(&e)))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            return Ok((status, bytes));
        }
        Err(self.failure(status, &bytes))
    }

    /// The error for a non-2xx answer.
    fn failure(&self, status: StatusCode, bytes: &[u8]) -> ClientError {
        let Ok(problem) = serde_json::from_slice::<ProblemBody>(bytes) else {
            // Every admin API error is a problem document.
            return ClientError::NotAdminApi {
                url: self.base.clone(),
                detail: format!("it answered {status} without a problem document"),
            };
        };
        if problem.kind.ends_with("/route-not-found") {
            // The proxy's answer to a path it has no route for.
            return ClientError::NotAdminApi {
                url: self.base.clone(),
                detail: "it answered like raigate's proxy (`route-not-found`); the admin API \
                         listens on `[server] admin_listen` (default http://127.0.0.1:8081)"
                    .to_owned(),
            };
        }
        ClientError::Problem {
            status: status.as_u16(),
            title: problem.title,
            detail: problem.detail,
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// `GET /v1/tenants`.
    pub async fn list(&self) -> Result<Vec<TenantSettings>, ClientError> {
        let (_, body) = self.call(Method::GET, "/v1/tenants", None, None).await?;
        Ok(Self::decode::<ListBody>(&body)?.tenants)
    }

    /// `GET /v1/tenants/{id}`.
    pub async fn get(&self, id: &str) -> Result<TenantSettings, ClientError> {
        let path = format!("/v1/tenants/{}", segment(id));
        let (_, body) = self.call(Method::GET, &path, None, None).await?;
        Self::decode(&body)
    }

    /// Change some settings: read the tenant, let `change` edit the document, then `PUT` it
    /// back whole with `If-Match` on the version read (so a concurrent change is a 412, never
    /// overwritten, and every setting `change` leaves alone keeps its value). A tenant that
    /// does not exist is created from [`TenantSettings::new`] edited by `change`.
    pub async fn set(
        &self,
        id: &str,
        change: impl FnOnce(&mut TenantSettings),
    ) -> Result<TenantSettings, ClientError> {
        let (mut doc, if_match) = match self.get(id).await {
            Ok(doc) => {
                let v = doc.version;
                (doc, Some(v))
            }
            Err(ClientError::Problem { status: 404, .. }) => (TenantSettings::new(id), None),
            Err(e) => return Err(e),
        };
        change(&mut doc);
        let body = serde_json::to_string(&doc).map_err(|e| ClientError::Decode(e.to_string()))?;
        let path = format!("/v1/tenants/{}", segment(id));
        let (_, body) = self.call(Method::PUT, &path, if_match, Some(body)).await?;
        Self::decode(&body)
    }

    /// Opt out of (`true`: `PUT`) or back into (`false`: `DELETE`) a feature.
    pub async fn opt_out(
        &self,
        id: &str,
        feature: &str,
        opted_out: bool,
    ) -> Result<TenantSettings, ClientError> {
        let path = format!("/v1/tenants/{}/opt-outs/{}", segment(id), segment(feature));
        let method = if opted_out {
            Method::PUT
        } else {
            Method::DELETE
        };
        let (_, body) = self.call(method, &path, None, None).await?;
        Self::decode(&body)
    }

    /// `GET /v1/decisions`: one page of decisions (a tenant-admin's token sees its own
    /// tenant's only).
    pub async fn decisions(&self, query: &DecisionQuery) -> Result<DecisionPage, ClientError> {
        let path = format!("/v1/decisions{}", query_string(query));
        let (_, body) = self.call(Method::GET, &path, None, None).await?;
        Self::decode(&body)
    }

    /// `GET /v1/decisions/{id}`; `Ok(None)` when no decision with this id is visible.
    pub async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, ClientError> {
        let path = format!("/v1/decisions/{}", segment(id));
        match self.call(Method::GET, &path, None, None).await {
            Ok((_, body)) => Self::decode(&body).map(Some),
            Err(ClientError::Problem { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/decisions/export`: streams every matching decision into `out` as it arrives
    /// (an export can be larger than memory). Returns the bytes written.
    pub async fn export_to(
        &self,
        query: &DecisionQuery,
        format: ExportFormat,
        out: &mut (dyn std::io::Write + Send),
    ) -> Result<u64, ClientError> {
        let q = DecisionQuery {
            format: Some(
                match format {
                    ExportFormat::Jsonl => "jsonl",
                    ExportFormat::Csv => "csv",
                }
                .to_owned(),
            ),
            ..query.clone()
        };
        let path = format!("/v1/decisions/export{}", query_string(&q));
        let req = self.request(Method::GET, &path, None, None)?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Http(error_chain(&e)))?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?
                .to_bytes();
            return Err(self.failure(status, &bytes));
        }
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Http(error_chain(&e)))?;
            if let Ok(data) = frame.into_data() {
                out.write_all(&data)
                    .map_err(|e| ClientError::Http(format!("cannot write the export: {e}")))?;
                written += data.len() as u64;
            }
        }
        out.flush()
            .map_err(|e| ClientError::Http(format!("cannot write the export: {e}")))?;
        Ok(written)
    }

    /// `GET /v1/audit/verify` (compliance or operator token).
    pub async fn verify(&self) -> Result<VerifyReport, ClientError> {
        let (_, body) = self
            .call(Method::GET, "/v1/audit/verify", None, None)
            .await?;
        Self::decode(&body)
    }
}
