//! A request as a `curl` command line that sends it again through the gateway: the same method,
//! URL, headers (the same reqId among them) and body. The run's credential is never written
//! out: it becomes `$SMOKEGATE_TOKEN` (or `$SMOKEGATE_API_KEY`), which
//! `export SMOKEGATE_TOKEN=$(smokegate token --raw)` mints locally. Printed lines still pass
//! through the sanitizer like every other output.

use crate::http::client::{Credential, HttpClient, Outgoing};

/// `curl` for `out` as sent with reqId `request_id`; `None` when it never had a URL (off the
/// gateway, unrenderable).
pub fn curl(client: &HttpClient, out: &Outgoing, request_id: &str) -> Option<String> {
    let url = client.gateway.resolve(&out.path).ok()?;
    let mut args = vec!["curl".to_owned(), "-sS".to_owned(), "-i".to_owned()];
    if out.method != reqwest::Method::GET {
        args.extend(["-X".to_owned(), quote(out.method.as_str())]);
    }
    args.push(quote(url.as_str()));
    let rid_header = &client.settings.request_id_header;
    let own = client.own_request_id(out).is_some();
    if !own {
        args.extend(["-H".to_owned(), quote(&format!("{rid_header}: {request_id}"))]);
    }
    const SIGNATURE: [&str; 3] = ["authorization", "x-amz-date", "x-amz-security-token"];
    for (k, v) in &out.headers {
        let lower = k.to_ascii_lowercase();
        if out.signed.is_some() && SIGNATURE.contains(&lower.as_str()) {
            // The signature is not replayable (and not shown): curl signs anew.
            if lower == "x-amz-security-token" {
                args.extend(["-H".to_owned(), "\"x-amz-security-token: $AWS_SESSION_TOKEN\"".to_owned()]);
            }
            continue;
        }
        args.extend(["-H".to_owned(), quote(&format!("{k}: {v}"))]);
    }
    if let Some(scope) = &out.signed {
        args.extend(["--aws-sigv4".to_owned(), quote(&format!("aws:amz:{}:{}", scope.region, scope.service))]);
        args.extend(["--user".to_owned(), "\"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\"".to_owned()]);
    }
    match &out.credential {
        Some(Credential::Token { header, scheme, .. }) => {
            args.extend(["-H".to_owned(), format!("\"{header}: {}\"", crate::http::client::with_scheme(scheme, "$SMOKEGATE_TOKEN"))])
        }
        Some(Credential::Cookie(name, _)) => args.extend(["-H".to_owned(), format!("\"Cookie: {name}=$SMOKEGATE_TOKEN\"")]),
        Some(Credential::Header(name, _)) => args.extend(["-H".to_owned(), format!("\"{name}: $SMOKEGATE_API_KEY\"")]),
        None => {}
    }
    if let Some((body, ct)) = &out.body {
        // The step's own content type is among its headers; the body's is sent only without one.
        if !out.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            args.extend(["-H".to_owned(), quote(&format!("content-type: {ct}"))]);
        }
        args.extend(["--data-binary".to_owned(), quote(&String::from_utf8_lossy(body))]);
    }
    if out.follow_redirects {
        args.push("-L".to_owned());
    }
    Some(args.join(" "))
}

/// A POSIX shell single-quoted word.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+".contains(&b)) {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell() {
        assert_eq!(quote("GET"), "GET");
        assert_eq!(quote("x-request-id: 1"), "'x-request-id: 1'");
        assert_eq!(quote(r#"{"a":"it's"}"#), r#"'{"a":"it'\''s"}'"#);
        assert_eq!(quote(""), "''");
    }
}
