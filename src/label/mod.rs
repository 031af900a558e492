//! Labelling allowed AI responses as AI-generated.
//!
//! Every allowed 2xx AI response carries the [`AI_DISCLOSURE`] header
//! ([`disclosure_header`]), an RFC 9651 Dictionary such as
//!
//! ```text
//! AI-Disclosure: mode=machine-generated, provider="openai", model="gpt-4o", date=@1767225600
//! ```
//!
//! In addition, depending on the body's `Content-Type`
//! ([`BodyLabel::from_content_type`]):
//!
//! * JSON objects get a top-level `ai_disclosure` member ([`label_json`]);
//! * WebVTT and SRT captions get a visible notice cue first ([`label_webvtt`],
//!   [`label_srt`]);
//! * event streams stay streams and get a leading SSE comment
//!   ([`sse_preamble`]);
//! * everything else is labelled by the header only.
//!
//! The buffered kinds ([`BodyLabel::needs_buffering`]) can be dispatched with
//! [`label_body`]. Every labeller treats the body as untrusted: none of them
//! panics, and `None` means "leave the body unchanged" (not the expected
//! format, or already labelled).

mod body;
mod captions;
mod header;
mod json;
mod sse;

pub use body::{BodyLabel, label_body};
pub use captions::{DEFAULT_CAPTION_NOTICE, label_srt, label_webvtt};
pub use header::{
    AI_DISCLOSURE, DIGITAL_SOURCE_TYPE_TRAINED, Disclosure, MAX_HEADER_STRING_LEN,
    MODE_MACHINE_GENERATED, disclosure_header,
};
pub use json::{JSON_MEMBER, label_json};
pub use sse::sse_preamble;
