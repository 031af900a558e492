//! JSON bodies: parsed in document order, refused when an object repeats a member name, and
//! walked for every string value and for the turns of a conversation.
//!
//! `serde_json::Value` keeps the *last* of two equal member names, so `{"content": "<bad>",
//! "content": "Hello"}` would be scanned as `Hello` while an upstream that keeps the first reads
//! the bad text. I-JSON (RFC 7493 §2.3) says names must be unique; such a body is refused at
//! every depth ([`JsonError::DuplicateMember`]).
//!
//! Conversations: OpenAI chat `messages` (string content or content-part arrays, tool
//! messages), the Responses API's `instructions` and `input`, Anthropic's top-level `system`,
//! and legacy `prompt`. Their texts are marked as turns with their role; every other string
//! value is a segment of role [`Role::Other`]. Object keys are not scanned.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::normalize::TooLong;
use super::text::{Role, ScanText};

/// A JSON value in document order; numbers, booleans and null carry nothing to scan.
enum Node {
    Str(String),
    Arr(Vec<Node>),
    Obj(Vec<(String, Node)>),
    Other,
}

impl Node {
    fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The message of a duplicate-name error; serde_json adds the line and column. It never
/// quotes the name (request content).
const DUPLICATE: &str = "an object repeats a member name (I-JSON, RFC 7493, requires unique names)";

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Other)
    }
    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Arr(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members: Vec<(String, Node)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // Small objects (nearly all of them) are checked as they grow; large ones once, sorted.
            if members.len() < 16 && members.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value()?;
            members.push((key, value));
        }
        if members.len() > 16 {
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            if keys.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Node::Obj(members))
    }
}

/// Why a JSON body could not be read.
#[derive(Debug)]
pub(crate) enum JsonError {
    /// Not JSON (syntax), at a position.
    Syntax {
        line: usize,
        column: usize,
        reason: String,
    },
    /// An object repeats a member name.
    DuplicateMember { line: usize, column: usize },
    /// The normalised text is over the limit.
    TooLong(TooLong),
}

/// Parse `body` (UTF-8) and extract its text into `out` (whose limit bounds it).
pub(crate) fn extract(body: &str, out: &mut ScanText) -> Result<(), JsonError> {
    let node: Node = serde_json::from_str(body).map_err(|e| {
        if e.to_string().starts_with(DUPLICATE) {
            JsonError::DuplicateMember {
                line: e.line(),
                column: e.column(),
            }
        } else {
            JsonError::Syntax {
                line: e.line(),
                column: e.column(),
                reason: e.to_string(),
            }
        }
    })?;
    walk(&node, out).map_err(JsonError::TooLong)
}

/// Whether `body` is JSON (with or without repeated names): the sniff for bodies whose media
/// type says otherwise.
pub(crate) fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// Every string value in document order; conversation texts as turns with their role.
fn walk(root: &Node, out: &mut ScanText) -> Result<(), TooLong> {
    if let Some(model) = root.get("model").and_then(Node::as_str) {
        out.set_model(model.to_owned());
    }
    let mut turns = Turns::default();
    turns.collect(root);
    let mut stack: Vec<&Node> = vec![root];
    while let Some(node) = stack.pop() {
        match node {
            Node::Str(s) => {
                let (role, turn) = turns.of(s);
                out.push(s, role, turn)?;
            }
            // Pushed in reverse so that segments come out in document order.
            Node::Arr(items) => stack.extend(items.iter().rev()),
            Node::Obj(members) => stack.extend(members.iter().rev().map(|(_, v)| v)),
            Node::Other => {}
        }
    }
    Ok(())
}

/// The strings of a body that are conversation turns, found by their place in the document
/// (pointer identity), with their role.
#[derive(Default)]
struct Turns {
    /// By the address of the string in the parsed tree, which lives as long as the walk.
    found: std::collections::HashMap<usize, Role>,
}

fn address(s: &String) -> usize {
    std::ptr::from_ref(s) as usize
}

impl Turns {
    fn of(&self, s: &String) -> (Role, bool) {
        self.found
            .get(&address(s))
            .map_or((Role::Other, false), |&role| (role, true))
    }

    fn add(&mut self, node: &Node, role: Role) {
        match node {
            Node::Str(s) => {
                self.found.insert(address(s), role);
            }
            // Content parts: `{"type": "text", "text": …}`, `input_text`, Anthropic blocks;
            // tool results nest their content the same way.
            Node::Arr(parts) => {
                for part in parts {
                    match part {
                        Node::Str(_) => self.add(part, role),
                        Node::Obj(_) => {
                            if let Some(text) = part.get("text") {
                                self.add(text, role);
                            }
                            if let Some(content) = part.get("content") {
                                self.add(content, role);
                            }
                        }
                        Node::Arr(_) | Node::Other => {}
                    }
                }
            }
            Node::Obj(_) => {
                if let Some(text) = node.get("text") {
                    self.add(text, role);
                }
            }
            Node::Other => {}
        }
    }

    fn messages(&mut self, list: &Node) {
        let Node::Arr(items) = list else {
            if let Node::Str(_) = list {
                self.add(list, Role::User);
            }
            return;
        };
        for item in items {
            let role = item
                .get("role")
                .and_then(Node::as_str)
                .map_or(Role::User, Role::from_name);
            if let Some(content) = item.get("content") {
                self.add(content, role);
            } else if let Node::Str(_) = item {
                self.add(item, Role::User);
            }
        }
    }

    fn collect(&mut self, root: &Node) {
        for key in ["system", "instructions"] {
            if let Some(v) = root.get(key) {
                self.add(v, Role::System);
            }
        }
        if let Some(messages) = root.get("messages") {
            self.messages(messages);
        }
        if let Some(input) = root.get("input") {
            self.messages(input);
        }
        if let Some(prompt) = root.get("prompt") {
            self.add(prompt, Role::User);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> ScanText {
        let mut out = ScanText::default();
        extract(body, &mut out).unwrap_or_else(|e| panic!("{e:?}"));
        out
    }

    #[test]
    fn strings_in_document_order_and_keys_not_scanned() {
        let t = text(r#"{"z": "First", "a": ["Second", {"ignore me": "Third"}], "n": 1}"#);
        assert_eq!(t.as_str(), "first\nsecond\nthird");
    }

    #[test]
    fn duplicate_member_names_are_refused_at_every_depth() {
        for body in [
            r#"{"content": "bad", "content": "Hello"}"#,
            r#"{"messages": [{"role": "user", "content": "x", "content": "y"}]}"#,
            r#"[[{"a": {"b": 1, "b": 2}}]]"#,
        ] {
            let mut out = ScanText::default();
            assert!(
                matches!(
                    extract(body, &mut out),
                    Err(JsonError::DuplicateMember { .. })
                ),
                "{body}"
            );
        }
        // A large object too (checked once, sorted).
        let mut members: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        members.push("\"k7\": 0".into());
        let body = format!("{{{}}}", members.join(","));
        let mut out = ScanText::default();
        assert!(matches!(
            extract(&body, &mut out),
            Err(JsonError::DuplicateMember { .. })
        ));
        // Equal names in different objects are fine.
        let _ = text(r#"[{"a": 1}, {"a": 2}, {"b": {"a": 3}}]"#);
    }

    #[test]
    fn chat_turns_carry_their_role() {
        let t = text(
            r#"{"model": "gpt-4o", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Part one"},
                    {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}},
                    {"type": "text", "text": "part two"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "1",
                    "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "1", "content": "Tool says hi"}]}"#,
        );
        assert_eq!(t.model(), Some("gpt-4o"));
        let mut conv = String::new();
        assert!(t.conversation_into(&mut conv));
        assert_eq!(conv, "be brief. part one part two tool says hi");
        // Every string value is still a segment of the normalized view.
        assert!(t.segments().any(|s| s == "https://x.example/a.png"));
        assert!(t.segments().any(|s| s == "user"));
    }

    #[test]
    fn other_conversation_shapes() {
        let t = text(
            r#"{"instructions": "Rules", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Question"}]}]}"#,
        );
        let mut conv = String::new();
        assert!(t.conversation_into(&mut conv));
        assert_eq!(conv, "rules question");
        let t = text(
            r#"{"system": [{"type": "text", "text": "Sys"}], "messages": [{"role": "user", "content": "Q"}]}"#,
        );
        let mut conv = String::new();
        assert!(t.conversation_into(&mut conv));
        assert_eq!(conv, "sys q");
        let t = text(r#"{"prompt": ["one", "two"]}"#);
        let mut conv = String::new();
        assert!(t.conversation_into(&mut conv));
        assert_eq!(conv, "one two");
    }

    #[test]
    fn syntax_errors_report_a_position_and_deep_nesting_is_an_error() {
        let mut out = ScanText::default();
        match extract("{\"a\": 1,\n  \"b\": }", &mut out) {
            Err(JsonError::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 8)),
            other => panic!("{other:?}"),
        }
        let deep = "[".repeat(100_000);
        assert!(matches!(
            extract(&deep, &mut out),
            Err(JsonError::Syntax { .. })
        ));
        assert!(matches!(
            extract(r#"{"a":"\ud800"}"#, &mut out),
            Err(JsonError::Syntax { .. })
        ));
    }
}
