//! [`ScanText`]: the text of one request (or response), as the content rules read it.
//!
//! It keeps each string the body carried as a *segment*, in document order: the text as sent
//! (for the decoders, which need case and the exact bytes) and its normalised form. The
//! normalised segments joined by `'\n'` are the `normalized` view; the segments that are turns
//! of a conversation (system, developer, user and tool messages, in order) are joined by a space
//! into the `conversation` view, so that an intent split across messages is seen whole.

use std::ops::Range;

use super::normalize::{TooLong, normalize_bounded};

/// Who wrote a segment, as far as the body says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// A system or developer message, or top-level instructions.
    System,
    /// A user message, a prompt.
    User,
    /// An assistant message (the model's own earlier words).
    Assistant,
    /// A tool result sent back to the model.
    Tool,
    /// Any other string: a document body, a form value, a JSON value outside a conversation.
    Other,
}

impl Role {
    /// The role of an OpenAI-style `role` value.
    pub(crate) fn from_name(name: &str) -> Role {
        match name {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" | "model" => Role::Assistant,
            "tool" | "function" => Role::Tool,
            _ => Role::Other,
        }
    }

    /// Whether the role's words belong in the conversation view: everything the model is told,
    /// not what it said itself.
    fn in_conversation(self) -> bool {
        matches!(self, Role::System | Role::User | Role::Tool)
    }
}

/// One string of the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    /// The text as the body carried it (JSON escapes decoded).
    pub(crate) raw: String,
    /// Who wrote it.
    pub(crate) role: Role,
    /// Whether it is a turn of a conversation (a message's content, instructions, a prompt).
    pub(crate) turn: bool,
    /// Its normalised form: a range of [`ScanText::as_str`].
    pub(crate) norm: Range<usize>,
}

/// Text pulled out of a request body, ready to scan: every string value as its own segment, raw
/// and normalised (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanText {
    segments: Vec<Segment>,
    normalized: String,
    model: Option<String>,
    binary_parts: u32,
    limit: Option<usize>,
}

impl ScanText {
    /// An empty text whose normalised form may not grow past `limit` bytes.
    pub(crate) fn with_limit(limit: usize) -> Self {
        ScanText {
            limit: Some(limit),
            ..ScanText::default()
        }
    }

    /// Wrap text that is already normalised (segments separated by `'\n'`). Mostly useful for
    /// tests and benchmarks: the decoders see the normalised text as the raw text.
    pub fn from_normalized(s: String) -> Self {
        let mut out = ScanText::default();
        let mut start = 0;
        for part in s.split('\n') {
            let end = start + part.len();
            if !part.is_empty() {
                out.segments.push(Segment {
                    raw: part.to_owned(),
                    role: Role::Other,
                    turn: false,
                    norm: start..end,
                });
            }
            start = end + 1;
        }
        out.normalized = s;
        out
    }

    /// A bare document (a text body, a transcript to caption, a response's text): one segment.
    pub fn from_text(text: &str) -> Self {
        let mut out = ScanText::default();
        let _ = out.push(text, Role::Other, false);
        out
    }

    /// OpenAI-style chat messages: `(role, content)` pairs, in order, each a turn.
    pub fn from_messages<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out = ScanText::default();
        for (role, content) in messages {
            let _ = out.push(content, Role::from_name(role), true);
        }
        out
    }

    /// Append one segment: `raw` is normalised; an empty result is skipped.
    pub(crate) fn push(&mut self, raw: &str, role: Role, turn: bool) -> Result<(), TooLong> {
        let before = self.normalized.len();
        if before > 0 {
            self.normalized.push('\n');
        }
        let start = self.normalized.len();
        let limit = self.limit.unwrap_or(usize::MAX);
        if let Err(e) = normalize_bounded(raw, &mut self.normalized, limit) {
            self.normalized.truncate(before);
            return Err(e);
        }
        if self.normalized.len() == start {
            self.normalized.truncate(before);
            return Ok(());
        }
        self.segments.push(Segment {
            raw: raw.to_owned(),
            role,
            turn,
            norm: start..self.normalized.len(),
        });
        Ok(())
    }

    pub(crate) fn set_model(&mut self, model: String) {
        self.model = Some(model);
    }

    pub(crate) fn add_binary_part(&mut self) {
        self.binary_parts = self.binary_parts.saturating_add(1);
    }

    /// The normalised text: every segment, separated by `'\n'` (the `normalized` view).
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// Whether there is no text at all.
    pub fn is_empty(&self) -> bool {
        self.normalized.is_empty()
    }

    /// Length of the normalised text in bytes.
    pub fn len(&self) -> usize {
        self.normalized.len()
    }

    /// The normalised segments, in document order.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.segments
            .iter()
            .filter_map(|s| self.normalized.get(s.norm.clone()))
    }

    pub(crate) fn raw_segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The normalised form of a segment.
    pub(crate) fn norm_of(&self, seg: &Segment) -> &str {
        self.normalized.get(seg.norm.clone()).unwrap_or("")
    }

    /// The JSON `model` member at the top level of the body, if it was a string (used for
    /// labelling; not normalised).
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// How many binary parts of a multipart body were not scanned (file uploads: audio,
    /// images, documents).
    pub fn binary_parts(&self) -> u32 {
        self.binary_parts
    }

    /// The turns of the conversation that the model is told (system, developer, user and tool
    /// messages, instructions, prompts), normalised, in order, joined by a space into `out`.
    /// `false` when there are fewer than two: the `normalized` view already holds a single turn.
    pub(crate) fn conversation_into(&self, out: &mut String) -> bool {
        let turns = self
            .segments
            .iter()
            .filter(|s| s.turn && s.role.in_conversation());
        let mut n = 0;
        for seg in turns {
            if n > 0 {
                out.push(' ');
            }
            out.push_str(self.norm_of(seg));
            n += 1;
        }
        n >= 2
    }

    /// A copy keeping only the segments `keep` accepts, each cut down to the byte ranges of its
    /// raw text that `own` returns (renormalised). Used to read a request without the words it
    /// quotes.
    pub(crate) fn filtered(&self, mut own: impl FnMut(&Segment) -> Vec<Range<usize>>) -> ScanText {
        let mut out = ScanText {
            model: self.model.clone(),
            binary_parts: self.binary_parts,
            ..ScanText::default()
        };
        for seg in &self.segments {
            let mut kept = String::new();
            for r in own(seg) {
                if let Some(s) = seg.raw.get(r) {
                    if !kept.is_empty() {
                        kept.push(' ');
                    }
                    kept.push_str(s);
                }
            }
            let _ = out.push(&kept, seg.role, seg.turn);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_normalised_and_empty_ones_skipped() {
        let t =
            ScanText::from_messages([("system", "Be  BRIEF."), ("user", "   "), ("user", "Hi")]);
        assert_eq!(t.as_str(), "be brief.\nhi");
        assert_eq!(t.segments().collect::<Vec<_>>(), ["be brief.", "hi"]);
        let mut conv = String::new();
        assert!(t.conversation_into(&mut conv));
        assert_eq!(conv, "be brief. hi");
    }

    #[test]
    fn assistant_turns_are_not_in_the_conversation() {
        let t = ScanText::from_messages([("assistant", "I can't."), ("user", "Do it")]);
        let mut conv = String::new();
        assert!(!t.conversation_into(&mut conv));
        assert_eq!(conv, "do it");
    }

    #[test]
    fn a_limit_bounds_the_normalised_text() {
        let mut t = ScanText::with_limit(8);
        assert!(t.push("hello", Role::User, true).is_ok());
        assert!(t.push("world", Role::User, true).is_err());
        assert_eq!(t.as_str(), "hello");
    }

    #[test]
    fn from_normalized_keeps_segments() {
        let t = ScanText::from_normalized("a b\n\nc".to_owned());
        assert_eq!(t.segments().collect::<Vec<_>>(), ["a b", "c"]);
    }
}
