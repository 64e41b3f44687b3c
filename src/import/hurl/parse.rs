//! A Hurl file as entries: the request line, headers, sections and body, and the response's
//! status line, headers, `[Captures]`, `[Asserts]` and body — each with its line number. Only
//! the layout is read here; what the lines mean is `convert`'s.

/// One `key: value` or assert line of a section, or a header.
#[derive(Debug, Clone)]
pub struct Line {
    pub n: usize,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Block {
    pub headers: Vec<Line>,
    /// `[Name]` and its lines, in order.
    pub sections: Vec<(Line, Vec<Line>)>,
    /// The body's first line number and text (lines joined with `\n`).
    pub body: Option<(usize, String)>,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub line: usize,
    pub method: String,
    pub url: String,
    pub request: Block,
    /// The status line (`HTTP 200`, `HTTP/1.1 *`): its number and the status text.
    pub response: Option<(usize, String, Block)>,
}

const SECTIONS: &[&str] = &[
    "Query",
    "QueryStringParams",
    "Form",
    "FormParams",
    "Multipart",
    "MultipartFormData",
    "Cookies",
    "BasicAuth",
    "Options",
    "Captures",
    "Asserts",
];

fn is_request_line(l: &str) -> Option<(String, String)> {
    let (m, rest) = l.split_once(char::is_whitespace)?;
    (!m.is_empty() && m.chars().all(|c| c.is_ascii_uppercase()) && m != "HTTP" && !rest.trim().is_empty())
        .then(|| (m.to_owned(), strip_comment(rest).trim().to_owned()))
}

fn strip_comment(s: &str) -> &str {
    s.find(" #").map_or(s, |i| &s[..i])
}

/// `HTTP 200`, `HTTP/1.1 404`, `HTTP/2 *`: the status text.
fn is_status_line(l: &str) -> Option<String> {
    let l = strip_comment(l).trim();
    let rest = l.strip_prefix("HTTP")?;
    let rest = match rest.strip_prefix('/') {
        Some(v) => v.split_once(char::is_whitespace)?.1,
        None => rest,
    };
    let s = rest.trim();
    (s == "*" || (s.len() == 3 && s.chars().all(|c| c.is_ascii_digit()))).then(|| s.to_owned())
}

fn section_name(l: &str) -> Option<String> {
    let t = strip_comment(l).trim();
    let name = t.strip_prefix('[')?.strip_suffix(']')?;
    SECTIONS.contains(&name).then(|| name.to_owned())
}

fn is_comment_or_blank(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#')
}

/// The entries of a file; `Err((line, why))` where its layout is not Hurl's.
pub fn entries(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < lines.len() {
        if is_comment_or_blank(lines[i]) {
            i += 1;
            continue;
        }
        let Some((method, url)) = is_request_line(lines[i].trim()) else {
            return Err((i + 1, format!("expected a request line such as `GET https://…`, found `{}`", lines[i].trim())));
        };
        let line = i + 1;
        i += 1;
        let request = block(&lines, &mut i, true)?;
        let response = match lines.get(i).and_then(|l| is_status_line(l.trim())) {
            Some(status) => {
                let n = i + 1;
                i += 1;
                Some((n, status, block(&lines, &mut i, false)?))
            }
            None => None,
        };
        out.push(Entry { line, method, url, request, response });
    }
    Ok(out)
}

/// Headers, sections and a body, up to the next status line (in a request) or request line.
fn block(lines: &[&str], i: &mut usize, in_request: bool) -> Result<Block, (usize, String)> {
    let mut b = Block::default();
    while *i < lines.len() {
        let raw = lines[*i];
        let t = raw.trim();
        if is_comment_or_blank(raw) {
            *i += 1;
            continue;
        }
        if (in_request && is_status_line(t).is_some()) || is_request_line(t).is_some() {
            break;
        }
        if let Some(name) = section_name(t) {
            b.sections.push((Line { n: *i + 1, text: name }, Vec::new()));
            *i += 1;
            continue;
        }
        // A quoted key in a section (`"a b": 1`) is a line of it, not a JSON string body.
        let keyed = !b.sections.is_empty() && t.starts_with('"') && super::lex::key_value(t).is_some();
        if starts_body(t) && !keyed {
            b.body = Some((*i + 1, body(lines, i, in_request)));
            continue;
        }
        let line = Line { n: *i + 1, text: t.to_owned() };
        match b.sections.last_mut() {
            Some((_, ls)) => ls.push(line),
            None => b.headers.push(line),
        }
        *i += 1;
    }
    Ok(b)
}

fn starts_body(t: &str) -> bool {
    t.starts_with('{')
        || t.starts_with('[')
        || t.starts_with('`')
        || t.starts_with('<')
        || t.starts_with('"')
        || ["base64,", "hex,", "file,"].iter().any(|p| t.starts_with(p))
}

/// A body: a fenced ``` block to its closing fence, else every line up to the next status or
/// request line (trailing blank and comment lines dropped).
fn body(lines: &[&str], i: &mut usize, in_request: bool) -> String {
    let first = lines[*i].trim();
    if first.starts_with("```") {
        let mut text = vec![lines[*i].trim_start()];
        *i += 1;
        while *i < lines.len() {
            text.push(lines[*i]);
            *i += 1;
            if text.last().is_some_and(|l| l.trim() == "```") {
                break;
            }
        }
        return text.join("\n");
    }
    let mut text: Vec<&str> = Vec::new();
    while *i < lines.len() {
        let t = lines[*i].trim();
        if (in_request && is_status_line(t).is_some()) || (is_request_line(t).is_some() && !t.starts_with('"')) {
            break;
        }
        text.push(lines[*i]);
        *i += 1;
    }
    while text.last().is_some_and(|l| is_comment_or_blank(l)) {
        text.pop();
    }
    text.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_splits_into_entries() {
        let text = "# login\nPOST https://x/api/login\nContent-Type: application/json\n{\n  \"u\": \"a\"\n}\n\nHTTP 200\n[Captures]\ntoken: jsonpath \"$.token\"\n\nGET https://x/api/orders\n[Query]\nq: 1\nHTTP/1.1 *\n[Asserts]\nstatus < 500\n```\nraw\nGET inside\n```\nDELETE https://x/api/x\n";
        let e = entries(text).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].line, e[0].method.as_str(), e[0].request.body.as_ref().unwrap().1.as_str()), (2, "POST", "{\n  \"u\": \"a\"\n}"));
        let (n, status, resp) = e[0].response.as_ref().unwrap();
        assert_eq!((*n, status.as_str(), resp.sections[0].0.text.as_str(), resp.sections[0].1[0].n), (8, "200", "Captures", 10));
        assert_eq!(e[1].request.sections[0].1[0].text, "q: 1");
        let (_, status, resp) = e[1].response.as_ref().unwrap();
        assert_eq!((status.as_str(), resp.body.as_ref().unwrap().1.as_str()), ("*", "```\nraw\nGET inside\n```"));
        assert!(e[2].response.is_none());
        assert_eq!(entries("hello\n").unwrap_err().0, 1);
    }
}
