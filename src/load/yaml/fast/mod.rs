//! The fast path: the part of YAML that suites are written in, read without the general parser.
//!
//! yaml-rust2 spends about 350 instructions a byte, a third of what a GET step costs in the
//! bench. Suites use a small part of YAML: block mappings and sequences, one-line flow
//! collections, plain and one-line quoted scalars, comments. This reads exactly that part and
//! gives up (`None`) on anything else — a tab, a block scalar, an anchor, a flow collection over
//! several lines, any syntax error — and the general parser reads the whole document instead, so
//! this never decides what is an error or what the message says.
//!
//! What it returns must be the tree yaml-rust2's events build, positions included. Debug builds
//! (every test, the integration tests' binary too) parse every document both ways and compare
//! (`super::parse`), and a generator test does the same on documents built to reach the corners.

use super::{MAX_DEPTH, MAX_NODES, MAX_TEXT_BYTES, Node, Value, plain};
use crate::load::diag::Pos;

mod flow;

/// The tree of `src`, or `None` when it is not in the part this reads.
pub(super) fn parse(src: &str) -> Option<Node> {
    if !simple_text(src.as_bytes()) {
        return None;
    }
    let mut p = Fast { s: src.as_bytes(), src, i: 0, line: 1, line_start: 0, counted: (0, 0), indent: END, events: 4, bytes: 0, depth: 0 };
    p.indent = match p.content()? {
        Some(indent) => indent,
        None => p.skip_lines()?,
    };
    // An empty document is the general parser's to say (it is cheap).
    let root = p.block(usize::try_from(p.indent).ok()?)?;
    (p.indent == END).then_some(root)
}

/// The flow indicators, by name (as byte literals they read as braces to line-based tools).
const MAP_OPEN: u8 = 0x7b;
const MAP_CLOSE: u8 = 0x7d;
const SEQ_OPEN: u8 = 0x5b;
const SEQ_CLOSE: u8 = 0x5d;

/// The indent of "no more lines".
const END: isize = -1;

/// Refuses what the fast path does not reason about, before it starts: tabs, carriage returns,
/// control characters, a byte-order mark, and the characters YAML treats specially (NEL, the
/// line and paragraph separators, the non-characters U+FFFE/U+FFFF).
fn simple_text(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\n' | 0x20..=0x7e => {}
            0x00..=0x1f | 0x7f => return false,
            0xc2 if matches!(s.get(i + 1), Some(0x80..=0x9f)) => return false,
            0xe2 if s.get(i + 1) == Some(&0x80) && matches!(s.get(i + 2), Some(0xa8 | 0xa9)) => return false,
            0xef if matches!((s.get(i + 1), s.get(i + 2)), (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe | 0xbf))) => {
                return false;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

struct Fast<'a> {
    s: &'a [u8],
    src: &'a str,
    /// The byte being read.
    i: usize,
    /// 1-based line of `i`, and the byte its line starts at.
    line: usize,
    line_start: usize,
    /// The last byte of the line whose column was counted, and that column, so that counting
    /// the characters before each node is linear in the line, not in every node's column.
    counted: (usize, usize),
    /// The indent of the line the reader stands on (at its first character), or `END`.
    indent: isize,
    /// The budgets of `super::Builder`, counted as its events would count them, so a document
    /// near a limit goes to the general parser, which says so.
    events: usize,
    bytes: usize,
    depth: usize,
}

/// What a block node's first token turned out to be.
enum Head {
    /// A key and its `:` — the node is a mapping.
    Key(Node),
    /// A whole one-line node; the reader is on the next line.
    Node(Node),
}

impl<'a> Fast<'a> {
    fn peek(&self, at: usize) -> u8 {
        self.s.get(at).copied().unwrap_or(b'\n')
    }

    fn at(&self) -> u8 {
        self.peek(self.i)
    }

    /// The 1-based position of byte `i` on the current line, in characters as yaml-rust2 counts.
    fn pos(&mut self, i: usize) -> Pos {
        let (from, before) = if self.counted.0 <= i { self.counted } else { (self.line_start, 0) };
        let col = before + self.s[from..i].iter().filter(|&&b| b & 0xc0 != 0x80).count();
        self.counted = (i, col);
        Pos { line: self.line, col: col + 1 }
    }

    fn spaces(&mut self) {
        while self.s.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    /// Finishes the line after a node: spaces, then a comment (after a space), then the line's end.
    fn end_line(&mut self) -> Option<()> {
        self.spaces();
        match self.s.get(self.i) {
            None => Some(()),
            Some(b'\n') => Some(()),
            // A comment after a space (a plain scalar ends before it, at the space).
            Some(b'#') if self.s[self.i - 1] == b' ' => {
                self.i += self.s[self.i..].iter().position(|&b| b == b'\n').unwrap_or(self.s.len() - self.i);
                Some(())
            }
            Some(_) => None,
        }
    }

    /// Steps over the end of the line the reader is at, and over blank and comment lines, to
    /// the first character of the next line with content; its indent, or `END`.
    fn skip_lines(&mut self) -> Option<isize> {
        loop {
            match self.s.get(self.i) {
                None => return Some(END),
                Some(b'\n') => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                    self.counted = (self.i, 0);
                }
                Some(_) => return None,
            }
            if let Some(indent) = self.content()? {
                return Some(indent);
            }
        }
    }

    /// At a line's start: the indent of its content, or `None` (the reader at its end) when it
    /// is blank or a comment.
    fn content(&mut self) -> Option<Option<isize>> {
        self.spaces();
        match self.s.get(self.i) {
            None | Some(b'\n') => Some(None),
            Some(b'#') => {
                self.i += self.s[self.i..].iter().position(|&b| b == b'\n').unwrap_or(self.s.len() - self.i);
                Some(None)
            }
            Some(_) => {
                let rest = &self.s[self.line_start..];
                // Document markers and directives are the general parser's.
                if rest.starts_with(b"---") || rest.starts_with(b"...") || rest.starts_with(b"%") {
                    return None;
                }
                isize::try_from(self.i - self.line_start).ok().map(Some)
            }
        }
    }

    /// `-` as a sequence entry's indicator.
    fn dash(&self) -> bool {
        self.at() == b'-' && matches!(self.peek(self.i + 1), b' ' | b'\n')
    }

    /// At the end of the line's content (its end or a comment; the caller stepped over spaces).
    fn at_line_end(&self) -> bool {
        matches!(self.at(), b'\n' | b'#')
    }

    fn open(&mut self) -> Option<()> {
        self.depth += 1;
        self.events += 2;
        (self.depth + 1 < MAX_DEPTH && self.events + 8 < MAX_NODES).then_some(())
    }

    /// A scalar of `len` bytes of text at byte `at`.
    fn scalar(&mut self, at: usize, len: usize, value: Value) -> Option<Node> {
        self.events += 1;
        self.bytes += len.max(1);
        if self.events + 8 >= MAX_NODES || self.bytes + 8 >= MAX_TEXT_BYTES {
            return None;
        }
        let pos = self.pos(at);
        Some(Node { pos, value })
    }

    /// A block node whose first character is at `self.i`, column `c` (0-based).
    fn block(&mut self, c: usize) -> Option<Node> {
        if self.dash() {
            return self.block_seq(c, false);
        }
        match self.head()? {
            // yaml-rust2 places a block mapping at its first key's `:`, just read.
            Head::Key(key) => self.block_map(c, self.i - 1, key),
            Head::Node(node) => Some(node),
        }
    }

    /// A block mapping at column `c` (its position at byte `at`); its first key has been read.
    fn block_map(&mut self, c: usize, at: usize, first: Node) -> Option<Node> {
        let pos = self.pos(at);
        self.open()?;
        let mut entries = Vec::new();
        let mut key = first;
        loop {
            self.spaces();
            let value = if self.at_line_end() {
                self.end_line()?;
                self.indent = self.skip_lines()?;
                match self.indent {
                    k if k > c as isize => self.block(k as usize)?,
                    // A sequence may sit at its key's indent.
                    k if k == c as isize && self.dash() => self.block_seq(c, true)?,
                    // An empty value: the general parser's (its position is not the key's).
                    _ => return None,
                }
            } else if self.dash() {
                return None;
            } else {
                match self.head()? {
                    Head::Node(node) => node,
                    Head::Key(_) => return None,
                }
            };
            entries.push((key, value));
            match self.indent {
                k if k == c as isize && !self.dash() => match self.head()? {
                    Head::Key(next) => key = next,
                    Head::Node(_) => return None,
                },
                k if k < c as isize => break,
                _ => return None,
            }
        }
        self.depth -= 1;
        Some(Node { pos, value: Value::Map(entries) })
    }

    /// A block sequence whose first `-` is at `self.i`, column `c`; `indentless` when it sits
    /// at its key's indent (yaml-rust2 places that one at its first item, not at the dash).
    fn block_seq(&mut self, c: usize, indentless: bool) -> Option<Node> {
        let mut pos = self.pos(self.i);
        self.open()?;
        let mut items = Vec::new();
        loop {
            self.i += 1;
            self.spaces();
            if indentless && items.is_empty() {
                if self.at_line_end() {
                    return None;
                }
                pos = self.pos(self.i);
            }
            let item = if self.at_line_end() {
                self.end_line()?;
                self.indent = self.skip_lines()?;
                match self.indent {
                    k if k > c as isize => self.block(k as usize)?,
                    _ => return None,
                }
            } else {
                let col = self.pos(self.i).col - 1;
                self.block(col)?
            };
            items.push(item);
            match self.indent {
                k if k == c as isize && self.dash() => {}
                // At `c` without a dash: the key after a sequence at its key's indent; the
                // mapping it belongs to judges it.
                k if k <= c as isize => break,
                _ => return None,
            }
        }
        self.depth -= 1;
        Some(Node { pos, value: Value::Seq(items) })
    }

    /// The first token of a block node: a key with its `:`, or a whole one-line node (then the
    /// reader moves on to the next line with content).
    fn head(&mut self) -> Option<Head> {
        let at = self.i;
        let node = match self.at() {
            MAP_OPEN | SEQ_OPEN => self.flow()?,
            b'"' | b'\'' => self.quoted()?,
            _ => {
                let (text, key) = self.plain_block()?;
                // yaml-rust2 allows a key of at most 1024 characters.
                if key && text.len() > 1000 {
                    return None;
                }
                let node = self.scalar(at, text.len(), plain(text))?;
                if key {
                    self.i += 1;
                    return Some(Head::Key(node));
                }
                node
            }
        };
        if self.at() == b':' {
            // A quoted key (a flow collection as a key is the general parser's).
            let quoted = matches!(self.s[at], b'"' | b'\'');
            if !quoted || !matches!(self.peek(self.i + 1), b' ' | b'\n') || self.i - at > 1000 {
                return None;
            }
            self.i += 1;
            return Some(Head::Key(node));
        }
        self.end_line()?;
        self.indent = self.skip_lines()?;
        Some(Head::Node(node))
    }

    /// Whether a plain scalar may start here: not on an indicator, except `-` before a
    /// character that cannot continue one (`-1`, `-x`).
    fn plain_starts(&self, flow: bool) -> bool {
        match self.at() {
            b'-' => {
                let next = self.peek(self.i + 1);
                next.is_ascii_alphanumeric() || next == b'.' && !flow
            }
            b'?' | b':' | b',' | SEQ_OPEN | SEQ_CLOSE | MAP_OPEN | MAP_CLOSE | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\'' | b'"'
            | b'%' | b'@' | b'`' | b' ' | b'\n' => false,
            _ => true,
        }
    }

    /// A plain scalar in block context; whether a key's `:` ends it (the reader stands on it).
    fn plain_block(&mut self) -> Option<(&'a str, bool)> {
        if !self.plain_starts(false) {
            return None;
        }
        let start = self.i;
        let mut key = false;
        while let Some(&b) = self.s.get(self.i) {
            match b {
                b'\n' => break,
                b':' if matches!(self.peek(self.i + 1), b' ' | b'\n') => {
                    key = true;
                    break;
                }
                b'#' if self.s[self.i - 1] == b' ' => break,
                _ => self.i += 1,
            }
        }
        let text = self.src[start..self.i].trim_end_matches(' ');
        Some((text, key))
    }

    /// A one-line quoted scalar; the reader ends after its closing quote.
    fn quoted(&mut self) -> Option<Node> {
        let at = self.i;
        let quote = self.at();
        self.i += 1;
        let start = self.i;
        let mut owned: Option<String> = None;
        loop {
            let b = *self.s.get(self.i)?;
            match b {
                b'\n' => return None,
                b'\'' if quote == b'\'' && self.peek(self.i + 1) == b'\'' => {
                    owned.get_or_insert_with(|| self.src[start..self.i].to_owned()).push('\'');
                    self.i += 2;
                    continue;
                }
                b'\\' if quote == b'"' => {
                    let c = match self.peek(self.i + 1) {
                        b'\\' => '\\',
                        b'"' => '"',
                        b'/' => '/',
                        b'n' => '\n',
                        b't' => '\t',
                        _ => return None,
                    };
                    owned.get_or_insert_with(|| self.src[start..self.i].to_owned()).push(c);
                    self.i += 2;
                    continue;
                }
                _ if b == quote => break,
                _ => {}
            }
            let len = utf8_len(b);
            if let Some(o) = owned.as_mut() {
                o.push_str(self.src.get(self.i..self.i + len)?);
            }
            self.i += len;
        }
        let text = match owned {
            Some(o) => o,
            None => self.src[start..self.i].to_owned(),
        };
        self.i += 1;
        self.scalar(at, text.len(), Value::Str(text))
    }
}

/// The length of the UTF-8 character that starts with byte `b`.
fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{general, same};
    use super::parse;

    /// The fast path read `src` as yaml-rust2 does, or left it to it; which, returned.
    fn agrees(src: &str) -> bool {
        let Some(fast) = parse(src) else { return false };
        let general =
            general(Path::new("t.yaml"), src).unwrap_or_else(|e| panic!("the fast path read a document yaml-rust2 refuses ({e}):\n{src}"));
        assert!(same(&fast, &general), "the fast path differs on\n{src}\nfast: {fast:?}\ngeneral: {general:?}");
        true
    }

    fn yaml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() && !matches!(name.to_str(), Some("target" | ".git" | "node_modules")) {
                yaml_files(&p, out);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_yaml_file_in_the_repository_is_read_as_yaml_rust2_reads_it() {
        let mut files = Vec::new();
        yaml_files(Path::new(env!("CARGO_MANIFEST_DIR")), &mut files);
        assert!(files.len() > 20, "found only {} YAML files", files.len());
        let mut taken = Vec::new();
        for f in &files {
            // Files that are not UTF-8 (fixtures of that refusal) never reach the parser.
            let Ok(src) = std::fs::read_to_string(f) else { continue };
            if agrees(&src) {
                taken.push(f);
            }
        }
        // The suites and configs people copy from are all in the part the fast path reads
        // (the workflows have block scalars, the corpus is there to be refused).
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["smoke-suites", "compat", "tests/fixtures"] {
            for f in files.iter().filter(|f| f.starts_with(root.join(dir))) {
                assert!(taken.contains(&f), "the fast path left {} to the general parser", f.display());
            }
        }
    }

    #[test]
    fn the_part_suites_are_written_in_is_read_here() {
        for doc in [
            "name: w1\nsteps:\n  - name: read 1\n    request: { path: \"/api/orders/{{ id }}\" }\n    expect: { status: 200, json: { $.id: \"{{ id }}\", $.sku: bench, $.qty: 1 } }\n",
            "steps:\n- name: at the key's indent\n  expect: { status: [200, 204, 404] }\n",
            "# a comment\n\nvars:   # after a key\n  a: 'it''s'   # after a value\n  b: \"tab\\tand \\\"quote\\\"\"\n",
            "name: Grüße 😀\nsteps:\n  - name: ünïcode before a value\n    request: { path: /é, headers: { X-A: ö } }\n",
            "a:\n  - - 1\n    - -2.5\n  - []\n  - {}\nb: ~\nc: yes\nd: 0x1F\ne: .nan\n",
            "url: http://x:80/a#b\nwhy: a #comment\n",
        ] {
            assert!(agrees(doc), "left to the general parser:\n{doc}");
        }
    }

    #[test]
    fn the_rest_of_yaml_is_left_to_yaml_rust2() {
        for doc in [
            "body: |\n  line one\n  line two\n",
            "body: >\n  folded\n",
            "base: &b { a: 1 }\nuse: *b\n",
            "tagged: !!str 1\n",
            "a: \"x\ty\"\n",
            "a: b\r\nc: d\r\n",
            "\u{feff}a: b\n",
            "---\na: b\n",
            "a: b\n...\n",
            "empty:\nnext: 1\n",
            "flow: { a: 1,\n  b: 2 }\n",
            "plain: first line\n  continued\n",
            "quoted: \"first line\n  continued\"\n",
            "escape: \"\\u00e9\"\n",
            "? complex key\n: value\n",
            "list: [a, b, ]\n",
            "json: {\"a\":1}\n",
            "",
            "# only a comment\n",
        ] {
            assert!(parse(doc).is_none(), "the fast path took\n{doc}");
            assert!(general(Path::new("t.yaml"), doc).is_ok(), "not valid YAML, so not a test of the boundary:\n{doc}");
        }
    }

    /// A small deterministic generator (xorshift), so a failure names its seed.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn one<'a>(&mut self, of: &[&'a str]) -> &'a str {
            of[self.below(of.len())]
        }
        fn chance(&mut self, in_: usize) -> bool {
            self.below(in_) == 0
        }
    }

    /// Plain scalars: the core schema's corners, indicators where they change the meaning,
    /// template and JSONPath text, Unicode, and text that is not a plain scalar at all.
    const SAFE: &[&str] = &["a", "name", "$.id", "/api/x/{{ id }}", "1", "1.5", "true", "~", "a b", "é", "-1", "x:y"];
    const PLAIN: &[&str] = &[
        "a",
        "name",
        "$.id",
        "$.items[0].x",
        "$..x",
        "/api/orders/{{ id }}",
        "{{ id }}",
        "1",
        "-1",
        "0x1F",
        "0o17",
        "007",
        "+1",
        "1.5",
        "1e3",
        "-.5",
        ".inf",
        "-.inf",
        ".nan",
        "~",
        "null",
        "Null",
        "true",
        "False",
        "yes",
        "on",
        "a b",
        "a  b",
        "a:b",
        "a#b",
        "a #b",
        "http://x:80/y?q=1#f",
        "-x",
        "-",
        "--x",
        "é",
        "日本語",
        "😀 x",
        "a,b",
        "a[0]",
        "a{b}",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "?",
        "?x",
        ":x",
        "&a",
        "*a",
        "!t",
        "|",
        ">",
        "%x",
        "@x",
        "`x",
        "'",
        "\"",
        "#",
        "a: b",
        "- a",
        "---",
        "--- x",
        "...",
        "\\",
        "a\\nb",
        "x\u{85}y",
        "x\u{2028}y",
        "\u{feff}x",
        "a\tb",
        "",
        "=",
        "<<",
        "a'b",
        "a\"b",
        "2001-12-14",
        "12:30",
        "1_000",
        "0b11",
        "+.inf",
        "1.",
        ".",
        "-0",
        "0.0",
    ];
    const DQ: &[&str] =
        &["", "a", "a b", "{{ id }}", "\\\\", "\\\"", "\\n", "\\t", "\\/", "\\u00e9", "\\x41", "\\ ", "é", "'", "#", ": ", "\\"];
    const SQ: &[&str] = &["", "a", "a b", "''", "\"", "\\", "é", "#", ": ", "'"];
    const SPACE: &[&str] = &["", " ", "  "];

    fn scalar(g: &mut Gen, flow: bool) -> String {
        match g.below(6) {
            0 => format!("\"{}{}\"", g.one(DQ), g.one(DQ)),
            1 => format!("'{}{}'", g.one(SQ), g.one(SQ)),
            2 if !flow => format!("{} {}", g.one(PLAIN), g.one(PLAIN)),
            3 => g.one(PLAIN).to_owned(),
            _ => g.one(SAFE).to_owned(),
        }
    }

    fn flow(g: &mut Gen, depth: usize) -> String {
        let n = g.below(4);
        let map = g.chance(2);
        let mut out = String::from(if map { "{" } else { "[" });
        out += g.one(SPACE);
        for i in 0..n {
            if i > 0 {
                out += g.one(&[",", ", ", " , ", ",,", ",\n  "]);
            }
            if map {
                out += &scalar(g, true);
                out += g.one(&[": ", ":", " : ", ":  "]);
            }
            if depth < 3 && g.chance(4) {
                out += &flow(g, depth + 1);
            } else {
                out += &scalar(g, true);
            }
        }
        if n > 0 && g.chance(12) {
            out += ",";
        }
        out += g.one(SPACE);
        out += if map { "}" } else { "]" };
        out
    }

    fn tail(g: &mut Gen) -> &'static str {
        g.one(&["", "", "", " ", "  # c", " #c", "#c", "   "])
    }

    fn filler(g: &mut Gen, out: &mut String) {
        if g.chance(8) {
            out.push_str(g.one(&["\n", "# c\n", "   # c\n", "  \n", "#\n"]));
        }
    }

    /// A block node at `indent` spaces, written from the start of a line (or after `- `).
    fn block(g: &mut Gen, indent: usize, depth: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        if depth > 3 || g.chance(5) {
            // A one-line node.
            let node = if g.chance(4) { flow(g, 0) } else { scalar(g, false) };
            out.push_str(&node);
            out.push_str(tail(g));
            out.push('\n');
            return;
        }
        let seq = g.chance(3);
        for i in 0..1 + g.below(3) {
            if i > 0 {
                filler(g, out);
                out.push_str(&pad);
                if g.chance(40) {
                    out.push(' ');
                }
            }
            if seq {
                out.push_str(g.one(&["- ", "-  ", "-", "- "]));
            } else {
                out.push_str(&scalar(g, false));
                out.push_str(g.one(&[": ", ":", " : ", ":  ", ": "]));
            }
            match g.below(4) {
                0 => {
                    out.push_str(tail(g));
                    out.push('\n');
                    filler(g, out);
                    let inner = indent + g.one(&["1", "2", "2", "4", "0"]).parse::<usize>().unwrap();
                    if g.chance(10) {
                        continue; // an empty value
                    }
                    out.push_str(&" ".repeat(inner));
                    if inner == indent && !seq {
                        // A sequence at its key's indent.
                        out.push_str("- ");
                        block(g, inner + 2, depth + 1, out);
                    } else {
                        block(g, inner, depth + 1, out);
                    }
                }
                // On the same line: a nested mapping after `- `, or a one-line node.
                1 if seq => {
                    let at = out.len() - out.rfind('\n').map_or(0, |n| n + 1);
                    block(g, out[out.len() - at..].chars().count(), depth + 1, out)
                }
                _ => {
                    let node = if g.chance(3) { flow(g, 0) } else { scalar(g, false) };
                    out.push_str(&node);
                    out.push_str(tail(g));
                    out.push('\n');
                }
            }
        }
    }

    #[test]
    fn generated_documents_are_read_as_yaml_rust2_reads_them_or_left_to_it() {
        let (mut taken, mut valid) = (0, 0);
        for seed in 1..=50_000u64 {
            let mut g = Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let mut doc = String::new();
            filler(&mut g, &mut doc);
            let indent = usize::from(g.chance(10));
            doc.push_str(&" ".repeat(indent));
            block(&mut g, indent, 0, &mut doc);
            if g.chance(6) {
                doc.pop();
            }
            let taken_here = std::panic::catch_unwind(|| agrees(&doc)).unwrap_or_else(|_| panic!("seed {seed}"));
            taken += usize::from(taken_here);
            valid += usize::from(general(Path::new("t.yaml"), &doc).is_ok());
        }
        // Not a test of a path that is never taken.
        eprintln!("the fast path took {taken} of {valid} valid generated documents");
        assert!(taken * 2 > valid, "the fast path took only {taken} of {valid} valid generated documents");
    }
}
