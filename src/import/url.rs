//! Splitting a request URL into the origin it names (the gateway, in smokegate) and the path.

/// `https://api.example.com/v1/x?y=1` → `("https://api.example.com", "/v1/x?y=1")`;
/// `{{base_url}}/x` → `("{{base_url}}", "/x")`; `/x` → `("", "/x")`; `api.example.com/x` (as
/// curl takes it) → `("http://api.example.com", "/x")`. Schemes and hosts are lowercased so
/// that one origin compares equal however it is written.
pub fn split(url: &str) -> Result<(String, String), String> {
    let url = url.trim();
    if url.is_empty() {
        return Err("an empty URL".into());
    }
    if let Some(rest) = url.strip_prefix("{{") {
        let end = rest.find("}}").ok_or_else(|| format!("`{url}`: an unclosed `{{{{`"))?;
        let (var, path) = (&rest[..end], &rest[end + 2..]);
        // `{{host}}` names the origin; `{{host}}{{path}}` keeps the second as a path template.
        return Ok((format!("{{{{{}}}}}", var.trim()), with_slash(path)));
    }
    if url.starts_with('/') {
        return Ok((String::new(), url.to_owned()));
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphabetic()) => (s.to_ascii_lowercase(), r),
        _ => ("http".to_owned(), url),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{url}`: only http and https URLs go through a gateway"));
    }
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, path) = (&rest[..cut], &rest[cut..]);
    if host.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    let host = if host.contains("{{") { host.to_owned() } else { host.to_ascii_lowercase() };
    let path = path.split('#').next().unwrap_or_default();
    Ok((format!("{scheme}://{host}"), with_slash(path)))
}

fn with_slash(path: &str) -> String {
    if path.starts_with('/') { path.to_owned() } else { format!("/{path}") }
}

/// Appends `k=v` pairs to a path's query string; values that are templates are kept as written
/// (smokegate renders them), the rest percent-encoded.
pub fn with_query(path: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let enc = |s: &str| {
        if s.contains("{{") { s.to_owned() } else { ::url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>() }
    };
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{}", q.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_origin_and_path() {
        assert_eq!(split("https://API.example.com/v1/x?y=1#f").unwrap(), ("https://api.example.com".into(), "/v1/x?y=1".into()));
        assert_eq!(split("{{ base_url }}/x").unwrap(), ("{{base_url}}".into(), "/x".into()));
        assert_eq!(split("http://h:8080").unwrap(), ("http://h:8080".into(), "/".into()));
        assert_eq!(split("h.example/x").unwrap(), ("http://h.example".into(), "/x".into()));
        assert_eq!(split("/x").unwrap(), ("".into(), "/x".into()));
        assert!(split("ftp://h/x").is_err());
        assert!(split("{{x").is_err());
        assert_eq!(
            with_query("/a?b=1", &[("q".into(), "two words".into()), ("t".into(), "{{ t }}".into())]),
            "/a?b=1&q=two+words&t={{ t }}"
        );
    }
}
