//! Masking: the fields a tenant names are redacted or keyed-hashed before a
//! decision is stored, and the stored free text (the decision's reason,
//! findings' reasons and routes, pack statuses) is cleared of the masked
//! values too, so that a pack quoting a masked value in a reason cannot carry
//! it into the log. The caller's response is not masked: it goes to whoever
//! sent the request.

use crate::trace::canonical;
use crate::trace_log::settings::{MaskAction, MaskRule};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::ops::Range;
use warden_host::{Decision, Request};

/// What a redacted field holds, and what replaces a masked value found in
/// stored free text.
pub const REDACTED: &str = "[redacted]";

/// Masked values of at least this many characters are also looked for in
/// pieces: any run of this many characters or more of a stored text that
/// occurs in such a value is redacted (a reason may quote a URL found inside
/// a masked message body). Shorter values are redacted where they stand as a
/// whole word, so that a masked `"42"` does not cut every 42 out of reasons.
pub const FRAGMENT_CHARS: usize = 8;

/// Applies a tenant's masking rules to requests.
#[derive(Clone)]
pub struct Masker {
    rules: Vec<MaskRule>,
    key: [u8; 32],
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// A request as it is stored, with the texts masking took out of it.
#[derive(Debug)]
pub struct Masked<'a> {
    /// The request after masking; borrowed when no rule applied.
    pub request: Cow<'a, Request>,
    /// The masked values' texts (strings, numbers, and the keys and leaves of
    /// masked objects and arrays), longest first.
    hidden: Vec<String>,
}

impl Masker {
    /// A masker; `secret` (the tenant's secret key) keys the hashes, through
    /// a domain-separated derivation so the signing key itself is never used as a MAC key.
    pub fn new(rules: Vec<MaskRule>, secret: &[u8]) -> Masker {
        let mut h = Sha256::new();
        h.update(b"warden-mask-v1\0");
        h.update(secret);
        Masker {
            rules,
            key: h.finalize().into(),
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The request as it is stored: borrowed when no rule applies.
    pub fn apply<'a>(&self, req: &'a Request) -> Cow<'a, Request> {
        self.mask(req).request
    }

    /// The request as it is stored, and what was taken out of it (to scrub
    /// stored free text with).
    pub fn mask<'a>(&self, req: &'a Request) -> Masked<'a> {
        if self.rules.is_empty() {
            return Masked {
                request: Cow::Borrowed(req),
                hidden: Vec::new(),
            };
        }
        let mut masked = req.clone();
        let mut hidden = Vec::new();
        for r in &self.rules {
            let (root, rest) = match r.pointer.strip_prefix("/args") {
                Some(rest) => (&mut masked.action.args, rest),
                None => match r.pointer.strip_prefix("/context") {
                    Some(rest) => (&mut masked.context, rest),
                    None => continue,
                },
            };
            if let Some(v) = root.pointer_mut(rest) {
                texts_of(v, &mut hidden);
                *v = match r.action {
                    MaskAction::Redact => Value::String(REDACTED.to_owned()),
                    MaskAction::Hash => Value::String(self.hash(v)),
                };
            }
        }
        hidden.sort_by_key(|t| std::cmp::Reverse(t.len()));
        hidden.dedup();
        Masked {
            request: Cow::Owned(masked),
            hidden,
        }
    }

    fn hash(&self, v: &Value) -> String {
        let bytes = canonical("masked value", v).unwrap_or_default();
        // A 32-byte key is always accepted by HMAC-SHA256.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return REDACTED.to_owned();
        };
        mac.update(&bytes);
        format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// Collects the texts a masked value could show up as in free text.
fn texts_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.trim().is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|i| texts_of(i, out)),
        Value::Object(members) => {
            for (k, m) in members {
                if !k.trim().is_empty() {
                    out.push(k.clone());
                }
                texts_of(m, out);
            }
        }
        _ => {}
    }
}

impl Masked<'_> {
    /// Whether masking changed the request.
    pub fn changed(&self) -> bool {
        matches!(self.request, Cow::Owned(_))
    }

    /// `text` with every masked value in it, whole or in pieces of at least
    /// [`FRAGMENT_CHARS`] characters, replaced by [`REDACTED`].
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.hidden.is_empty() || text.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut spans: Vec<Range<usize>> = Vec::new();
        for h in &self.hidden {
            if h.chars().count() >= FRAGMENT_CHARS {
                fragments(text, h, &mut spans);
            } else {
                words(text, h, &mut spans);
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_by_key(|r| r.start);
        let mut out = String::with_capacity(text.len());
        // End of the redaction being written, once one is.
        let mut open: Option<usize> = None;
        for r in spans {
            match open {
                Some(end) if r.start <= end => open = Some(end.max(r.end)),
                _ => {
                    out.push_str(&text[open.unwrap_or(0)..r.start]);
                    out.push_str(REDACTED);
                    open = Some(r.end);
                }
            }
        }
        out.push_str(&text[open.unwrap_or(0)..]);
        Cow::Owned(out)
    }

    /// The decision as it is stored: its reason, routes, findings' reasons
    /// and routes, and pack statuses scrubbed. Borrowed when nothing changed.
    pub fn decision<'d>(&self, d: &'d Decision) -> Cow<'d, Decision> {
        if self.hidden.is_empty() {
            return Cow::Borrowed(d);
        }
        let mut out: Option<Decision> = None;
        let mut edit = |get: &dyn Fn(&Decision) -> &str, set: &dyn Fn(&mut Decision, String)| {
            let scrubbed = match self.scrub(get(out.as_ref().unwrap_or(d))) {
                Cow::Owned(s) => Some(s),
                Cow::Borrowed(_) => None,
            };
            if let Some(s) = scrubbed {
                set(out.get_or_insert_with(|| d.clone()), s);
            }
        };
        edit(&|d| &d.reason, &|d, s| d.reason = s);
        for i in 0..d.routes.len() {
            edit(&|d| &d.routes[i], &|d, s| d.routes[i] = s);
        }
        for i in 0..d.explanation.findings.len() {
            edit(&|d| &d.explanation.findings[i].reason, &|d, s| {
                d.explanation.findings[i].reason = s;
            });
            edit(
                &|d| d.explanation.findings[i].route.as_deref().unwrap_or(""),
                &|d, s| d.explanation.findings[i].route = Some(s),
            );
        }
        for i in 0..d.explanation.packs.len() {
            edit(&|d| &d.explanation.packs[i].status, &|d, s| {
                d.explanation.packs[i].status = s;
            });
        }
        out.map_or(Cow::Borrowed(d), Cow::Owned)
    }
}

/// Marks the maximal runs of `text`, of at least [`FRAGMENT_CHARS`]
/// characters, that occur in `hidden`, without their outer whitespace.
fn fragments(text: &str, hidden: &str, spans: &mut Vec<Range<usize>>) {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let mut i = 0;
    while i + FRAGMENT_CHARS < bounds.len() {
        let mut j = i + FRAGMENT_CHARS;
        if !hidden.contains(&text[bounds[i]..bounds[j]]) {
            i += 1;
            continue;
        }
        while j + 1 < bounds.len() && hidden.contains(&text[bounds[i]..bounds[j + 1]]) {
            j += 1;
        }
        // The words matter, not the spaces around them.
        let run = &text[bounds[i]..bounds[j]];
        let start = bounds[i] + (run.len() - run.trim_start().len());
        spans.push(start..start + run.trim().len());
        i = j;
    }
}

/// Marks the places where `hidden` stands in `text` as a whole word (not
/// next to a letter or digit).
fn words(text: &str, hidden: &str, spans: &mut Vec<Range<usize>>) {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    for (at, _) in text.match_indices(hidden) {
        let end = at + hidden.len();
        if !alnum(text[..at].chars().next_back()) && !alnum(text[end..].chars().next()) {
            spans.push(at..end);
        }
    }
}

#[cfg(test)]
mod tests;
