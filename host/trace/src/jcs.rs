//! RFC 8785 (JCS) canonical JSON, written in one pass into one buffer.
//!
//! serde_json does the walking and the string escaping (its escapes are
//! JCS's: `\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase
//! `\u00xx`, everything else verbatim); this formatter writes numbers the
//! ECMAScript way and puts object members in order. Members are written
//! where they come; an object whose keys did not arrive sorted (by UTF-16
//! code units) is noted, and once the value is written its members are
//! moved into order in place. Reordering keeps every length, so objects
//! fixed innermost-first never move each other's offsets. Most of our
//! structs are written once per decision: this allocates a handful of
//! buffers per call instead of several per member (docs/adr/0010).
//!
//! Differences from the letter of RFC 8785, none reachable with the types
//! warden encodes: a non-finite float is written as `null` (serde_json
//! turns it into `null` before a formatter sees it; `serde_json::Value`
//! cannot hold one and the few float fields are validated finite), and a
//! raw JSON fragment is refused.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};
use std::cmp::Ordering;
use std::io::{self, Write};
use std::ops::Range;

/// The canonical JSON of `value`.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(512);
    let mut st = State::default();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Jcs { st: &mut st });
    value.serialize(&mut ser)?;
    if st.duplicate {
        return Err(serde::ser::Error::custom("an object has a duplicate key"));
    }
    st.reorder(&mut out);
    Ok(out)
}

/// One member of an object being written.
#[derive(Debug, Clone)]
struct Member {
    /// The key's text (unescaped) in [`State::keys`].
    key: Range<usize>,
    /// Output offsets: from the key's opening quote to the value's end.
    span: Range<usize>,
}

/// An object being written.
#[derive(Debug)]
struct Open {
    /// Its members begin at this index of [`State::members`].
    first: usize,
    /// Output offset just after `{`.
    body: usize,
    /// Whether the keys came in order so far.
    sorted: bool,
}

/// An object written out of order: its body's range, and where its
/// members' spans, in key order, are in [`State::sorted`].
#[derive(Debug)]
struct Fix {
    body: Range<usize>,
    order: Range<usize>,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes written so far.
    pos: usize,
    open: Vec<Open>,
    members: Vec<Member>,
    /// Keys of open objects' members, unescaped, back to back.
    keys: String,
    /// Inside a key: its text is being captured from this offset of `keys`.
    key_from: Option<usize>,
    /// Output offset of the current key's opening quote.
    key_at: usize,
    fixes: Vec<Fix>,
    /// Member spans of the objects in `fixes`, each object's in key order.
    sorted: Vec<Range<usize>>,
    duplicate: bool,
}

/// JCS orders keys by their UTF-16 code units; for ASCII that is byte order.
fn key_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

impl State {
    fn begin_object(&mut self) {
        self.open.push(Open {
            first: self.members.len(),
            body: self.pos,
            sorted: true,
        });
    }

    fn end_key(&mut self) {
        let Some(from) = self.key_from.take() else {
            return;
        };
        let member = Member {
            key: from..self.keys.len(),
            span: self.key_at..self.key_at,
        };
        if let Some(open) = self.open.last_mut()
            && self.members.len() > open.first
            && let Some(prev) = self.members.last()
        {
            match key_order(&self.keys[prev.key.clone()], &self.keys[member.key.clone()]) {
                Ordering::Less => {}
                Ordering::Equal => self.duplicate = true,
                Ordering::Greater => open.sorted = false,
            }
        }
        self.members.push(member);
    }

    fn end_value(&mut self) {
        let pos = self.pos;
        if let Some(m) = self.members.last_mut() {
            m.span.end = pos;
        }
    }

    /// Called before the closing `}` is written.
    fn end_object(&mut self) {
        let Some(open) = self.open.pop() else {
            return;
        };
        if !open.sorted {
            // The object's members are dropped below: sort them where they are.
            let keys = &self.keys;
            let key = |m: &Member| &keys[m.key.clone()];
            let members = &mut self.members[open.first..];
            members.sort_by(|a, b| key_order(key(a), key(b)));
            if members
                .windows(2)
                .any(|w| key_order(key(&w[0]), key(&w[1])) == Ordering::Equal)
            {
                self.duplicate = true;
            }
            let from = self.sorted.len();
            self.sorted.extend(members.iter().map(|m| m.span.clone()));
            self.fixes.push(Fix {
                body: open.body..self.pos,
                order: from..self.sorted.len(),
            });
        }
        if let Some(first) = self.members.get(open.first) {
            self.keys.truncate(first.key.start);
        }
        self.members.truncate(open.first);
    }

    /// Puts the members of every object noted out of order into key order,
    /// innermost objects first (the order they were closed in).
    fn reorder(&self, out: &mut [u8]) {
        let mut scratch = Vec::new();
        for fix in &self.fixes {
            scratch.clear();
            for (i, span) in self.sorted[fix.order.clone()].iter().enumerate() {
                if i > 0 {
                    scratch.push(b',');
                }
                scratch.extend_from_slice(&out[span.clone()]);
            }
            out[fix.body.clone()].copy_from_slice(&scratch);
        }
    }
}

/// Largest integer every double below it represents exactly (2^53).
const EXACT: u64 = 1 << 53;

struct Jcs<'a> {
    st: &'a mut State,
}

impl Jcs<'_> {
    /// Writes punctuation.
    fn put<W: ?Sized + Write>(&mut self, w: &mut W, bytes: &[u8]) -> io::Result<()> {
        self.st.pos += bytes.len();
        w.write_all(bytes)
    }

    /// Writes content: inside a key (serde_json writes numeric and boolean
    /// map keys as quoted numbers and words), it is also the key's text.
    fn text<W: ?Sized + Write>(&mut self, w: &mut W, text: &str) -> io::Result<()> {
        if self.st.key_from.is_some() {
            self.st.keys.push_str(text);
        }
        self.put(w, text.as_bytes())
    }

    /// An ECMAScript `Number` to string, as JCS requires.
    fn number<W: ?Sized + Write>(&mut self, w: &mut W, v: f64) -> io::Result<()> {
        if !v.is_finite() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "NaN and infinities are not JSON numbers",
            ));
        }
        let mut b = ryu_js::Buffer::new();
        let s = b.format_finite(v);
        self.text(w, s)
    }

    fn integer<W: ?Sized + Write>(&mut self, w: &mut W, neg: bool, abs: u64) -> io::Result<()> {
        if abs <= EXACT {
            let mut b = itoa::Buffer::new();
            let digits = b.format(abs);
            if neg {
                self.text(w, "-")?;
            }
            self.text(w, digits)
        } else {
            // Beyond 2^53 a JSON number is the nearest double.
            #[allow(clippy::cast_precision_loss)]
            let v = abs as f64;
            self.number(w, if neg { -v } else { v })
        }
    }
}

impl Formatter for Jcs<'_> {
    fn write_null<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.text(w, "null")
    }

    fn write_bool<W: ?Sized + Write>(&mut self, w: &mut W, value: bool) -> io::Result<()> {
        self.text(w, if value { "true" } else { "false" })
    }

    fn write_i8<W: ?Sized + Write>(&mut self, w: &mut W, value: i8) -> io::Result<()> {
        self.write_i64(w, value.into())
    }

    fn write_i16<W: ?Sized + Write>(&mut self, w: &mut W, value: i16) -> io::Result<()> {
        self.write_i64(w, value.into())
    }

    fn write_i32<W: ?Sized + Write>(&mut self, w: &mut W, value: i32) -> io::Result<()> {
        self.write_i64(w, value.into())
    }

    fn write_i64<W: ?Sized + Write>(&mut self, w: &mut W, value: i64) -> io::Result<()> {
        self.integer(w, value < 0, value.unsigned_abs())
    }

    fn write_i128<W: ?Sized + Write>(&mut self, w: &mut W, value: i128) -> io::Result<()> {
        match u64::try_from(value.unsigned_abs()) {
            Ok(abs) => self.integer(w, value < 0, abs),
            #[allow(clippy::cast_precision_loss)]
            Err(_) => self.number(w, value as f64),
        }
    }

    fn write_u8<W: ?Sized + Write>(&mut self, w: &mut W, value: u8) -> io::Result<()> {
        self.integer(w, false, value.into())
    }

    fn write_u16<W: ?Sized + Write>(&mut self, w: &mut W, value: u16) -> io::Result<()> {
        self.integer(w, false, value.into())
    }

    fn write_u32<W: ?Sized + Write>(&mut self, w: &mut W, value: u32) -> io::Result<()> {
        self.integer(w, false, value.into())
    }

    fn write_u64<W: ?Sized + Write>(&mut self, w: &mut W, value: u64) -> io::Result<()> {
        self.integer(w, false, value)
    }

    fn write_u128<W: ?Sized + Write>(&mut self, w: &mut W, value: u128) -> io::Result<()> {
        match u64::try_from(value) {
            Ok(v) => self.integer(w, false, v),
            #[allow(clippy::cast_precision_loss)]
            Err(_) => self.number(w, value as f64),
        }
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.number(w, value.into())
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        self.number(w, value)
    }

    fn write_number_str<W: ?Sized + Write>(&mut self, w: &mut W, value: &str) -> io::Result<()> {
        let v: f64 = value
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a JSON number"))?;
        self.number(w, v)
    }

    fn begin_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.put(w, b"\"")
    }

    fn end_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.put(w, b"\"")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.text(w, fragment)
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let (text, ch): (&[u8], char) = match escape {
            CharEscape::Quote => (b"\\\"", '"'),
            CharEscape::ReverseSolidus => (b"\\\\", '\\'),
            // serde_json never escapes `/`; JCS writes it as itself.
            CharEscape::Solidus => (b"/", '/'),
            CharEscape::Backspace => (b"\\b", '\u{8}'),
            CharEscape::FormFeed => (b"\\f", '\u{c}'),
            CharEscape::LineFeed => (b"\\n", '\n'),
            CharEscape::CarriageReturn => (b"\\r", '\r'),
            CharEscape::Tab => (b"\\t", '\t'),
            CharEscape::AsciiControl(byte) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let text = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(byte >> 4)],
                    HEX[usize::from(byte & 0xf)],
                ];
                if self.st.key_from.is_some() {
                    self.st.keys.push(char::from(byte));
                }
                return self.put(w, &text);
            }
        };
        if self.st.key_from.is_some() {
            self.st.keys.push(ch);
        }
        self.put(w, text)
    }

    fn write_raw_fragment<W: ?Sized + Write>(&mut self, _: &mut W, _: &str) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "raw JSON fragments cannot be canonicalized",
        ))
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.put(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.put(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { self.put(w, b",") }
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.put(w, b"{")?;
        self.st.begin_object();
        Ok(())
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.st.end_object();
        self.put(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            self.put(w, b",")?;
        }
        self.st.key_from = Some(self.st.keys.len());
        self.st.key_at = self.st.pos;
        Ok(())
    }

    fn end_object_key<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.st.end_key();
        Ok(())
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.put(w, b":")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.st.end_value();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
