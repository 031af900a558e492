//! The inner service of the gateway: forwards an allowed request to the upstream the decision
//! chose, streaming both bodies.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, header};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_service::Service;

use crate::DecisionInfo;
use crate::problem::Problem;

/// Body of a proxied response: the upstream's, or a problem raigate wrote.
pub type ProxyBody = Either<Incoming, http_body_util::Full<Bytes>>;

/// An upstream's address.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamTarget {
    scheme: Scheme,
    authority: Authority,
    base_path: String,
}

impl UpstreamTarget {
    /// Parse an `http://host:port[/base]` URL.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let scheme = uri.scheme().cloned().ok_or("the URL has no scheme")?;
        if scheme != Scheme::HTTP {
            return Err("only http:// upstreams are supported (terminate TLS in a sidecar)".into());
        }
        let authority = uri.authority().cloned().ok_or("the URL has no host")?;
        if uri.query().is_some() {
            return Err("the URL may not have a query".into());
        }
        Ok(UpstreamTarget {
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    fn uri_for(&self, pq: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        let pq = pq.map_or("/", PathAndQuery::as_str);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.base_path, pq))
            .build()
    }
}

/// Forwards requests to the upstream named in their [`DecisionInfo`] (looked up by name: the
/// layer's upstream list is the one list of upstreams; this is only their addresses).
#[derive(Clone)]
pub struct Proxy {
    client: Client<HttpConnector, axum::body::Body>,
    upstreams: Arc<HashMap<Arc<str>, UpstreamTarget>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("upstreams", &self.upstreams)
            .finish()
    }
}

impl Proxy {
    /// A proxy over `upstreams`, by upstream name.
    pub(crate) fn new(upstreams: HashMap<Arc<str>, UpstreamTarget>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Proxy {
            client: Client::builder(TokioExecutor::new()).build(connector),
            upstreams: Arc::new(upstreams),
        }
    }
}

/// Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

fn bad_gateway(detail: &str) -> Response<ProxyBody> {
    Problem::new(
        StatusCode::BAD_GATEWAY,
        "upstream-unavailable",
        "Upstream unavailable",
        detail,
    )
    .into_response()
    .map(|b| Either::Right(http_body_util::Full::new(b)))
}

impl Service<Request<axum::body::Body>> for Proxy {
    type Response = Response<ProxyBody>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<axum::body::Body>) -> Self::Future {
        let target = req
            .extensions()
            .get::<DecisionInfo>()
            .and_then(|d| d.upstream.as_ref())
            .and_then(|name| self.upstreams.get(name))
            .cloned();
        let client = self.client.clone();
        Box::pin(async move {
            let Some(target) = target else {
                // The layer always picks an upstream for allowed requests; refuse rather than guess.
                return Ok(bad_gateway("no upstream was selected for this request"));
            };
            match target.uri_for(req.uri().path_and_query()) {
                Ok(uri) => *req.uri_mut() = uri,
                Err(_) => return Ok(bad_gateway("the upstream URL could not be built")),
            }
            strip_hop_by_hop(req.headers_mut());
            if let Ok(host) = HeaderValue::from_str(target.authority.as_str()) {
                req.headers_mut().insert(header::HOST, host);
            }
            match client.request(req).await {
                Ok(mut resp) => {
                    strip_hop_by_hop(resp.headers_mut());
                    Ok(resp.map(Either::Left))
                }
                Err(e) => {
                    tracing::warn!(upstream = %target.authority, error = %e, "upstream request failed");
                    Ok(bad_gateway("the upstream could not be reached"))
                }
            }
        })
    }
}
