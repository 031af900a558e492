//! The wire formats: what each kind of guard is sent, how its answer is read, and how its own
//! categories map onto the policy's prohibited-use categories. Pure functions, no I/O.
//!
//! What is sent is the request's own text, never metadata: when the body is a conversation,
//! its turns (system, user, assistant and tool messages) with their roles; otherwise every
//! string of the body as one document. JSON members around a conversation (`user`, `metadata`,
//! ids) are not turns and are never sent to a sub-processor.

use std::sync::Arc;

use serde_json::{Value, json};

use super::spec::GuardKind;
use crate::scan::{Role, ScanText};

/// Who wrote a piece of the text sent to a guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Speaker {
    System,
    User,
    Assistant,
    Tool,
    /// Text outside a conversation: a prompt body, a document, a form value.
    Document,
}

impl Speaker {
    fn as_str(self) -> &'static str {
        match self {
            Speaker::System => "system",
            Speaker::User => "user",
            Speaker::Assistant => "assistant",
            Speaker::Tool => "tool",
            Speaker::Document => "document",
        }
    }
}

/// The text a guard is asked about, borrowed from the request's [`ScanText`].
#[derive(Debug, Clone, Default)]
pub(crate) struct GuardInput<'a> {
    pub(crate) messages: Vec<(Speaker, &'a str)>,
}

impl<'a> GuardInput<'a> {
    /// The conversation's turns, or, when the body is no conversation, every string in it.
    pub(crate) fn from_text(text: &'a ScanText) -> Self {
        let segs = text.raw_segments();
        let turns = segs.iter().any(|s| s.turn);
        let messages = segs
            .iter()
            .filter(|s| s.turn == turns && !s.raw.trim().is_empty())
            .map(|s| {
                let who = if !turns {
                    Speaker::Document
                } else {
                    match s.role {
                        Role::System => Speaker::System,
                        Role::User => Speaker::User,
                        Role::Assistant => Speaker::Assistant,
                        Role::Tool => Speaker::Tool,
                        _ => Speaker::Document,
                    }
                };
                (who, s.raw.as_str())
            })
            .collect();
        GuardInput { messages }
    }

    fn joined(&self, keep: impl Fn(Speaker) -> bool) -> String {
        let mut out = String::new();
        for (who, text) in &self.messages {
            if keep(*who) {
                if !out.is_empty() {
                    out.push_str("\n\n");
                }
                out.push_str(text);
            }
        }
        out
    }
}

/// The JSON body asking a `kind` guard about `input`; `None` when there is nothing to ask.
pub(crate) fn request_body(
    kind: GuardKind,
    model: Option<&str>,
    input: &GuardInput<'_>,
) -> Option<Vec<u8>> {
    let body = match kind {
        GuardKind::OpenaiModeration => {
            let text = input.joined(|w| w != Speaker::Assistant);
            if text.is_empty() {
                return None;
            }
            let mut body = json!({ "input": text });
            if let (Some(m), Some(obj)) = (model, body.as_object_mut()) {
                obj.insert("model".to_owned(), json!(m));
            }
            body
        }
        GuardKind::LlamaGuard => {
            let messages = llama_guard_turns(input);
            if messages.is_empty() {
                return None;
            }
            let messages: Vec<Value> = messages
                .into_iter()
                .map(|(role, content)| json!({ "role": role, "content": content }))
                .collect();
            json!({
                "model": model.unwrap_or_default(),
                "messages": messages,
                "temperature": 0,
                "max_tokens": 32,
                "stream": false,
            })
        }
        GuardKind::AzurePromptShields => {
            let prompt =
                input.joined(|w| matches!(w, Speaker::System | Speaker::User | Speaker::Document));
            let documents: Vec<&str> = input
                .messages
                .iter()
                .filter(|(w, _)| *w == Speaker::Tool)
                .map(|(_, t)| *t)
                .collect();
            if prompt.is_empty() && documents.is_empty() {
                return None;
            }
            json!({ "userPrompt": prompt, "documents": documents })
        }
        GuardKind::Webhook => {
            if input.messages.is_empty() {
                return None;
            }
            let messages: Vec<Value> = input
                .messages
                .iter()
                .map(|(w, t)| json!({ "role": w.as_str(), "content": t }))
                .collect();
            let mut body = json!({ "messages": messages });
            if let (Some(m), Some(obj)) = (model, body.as_object_mut()) {
                obj.insert("model".to_owned(), json!(m));
            }
            body
        }
    };
    serde_json::to_vec(&body).ok()
}

/// Llama Guard's chat template classifies the last turn of a conversation that alternates
/// user / assistant, starting with the user (it raises an error otherwise), and classifies
/// the user when the conversation ends with a user turn. So: everything the model is told is a
/// user turn, consecutive turns of one side are merged, and assistant turns before the first
/// user turn or after the last one are left out.
fn llama_guard_turns(input: &GuardInput<'_>) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (who, text) in &input.messages {
        let role = if *who == Speaker::Assistant {
            "assistant"
        } else {
            "user"
        };
        match out.last_mut() {
            Some((r, t)) if *r == role => {
                t.push_str("\n\n");
                t.push_str(text);
            }
            None if role == "assistant" => {}
            _ => out.push((role, (*text).to_owned())),
        }
    }
    while out.last().is_some_and(|(r, _)| *r == "assistant") {
        out.pop();
    }
    out
}

/// A guard's answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GuardVerdict {
    /// Nothing flagged.
    Clean,
    /// Flagged.
    Flagged(Flag),
}

/// What a guard flagged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Flag {
    /// The policy's prohibited-use category the service's category maps to (or the service's
    /// own, slugged, where none fits; `docs/guards.md` has the table).
    pub category: Arc<str>,
    /// The service's own labels, as it gave them (`S1`, `self-harm/intent`,
    /// `user-prompt-attack`).
    pub labels: Vec<String>,
    /// The service's score for the category, where it gives one.
    pub score: Option<f64>,
}

/// Read a `kind` guard's answer. `Err` names what is missing or wrong (never quotes the body).
pub(crate) fn parse_response(kind: GuardKind, body: &[u8]) -> Result<GuardVerdict, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the answer is not JSON ({e})"))?;
    match kind {
        GuardKind::OpenaiModeration => parse_moderation(&v),
        GuardKind::LlamaGuard => {
            let content = v
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .ok_or("the answer has no `choices[0].message.content` string")?;
            parse_llama_guard(content)
        }
        GuardKind::AzurePromptShields => parse_shields(&v),
        GuardKind::Webhook => parse_webhook(&v),
    }
}

fn parse_moderation(v: &Value) -> Result<GuardVerdict, String> {
    let results = v
        .get("results")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or("the answer has no `results` array")?;
    let mut best: Option<(String, Option<f64>)> = None;
    let mut labels = Vec::new();
    let mut flagged = false;
    for r in results {
        let f = r
            .get("flagged")
            .and_then(Value::as_bool)
            .ok_or("a result has no boolean `flagged`")?;
        if !f {
            continue;
        }
        flagged = true;
        let scores = r.get("category_scores");
        let cats = r.get("categories").and_then(Value::as_object);
        for (name, on) in cats.into_iter().flatten() {
            if on.as_bool() != Some(true) {
                continue;
            }
            let score = scores.and_then(|s| s.get(name)).and_then(Value::as_f64);
            labels.push(name.clone());
            let better = match &best {
                None => true,
                Some((_, b)) => score.unwrap_or(0.0) > b.unwrap_or(0.0),
            };
            if better {
                best = Some((name.clone(), score));
            }
        }
    }
    if !flagged {
        return Ok(GuardVerdict::Clean);
    }
    let (label, score) = best.unwrap_or_else(|| ("flagged".to_owned(), None));
    Ok(GuardVerdict::Flagged(Flag {
        category: Arc::from(moderation_category(&label)),
        labels,
        score,
    }))
}

/// OpenAI moderation categories → the policy's categories.
fn moderation_category(label: &str) -> String {
    let mapped = match label {
        "harassment" | "harassment/threatening" | "hate" | "hate/threatening" => "hate-harassment",
        "illicit" | "illicit/violent" => "illegal-activity",
        "self-harm" | "self-harm/intent" | "self-harm/instructions" => "self-harm",
        "sexual/minors" => "child-exploitation",
        "sexual" => "sexual-content",
        "violence" | "violence/graphic" => "violence",
        other => return slug(other),
    };
    mapped.to_owned()
}

/// Llama Guard's completion: `safe`, or `unsafe` and a line of comma-separated category codes.
pub(crate) fn parse_llama_guard(content: &str) -> Result<GuardVerdict, String> {
    let mut lines = content.trim().lines().map(str::trim);
    match lines.next() {
        Some("safe") => Ok(GuardVerdict::Clean),
        Some("unsafe") => {
            let labels: Vec<String> = lines
                .next()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            let category = labels
                .first()
                .map_or_else(|| "unspecified".to_owned(), |c| llama_guard_category(c));
            Ok(GuardVerdict::Flagged(Flag {
                category: Arc::from(category),
                labels,
                score: None,
            }))
        }
        _ => Err("the completion is neither `safe` nor `unsafe`".to_owned()),
    }
}

/// Llama Guard 3/4 hazard codes (the MLCommons taxonomy) → the policy's categories.
fn llama_guard_category(code: &str) -> String {
    let mapped = match code {
        "S1" | "S9" => "violence",
        "S2" | "S3" => "illegal-activity",
        "S4" => "child-exploitation",
        "S5" => "defamation",
        "S6" => "specialized-advice",
        "S7" => "privacy",
        "S8" => "intellectual-property",
        "S10" => "hate-harassment",
        "S11" => "self-harm",
        "S12" => "sexual-content",
        "S13" => "political-deception",
        "S14" => "malware",
        other => return slug(other),
    };
    mapped.to_owned()
}

fn parse_shields(v: &Value) -> Result<GuardVerdict, String> {
    let user = v
        .pointer("/userPromptAnalysis/attackDetected")
        .and_then(Value::as_bool)
        .ok_or("the answer has no boolean `userPromptAnalysis.attackDetected`")?;
    let mut docs = false;
    if let Some(list) = v.get("documentsAnalysis") {
        for d in list
            .as_array()
            .ok_or("`documentsAnalysis` is not an array")?
        {
            docs |= d
                .get("attackDetected")
                .and_then(Value::as_bool)
                .ok_or("a `documentsAnalysis` entry has no boolean `attackDetected`")?;
        }
    }
    let mut labels = Vec::new();
    if user {
        labels.push("user-prompt-attack".to_owned());
    }
    if docs {
        labels.push("document-attack".to_owned());
    }
    let category = match (user, docs) {
        (false, false) => return Ok(GuardVerdict::Clean),
        (true, _) => "safety-filter-bypass",
        (false, true) => "prompt-injection",
    };
    Ok(GuardVerdict::Flagged(Flag {
        category: Arc::from(category),
        labels,
        score: None,
    }))
}

fn parse_webhook(v: &Value) -> Result<GuardVerdict, String> {
    let flagged = v
        .get("flagged")
        .and_then(Value::as_bool)
        .ok_or("the answer has no boolean `flagged`")?;
    if !flagged {
        return Ok(GuardVerdict::Clean);
    }
    let category = match v.get("category") {
        None | Some(Value::Null) => "unspecified".to_owned(),
        Some(Value::String(c)) => slug(c),
        Some(_) => return Err("`category` is not a string".to_owned()),
    };
    let score = match v.get("score") {
        None | Some(Value::Null) => None,
        Some(s) => Some(s.as_f64().ok_or("`score` is not a number")?),
    };
    Ok(GuardVerdict::Flagged(Flag {
        labels: vec![category.clone()],
        category: Arc::from(category),
        score,
    }))
}

/// A service's label as a category name: lower case, `a-z 0-9 -`, at most 64 characters (it
/// ends up in problem bodies and records).
fn slug(label: &str) -> String {
    let mut out = String::with_capacity(label.len().min(64));
    for c in label.chars() {
        if out.len() >= 64 {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "unspecified".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(v: GuardVerdict) -> Flag {
        match v {
            GuardVerdict::Flagged(f) => f,
            GuardVerdict::Clean => panic!("not flagged"),
        }
    }

    #[test]
    fn llama_guard_answers() {
        assert_eq!(parse_llama_guard("\n\nsafe").unwrap(), GuardVerdict::Clean);
        let f = flag(parse_llama_guard("\n\nunsafe\nS1,S10").unwrap());
        assert_eq!(
            (&*f.category, f.labels.as_slice()),
            ("violence", &["S1".to_owned(), "S10".to_owned()][..])
        );
        assert_eq!(
            &*flag(parse_llama_guard("unsafe\nS11").unwrap()).category,
            "self-harm"
        );
        assert_eq!(
            &*flag(parse_llama_guard("unsafe").unwrap()).category,
            "unspecified"
        );
        assert!(parse_llama_guard("I cannot help with that").is_err());
    }

    #[test]
    fn moderation_picks_the_highest_scoring_flagged_category() {
        let body = br#"{"id":"modr-1","model":"omni-moderation-latest","results":[{"flagged":true,
            "categories":{"harassment":false,"self-harm":true,"self-harm/intent":true,"violence":false},
            "category_scores":{"harassment":0.01,"self-harm":0.7,"self-harm/intent":0.91,"violence":0.2}}]}"#;
        let f = flag(parse_response(GuardKind::OpenaiModeration, body).unwrap());
        assert_eq!(&*f.category, "self-harm");
        assert_eq!(f.score, Some(0.91));
        let clean = br#"{"results":[{"flagged":false,"categories":{},"category_scores":{}}]}"#;
        assert_eq!(
            parse_response(GuardKind::OpenaiModeration, clean).unwrap(),
            GuardVerdict::Clean
        );
        assert!(parse_response(GuardKind::OpenaiModeration, br#"{"results":[]}"#).is_err());
        assert!(parse_response(GuardKind::OpenaiModeration, b"<html>").is_err());
    }

    #[test]
    fn shields_user_and_document_attacks() {
        let p = |s: &str| parse_response(GuardKind::AzurePromptShields, s.as_bytes());
        let u = flag(
            p(r#"{"userPromptAnalysis":{"attackDetected":true},"documentsAnalysis":[]}"#).unwrap(),
        );
        assert_eq!(&*u.category, "safety-filter-bypass");
        let d = flag(p(r#"{"userPromptAnalysis":{"attackDetected":false},"documentsAnalysis":[{"attackDetected":false},{"attackDetected":true}]}"#).unwrap());
        assert_eq!(&*d.category, "prompt-injection");
        assert_eq!(
            p(r#"{"userPromptAnalysis":{"attackDetected":false},"documentsAnalysis":[]}"#).unwrap(),
            GuardVerdict::Clean
        );
        assert!(p(r#"{"error":{"code":"InvalidRequestBody"}}"#).is_err());
    }

    #[test]
    fn llama_guard_turns_alternate_and_end_with_the_user() {
        let input = GuardInput {
            messages: vec![
                (Speaker::Assistant, "hello"),
                (Speaker::System, "be brief"),
                (Speaker::User, "q1"),
                (Speaker::Assistant, "a1"),
                (Speaker::User, "q2"),
                (Speaker::Assistant, "a2"),
            ],
        };
        let turns = llama_guard_turns(&input);
        let roles: Vec<_> = turns.iter().map(|(r, _)| *r).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(turns[0].1, "be brief\n\nq1");
    }

    #[test]
    fn webhook_and_slugs() {
        let f = flag(
            parse_response(
                GuardKind::Webhook,
                br#"{"flagged":true,"category":"Self Harm","score":0.5}"#,
            )
            .unwrap(),
        );
        assert_eq!((&*f.category, f.score), ("self-harm", Some(0.5)));
        assert!(parse_response(GuardKind::Webhook, br#"{"flagged":"yes"}"#).is_err());
        assert_eq!(slug("--"), "unspecified");
    }

    #[test]
    fn chat_metadata_is_not_sent() {
        let mut t = ScanText::default();
        t.push("user-42", Role::Other, false).unwrap();
        t.push("be brief", Role::System, true).unwrap();
        t.push("hello", Role::User, true).unwrap();
        let input = GuardInput::from_text(&t);
        let body = request_body(GuardKind::Webhook, None, &input).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}]})
        );
        let doc = ScanText::from_text("a document");
        let body = request_body(
            GuardKind::OpenaiModeration,
            Some("omni-moderation-latest"),
            &GuardInput::from_text(&doc),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"input":"a document","model":"omni-moderation-latest"})
        );
    }
}
