//! International bank account numbers (ISO 13616).
//!
//! Heuristic: at a token start, two upper case letters naming a country in
//! [`COUNTRY_LENGTHS`], two check digits (not 00, 01 or 99), then upper case
//! letters and digits up to exactly that country's IBAN length, either
//! compact (`DE89370400440532013000`) or in the printed form with one space
//! after every four characters (`DE89 3704 0044 0532 0130 00`). The IBAN
//! must end at a clean boundary and pass the mod-97 checksum. Lower case
//! IBANs and countries outside the table are not reported.

use super::ends_clean;

/// IBAN length by country (sorted by code): the SEPA countries and the
/// other common IBAN countries.
const COUNTRY_LENGTHS: &[([u8; 2], usize)] = &[
    (*b"AD", 24),
    (*b"AE", 23),
    (*b"AL", 28),
    (*b"AT", 20),
    (*b"AZ", 28),
    (*b"BA", 20),
    (*b"BE", 16),
    (*b"BG", 22),
    (*b"BH", 22),
    (*b"BR", 29),
    (*b"CH", 21),
    (*b"CY", 28),
    (*b"CZ", 24),
    (*b"DE", 22),
    (*b"DK", 18),
    (*b"EE", 20),
    (*b"EG", 29),
    (*b"ES", 24),
    (*b"FI", 18),
    (*b"FO", 18),
    (*b"FR", 27),
    (*b"GB", 22),
    (*b"GE", 22),
    (*b"GI", 23),
    (*b"GL", 18),
    (*b"GR", 27),
    (*b"HR", 21),
    (*b"HU", 28),
    (*b"IE", 22),
    (*b"IL", 23),
    (*b"IS", 26),
    (*b"IT", 27),
    (*b"JO", 30),
    (*b"KW", 30),
    (*b"KZ", 20),
    (*b"LB", 28),
    (*b"LI", 21),
    (*b"LT", 20),
    (*b"LU", 20),
    (*b"LV", 21),
    (*b"MC", 27),
    (*b"MD", 24),
    (*b"ME", 22),
    (*b"MK", 19),
    (*b"MT", 31),
    (*b"MU", 30),
    (*b"NL", 18),
    (*b"NO", 15),
    (*b"PK", 24),
    (*b"PL", 28),
    (*b"PT", 25),
    (*b"QA", 29),
    (*b"RO", 24),
    (*b"RS", 22),
    (*b"SA", 24),
    (*b"SE", 24),
    (*b"SI", 19),
    (*b"SK", 24),
    (*b"SM", 27),
    (*b"TN", 24),
    (*b"TR", 26),
    (*b"UA", 29),
    (*b"VA", 22),
    (*b"XK", 20),
];

/// Longest IBAN of any country.
const MAX_LEN: usize = 34;

/// The IBAN length of a country (`DE` → 22), if the country is in the table.
pub fn country_length(country: [u8; 2]) -> Option<usize> {
    COUNTRY_LENGTHS
        .binary_search_by(|(c, _)| c.cmp(&country))
        .ok()
        .map(|i| COUNTRY_LENGTHS[i].1)
}

/// Whether a compact IBAN (upper case, no spaces) has its country's length,
/// valid check digits and a valid mod-97 checksum.
pub fn iban_valid(iban: &[u8]) -> bool {
    let (Some(&a), Some(&b)) = (iban.first(), iban.get(1)) else {
        return false;
    };
    country_length([a, b]) == Some(iban.len())
        && iban
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && iban[2].is_ascii_digit()
        && iban[3].is_ascii_digit()
        && !matches!(&iban[2..4], b"00" | b"01" | b"99")
        && mod97(iban) == 1
}

/// The IBAN checksum: the number formed by moving the first four
/// characters to the end and replacing letters by 10–35, modulo 97.
fn mod97(iban: &[u8]) -> u32 {
    let (head, rest) = iban.split_at(4.min(iban.len()));
    rest.iter().chain(head).fold(0u32, |r, &c| {
        if c.is_ascii_digit() {
            (r * 10 + u32::from(c - b'0')) % 97
        } else {
            (r * 100 + u32::from(c.to_ascii_uppercase() - b'A') + 10) % 97
        }
    })
}

/// The end of the IBAN starting at byte `start`, if there is one.
pub(super) fn iban_at(b: &[u8], start: usize) -> Option<usize> {
    let head = b.get(start..start + 4)?;
    if !(head[0].is_ascii_uppercase()
        && head[1].is_ascii_uppercase()
        && head[2].is_ascii_digit()
        && head[3].is_ascii_digit())
    {
        return None;
    }
    let len = country_length([head[0], head[1]])?;
    let spaced = b.get(start + 4) == Some(&b' ');
    let mut compact = [0u8; MAX_LEN];
    let mut j = start;
    for (n, slot) in compact.iter_mut().take(len).enumerate() {
        if spaced && n > 0 && n % 4 == 0 {
            if b.get(j) != Some(&b' ') {
                return None;
            }
            j += 1;
        }
        let c = *b.get(j)?;
        if !(c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return None;
        }
        *slot = c;
        j += 1;
    }
    (ends_clean(b, j) && iban_valid(&compact[..len])).then_some(j)
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Kinds, find_all};
    use super::*;

    fn ibans(text: &str) -> Vec<&str> {
        find_all(text, Kinds::only(Kind::Iban))
            .iter()
            .map(|m| &text[m.start..m.end])
            .collect()
    }

    const VALID: &[&str] = &[
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NL91ABNA0417164300",
        "BE68539007547034",
        "CH9300762011623852957",
        "NO9386011117947",
        "ES9121000418450200051332",
        "IT60X0542811101000000123456",
        "AT611904300234573201",
    ];

    #[test]
    fn the_country_table_is_sorted_and_sane() {
        assert!(COUNTRY_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(
            COUNTRY_LENGTHS
                .iter()
                .all(|(_, n)| (15..=MAX_LEN).contains(n))
        );
        assert_eq!(country_length(*b"DE"), Some(22));
        assert_eq!(country_length(*b"ZZ"), None);
    }

    #[test]
    fn validates_known_ibans() {
        for iban in VALID {
            assert!(iban_valid(iban.as_bytes()), "{iban}");
        }
    }

    #[test]
    fn rejects_bad_checksums_lengths_and_countries() {
        assert!(!iban_valid(b"DE89370400440532013001"));
        assert!(!iban_valid(b"DE88370400440532013000"));
        assert!(!iban_valid(b"DE8937040044053201300"));
        assert!(!iban_valid(b"DE893704004405320130000"));
        assert!(!iban_valid(b"ZZ89370400440532013000"));
        assert!(!iban_valid(b"de89370400440532013000"));
        assert!(!iban_valid(b""));
    }

    #[test]
    fn finds_compact_and_printed_forms() {
        for iban in VALID {
            let text = format!("pay to {iban} today");
            assert_eq!(ibans(&text), vec![*iban]);
            let printed: String = iban
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ");
            let text = format!("IBAN: {printed}, ref 42");
            assert_eq!(ibans(&text), vec![printed.as_str()]);
        }
    }

    #[test]
    fn rejects_malformed_text() {
        for text in [
            "DE89370400440532013001",
            "DE89 3704 0044 0532 0130 01",
            "DE89 37040044 0532 0130 00",
            "DE89  3704 0044 0532 0130 00",
            "DE8937040044053201300012",
            "DE89 3704 0044 0532 0130 0012",
            "de89370400440532013000",
            "DE89370400440532013000x",
            "xDE89370400440532013000",
            "DE89370400440532013",
        ] {
            assert!(ibans(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn printed_iban_followed_by_words_is_found() {
        assert_eq!(
            ibans("DE89 3704 0044 0532 0130 00 EUR"),
            vec!["DE89 3704 0044 0532 0130 00"]
        );
    }
}
