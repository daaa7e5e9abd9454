//! Unit tests of URL finding.

use super::*;

/// (form, authority) of every URL in `text`.
fn urls(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    find_urls(text, &mut |u| {
        if !u.text.is_empty() {
            let form = match u.form {
                Form::Hierarchical(s) => s.to_owned(),
                Form::Opaque(s) => format!("{s}:"),
                Form::SchemeRelative => "//".to_owned(),
                Form::Www => "www".to_owned(),
            };
            out.push((form, u.authority.to_owned()));
        }
        true
    });
    out
}

fn one(form: &str, authority: &str) -> Vec<(String, String)> {
    vec![(form.to_owned(), authority.to_owned())]
}

#[test]
fn finds_urls_with_schemes() {
    assert_eq!(
        urls("see https://example.com/a?b#c now"),
        one("https", "example.com")
    );
    assert_eq!(urls("HTTP://EXAMPLE.COM"), one("HTTP", "EXAMPLE.COM"));
    assert_eq!(
        urls("ftp://files.example.com:21/x"),
        one("ftp", "files.example.com:21")
    );
    assert_eq!(
        urls("x ws://a.io wss://b.io"),
        vec![("ws".into(), "a.io".into()), ("wss".into(), "b.io".into())]
    );
    assert_eq!(urls("gopher://evil.com/_x"), one("gopher", "evil.com"));
    assert_eq!(
        urls("jdbc:postgresql://db.internal/x"),
        one("postgresql", "db.internal")
    );
    assert_eq!(urls("Link:https://a.com"), one("https", "a.com"));
}

#[test]
fn backslashes_and_extra_slashes_count_as_slashes() {
    assert_eq!(urls("https:\\\\evil.com\\x"), one("https", "evil.com"));
    assert_eq!(urls("https:/\\evil.com"), one("https", "evil.com"));
    assert_eq!(urls("http:///evil.com"), one("http", "evil.com"));
    assert_eq!(
        urls("https://trusted.com\\@evil.com"),
        one("https", "trusted.com")
    );
}

#[test]
fn slashless_special_urls_only_as_values() {
    assert_eq!(urls("http:evil.com"), one("http", "evil.com"));
    assert_eq!(urls("\"http:evil.com\""), one("http", "evil.com"));
    assert!(urls("the protocol is http: fast").is_empty());
    assert!(urls("error HTTP:NotFound").is_empty());
}

#[test]
fn userinfo_stays_in_the_authority() {
    assert_eq!(
        urls("https://trusted.com@evil.com/"),
        one("https", "trusted.com@evil.com")
    );
    assert_eq!(
        urls("https://trusted.com:pw@evil.com"),
        one("https", "trusted.com:pw@evil.com")
    );
}

#[test]
fn authority_extent_depends_on_context() {
    // The whole string is the URL: parsers keep spaces in userinfo.
    assert_eq!(
        urls("https://trusted.com x@evil.com"),
        one("https", "trusted.com x@evil.com")
    );
    assert_eq!(
        urls("  https://trusted.com\n@evil.com"),
        one("https", "trusted.com\n@evil.com")
    );
    // Quoted: the closing quote ends it.
    assert_eq!(
        urls(r#"{"u":"https://ok.com","e":"bob@x.com"}"#),
        one("https", "ok.com")
    );
    assert_eq!(
        urls("<a href='https://t.com x@evil.com'>"),
        one("https", "t.com x@evil.com")
    );
    // Prose: whitespace and `<` end it, quotes do not.
    assert_eq!(
        urls("go to https://ok.com and mail bob@x.com"),
        one("https", "ok.com")
    );
    assert_eq!(
        urls("x https://trusted.com\"@evil.com y"),
        one("https", "trusted.com\"@evil.com")
    );
    assert_eq!(urls("x https://ok.com\u{a0}next"), one("https", "ok.com"));
    assert_eq!(urls("x <https://ok.com>"), one("https", "ok.com>"));
}

#[test]
fn finds_opaque_dangerous_schemes() {
    assert_eq!(urls("javascript:alert(1)"), one("javascript:", ""));
    assert_eq!(
        urls("<a href=\"JavaScript: alert(1)\">"),
        one("JavaScript:", "")
    );
    assert_eq!(
        urls("![x](data:text/html;base64,PHNjcmlwdD4=)"),
        one("data:", "")
    );
    assert_eq!(urls("vbscript:msgbox"), one("vbscript:", ""));
    assert_eq!(urls("open file:///etc/passwd"), one("file", ""));
    assert_eq!(urls("file://server/share"), one("file", "server"));
    assert_eq!(urls("read file:/etc/passwd"), one("file:", ""));
    // Prose that merely mentions the words.
    assert!(urls("Data: 5 rows. JavaScript: the good parts. file: a.txt").is_empty());
    assert!(urls("JavaScript: The Good Parts").is_empty());
    assert!(urls("javascript:").is_empty());
    assert!(urls("metadata:x").is_empty());
}

#[test]
fn finds_scheme_relative_urls() {
    assert_eq!(urls("//evil.com/x"), one("//", "evil.com"));
    assert_eq!(
        urls("<img src=\"//evil.com/a.png\">"),
        one("//", "evil.com")
    );
    assert_eq!(
        urls("\\\\fileserver.corp\\share"),
        one("//", "fileserver.corp")
    );
    assert_eq!(urls("x ///evil.com"), one("//", "evil.com"));
    assert_eq!(urls("//2130706433/"), one("//", "2130706433"));
    assert_eq!(urls("//[::1]/"), one("//", "[::1]"));
    assert_eq!(urls("//localhost:8080/"), one("//", "localhost:8080"));
    // Nested in another URL's query.
    assert_eq!(
        urls("https://ok.com/login?next=//evil.com"),
        vec![
            ("https".into(), "ok.com".into()),
            ("//".into(), "evil.com".into())
        ]
    );
}

#[test]
fn finds_nested_urls() {
    assert_eq!(
        urls("https://ok.com/r?u=https://evil.com/x"),
        vec![
            ("https".into(), "ok.com".into()),
            ("https".into(), "evil.com".into())
        ]
    );
}

#[test]
fn finds_bare_www_hosts() {
    assert_eq!(
        urls("visit www.example.com today"),
        one("www", "www.example.com")
    );
    assert_eq!(urls("(WWW.Example.COM)"), one("www", "WWW.Example.COM)"));
    assert_eq!(
        urls("www.trusted.com@evil.com"),
        one("www", "www.trusted.com@evil.com")
    );
    assert_eq!(
        urls("https://www.example.com"),
        one("https", "www.example.com")
    );
}

#[test]
fn ignores_things_that_are_not_urls() {
    for text in [
        "e.g. this, i.e. that",
        "plain words only",
        "version 1.2.3 at 10:30",
        "a/b//c and path//to",
        "// TODO: fix",
        "//TODO",
        "x = a // b",
        "mail bob@www.example.com",
        "awww.example.com",
        "see the www. prefix",
        "C:\\Users\\bob",
        "note: something",
        "ratio 3:1",
        "",
        "://",
        "1://x",
    ] {
        assert_eq!(urls(text), vec![], "{text}");
    }
}

#[test]
fn contexts() {
    let mut seen = Vec::new();
    find_urls(
        "https://a.com x 'https://b.com' x https://c.com",
        &mut |u| {
            seen.push(u.context);
            true
        },
    );
    assert_eq!(
        seen,
        vec![Context::Value, Context::Quoted(b'\''), Context::Prose]
    );
}

#[test]
fn finds_urls_swallowed_by_a_value_authority() {
    assert_eq!(
        urls("https://ok.com https://evil.com"),
        vec![
            ("https".into(), "ok.com https:".into()),
            ("https".into(), "evil.com".into())
        ]
    );
    assert_eq!(
        urls("https://ok.com x www.evil.com"),
        vec![
            ("https".into(), "ok.com x www.evil.com".into()),
            ("www".into(), "www.evil.com".into())
        ]
    );
}

#[test]
fn stops_when_asked() {
    let mut count = 0;
    let finished = find_urls("https://a.com https://b.com", &mut |_| {
        count += 1;
        false
    });
    assert!(!finished);
    assert_eq!(count, 1);
}

#[test]
fn handles_non_ascii_text_around_urls() {
    assert_eq!(
        urls("voilà: https://bücher.de/ ✓"),
        one("https", "bücher.de")
    );
    assert_eq!(urls("ü//evil.com ü"), vec![]);
}
