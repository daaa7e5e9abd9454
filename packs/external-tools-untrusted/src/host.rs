//! From an authority (`user:pw@Host.Example.:8080`) to the host a client
//! would connect to, normalised for comparison with an allowlist.
//!
//! Steps, in order:
//!
//! 1. With `strip_newlines`, tabs and line breaks are removed (URL parsers
//!    drop them, so `trusted.com\n.evil.com` is `trusted.com.evil.com`).
//! 2. Userinfo ends at the **last** `@` (`trusted.com@evil.com` is
//!    `evil.com`).
//! 3. `[...]` is an IPv6 literal. Otherwise the host ends at the port's `:`
//!    and at whitespace (a space cannot be part of a host).
//! 4. Trailing punctuation from the surrounding text (`.,;:!?'")]}>*_~`) is
//!    dropped: it can only change the last label, and a host whose top-level
//!    label ends in punctuation resolves nowhere.
//! 5. Other characters that cannot be in a host name: in the last label they
//!    are cut off with what follows (`ok.com's` is `ok.com`); before a dot
//!    the host is invalid (`trusted.com".evil.com`, which wildcard DNS would
//!    resolve).
//! 6. Percent escapes are decoded once. An escape must decode to a letter,
//!    digit, `-`, `_`, `.` or part of a UTF-8 character; `%40` (`@`), `%2f`
//!    and friends make the host invalid, since a client that decodes twice
//!    would see another host.
//! 7. ASCII is lower-cased and trailing dots are dropped (`EVIL.com.` is
//!    `evil.com`).
//! 8. A host with non-ASCII characters is converted to punycode
//!    ([`crate::idn`]) and flagged as internationalised, as is one with an
//!    `xn--` label.
//! 9. A host whose last label is a number (`2130706433`, `0x7f.1`) is an
//!    IPv4 address or invalid, exactly as in browsers.

use crate::idn;
use crate::ip;
use std::borrow::Cow;

/// The host of a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host<'a> {
    /// No host (`file:///x`, `https://`).
    Empty,
    /// A domain name: lower-case ASCII letters, digits, `-`, `_` and dots.
    Domain {
        /// The normalised name (punycode for internationalised names).
        name: Cow<'a, str>,
        /// Whether it was written with non-ASCII characters or has an
        /// `xn--` label.
        idn: bool,
    },
    /// An IPv4 literal in any notation.
    V4(u32),
    /// An IPv6 literal.
    V6([u16; 8]),
    /// Not a host a client could use as written; the reason.
    Invalid(&'static str),
}

impl Host<'_> {
    /// The same host, owning its name.
    pub fn into_owned(self) -> Host<'static> {
        match self {
            Host::Domain { name, idn } => Host::Domain {
                name: Cow::Owned(name.into_owned()),
                idn,
            },
            Host::Empty => Host::Empty,
            Host::V4(a) => Host::V4(a),
            Host::V6(a) => Host::V6(a),
            Host::Invalid(why) => Host::Invalid(why),
        }
    }
}

/// Parses the host out of an authority; see the module docs for the steps.
pub fn parse(authority: &str, strip_newlines: bool) -> Host<'_> {
    if strip_newlines
        && authority
            .bytes()
            .any(|b| matches!(b, b'\t' | b'\n' | b'\r'))
    {
        let joined: String = authority
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        return parse_joined(&joined).into_owned();
    }
    parse_joined(authority)
}

fn parse_joined(authority: &str) -> Host<'_> {
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if let Some(literal) = host_port.strip_prefix('[') {
        return match literal.find(']') {
            Some(end) => ip::parse_v6(&literal[..end])
                .map_or(Host::Invalid("malformed IPv6 literal"), Host::V6),
            None => Host::Invalid("unterminated IPv6 literal"),
        };
    }
    let end = host_port
        .bytes()
        .position(|b| b == b':' || b.is_ascii_whitespace())
        .unwrap_or(host_port.len());
    let raw = host_port[..end].trim_end_matches(|c: char| ".,;:!?'\")]}>*_~".contains(c));
    let raw = match raw
        .bytes()
        .position(|b| b.is_ascii() && !is_raw_host_byte(b))
    {
        None => raw,
        Some(junk) if raw[junk..].contains('.') => {
            return Host::Invalid("host contains characters that are not allowed in host names");
        }
        Some(junk) => &raw[..junk],
    };
    let decoded = match percent_decode(raw) {
        Ok(d) => d,
        Err(why) => return Host::Invalid(why),
    };
    let lower = if decoded.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(decoded.to_ascii_lowercase())
    } else {
        decoded
    };
    let name = trim_trailing_dots(lower);
    if name.is_empty() {
        return Host::Empty;
    }
    let (name, idn) = if name.is_ascii() {
        let idn = name.split('.').any(|l| l.starts_with("xn--"));
        (name, idn)
    } else {
        match idn::to_ascii(&name) {
            Some(ascii) => (Cow::Owned(ascii), true),
            None => {
                return Host::Invalid(
                    "internationalised host name that has no valid punycode form",
                );
            }
        }
    };
    if ip::ends_in_number(&name) {
        return ip::parse_v4(&name).map_or(Host::Invalid("malformed IPv4 address"), Host::V4);
    }
    if name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Host::Invalid("not a valid DNS name (empty or over-long label)");
    }
    Host::Domain { name, idn }
}

/// Bytes that may appear in a host before decoding.
fn is_raw_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'%')
}

fn trim_trailing_dots(name: Cow<'_, str>) -> Cow<'_, str> {
    match name {
        Cow::Borrowed(s) => Cow::Borrowed(s.trim_end_matches('.')),
        Cow::Owned(mut s) => {
            let len = s.trim_end_matches('.').len();
            s.truncate(len);
            Cow::Owned(s)
        }
    }
}

/// Decodes `%XX` escapes once; borrows when there are none.
fn percent_decode(raw: &str) -> Result<Cow<'_, str>, &'static str> {
    if !raw.contains('%') {
        return Ok(Cow::Borrowed(raw));
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let hex = |c: Option<&u8>| c.and_then(|&c| char::from(c).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(b.get(i + 1)), hex(b.get(i + 2))) else {
            return Err("malformed percent escape in host");
        };
        let byte = (hi * 16 + lo) as u8;
        if byte.is_ascii() && !(byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
        {
            return Err("percent escape in host decodes to a character not allowed in host names");
        }
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| "percent escapes in host are not valid UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(authority: &str) -> String {
        show(parse(authority, true))
    }

    fn prose_host(authority: &str) -> String {
        show(parse(authority, false))
    }

    fn show(h: Host<'_>) -> String {
        match h {
            Host::Empty => "<empty>".to_owned(),
            Host::Domain { name, idn: false } => name.into_owned(),
            Host::Domain { name, idn: true } => format!("idn:{name}"),
            Host::V4(a) => format!("v4:{}", ip::format_v4(a)),
            Host::V6(a) => format!("v6:{}", ip::format_v6(a)),
            Host::Invalid(why) => format!("invalid:{why}"),
        }
    }

    #[test]
    fn plain_hosts_are_borrowed() {
        assert!(matches!(
            parse("example.com", false),
            Host::Domain {
                name: Cow::Borrowed("example.com"),
                idn: false
            }
        ));
        assert!(matches!(
            parse("u:p@example.com:443", false),
            Host::Domain {
                name: Cow::Borrowed("example.com"),
                ..
            }
        ));
    }

    #[test]
    fn userinfo_tricks_resolve_to_the_real_host() {
        assert_eq!(host("trusted.com@evil.com"), "evil.com");
        assert_eq!(host("trusted.com:pw@evil.com"), "evil.com");
        assert_eq!(host("a@trusted.com@evil.com:8443"), "evil.com");
        assert_eq!(host("trusted.com x@evil.com"), "evil.com");
        assert_eq!(host("trusted.com\n@evil.com"), "evil.com");
        assert_eq!(host("@evil.com"), "evil.com");
    }

    #[test]
    fn newlines_are_removed_in_values_only() {
        assert_eq!(host("trusted.com\n.evil.com"), "trusted.com.evil.com");
        assert_eq!(host("ev\til.com"), "evil.com");
        assert_eq!(prose_host("ev"), "ev");
    }

    #[test]
    fn normalises_case_ports_and_trailing_dots() {
        assert_eq!(host("EXAMPLE.Com"), "example.com");
        assert_eq!(host("example.com.:8080"), "example.com");
        assert_eq!(host("example.com..."), "example.com");
        assert_eq!(host("example.com:"), "example.com");
        assert_eq!(host(""), "<empty>");
        assert_eq!(host(":80"), "<empty>");
        assert_eq!(host("user@"), "<empty>");
    }

    #[test]
    fn strips_text_punctuation_but_not_hidden_labels() {
        assert_eq!(prose_host("ok.com)."), "ok.com");
        assert_eq!(prose_host("ok.com\","), "ok.com");
        assert_eq!(prose_host("ok.com>"), "ok.com");
        assert_eq!(prose_host("ok.com's"), "ok.com");
        assert_eq!(host("ok.com is down. Later: x"), "ok.com");
        assert!(prose_host("trusted.com\".evil.com").starts_with("invalid:"));
        assert!(prose_host("trusted.com*.evil.com").starts_with("invalid:"));
    }

    #[test]
    fn decodes_percent_escapes_once() {
        assert_eq!(host("%65vil.com"), "evil.com");
        assert_eq!(host("EVIL%2ECOM"), "evil.com");
        assert_eq!(host("%31%32%37.0.0.1"), "v4:127.0.0.1");
        assert!(host("trusted.com%40evil.com").starts_with("invalid:"));
        assert!(host("trusted.com%2f").starts_with("invalid:"));
        assert!(host("%5b::1%5d").starts_with("invalid:"));
        assert!(host("evil%zz.com").starts_with("invalid:"));
        assert!(host("evil%252ecom").starts_with("invalid:"));
        assert!(host("%ff.com").starts_with("invalid:"));
    }

    #[test]
    fn internationalised_hosts_become_punycode() {
        assert_eq!(host("bücher.de"), "idn:xn--bcher-kva.de");
        assert_eq!(host("b%C3%BCcher.de"), "idn:xn--bcher-kva.de");
        assert_eq!(host("p\u{430}ypal.com"), "idn:xn--pypal-4ve.com");
        assert_eq!(host("XN--BCHER-KVA.de"), "idn:xn--bcher-kva.de");
        // Full-width letters: browsers map them to `evil.com`; here they
        // are an internationalised name that no allowlist entry matches.
        let fullwidth = host("ｅｖｉｌ.com");
        assert!(
            fullwidth.starts_with("idn:xn--") && fullwidth.ends_with(".com"),
            "{fullwidth}"
        );
    }

    #[test]
    fn ip_literals_in_every_form() {
        assert_eq!(host("127.0.0.1"), "v4:127.0.0.1");
        assert_eq!(host("2130706433"), "v4:127.0.0.1");
        assert_eq!(host("0x7f.1:80"), "v4:127.0.0.1");
        assert_eq!(host("0177.0.0.1"), "v4:127.0.0.1");
        assert_eq!(host("169.254.169.254."), "v4:169.254.169.254");
        assert_eq!(host("[::1]"), "v6:::1");
        assert_eq!(host("[::1]:8080"), "v6:::1");
        assert_eq!(host("x@[::ffff:a9fe:a9fe]"), "v6:::ffff:a9fe:a9fe");
        assert!(host("[::1").starts_with("invalid:"));
        assert!(host("[fe80::1%25eth0]").starts_with("invalid:"));
        assert!(host("256.1.1.1").starts_with("invalid:"));
        assert!(host("evil.0x10").starts_with("invalid:"));
        assert_eq!(host("1.2.3.4com"), "1.2.3.4com");
    }

    #[test]
    fn rejects_malformed_names() {
        assert!(host("a..b.com").starts_with("invalid:"));
        assert!(host(&format!("{}.com", "a".repeat(64))).starts_with("invalid:"));
    }
}
