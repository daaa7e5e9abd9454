//! Allowlist entries: domain patterns and URL schemes, validated when the
//! settings are read so that a typo is an error naming the rule and the
//! parameter, not a silently dead entry.
//!
//! Domain patterns:
//!
//! | entry          | matches                                         |
//! |----------------|-------------------------------------------------|
//! | `example.com`  | `example.com` only                              |
//! | `*.example.com`| subdomains (`a.example.com`, `a.b.example.com`), not `example.com` |
//! | `.example.com` | `example.com` and its subdomains                |
//! | `*`            | any domain name (IP literals stay governed by `allow_ip_literals`) |
//!
//! Matching is by whole labels (`*.example.com` never matches
//! `evilexample.com`), case-insensitive, ignoring a trailing dot.
//!
//! Homograph defence: labels covered by a wildcard (`*` or the subdomain
//! part of `*.`/`.` entries) never match an internationalised label (`xn--`
//! after conversion). An internationalised host is allowed only when the
//! entry spells out its punycode form (`xn--bcher-kva.de`,
//! `*.xn--bcher-kva.de`); entries must be ASCII.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One domain allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPattern {
    /// The entry, normalised (lower case, no trailing dot).
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Subdomains,
    ApexAndSubdomains,
    Any,
}

impl DomainPattern {
    /// Parses and validates an entry.
    pub fn parse(entry: &str) -> Result<DomainPattern, String> {
        let text = entry.to_ascii_lowercase();
        let text = text.strip_suffix('.').unwrap_or(&text).to_owned();
        if text == "*" {
            return Ok(DomainPattern {
                text,
                kind: Kind::Any,
            });
        }
        let (kind, name) = if let Some(rest) = text.strip_prefix("*.") {
            (Kind::Subdomains, rest)
        } else if let Some(rest) = text.strip_prefix('.') {
            (Kind::ApexAndSubdomains, rest)
        } else {
            (Kind::Exact, text.as_str())
        };
        validate_name(entry, name)?;
        Ok(DomainPattern { text, kind })
    }

    /// The domain the entry is about (without `*.` or `.`).
    fn name(&self) -> &str {
        match self.kind {
            Kind::Exact | Kind::Any => &self.text,
            Kind::Subdomains => &self.text[2..],
            Kind::ApexAndSubdomains => &self.text[1..],
        }
    }

    /// Whether `host` (normalised: lower-case ASCII, punycode, no trailing
    /// dot) matches the entry.
    pub fn matches(&self, host: &str) -> bool {
        let name = self.name();
        let exact = host == name;
        let sub = || {
            host.len() > name.len() + 1
                && host.ends_with(name)
                && host.as_bytes()[host.len() - name.len() - 1] == b'.'
                && !has_idn_label(&host[..host.len() - name.len() - 1])
        };
        match self.kind {
            Kind::Exact => exact,
            Kind::Subdomains => sub(),
            Kind::ApexAndSubdomains => exact || sub(),
            Kind::Any => !has_idn_label(host),
        }
    }
}

fn has_idn_label(labels: &str) -> bool {
    labels.split('.').any(|l| l.starts_with("xn--"))
}

fn validate_name(entry: &str, name: &str) -> Result<(), String> {
    if name.contains("://") || name.contains('/') {
        return Err(format!(
            "`{entry}` is not a domain; write the host name only (`example.com`)"
        ));
    }
    if !name.is_ascii() {
        return Err(format!(
            "`{entry}` is not ASCII; write internationalised domains in their punycode form (`xn--...`)"
        ));
    }
    if name.contains('*') {
        return Err(format!(
            "`{entry}`: `*` may only stand alone or as the first label (`*.example.com`)"
        ));
    }
    if name.contains(':') || name.contains('[') {
        return Err(format!(
            "`{entry}` is not a domain; ports and IP literals are not allowed here"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{entry}` contains `{c}`, which cannot be part of a domain name"
        ));
    }
    if name.is_empty() || name.len() > 253 || name.split('.').any(|l| l.is_empty() || l.len() > 63)
    {
        return Err(format!(
            "`{entry}` is not a valid domain name (empty or over-long label)"
        ));
    }
    if crate::ip::ends_in_number(name) {
        return Err(format!(
            "`{entry}` is an IP address, not a domain; IP literals are governed by `allow_ip_literals`"
        ));
    }
    Ok(())
}

impl Serialize for DomainPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for DomainPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DomainPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A URL scheme in an allowlist (`https`), lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme(String);

impl Scheme {
    /// Parses and validates a scheme name.
    pub fn parse(text: &str) -> Result<Scheme, String> {
        let b = text.as_bytes();
        let valid = b.first().is_some_and(u8::is_ascii_alphabetic)
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if valid {
            return Ok(Scheme(text.to_ascii_lowercase()));
        }
        let bare = text.split(':').next().unwrap_or(text);
        if bare != text && Scheme::parse(bare).is_ok() {
            return Err(format!("`{text}` is not a scheme name; write `{bare}`"));
        }
        Err(format!("`{text}` is not a URL scheme name (like `https`)"))
    }

    /// Literal for defaults.
    pub fn lit(text: &str) -> Scheme {
        Scheme(text.to_owned())
    }

    /// Whether this is `scheme` (any case).
    pub fn is(&self, scheme: &str) -> bool {
        self.0.eq_ignore_ascii_case(scheme)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Scheme {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Scheme {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Scheme::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> DomainPattern {
        match DomainPattern::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn exact_entries_match_only_themselves() {
        let p = pat("Example.COM.");
        assert!(p.matches("example.com"));
        assert!(!p.matches("www.example.com"));
        assert!(!p.matches("evilexample.com"));
        assert!(!p.matches("example.com.evil.com"));
    }

    #[test]
    fn star_entries_match_subdomains_only() {
        let p = pat("*.example.com");
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("evilexample.com"));
        assert!(!p.matches(".example.com"));
    }

    #[test]
    fn dot_entries_match_apex_and_subdomains() {
        let p = pat(".example.com");
        assert!(p.matches("example.com"));
        assert!(p.matches("api.example.com"));
        assert!(!p.matches("evilexample.com"));
        assert!(!p.matches("example.co"));
    }

    #[test]
    fn wildcards_never_cover_internationalised_labels() {
        assert!(!pat("*.example.com").matches("xn--pypal-4ve.example.com"));
        assert!(!pat(".example.com").matches("a.xn--80ak6aa92e.example.com"));
        assert!(!pat("*").matches("xn--pypal-4ve.com"));
        assert!(pat("*").matches("anything.example"));
        // Spelled out, they match.
        assert!(pat("xn--bcher-kva.de").matches("xn--bcher-kva.de"));
        assert!(pat("*.xn--bcher-kva.de").matches("www.xn--bcher-kva.de"));
        assert!(!pat("*.xn--bcher-kva.de").matches("xn--pypal-4ve.xn--bcher-kva.de"));
    }

    #[test]
    fn rejects_entries_that_cannot_match() {
        let err = |s: &str| DomainPattern::parse(s).err().unwrap_or_default();
        assert!(err("https://example.com").contains("host name only"));
        assert!(err("bücher.de").contains("punycode"));
        assert!(err("a.*.example.com").contains("first label"));
        assert!(err("**.example.com").contains("first label"));
        assert!(err("example.com:443").contains("ports"));
        assert!(err("10.0.0.1").contains("allow_ip_literals"));
        assert!(err("exa mple.com").contains("cannot be part"));
        assert!(err("").contains("not a valid domain"));
        assert!(err("a..b").contains("not a valid domain"));
        assert!(err(".").contains("not a valid domain"));
    }

    #[test]
    fn round_trips_through_json() {
        let p: Vec<DomainPattern> =
            serde_json::from_str(r#"["*.Example.com", ".b.org", "c.net", "*"]"#)
                .unwrap_or_default();
        assert_eq!(
            serde_json::to_string(&p).unwrap_or_default(),
            r#"["*.example.com",".b.org","c.net","*"]"#
        );
    }

    #[test]
    fn schemes_are_validated() {
        assert_eq!(
            Scheme::parse("HTTPS").map(|s| s.as_str().to_owned()),
            Ok("https".to_owned())
        );
        assert!(
            Scheme::parse("https://")
                .err()
                .unwrap_or_default()
                .contains("write `https`")
        );
        assert!(Scheme::parse("1http").is_err());
        assert!(Scheme::parse("").is_err());
        assert!(Scheme::parse("s3").is_ok_and(|s| s.is("S3")));
    }
}
