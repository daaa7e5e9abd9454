//! Internationalised host names: the ASCII (punycode, RFC 3492) form of a
//! host written with non-ASCII characters, so that it can be compared with
//! the `xn--` entries of an allowlist.
//!
//! This is deliberately not full IDNA/UTS 46: labels are lower-cased but not
//! otherwise mapped or normalised, and only `.` separates labels. A host a
//! browser would map differently therefore gets a punycode form that is on no
//! allowlist, and is denied; it can never be mistaken for a listed host,
//! because punycode is one-to-one.

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

/// Longest DNS label.
const MAX_LABEL: usize = 63;

/// Converts a lower-case host with non-ASCII labels to its ASCII form:
/// ASCII labels are kept, others become `xn--` + punycode. `None` when a
/// label cannot be encoded or is too long for DNS.
pub fn to_ascii(host: &str) -> Option<String> {
    let mut out = String::with_capacity(host.len() + 8);
    for (i, label) in host.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if label.is_ascii() {
            out.push_str(label);
            continue;
        }
        let lower = label.to_lowercase();
        let start = out.len();
        out.push_str("xn--");
        encode(&lower, &mut out)?;
        if out.len() - start > MAX_LABEL {
            return None;
        }
    }
    Some(out)
}

/// Appends the punycode encoding of `input` to `out`.
pub fn encode(input: &str, out: &mut String) -> Option<()> {
    let len = u32::try_from(input.chars().count()).ok()?;
    let mut handled: u32 = 0;
    for c in input.chars().filter(char::is_ascii) {
        out.push(c);
        handled += 1;
    }
    let basic = handled;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    while handled < len {
        let m = input.chars().map(u32::from).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for c in input.chars().map(u32::from) {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(())
}

fn adapt(delta: u32, num_points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

fn digit(d: u32) -> char {
    match d {
        0..=25 => char::from(b'a' + d as u8),
        _ => char::from(b'0' + (d - 26) as u8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn puny(s: &str) -> String {
        let mut out = String::new();
        assert!(encode(s, &mut out).is_some());
        out
    }

    #[test]
    fn encodes_like_rfc_3492() {
        assert_eq!(puny("bücher"), "bcher-kva");
        assert_eq!(puny("münchen"), "mnchen-3ya");
        assert_eq!(puny("ü"), "tda");
        // Cyrillic `а` (U+0430) in place of the Latin `a`.
        assert_eq!(puny("p\u{430}ypal"), "pypal-4ve");
        // RFC 3492 sample (A) Arabic (Egyptian).
        assert_eq!(
            puny(
                "\u{644}\u{64a}\u{647}\u{645}\u{627}\u{628}\u{62a}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64a}\u{61f}"
            ),
            "egbpdaj6bu4bxfgehfvwxn"
        );
    }

    #[test]
    fn converts_whole_hosts() {
        assert_eq!(to_ascii("bücher.de").as_deref(), Some("xn--bcher-kva.de"));
        assert_eq!(to_ascii("BÜCHER.de").as_deref(), Some("xn--bcher-kva.de"));
        assert_eq!(
            to_ascii("p\u{430}ypal.com").as_deref(),
            Some("xn--pypal-4ve.com")
        );
        assert_eq!(to_ascii(&"ü".repeat(80)), None);
    }
}
