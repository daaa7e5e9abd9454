//! Helpers every pack needs: money, tool and tag matching, JSON arguments.

use crate::types::Money;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt;

/// Number of minor-unit digits of an ISO 4217 currency (2 unless listed).
pub fn minor_unit_exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

impl Money {
    /// Creates an amount from minor units.
    pub fn new(minor_units: i64, currency: impl Into<String>) -> Self {
        Money {
            minor_units,
            currency: currency.into(),
        }
    }

    /// Parses `"1250.50 EUR"` (major units, a dot for decimals) into minor
    /// units using the currency's exponent. Rejects more decimals than the
    /// currency has, and amounts that do not fit in 64 bits.
    pub fn parse(text: &str) -> Result<Money, String> {
        let mut parts = text.split_whitespace();
        let (Some(number), Some(currency), None) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "`{text}` is not an amount like `1250.00 EUR` (number, space, currency)"
            ));
        };
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "`{currency}` is not an ISO 4217 currency code (three upper case letters)"
            ));
        }
        let exp = minor_unit_exponent(currency);
        let (neg, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) || digits.ends_with('.') {
            return Err(format!("`{number}` is not a decimal number"));
        }
        if frac.len() as u32 > exp {
            return Err(format!(
                "`{number}` has more decimals than {currency} has minor units ({exp})"
            ));
        }
        let overflow = || format!("`{text}` is too large");
        let mut minor: i64 = int.parse().map_err(|_| overflow())?;
        for _ in 0..exp {
            minor = minor.checked_mul(10).ok_or_else(overflow)?;
        }
        let mut frac_value: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| overflow())?
        };
        for _ in frac.len() as u32..exp {
            frac_value *= 10;
        }
        minor = minor.checked_add(frac_value).ok_or_else(overflow)?;
        Ok(Money::new(if neg { -minor } else { minor }, currency))
    }

    /// Compares two amounts; `None` when the currencies differ (there is no
    /// exchange rate inside a pack).
    pub fn compare(&self, other: &Money) -> Option<Ordering> {
        self.currency
            .eq_ignore_ascii_case(&other.currency)
            .then(|| self.minor_units.cmp(&other.minor_units))
    }

    /// Whether this amount is strictly greater than `limit` in the same
    /// currency. Amounts in another currency never exceed it.
    pub fn exceeds(&self, limit: &Money) -> bool {
        self.compare(limit) == Some(Ordering::Greater)
    }

    /// Whether the amount is zero or negative.
    pub fn is_non_positive(&self) -> bool {
        self.minor_units <= 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = minor_unit_exponent(&self.currency);
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let abs = self.minor_units.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = exp as usize
        )
    }
}

/// An amount written in settings as text (`"10000.00 EUR"`), see
/// [`Money::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount(pub Money);

impl Amount {
    /// Parses an amount; for defaults in `Default` implementations, where the
    /// literal is known to be valid.
    pub fn lit(text: &str) -> Amount {
        Amount(Money::parse(text).unwrap_or_else(|_| Money::new(0, "XXX")))
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Money::parse(&text)
            .map(Amount)
            .map_err(serde::de::Error::custom)
    }
}

/// Matches `text` against a glob `pattern`: `*` matches any run of
/// characters, `?` exactly one; everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Iterative matching with one backtrack point; byte offsets into both
    // strings, advancing by whole characters. No allocation.
    let (p, t) = (pattern, text);
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(tc) = t[ti..].chars().next() {
        match p[pi..].chars().next() {
            Some('*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(pc) if pc == '?' || pc == tc => {
                pi += pc.len_utf8();
                ti += tc.len_utf8();
            }
            _ => match star {
                Some((sp, st)) => {
                    let skipped = t[st..].chars().next().map_or(1, char::len_utf8);
                    pi = sp;
                    ti = st + skipped;
                    star = Some((sp, ti));
                }
                None => return false,
            },
        }
    }
    p[pi..].chars().all(|c| c == '*')
}

/// Whether `tool` matches any of the glob `patterns` (`payments.*`).
pub fn tool_matches<S: AsRef<str>>(patterns: &[S], tool: &str) -> bool {
    patterns.iter().any(|p| glob_match(p.as_ref(), tool))
}

/// Whether `tags` contains any of `wanted` (ASCII case-insensitive).
pub fn has_any_tag<A: AsRef<str>, B: AsRef<str>>(tags: &[A], wanted: &[B]) -> bool {
    tags.iter().any(|t| {
        wanted
            .iter()
            .any(|w| t.as_ref().eq_ignore_ascii_case(w.as_ref()))
    })
}

/// Reads a value by path: a JSON pointer (`/invoice/lines/0/amount`) or a
/// dotted path (`invoice.lines[0].amount`). `""` is the whole document.
pub fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() || path.starts_with('/') {
        return value.pointer(path);
    }
    let mut cur = value;
    for segment in path.split('.') {
        let (key, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let end = stripped.find(']')?;
            let idx: usize = stripped[..end].parse().ok()?;
            cur = cur.get(idx)?;
            rest = &stripped[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(cur)
}

/// Calls `f` with every string in a JSON document (object keys included),
/// with the JSON pointer of the value it belongs to. Stops early when `f`
/// returns `false`.
pub fn visit_strings(value: &Value, f: &mut dyn FnMut(&str, &str) -> bool) {
    let mut path = String::new();
    visit(value, &mut path, f);
}

fn visit(value: &Value, path: &mut String, f: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    match value {
        Value::String(s) => f(path, s),
        Value::Array(items) => {
            let base = path.len();
            for (i, item) in items.iter().enumerate() {
                path.push('/');
                path.push_str(&i.to_string());
                let go_on = visit(item, path, f);
                path.truncate(base);
                if !go_on {
                    return false;
                }
            }
            true
        }
        Value::Object(map) => {
            let base = path.len();
            for (k, v) in map {
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                let go_on = f(path, k) && visit(v, path, f);
                path.truncate(base);
                if !go_on {
                    return false;
                }
            }
            true
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_amounts_with_the_currency_exponent() {
        assert_eq!(Money::parse("12.5 EUR"), Ok(Money::new(1250, "EUR")));
        assert_eq!(Money::parse("1000 JPY"), Ok(Money::new(1000, "JPY")));
        assert_eq!(Money::parse("1.234 KWD"), Ok(Money::new(1234, "KWD")));
        assert_eq!(Money::parse("-3 USD"), Ok(Money::new(-300, "USD")));
        assert!(
            Money::parse("1.5 JPY")
                .unwrap_err()
                .contains("more decimals")
        );
        assert!(Money::parse("12 eur").is_err());
        assert!(Money::parse("12.").is_err());
        assert!(Money::parse("1e5 EUR").is_err());
        assert!(
            Money::parse("99999999999999999999 EUR")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn displays_amounts_in_major_units() {
        assert_eq!(Money::new(123405, "EUR").to_string(), "1234.05 EUR");
        assert_eq!(Money::new(-5, "USD").to_string(), "-0.05 USD");
        assert_eq!(Money::new(700, "JPY").to_string(), "700 JPY");
    }

    #[test]
    fn compares_only_the_same_currency() {
        let limit = Money::new(100_00, "EUR");
        assert!(Money::new(100_01, "EUR").exceeds(&limit));
        assert!(!Money::new(100_00, "EUR").exceeds(&limit));
        assert!(!Money::new(999_999_00, "USD").exceeds(&limit));
        assert_eq!(
            Money::new(1, "usd").compare(&Money::new(1, "USD")),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn globs_match_like_shells() {
        assert!(glob_match("payments.*", "payments.pay_invoice"));
        assert!(glob_match("*.delete_*", "db.delete_table"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("payments.*", "payment.pay"));
        assert!(glob_match("*", ""));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(glob_match("é*ü", "éxyzü"));
        assert!(glob_match("?ü", "éü"));
        assert!(!glob_match("a*b*c", "aXbY"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(glob_match("**", "anything"));
    }

    #[test]
    fn reads_by_pointer_and_dotted_path() {
        let v = json!({"invoice": {"lines": [{"amount": 5}], "a/b": 1}});
        assert_eq!(json_path(&v, "/invoice/lines/0/amount"), Some(&json!(5)));
        assert_eq!(json_path(&v, "invoice.lines[0].amount"), Some(&json!(5)));
        assert_eq!(json_path(&v, "/invoice/a~1b"), Some(&json!(1)));
        assert_eq!(json_path(&v, "invoice.lines[3]"), None);
        assert_eq!(json_path(&v, "invoice.lines[x]"), None);
        assert_eq!(json_path(&v, ""), Some(&v));
    }

    #[test]
    fn visits_every_string_with_its_pointer() {
        let v = json!({"to": ["a@b.c", {"x/y": "z"}], "n": 1});
        let mut seen = Vec::new();
        visit_strings(&v, &mut |p, s| {
            seen.push(format!("{p}={s}"));
            true
        });
        assert!(seen.contains(&"/to/0=a@b.c".to_owned()));
        assert!(seen.contains(&"/to/1/x~1y=z".to_owned()));
        assert!(seen.contains(&"/to/1/x~1y=x/y".to_owned()));
    }
}
