//! E-mail addresses, found around their `@`.
//!
//! Heuristic: a local part of 1–64 characters from `A-Z a-z 0-9 . _ % + -`
//! (and non-ASCII letters), not starting or ending with a dot and without
//! `..`; an `@`; a domain of at least two dot-separated labels of ASCII
//! letters, digits and inner hyphens, at most 253 characters, whose last
//! label (the TLD) has at least two letters and is not a common file
//! extension (`icon@2x.png`). Trailing dots and hyphens belong to the
//! sentence, not the address. `user@localhost` and `pkg@1.2.3` are not
//! addresses.

/// File extensions that look like TLDs after an `@` (`logo@2x.png`).
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"bmp", b"tif", b"tiff",
];

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-') || c >= 0x80
}

fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// The span of the e-mail address whose `@` is at byte `at`, if any.
pub(super) fn email_around(b: &[u8], at: usize) -> Option<(usize, usize)> {
    // Local part: walk back over local characters; leading dots are
    // punctuation of the surrounding text.
    let mut start = at;
    while start > 0 && is_local(b[start - 1]) {
        start -= 1;
    }
    while start < at && b[start] == b'.' {
        start += 1;
    }
    let local = &b[start..at];
    if local.is_empty() || local.len() > 64 || local.ends_with(b".") || has_double_dot(local) {
        return None;
    }

    // Domain: walk forward; trailing dots and hyphens end the sentence.
    let mut end = at + 1;
    while end < b.len() && is_domain(b[end]) {
        end += 1;
    }
    while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    if matches!(b.get(end), Some(b'@' | b'_')) || b.get(end).is_some_and(|&c| c >= 0x80) {
        return None;
    }
    domain_valid(&b[at + 1..end]).then_some((start, end))
}

fn has_double_dot(s: &[u8]) -> bool {
    s.windows(2).any(|w| w == b"..")
}

fn domain_valid(domain: &[u8]) -> bool {
    if domain.is_empty() || domain.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&c| c == b'.') {
        if label.is_empty() || label.len() > 63 || label.starts_with(b"-") || label.ends_with(b"-")
        {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2
        && last.len() >= 2
        && last.iter().all(u8::is_ascii_alphabetic)
        && !FILE_EXTENSIONS
            .iter()
            .any(|ext| last.eq_ignore_ascii_case(ext))
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Kinds, find_all};

    fn emails(text: &str) -> Vec<&str> {
        find_all(text, Kinds::only(Kind::Email))
            .iter()
            .map(|m| &text[m.start..m.end])
            .collect()
    }

    #[test]
    fn finds_plain_and_decorated_addresses() {
        assert_eq!(emails("jane.doe@example.com"), vec!["jane.doe@example.com"]);
        assert_eq!(
            emails("Jane <jane+news@mail.example.co.uk>"),
            vec!["jane+news@mail.example.co.uk"]
        );
        assert_eq!(
            emails("mailto:first_last-1%x@sub-domain.example.org"),
            vec!["first_last-1%x@sub-domain.example.org"]
        );
        assert_eq!(emails("write to a@b.io."), vec!["a@b.io"]);
        assert_eq!(
            emails("\"x@y.example.com\",\"z@w.de\""),
            vec!["x@y.example.com", "z@w.de"]
        );
        assert_eq!(emails("...jane@example.com"), vec!["jane@example.com"]);
    }

    #[test]
    fn rejects_things_that_are_not_addresses() {
        for text in [
            "a@b",
            "user@localhost",
            "@example.com",
            "jane@",
            "jane@.com",
            "jane@example.",
            "jane@example.c",
            "jane@example.c0m",
            "pkg@1.2.3",
            "logo@2x.png",
            "jane.@example.com",
            "ja..ne@example.com",
            "jane@-example.com",
            "jane@example-.com",
            "jane@exa..mple.com",
            "a@b.com@c",
            "twitter handle @someone",
        ] {
            assert!(emails(text).is_empty(), "{text}: {:?}", emails(text));
        }
    }

    #[test]
    fn respects_length_limits() {
        let local64 = "a".repeat(64);
        let local65 = "a".repeat(65);
        assert_eq!(emails(&format!("{local64}@example.com")).len(), 1);
        assert!(emails(&format!("{local65}@example.com")).is_empty());
        let long_label = "a".repeat(64);
        assert!(emails(&format!("x@{long_label}.com")).is_empty());
    }
}
