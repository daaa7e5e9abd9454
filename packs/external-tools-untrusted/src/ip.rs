//! IP literals: parsing the way browsers do (WHATWG URL standard, which
//! accepts `2130706433`, `0x7f.1` and `0177.0.0.1` for 127.0.0.1) and telling
//! public addresses from loopback, private, link-local and other special
//! ranges.

use std::fmt::Write as _;

/// Whether the last dot-separated label of `host` makes the whole host an
/// IPv4 address for a URL parser: all digits, or `0x` followed by hex digits.
/// Such a host is an IPv4 address or invalid, never a domain.
pub fn ends_in_number(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    match last.strip_prefix("0x").or_else(|| last.strip_prefix("0X")) {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

/// Parses an IPv4 host the way the WHATWG URL standard does: one to four
/// dot-separated numbers, each decimal, octal (leading `0`) or hex (`0x`);
/// the last number fills the remaining bytes. `None` when it is not valid.
pub fn parse_v4(host: &str) -> Option<u32> {
    let mut numbers = [0u64; 4];
    let mut count = 0;
    for part in host.split('.') {
        if count == 4 {
            return None;
        }
        numbers[count] = parse_v4_number(part)?;
        count += 1;
    }
    let (last, init) = (numbers[count - 1], &numbers[..count - 1]);
    if init.iter().any(|&n| n > 255) || last >= 1u64 << (8 * (5 - count)) {
        return None;
    }
    let mut addr = last;
    for (i, &n) in init.iter().enumerate() {
        addr += n << (8 * (3 - i));
    }
    u32::try_from(addr).ok()
}

fn parse_v4_number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            if hex.is_empty() {
                return Some(0);
            }
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return None;
    }
    let mut value: u64 = 0;
    for c in digits.chars() {
        let d = u64::from(c.to_digit(radix)?);
        value = value.checked_mul(u64::from(radix))?.checked_add(d)?;
    }
    Some(value)
}

/// Parses the text between the brackets of an IPv6 host (`::1`,
/// `::ffff:127.0.0.1`). Zone ids (`%eth0`) are not valid in URLs.
pub fn parse_v6(text: &str) -> Option<[u16; 8]> {
    let b = text.as_bytes();
    let mut pieces = [0u16; 8];
    let mut idx = 0usize;
    let mut compress: Option<usize> = None;
    let mut i = 0usize;
    if b.first() == Some(&b':') {
        if b.get(1) != Some(&b':') {
            return None;
        }
        i = 2;
        idx = 1;
        compress = Some(1);
    }
    while i < b.len() {
        if idx == 8 {
            return None;
        }
        if b[i] == b':' {
            if compress.is_some() {
                return None;
            }
            i += 1;
            idx += 1;
            compress = Some(idx);
            continue;
        }
        let (mut value, mut len) = (0u16, 0usize);
        while len < 4 && i < b.len() && b[i].is_ascii_hexdigit() {
            value = value * 16 + hex_value(b[i]);
            i += 1;
            len += 1;
        }
        if i < b.len() && b[i] == b'.' {
            // An embedded IPv4 address fills the last two pieces.
            if len == 0 || idx > 6 {
                return None;
            }
            let v4 = parse_v6_embedded_v4(&text[i - len..])?;
            pieces[idx] = (v4 >> 16) as u16;
            pieces[idx + 1] = v4 as u16;
            idx += 2;
            i = b.len();
            break;
        }
        if len == 0 {
            return None;
        }
        if i < b.len() {
            if b[i] != b':' {
                return None;
            }
            i += 1;
            if i == b.len() {
                return None;
            }
        }
        pieces[idx] = value;
        idx += 1;
    }
    debug_assert_eq!(i, b.len());
    match compress {
        Some(c) => {
            let mut swaps = idx - c;
            let mut to = 7;
            while to != 0 && swaps > 0 {
                pieces.swap(to, c + swaps - 1);
                to -= 1;
                swaps -= 1;
            }
        }
        None if idx != 8 => return None,
        None => {}
    }
    Some(pieces)
}

fn hex_value(b: u8) -> u16 {
    match b {
        b'0'..=b'9' => u16::from(b - b'0'),
        b'a'..=b'f' => u16::from(b - b'a' + 10),
        _ => u16::from(b - b'A' + 10),
    }
}

/// Strict dotted decimal as allowed inside IPv6: four numbers 0-255, no
/// leading zeros.
fn parse_v6_embedded_v4(text: &str) -> Option<u32> {
    let mut addr = 0u32;
    let mut count = 0;
    for part in text.split('.') {
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.bytes().all(|b| b.is_ascii_digit())
            && !(part.len() > 1 && part.starts_with('0'));
        let n: u32 = if ok { part.parse().ok()? } else { return None };
        if n > 255 || count == 4 {
            return None;
        }
        addr = addr << 8 | n;
        count += 1;
    }
    (count == 4).then_some(addr)
}

/// Why an IPv4 address is not a public internet address, or `None` when it is.
pub fn v4_special(a: u32) -> Option<&'static str> {
    const RANGES: &[(u32, u32, &str)] = &[
        (0x0000_0000, 8, "\"this network\" (0.0.0.0/8)"),
        (0x0A00_0000, 8, "private (10.0.0.0/8)"),
        (0x6440_0000, 10, "shared address space (100.64.0.0/10)"),
        (0x7F00_0000, 8, "loopback (127.0.0.0/8)"),
        (
            0xA9FE_0000,
            16,
            "link-local, cloud metadata (169.254.0.0/16)",
        ),
        (0xAC10_0000, 12, "private (172.16.0.0/12)"),
        (0xC000_0000, 24, "IETF protocol assignments (192.0.0.0/24)"),
        (0xC000_0200, 24, "documentation (192.0.2.0/24)"),
        (0xC058_6300, 24, "6to4 relay anycast (192.88.99.0/24)"),
        (0xC0A8_0000, 16, "private (192.168.0.0/16)"),
        (0xC612_0000, 15, "benchmarking (198.18.0.0/15)"),
        (0xC633_6400, 24, "documentation (198.51.100.0/24)"),
        (0xCB00_7100, 24, "documentation (203.0.113.0/24)"),
        (0xE000_0000, 4, "multicast (224.0.0.0/4)"),
        (0xF000_0000, 4, "reserved or broadcast (240.0.0.0/4)"),
    ];
    RANGES
        .iter()
        .find(|&&(net, bits, _)| a >> (32 - bits) == net >> (32 - bits))
        .map(|&(_, _, why)| why)
}

/// Why an IPv6 address is not a public internet address, or `None` when it
/// is. Addresses that embed an IPv4 address (mapped, NAT64, 6to4) are judged
/// by the embedded address; only global unicast (2000::/3) can be public.
pub fn v6_special(p: [u16; 8]) -> Option<&'static str> {
    let embedded = |hi: u16, lo: u16| u32::from(hi) << 16 | u32::from(lo);
    if p == [0; 8] {
        return Some("unspecified (::)");
    }
    if p == [0, 0, 0, 0, 0, 0, 0, 1] {
        return Some("loopback (::1)");
    }
    if p[..5] == [0; 5] && p[5] == 0xffff {
        return v4_special(embedded(p[6], p[7]));
    }
    if p[..6] == [0; 6] {
        return Some("IPv4-compatible (::/96, deprecated)");
    }
    if p[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_special(embedded(p[6], p[7]));
    }
    if p[0] == 0x2002 {
        return v4_special(embedded(p[1], p[2]));
    }
    match p[0] {
        0xfe80..=0xfebf => Some("link-local (fe80::/10)"),
        0xfec0..=0xfeff => Some("site-local (fec0::/10)"),
        0xfc00..=0xfdff => Some("unique local, private (fc00::/7)"),
        0xff00..=0xffff => Some("multicast (ff00::/8)"),
        0x2001 if p[1] == 0 => Some("Teredo (2001::/32)"),
        0x2001 if p[1] == 0x0db8 => Some("documentation (2001:db8::/32)"),
        0x2000..=0x3fff => None,
        _ => Some("not global unicast (outside 2000::/3)"),
    }
}

/// Dotted decimal form.
pub fn format_v4(a: u32) -> String {
    let [x, y, z, w] = a.to_be_bytes();
    format!("{x}.{y}.{z}.{w}")
}

/// Canonical text form (RFC 5952): lower-case hex, the longest run of two or
/// more zero pieces written `::`.
pub fn format_v6(p: [u16; 8]) -> String {
    let (mut best, mut best_len, mut i) = (8usize, 1usize, 0usize);
    while i < 8 {
        if p[i] == 0 {
            let start = i;
            while i < 8 && p[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if i == best {
            out.push_str("::");
            i += best_len;
            continue;
        }
        if !out.is_empty() && !out.ends_with(':') {
            out.push(':');
        }
        let _ = write!(out, "{:x}", p[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Option<String> {
        parse_v4(s).map(format_v4)
    }

    fn v6(s: &str) -> Option<String> {
        parse_v6(s).map(format_v6)
    }

    #[test]
    fn ipv4_in_every_form_browsers_accept() {
        assert_eq!(v4("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("2130706433").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0x7f000001").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("0177.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(v4("169.254.43518").as_deref(), Some("169.254.169.254"));
        assert_eq!(
            v4("0xA9.0xFE.0xA9.0xFE").as_deref(),
            Some("169.254.169.254")
        );
        assert_eq!(v4("0x").as_deref(), Some("0.0.0.0"));
        assert_eq!(v4("8.8.8.8").as_deref(), Some("8.8.8.8"));
    }

    #[test]
    fn rejects_malformed_ipv4() {
        for bad in [
            "256.0.0.1",
            "1.2.3.4.5",
            "08.0.0.1",
            "4294967296",
            "1..2",
            "1.2.3.256",
            "0xg.1",
            "1.0x1000000",
        ] {
            assert_eq!(v4(bad), None, "{bad}");
        }
        assert_eq!(v4("1.16777215").as_deref(), Some("1.255.255.255"));
        assert_eq!(v4("99999999999999999999999"), None);
    }

    #[test]
    fn knows_which_labels_make_a_number() {
        assert!(ends_in_number("2130706433"));
        assert!(ends_in_number("foo.0x7f"));
        assert!(ends_in_number("a.b.09"));
        assert!(!ends_in_number("example.com"));
        assert!(!ends_in_number("1.2.3.4com"));
        assert!(!ends_in_number("0xg"));
    }

    #[test]
    fn ipv6_forms() {
        assert_eq!(v6("::1").as_deref(), Some("::1"));
        assert_eq!(v6("::").as_deref(), Some("::"));
        assert_eq!(v6("0:0:0:0:0:0:0:1").as_deref(), Some("::1"));
        assert_eq!(
            v6("2001:DB8::8:800:200C:417A").as_deref(),
            Some("2001:db8::8:800:200c:417a")
        );
        assert_eq!(v6("fe80::").as_deref(), Some("fe80::"));
        assert_eq!(v6("::ffff:127.0.0.1").as_deref(), Some("::ffff:7f00:1"));
        assert_eq!(v6("1:2:3:4:5:6:7::").as_deref(), Some("1:2:3:4:5:6:7:0"));
        assert_eq!(v6("1::2:0:0:3").as_deref(), Some("1::2:0:0:3"));
        for bad in [
            ":1",
            "1:",
            "1:::2",
            "1::2::3",
            "12345::",
            "::1%eth0",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "::ffff:1.2.3",
            "::ffff:01.2.3.4",
            "g::",
            "",
        ] {
            assert_eq!(v6(bad), None, "{bad}");
        }
    }

    #[test]
    fn classifies_special_ranges() {
        let special4 = |s: &str| parse_v4(s).and_then(v4_special);
        assert!(
            special4("169.254.169.254")
                .unwrap_or("")
                .contains("metadata")
        );
        assert!(special4("127.0.0.1").unwrap_or("").contains("loopback"));
        assert!(special4("10.1.2.3").is_some());
        assert!(special4("172.31.255.255").is_some());
        assert!(special4("192.168.0.1").is_some());
        assert!(special4("100.64.0.1").is_some());
        assert!(special4("0.0.0.0").is_some());
        assert!(special4("255.255.255.255").is_some());
        assert_eq!(special4("172.32.0.1"), None);
        assert_eq!(special4("8.8.8.8"), None);
        assert_eq!(special4("93.184.216.34"), None);

        let special6 = |s: &str| parse_v6(s).and_then(v6_special);
        for bad in [
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
            "::127.0.0.1",
            "100::1",
        ] {
            assert!(special6(bad).is_some(), "{bad}");
        }
        for good in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(special6(good), None, "{good}");
        }
    }
}
