//! Number runs: payment cards, US SSNs and phone numbers.
//!
//! A *run* starts at a token start on a digit, `+` or `(` and is a sequence
//! of digit groups joined by exactly one separator (space, `-` or `.`) or by
//! one parenthesised group (`(555) 123-4567`, `+44 (0)20 …`). The whole run is
//! then classified, first match wins:
//!
//! 1. **Card**: no `+`, no parentheses, 13–19 digits, either ungrouped or in
//!    groups of 3–6 digits joined by one kind of separator (space or `-`),
//!    first digit 2–6 (the major networks: Mastercard 2/5, Amex/Diners/JCB 3,
//!    Visa 4, Discover/UnionPay 6), and a valid Luhn checksum. A
//!    Luhn-invalid number is never reported as anything. When the whole
//!    run is not a card, its leading groups are tried as one
//!    (`4111 1111 1111 1111 12/27`).
//! 2. **SSN**: exactly `AAA-GG-SSSS` or `AAA GG SSSS`, area not 000, 666 or
//!    900–999, group not 00, serial not 0000.
//! 3. **Phone**:
//!    - international: `+`, then 8–15 digits, the first not 0, any of the
//!      separators and parentheses;
//!    - `00` prefix (international dialling), third digit not 0, 10–17
//!      digits, at least two groups;
//!    - national: 10–12 digits in 2–5 groups of 2–8 digits; at least one
//!      separator (a plain digit run is an id, not a phone number); `.` not
//!      mixed with other separators; a two-group number must start with a
//!      trunk `0` or a parenthesised area code (`07911 123456`, not the range
//!      `100000-200000`); not a date (`2024-01-15 1230`, `15-01-2024 1230`),
//!      not thousands grouping (`12 345 678 901`), not an IPv4 address
//!      (`192.168.100.200`).

use super::{Kind, Kinds, Match, ends_clean};

/// Digits kept per run (the longest card has 19; phones need 17).
const MAX_DIGITS: usize = 24;
/// Groups kept per run (a card has at most 5, a national phone 5).
const MAX_GROUPS: usize = 8;
/// The separator before a group that follows a parenthesised group.
const PAREN: u8 = b')';

#[derive(Clone, Copy, Default)]
struct Group {
    /// Number of digits.
    len: usize,
    /// Byte offset just past the group.
    end: usize,
    /// Separator before the group: 0 for the first, ` `, `-`, `.` or [`PAREN`].
    sep: u8,
}

struct Run {
    /// Byte offset just past the last group (the start when there is none).
    end: usize,
    plus: bool,
    paren: bool,
    digits: [u8; MAX_DIGITS],
    ndigits: usize,
    groups: [Group; MAX_GROUPS],
    ngroups: usize,
}

impl Run {
    fn digit_count(&self, groups: usize) -> usize {
        self.groups[..groups].iter().map(|g| g.len).sum()
    }

    fn kept_groups(&self) -> &[Group] {
        &self.groups[..self.ngroups.min(MAX_GROUPS)]
    }
}

fn parse_run(b: &[u8], start: usize) -> Run {
    let mut run = Run {
        end: start,
        plus: false,
        paren: false,
        digits: [0; MAX_DIGITS],
        ndigits: 0,
        groups: [Group::default(); MAX_GROUPS],
        ngroups: 0,
    };
    let mut j = start;
    if b.get(j) == Some(&b'+') {
        run.plus = true;
        j += 1;
    }
    let mut sep = 0u8;
    loop {
        let open = b.get(j) == Some(&b'(') && !run.paren;
        let group_start = if open { j + 1 } else { j };
        let mut k = group_start;
        while let Some(&c) = b.get(k).filter(|c| c.is_ascii_digit()) {
            if run.ndigits < MAX_DIGITS {
                run.digits[run.ndigits] = c - b'0';
            }
            run.ndigits += 1;
            k += 1;
        }
        let len = k - group_start;
        if len == 0 || (open && b.get(k) != Some(&b')')) {
            // Not a group: the run ends with the previous one. Digits read
            // here (an unclosed parenthesis) are forgotten.
            run.ndigits -= len;
            break;
        }
        if open {
            k += 1;
            run.paren = true;
        }
        if run.ngroups < MAX_GROUPS {
            run.groups[run.ngroups] = Group { len, end: k, sep };
        }
        run.ngroups += 1;
        run.end = k;
        j = k;
        // What joins the next group?
        let next = b.get(j).copied();
        let after = b.get(j + 1).copied();
        let digit_or_open = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit() || c == b'(');
        if open {
            if next.is_some_and(|c| c.is_ascii_digit()) {
                sep = PAREN;
            } else if matches!(next, Some(b' ' | b'-')) && after.is_some_and(|c| c.is_ascii_digit())
            {
                sep = PAREN;
                j += 1;
            } else {
                break;
            }
        } else if matches!(next, Some(b' ' | b'-' | b'.')) && digit_or_open(after) {
            sep = next.unwrap_or(b' ');
            j += 1;
        } else if next == Some(b'(') {
            sep = 0;
        } else {
            break;
        }
    }
    run
}

/// Tries the number detectors on the run starting at `start`. Returns the
/// match, if any, and the end of the run (where scanning continues).
pub(super) fn number_at(b: &[u8], start: usize, kinds: Kinds) -> (Option<Match>, usize) {
    let run = parse_run(b, start);
    let end = run.end;
    if run.ngroups == 0 {
        return (None, end);
    }
    let at = |kind, end| Some(Match { kind, start, end });
    if ends_clean(b, end) {
        if kinds.contains(Kind::Card) && is_card(&run, run.ngroups) {
            return (at(Kind::Card, end), end);
        }
        if kinds.contains(Kind::Ssn) && is_ssn(&run) {
            return (at(Kind::Ssn, end), end);
        }
        if kinds.contains(Kind::Phone) && is_phone(&run) {
            return (at(Kind::Phone, end), end);
        }
    }
    if kinds.contains(Kind::Card) {
        // The leading groups may be a card followed by something else
        // (`4111 1111 1111 1111 12/27`); they must end at a space.
        let longest = if run.ngroups > MAX_GROUPS {
            MAX_GROUPS
        } else {
            run.ngroups - 1
        };
        for n in (1..=longest).rev() {
            let prefix_end = run.groups[n - 1].end;
            if b.get(prefix_end) == Some(&b' ') && is_card(&run, n) {
                return (at(Kind::Card, prefix_end), end);
            }
        }
    }
    (None, end)
}

/// Whether the first `n` groups of the run are a card number.
fn is_card(run: &Run, n: usize) -> bool {
    if run.plus || run.paren || n > MAX_GROUPS {
        return false;
    }
    let groups = &run.groups[..n];
    let count = run.digit_count(n);
    if !(13..=19).contains(&count) || !(2..=6).contains(&run.digits[0]) {
        return false;
    }
    if n > 1 {
        let sep = groups[1].sep;
        let uniform = groups[1..].iter().all(|g| g.sep == sep);
        if !uniform
            || !matches!(sep, b' ' | b'-')
            || groups.iter().any(|g| !(3..=6).contains(&g.len))
        {
            return false;
        }
    }
    luhn_valid(&run.digits[..count])
}

/// Luhn checksum over digit values (0–9), as used by payment cards.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

fn is_ssn(run: &Run) -> bool {
    if run.plus || run.paren || run.ngroups != 3 {
        return false;
    }
    let g = &run.groups;
    let lens_ok = g[0].len == 3 && g[1].len == 2 && g[2].len == 4;
    let sep_ok = matches!(g[1].sep, b' ' | b'-') && g[2].sep == g[1].sep;
    let d = &run.digits;
    lens_ok
        && sep_ok
        && ssn_parts_valid(
            number(&d[0..3]) as u16,
            number(&d[3..5]) as u8,
            number(&d[5..9]) as u16,
        )
}

/// Whether an SSN's area, group and serial numbers can be issued: area not
/// 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn_parts_valid(area: u16, group: u8, serial: u16) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| n * 10 + u32::from(d))
}

fn is_phone(run: &Run) -> bool {
    let count = run.ndigits;
    if run.plus {
        return (8..=15).contains(&count) && run.digits[0] != 0;
    }
    if count >= 3 && run.digits[0] == 0 && run.digits[1] == 0 {
        return run.digits[2] != 0 && (10..=17).contains(&count) && run.ngroups >= 2;
    }
    if !(10..=12).contains(&count) || !(2..=5).contains(&run.ngroups) {
        return false;
    }
    let groups = run.kept_groups();
    if groups.iter().any(|g| !(2..=8).contains(&g.len)) {
        return false;
    }
    // Separators are ` `, `-`, `.`, PAREN or 0 (before a parenthesised group).
    let has_dot = groups.iter().any(|g| g.sep == b'.');
    if has_dot && groups.iter().any(|g| matches!(g.sep, b' ' | b'-')) {
        return false;
    }
    let first_paren = groups.get(1).is_some_and(|g| g.sep == PAREN);
    if groups.len() == 2 && run.digits[0] != 0 && !first_paren {
        return false;
    }
    !looks_like_date(run) && !looks_like_thousands(groups) && !looks_like_ipv4(groups, has_dot)
}

fn looks_like_date(run: &Run) -> bool {
    let len = |i: usize| run.kept_groups().get(i).map_or(0, |g| g.len);
    let year = |from: usize| {
        run.digits
            .get(from..from + 4)
            .is_some_and(|d| (1900..=2099).contains(&number(d)))
    };
    match (len(0), len(1), len(2)) {
        (4, 2, _) => year(0),
        (2, 2, 4) => year(4),
        _ => false,
    }
}

fn looks_like_thousands(groups: &[Group]) -> bool {
    groups.len() >= 3 && groups[0].len <= 3 && groups[1..].iter().all(|g| g.len == 3)
}

fn looks_like_ipv4(groups: &[Group], dotted: bool) -> bool {
    dotted && groups.len() == 4 && groups.iter().all(|g| g.len <= 3)
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, Kinds, find_all};
    use super::*;

    fn found(text: &str, kind: Kind) -> Vec<&str> {
        find_all(text, Kinds::only(kind))
            .iter()
            .map(|m| &text[m.start..m.end])
            .collect()
    }

    fn all_kinds(text: &str) -> Vec<Kind> {
        find_all(text, Kinds::ALL).iter().map(|m| m.kind).collect()
    }

    #[test]
    fn luhn_matches_known_numbers() {
        let digits = |s: &str| s.bytes().map(|c| c - b'0').collect::<Vec<u8>>();
        assert!(luhn_valid(&digits("4111111111111111")));
        assert!(luhn_valid(&digits("79927398713")));
        assert!(!luhn_valid(&digits("4111111111111112")));
        assert!(!luhn_valid(&[]));
    }

    #[test]
    fn finds_cards_of_every_network_and_format() {
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555 5555 5555 4444",
            "2223 0031 2200 3222",
            "3782 822463 10005",
            "3056 930902 5904",
            "6011111111111117",
            "3530111333300000",
            "4222222222222",
            "6011 0009 9013 9424 009",
            "6011000990139424009",
        ] {
            let text = format!("pay with {card} now");
            assert_eq!(found(&text, Kind::Card), vec![card], "{card}");
        }
    }

    #[test]
    fn luhn_invalid_or_oddly_grouped_numbers_are_not_cards() {
        for text in [
            "4111111111111112",
            "4111 1111 1111 1112",
            "4111 1111-1111 1111",
            "4111.1111.1111.1111",
            "41 11 11 11 11 11 11 11",
            "1111111111111117",
            "7111111111111116",
            "411111111111",
            "41111111111111111111",
            "+4111111111111111",
        ] {
            assert!(found(text, Kind::Card).is_empty(), "{text}");
            assert!(!all_kinds(text).contains(&Kind::Card), "{text}");
        }
        // A Luhn-invalid card-shaped number is not a phone either.
        assert!(all_kinds("3782 822463 10006").is_empty());
    }

    #[test]
    fn finds_a_card_followed_by_more_numbers() {
        assert_eq!(
            found("4111 1111 1111 1111 12/27", Kind::Card),
            vec!["4111 1111 1111 1111"]
        );
        assert_eq!(
            found("4111 1111 1111 1111 123", Kind::Card),
            vec!["4111 1111 1111 1111"]
        );
    }

    #[test]
    fn finds_valid_ssns_only() {
        assert_eq!(found("SSN: 123-45-6789.", Kind::Ssn), vec!["123-45-6789"]);
        assert_eq!(found("ssn 078 05 1120", Kind::Ssn), vec!["078 05 1120"]);
        assert_eq!(found("899-99-9999", Kind::Ssn), vec!["899-99-9999"]);
        for text in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123-45 6789",
            "123456789",
            "123.45.6789",
            "1234-56-7890",
            "123-45-67890",
        ] {
            assert!(found(text, Kind::Ssn).is_empty(), "{text}");
        }
        assert!(ssn_parts_valid(1, 1, 1));
        assert!(!ssn_parts_valid(666, 1, 1));
    }

    #[test]
    fn finds_international_phone_numbers() {
        for phone in [
            "+44 20 7946 0958",
            "+1 (555) 123-4567",
            "+44 (0)20 7946 0958",
            "+4915112345678",
            "+33 1 23 45 67 89",
            "+49-30-1234567",
            "+1.555.123.4567",
            "+12345678",
            "0044 20 7946 0958",
        ] {
            let text = format!("call {phone}, thanks");
            assert_eq!(found(&text, Kind::Phone), vec![phone], "{phone}");
        }
        for text in [
            "+1234567",
            "+0123456789",
            "+1234567890123456",
            "0044207946095",
            "0004 1234 5678",
        ] {
            assert!(found(text, Kind::Phone).is_empty(), "{text}");
        }
    }

    #[test]
    fn finds_formatted_national_phone_numbers() {
        for phone in [
            "(555) 123-4567",
            "(555)123-4567",
            "555-123-4567",
            "555.123.4567",
            "555 123 4567",
            "020 7946 0958",
            "0161 496 0000",
            "07911 123456",
            "030 12345678",
            "01 23 45 67 89",
            "01.23.45.67.89",
            "555 123-4567",
        ] {
            let text = format!("tel {phone}");
            assert_eq!(found(&text, Kind::Phone), vec![phone], "{phone}");
        }
    }

    #[test]
    fn plain_and_date_like_numbers_are_not_phones() {
        for text in [
            "5551234567",
            "order 123456789012",
            "555-1234",
            "100000-200000",
            "12345 67890",
            "2024-01-15 1230",
            "2024 01 15 1230",
            "15-01-2024 1230",
            "15.01.2024 1230",
            "555.123 4567",
            "12 345 678 901",
            "1 234 567 890",
            "192.168.100.200",
            "10.0.19041.1234",
            "555-123-4567-8901-2",
            "555-123-4567:8080",
        ] {
            assert!(found(text, Kind::Phone).is_empty(), "{text}");
        }
    }

    #[test]
    fn many_groups_do_not_overflow() {
        let text = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26";
        assert!(all_kinds(text).is_empty());
        let text = "+1 2 3 4 5 6 7 8 9 1";
        assert_eq!(found(text, Kind::Phone), vec![text]);
    }
}
