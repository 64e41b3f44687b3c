//! Stub detection: does an answer read like "not implemented"? And the short body hint failure
//! messages quote.

use serde_json::Value as J;

use crate::load::config::StubPhrases;

/// Looks for a stub's answer: the whole body when it is text, or, when it is JSON, a bare string
/// or the error-shaped fields of the top-level object (`error`, `message`, `detail`, `code`,
/// `status`, …, and everything beneath them). Never other data fields, and never a string the
/// step itself sent. Matching is case- and punctuation-insensitive and splits camelCase, so
/// "Not yet implemented", `not_implemented` and `NotImplementedError` all read as words.
/// Stubs answer short messages: a larger JSON document is data.
pub(super) const STUB_MAX: usize = 64 * 1024;

pub(super) fn looks_json(body: &[u8]) -> bool {
    // An object, an array or a string.
    body.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| b"{[\"".contains(b))
}

/// `doc` is the body parsed as JSON, when it is JSON (the caller parses it once for everyone).
pub(super) fn stub_phrase<'a>(body: &[u8], doc: Option<&J>, phrases: &'a StubPhrases, sent: Option<&[u8]>) -> Option<&'a str> {
    if body.is_empty() || phrases.is_empty() || (looks_json(body) && body.len() > STUB_MAX) {
        return None;
    }
    let mut candidates: Vec<String> = Vec::new();
    match doc {
        Some(J::String(s)) => candidates.push(s.clone()),
        Some(J::Object(map)) => {
            for (k, v) in map {
                if is_error_key(k) {
                    collect_strings(v, &mut candidates);
                }
            }
        }
        Some(_) => {}
        // Only the first 64 KiB: stubs answer short messages, and this runs on every response.
        None => candidates.push(String::from_utf8_lossy(&body[..body.len().min(STUB_MAX)]).into_owned()),
    }
    if candidates.is_empty() {
        return None;
    }
    let sent = sent.map(String::from_utf8_lossy).unwrap_or_default();
    for c in candidates {
        if !sent.is_empty() && (sent.contains(&c) || sent.contains(&J::String(c.clone()).to_string())) {
            continue;
        }
        if let Some(p) = phrases.found_in(&c) {
            return Some(p);
        }
    }
    None
}

/// Keys that hold an error's words (problem+json, framework error envelopes, gRPC gateways).
fn is_error_key(key: &str) -> bool {
    // Most keys are already lower-case words: looked at as they are, without a copy.
    let k: std::borrow::Cow<'_, str> = if key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        key.into()
    } else {
        key.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase().into()
    };
    ["error", "exception", "fault"].iter().any(|w| k.contains(w))
        || ["message", "msg", "detail", "details", "title", "reason", "status", "statusmessage", "code", "type"].contains(&&*k)
}

fn collect_strings(v: &J, out: &mut Vec<String>) {
    match v {
        J::String(s) => out.push(s.clone()),
        J::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        J::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// A short excerpt of an error body, to show next to an unexpected status.
pub fn body_hint(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(160)]).replace(['\n', '\r'], " ");
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!(" ({text}{})", if body.len() > 160 { "…" } else { "" }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::json::parse_json;
    use crate::load::config::words;

    /// The stub check as `evaluate` runs it: on the body and its parse.
    fn stub<'a>(body: &[u8], phrases: &'a StubPhrases, sent: Option<&[u8]>) -> Option<&'a str> {
        let doc = parse_json(body).ok();
        stub_phrase(body, doc.as_ref(), phrases, sent)
    }

    #[test]
    fn stub_phrases_match_error_shaped_bodies_in_any_spelling() {
        let phrases = StubPhrases::new(crate::load::config::DEFAULT_STUB_PHRASES.iter().map(|s| s.to_string()).collect());
        for body in [
            &br#"{"error":"Not Implemented yet"}"#[..],
            br#"{"message":"Not yet implemented"}"#,
            br#"{"code":"not_implemented"}"#,
            br#"{"error":{"type":"NotImplementedError","detail":"x"}}"#,
            br#"{"errors":[{"msg":"NOT_IMPLEMENTED"}]}"#,
            br#""notImplemented""#,
            b"501: Unimplemented",
            b"<h1>Not Implemented</h1>",
            br#"{"title":"Method not implemented."}"#,
        ] {
            assert!(stub(body, &phrases, None).is_some(), "{}", String::from_utf8_lossy(body));
        }
        for body in [
            &br#"{"ok":true}"#[..],
            br#"{"id":"ord-1","note":"gift wrap not implemented in v1"}"#,
            br#"[{"message":"not implemented"}]"#,
            br#"{"items":[{"error":"not implemented"}]}"#,
            b"implemented nothing",
        ] {
            assert_eq!(stub(body, &phrases, None), None, "{}", String::from_utf8_lossy(body));
        }
        // Words the step sent itself are data, even in a message field.
        let sent = br#"{"message":"gift wrap not implemented in v1"}"#;
        assert_eq!(stub(br#"{"message":"gift wrap not implemented in v1"}"#, &phrases, Some(sent)), None);
        assert!(stub(br#"{"message":"not implemented"}"#, &phrases, Some(b"{}")).is_some());
    }

    #[test]
    fn words_split_camel_case_and_punctuation() {
        assert_eq!(words("NotImplementedError"), "not implemented error");
        assert_eq!(words("NOT_IMPLEMENTED"), "not implemented");
        assert_eq!(words("  Not-yet   implemented!! "), "not yet implemented");
    }
}
