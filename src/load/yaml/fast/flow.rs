//! The fast path's flow collections (`{ a: 1 }`, `[1, 2]`), on one line.

use super::{Fast, MAP_CLOSE, MAP_OPEN, SEQ_CLOSE, SEQ_OPEN};
use crate::load::yaml::{Node, Value, plain};

impl<'a> Fast<'a> {
    /// A flow collection on one line; the reader ends after its closing bracket.
    pub(super) fn flow(&mut self) -> Option<Node> {
        let pos = self.pos(self.i);
        let map = self.at() == MAP_OPEN;
        let close = if map { MAP_CLOSE } else { SEQ_CLOSE };
        self.open()?;
        self.i += 1;
        self.spaces();
        let value = if map {
            let mut entries = Vec::new();
            if self.at() != close {
                loop {
                    let key = self.flow_scalar()?;
                    if self.at() != b':' || self.peek(self.i + 1) != b' ' {
                        return None;
                    }
                    self.i += 1;
                    self.spaces();
                    let value = self.flow_node()?;
                    entries.push((key, value));
                    if !self.flow_next(close)? {
                        break;
                    }
                }
            }
            Value::Map(entries)
        } else {
            let mut items = Vec::new();
            if self.at() != close {
                loop {
                    items.push(self.flow_node()?);
                    // `[a: b]` is a mapping in a sequence: the general parser's.
                    if self.at() == b':' {
                        return None;
                    }
                    if !self.flow_next(close)? {
                        break;
                    }
                }
            }
            Value::Seq(items)
        };
        self.i += 1;
        self.depth -= 1;
        Some(Node { pos, value })
    }

    /// After an entry: `,` and another entry (true), or the closing bracket (false, the reader
    /// on it). A trailing comma, an empty entry or a line break is the general parser's.
    fn flow_next(&mut self, close: u8) -> Option<bool> {
        self.spaces();
        match self.at() {
            b',' => {
                self.i += 1;
                self.spaces();
                (!matches!(self.at(), b',' | SEQ_CLOSE | MAP_CLOSE | b'\n' | b'#')).then_some(true)
            }
            b if b == close => Some(false),
            _ => None,
        }
    }

    fn flow_node(&mut self) -> Option<Node> {
        match self.at() {
            MAP_OPEN | SEQ_OPEN => self.flow(),
            _ => self.flow_scalar(),
        }
    }

    fn flow_scalar(&mut self) -> Option<Node> {
        let at = self.i;
        let node = match self.at() {
            b'"' | b'\'' => self.quoted()?,
            _ => {
                let text = self.plain_flow()?;
                self.scalar(at, text.len(), plain(text))?
            }
        };
        self.spaces();
        Some(node)
    }

    /// A plain scalar inside a flow collection.
    fn plain_flow(&mut self) -> Option<&'a str> {
        if !self.plain_starts(true) {
            return None;
        }
        let start = self.i;
        while let Some(&b) = self.s.get(self.i) {
            match b {
                b'\n' | b',' | SEQ_OPEN | SEQ_CLOSE | MAP_OPEN | MAP_CLOSE => break,
                b':' if matches!(self.peek(self.i + 1), b' ' | b'\n' | b',' | SEQ_OPEN | SEQ_CLOSE | MAP_OPEN | MAP_CLOSE) => break,
                b'#' if self.s[self.i - 1] == b' ' => break,
                _ => self.i += 1,
            }
        }
        Some(self.src[start..self.i].trim_end_matches(' '))
    }
}
