//! Applies the labelling obligations to an allowed response.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Response, header};

use super::problem::DECISION_ID;
use crate::label::{self, BodyLabel, Disclosure};

/// What an allowed response must carry, and what to write.
#[derive(Debug, Clone)]
pub(crate) struct Labeller {
    pub(crate) decision_id: Arc<str>,
    pub(crate) info: Arc<super::DecisionInfo>,
    pub(crate) label: bool,
    pub(crate) human_review_notice: bool,
    pub(crate) mode: Arc<str>,
    pub(crate) notice: Arc<str>,
    pub(crate) digital_source_type: Arc<str>,
    pub(crate) provider: Option<Arc<str>>,
    pub(crate) model: Option<String>,
    pub(crate) max_buffer: usize,
}

/// What to do with the response body.
pub(crate) enum Plan {
    /// Send as is, after an optional prefix.
    Stream(Option<Bytes>),
    /// Buffer it and rewrite it with this label kind.
    Buffer(BodyLabel),
}

impl Labeller {
    fn disclosure(&self, date_unix: i64) -> Disclosure<'_> {
        Disclosure {
            mode: &self.mode,
            provider: self.provider.as_deref(),
            model: self.model.as_deref(),
            date_unix,
            notice: self.human_review_notice.then_some(&*self.notice),
            digital_source_type: &self.digital_source_type,
            decision_id: &self.decision_id,
        }
    }

    /// Set the headers and decide how to treat the body.
    pub(crate) fn start<B>(&self, resp: &mut Response<B>) -> Plan {
        if let Ok(v) = HeaderValue::from_str(&self.decision_id) {
            resp.headers_mut().insert(DECISION_ID, v);
        }
        resp.extensions_mut().insert((*self.info).clone());
        if !self.label || !resp.status().is_success() {
            return Plan::Stream(None);
        }
        let header = label::disclosure_header(&self.disclosure(now_unix()));
        resp.headers_mut().insert(label::AI_DISCLOSURE, header);
        let kind = BodyLabel::from_content_type(resp.headers().get(header::CONTENT_TYPE));
        let encoded = resp
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        let too_long = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|n| n > self.max_buffer as u64);
        match kind {
            BodyLabel::EventStream => Plan::Stream(Some(label::sse_preamble(&self.notice))),
            // A compressed or oversized body is labelled by its header only.
            k if k.needs_buffering() && !encoded && !too_long => Plan::Buffer(k),
            _ => Plan::Stream(None),
        }
    }

    /// The labelled body, or `None` to leave it unchanged.
    pub(crate) fn rewrite(&self, kind: BodyLabel, body: &[u8]) -> Option<Vec<u8>> {
        label::label_body(kind, body, &self.disclosure(now_unix()), &self.notice)
    }
}

/// Fix up framing headers after the body was replaced.
pub(crate) fn set_length(headers: &mut http::HeaderMap, len: usize) {
    headers.remove(header::TRANSFER_ENCODING);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
