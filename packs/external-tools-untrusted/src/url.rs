//! Finding URLs in free text, in one pass and without allocating.
//!
//! Recognised forms:
//!
//! * `scheme://authority` for any scheme (`https://`, `gopher://`, ...);
//! * the special schemes `http`, `https`, `ws`, `wss`, `ftp` and `file`
//!   followed by any mix of `/` and `\` (browsers treat `\` as `/` and skip
//!   extra slashes); when the string *is* the URL (or a quoted value), also
//!   with no slash at all (`http:evil.com`);
//! * the opaque schemes `data:`, `javascript:`, `vbscript:` and `file:`
//!   when something other than whitespace follows the colon (so
//!   `Data: 5 rows` is prose), and `javascript: ...`/`vbscript: ...` with a
//!   space inside a quoted value (`href="javascript: alert(1)"`);
//! * scheme-relative `//host` (also `\\host`, UNC paths) after a word
//!   boundary, when the host looks like one;
//! * bare `www.host` after a word boundary.
//!
//! The authority ends where a URL parser ends it (`/`, `\`, `?`, `#`). How
//! much of the rest of the text belongs to the URL depends on where the URL
//! stands ([`Context`]): a string that begins with a URL is read the way a
//! URL parser reads it (spaces and line breaks do not end it, so
//! `https://trusted.com x@evil.com` reaches `evil.com`); a URL right after a
//! quote ends at the closing quote; a URL in prose ends at whitespace or `<`,
//! the way linkifiers end it. Scanning resumes at the start of the
//! authority, so a URL swallowed by a long authority, and URLs nested in
//! paths and query strings (`?next=//evil.com`), are found too.

/// Where a URL stands in its string; decides where its authority ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// The string begins with the URL (after leading whitespace): read like
    /// a URL parser reads it.
    Value,
    /// The URL follows this quote character; the closing quote ends it.
    Quoted(u8),
    /// The URL is in running text; whitespace ends it.
    Prose,
}

impl Context {
    /// Whether URL parsers drop tabs and line breaks inside the authority
    /// (they do in values and in quoted attributes).
    pub fn strips_newlines(self) -> bool {
        !matches!(self, Context::Prose)
    }
}

/// How a URL was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form<'a> {
    /// `scheme:` with an authority; the scheme as written.
    Hierarchical(&'a str),
    /// `data:`, `javascript:`, `vbscript:` or `file:` without an authority.
    Opaque(&'a str),
    /// `//host`.
    SchemeRelative,
    /// `www.host`.
    Www,
}

/// One URL found in a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    /// How it was written.
    pub form: Form<'a>,
    /// The URL as written, up to the end of its authority.
    pub text: &'a str,
    /// Userinfo, host and port (empty for opaque URLs).
    pub authority: &'a str,
    /// Where it stands.
    pub context: Context,
}

/// Schemes whose URLs always have an authority and where `\` means `/`.
const SPECIAL: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];
/// Schemes without an authority that are dangerous in links.
const OPAQUE: [&str; 4] = ["data", "javascript", "vbscript", "file"];

/// Calls `f` with every URL in `text`, left to right; stops when `f` returns
/// `false`. Returns `false` when stopped.
pub fn find_urls<'a>(text: &'a str, f: &mut dyn FnMut(Found<'a>) -> bool) -> bool {
    let b = text.as_bytes();
    let value_start = b.iter().position(|&c| c > b' ').unwrap_or(b.len());
    let mut i = 0;
    while i < b.len() {
        let found = match b[i] {
            b':' => scheme_at(text, i, value_start),
            b'/' | b'\\' => scheme_relative_at(text, i, value_start),
            b'w' | b'W' => www_at(text, i, value_start),
            _ => None,
        };
        match found {
            Some((url, next)) => {
                if !f(url) {
                    return false;
                }
                i = next.max(i + 1);
            }
            None => i += 1,
        }
    }
    true
}

fn is_scheme_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')
}

fn is_slash(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

/// Bytes after which `//host` or `www.` starts a URL rather than continuing
/// a word, path or address.
fn is_boundary(c: u8) -> bool {
    c.is_ascii_whitespace()
        || c.is_ascii_control()
        || matches!(
            c,
            b'"' | b'\''
                | b'`'
                | b'('
                | b'['
                | b'{'
                | b'<'
                | b'>'
                | b'='
                | b','
                | b';'
                | b'|'
                | b'*'
        )
}

fn context(b: &[u8], start: usize, value_start: usize) -> Context {
    if start == value_start {
        Context::Value
    } else {
        match start.checked_sub(1).map(|p| b[p]) {
            Some(q @ (b'"' | b'\'' | b'`')) => Context::Quoted(q),
            _ => Context::Prose,
        }
    }
}

/// End of an authority starting at `from`.
fn authority_end(text: &str, from: usize, ctx: Context) -> usize {
    let b = text.as_bytes();
    let mut j = from;
    while j < b.len() {
        let c = b[j];
        if matches!(c, b'/' | b'\\' | b'?' | b'#') {
            return j;
        }
        match ctx {
            Context::Value => {}
            Context::Quoted(q) if c == q => return j,
            Context::Quoted(_) => {}
            Context::Prose if c <= b' ' || c == 0x7f || c == b'<' => return j,
            Context::Prose if c >= 0x80 => {
                // Unicode whitespace (no-break space, ideographic space)
                // ends a link in prose too.
                if let Some(ch) = text[j..].chars().next() {
                    if ch.is_whitespace() {
                        return j;
                    }
                    j += ch.len_utf8();
                    continue;
                }
            }
            Context::Prose => {}
        }
        j += 1;
    }
    b.len()
}

/// A URL whose scheme ends with the `:` at `colon`.
fn scheme_at(text: &str, colon: usize, value_start: usize) -> Option<(Found<'_>, usize)> {
    let b = text.as_bytes();
    let mut start = colon;
    while start > 0 && is_scheme_byte(b[start - 1]) {
        start -= 1;
    }
    while start < colon && !b[start].is_ascii_alphabetic() {
        start += 1;
    }
    if start == colon {
        return None;
    }
    let scheme = &text[start..colon];
    let ctx = context(b, start, value_start);
    let after = colon + 1;
    let slashes = b[after..].iter().take_while(|&&c| is_slash(c)).count();
    let is = |list: &[&str]| list.iter().any(|s| s.eq_ignore_ascii_case(scheme));
    let hierarchical = if is(&SPECIAL) && !(scheme.eq_ignore_ascii_case("file") && slashes < 2) {
        // `http:evil.com` is a URL to a parser, not to a reader.
        slashes > 0 || (ctx != Context::Prose && b.get(after).is_some_and(|&c| is_host_start(c)))
    } else {
        b[after..].starts_with(b"//")
    };
    if hierarchical {
        // `file:` has exactly two slashes before its (usually empty) host.
        let auth = if scheme.eq_ignore_ascii_case("file") {
            after + 2
        } else if is(&SPECIAL) {
            after + slashes
        } else {
            after + 2
        };
        let end = authority_end(text, auth, ctx);
        let url = Found {
            form: Form::Hierarchical(scheme),
            text: &text[start..end],
            authority: &text[auth..end],
            context: ctx,
        };
        return Some((url, auth));
    }
    if is(&OPAQUE) {
        // `Data: 5 rows` and `JavaScript: The Good Parts` are not URLs;
        // `javascript: alert(1)` in a quoted attribute value is.
        let script = scheme.len() > 6 && scheme[scheme.len() - 6..].eq_ignore_ascii_case("script");
        let spaced = b.get(after).is_none_or(|c| c.is_ascii_whitespace());
        if spaced && !(script && matches!(ctx, Context::Quoted(_))) {
            return None;
        }
        let end = b[after..]
            .iter()
            .position(|&c| {
                c.is_ascii_whitespace() || c == b'<' || matches!(ctx, Context::Quoted(q) if q == c)
            })
            .map_or(b.len(), |p| after + p);
        let url = Found {
            form: Form::Opaque(scheme),
            text: &text[start..end],
            authority: "",
            context: ctx,
        };
        return Some((url, after));
    }
    None
}

fn is_host_start(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'[' || c == b'%' || c >= 0x80
}

/// A scheme-relative URL (`//host`, `\\host`) starting at `i`.
fn scheme_relative_at(text: &str, i: usize, value_start: usize) -> Option<(Found<'_>, usize)> {
    let b = text.as_bytes();
    if i > 0 && !is_boundary(b[i - 1]) {
        return None;
    }
    let slashes = b[i..].iter().take_while(|&&c| is_slash(c)).count();
    if slashes < 2 {
        return None;
    }
    let ctx = context(b, i, value_start);
    let auth = i + slashes;
    let end = authority_end(text, auth, ctx);
    let authority = &text[auth..end];
    if !plausible_host(authority) {
        return None;
    }
    let url = Found {
        form: Form::SchemeRelative,
        text: &text[i..end],
        authority,
        context: ctx,
    };
    Some((url, auth))
}

/// Whether the authority after `//` names a host, so that comments
/// (`//TODO`, `// note`) and paths are not taken for URLs: it has a dot
/// followed by a letter or digit, is numeric (an IPv4 address), is an IPv6
/// literal, or is `localhost`.
fn plausible_host(authority: &str) -> bool {
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host);
    let b = host.as_bytes();
    let token_len = b
        .iter()
        .position(|&c| {
            !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b'%') || c >= 0x80)
        })
        .unwrap_or(b.len());
    let token = &host[..token_len];
    b.first() == Some(&b'[')
        || token
            .as_bytes()
            .windows(2)
            .any(|w| w[0] == b'.' && (w[1].is_ascii_alphanumeric() || w[1] >= 0x80))
        || (!token.is_empty() && token.bytes().all(|c| c.is_ascii_digit()))
        || token.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("0x"))
        || token.eq_ignore_ascii_case("localhost")
}

/// A bare `www.` host starting at `i`.
fn www_at(text: &str, i: usize, value_start: usize) -> Option<(Found<'_>, usize)> {
    let b = text.as_bytes();
    let head = b.get(i..i + 4)?;
    if !head.eq_ignore_ascii_case(b"www.") {
        return None;
    }
    if i > 0 && !is_boundary(b[i - 1]) {
        return None;
    }
    if !b.get(i + 4).is_some_and(|&c| is_host_start(c) && c != b'[') {
        return None;
    }
    let ctx = context(b, i, value_start);
    let end = authority_end(text, i, ctx);
    let url = Found {
        form: Form::Www,
        text: &text[i..end],
        authority: &text[i..end],
        context: ctx,
    };
    Some((url, i + 4))
}

#[cfg(test)]
mod tests;
