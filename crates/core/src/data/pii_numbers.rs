//! Numbers that identify a person: payment cards, IBANs and phone numbers.
//!
//! datatrove's `PIIFormatter` stops at e-mail and IP addresses ([`super::pii`]);
//! these three detectors have no reference implementation to match, so they
//! are measured instead: precision and recall on a labelled synthetic set
//! (`tests/fixtures/data/pii_synthetic.json`, made by
//! `scripts/fixtures/data_pii_synthetic.py`), printed by the parity test.
//! Each detector is a candidate pattern plus a checksum where one exists:
//!
//! - **payment card** ([`find_cards`]): 13–19 digits, optionally in groups
//!   separated by one space or hyphen, not touching another letter or
//!   digit, with an issuer prefix (4 Visa; 51–55 and 2221–2720 Mastercard;
//!   34, 37 Amex; 6011, 65 Discover) and a valid **Luhn** check digit
//!   (double every second digit from the right, subtract 9 above 9, the
//!   sum is a multiple of 10). Luhn alone catches every single-digit typo
//!   and most transpositions, so a random 16-digit number passes 1 in 10.
//! - **IBAN** ([`find_ibans`]): two capital letters, two check digits, then
//!   11–30 capitals or digits, optionally grouped by single spaces; valid
//!   when the four first characters moved to the end, letters as 10..35,
//!   give a number ≡ 1 (mod 97) (ISO 13616).
//! - **phone number** ([`find_phones`]): an optional `+` and country code,
//!   then 7–15 digits in groups separated by a space, hyphen, dot or
//!   parentheses, with at least one separator (a bare run of digits is more
//!   often an id than a phone); not touching a letter or digit (see
//!   [`find_phones`] for where a number starts and stops). Groups of
//!   `YYYY-MM-DD` (dates), dotted groups of at most 3 digits with 3–4
//!   groups (versions, IP addresses), fewer than 3 dotted groups (prices)
//!   and space-separated blocks of four digits (card and IBAN groups) are
//!   refused.

use alloc::vec::Vec;

/// What kind of number a span holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberKind {
    /// A payment card number (Luhn-valid, known issuer prefix).
    Card,
    /// An International Bank Account Number (mod-97 valid).
    Iban,
    /// A telephone number.
    Phone,
}

/// A detected number: `text[start..end]` (byte offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct NumberSpan {
    /// What was found.
    pub kind: NumberKind,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset after the last character.
    pub end: usize,
}

/// The Luhn checksum holds for these digits (values 0–9).
pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The IBAN check (ISO 13616 mod 97) for an IBAN without spaces.
pub fn iban_valid(iban: &str) -> bool {
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len()) || !b.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) {
        return false;
    }
    let (head, tail) = b.split_at(4);
    let mut rem: u32 = 0;
    for &c in tail.iter().chain(head) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

fn touches_alnum(text: &str, start: usize, end: usize) -> bool {
    let before = text.get(..start).and_then(|s| s.chars().next_back()).is_some_and(char::is_alphanumeric);
    let after = text.get(end..).and_then(|s| s.chars().next()).is_some_and(char::is_alphanumeric);
    before || after
}

/// Runs of ASCII digits joined by single separators from `seps`:
/// `(start, end, digits, separators used)` for every maximal run.
fn digit_groups(text: &str, seps: &[u8]) -> Vec<(usize, usize, Vec<u8>, Vec<u8>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let (mut digits, mut used) = (Vec::new(), Vec::new());
        let mut end = i;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                digits.push(b[i] - b'0');
                i += 1;
                end = i;
            } else if seps.contains(&b[i]) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                used.push(b[i]);
                i += 1;
            } else {
                break;
            }
        }
        out.push((start, end, digits, used));
        i = end.max(start + 1);
    }
    out
}

fn card_prefix(d: &[u8]) -> bool {
    let n = |k: usize| d.iter().take(k).fold(0u32, |acc, &x| acc * 10 + u32::from(x));
    let len = d.len();
    match d.first() {
        Some(4) => matches!(len, 13 | 16 | 19),
        Some(5) => (51..=55).contains(&n(2)) && len == 16,
        Some(2) => (2221..=2720).contains(&n(4)) && len == 16,
        Some(3) => matches!(n(2), 34 | 37) && len == 15,
        Some(6) => (n(4) == 6011 || n(2) == 65) && (16..=19).contains(&len),
        _ => false,
    }
}

/// Payment card numbers in `text`; see the module doc. A run of digit
/// groups may hold a card followed by another number (`4111 1111 1111 1111
/// 555 0100`): from each group, the longest span of whole groups that
/// validates is taken.
pub fn find_cards(text: &str) -> Vec<NumberSpan> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for (run_start, run_end, _, _) in digit_groups(text, b" -") {
        // (start, end) of each group of digits inside the run
        let mut groups = Vec::new();
        let mut i = run_start;
        while i < run_end {
            let start = i;
            while i < run_end && b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            groups.push((start, i));
            i += 1; // the separator
        }
        let mut g = 0;
        while g < groups.len() {
            let found = (g..groups.len()).rev().find_map(|h| {
                let (start, end) = (groups.get(g)?.0, groups.get(h)?.1);
                let span = text.get(start..end)?;
                let digits: Vec<u8> = span.bytes().filter(u8::is_ascii_digit).map(|c| c - b'0').collect();
                let mut seps = span.bytes().filter(|c| !c.is_ascii_digit());
                let first_sep = seps.next();
                let one_separator = seps.all(|c| Some(c) == first_sep);
                let ok = (13..=19).contains(&digits.len())
                    && one_separator
                    && card_prefix(&digits)
                    && luhn_valid(&digits)
                    && !touches_alnum(text, start, end);
                ok.then_some((h, NumberSpan { kind: NumberKind::Card, start, end }))
            });
            match found {
                Some((h, span)) => {
                    out.push(span);
                    g = h + 1;
                }
                None => g += 1,
            }
        }
    }
    out
}

/// IBANs in `text`; see the module doc.
pub fn find_ibans(text: &str) -> Vec<NumberSpan> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= b.len() {
        let starts = b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_uppercase()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && !text.get(..i).and_then(|s| s.chars().next_back()).is_some_and(char::is_alphanumeric);
        if !starts {
            i += 1;
            continue;
        }
        // Grow over capitals/digits and single spaces; remember every end that validates.
        let mut compact = alloc::string::String::new();
        let mut j = i;
        let mut best = None;
        while j < b.len() && compact.len() < 34 {
            let c = b[j];
            if c.is_ascii_uppercase() || c.is_ascii_digit() {
                compact.push(char::from(c));
                j += 1;
                let boundary = !text.get(j..).and_then(|s| s.chars().next()).is_some_and(char::is_alphanumeric);
                if boundary && iban_valid(&compact) {
                    best = Some(j);
                }
            } else if c == b' ' && b.get(j + 1).is_some_and(|n| n.is_ascii_uppercase() || n.is_ascii_digit()) {
                j += 1;
            } else {
                break;
            }
        }
        match best {
            Some(end) => {
                out.push(NumberSpan { kind: NumberKind::Iban, start: i, end });
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// Whether the digits so far, in `groups` with separators `seps`, end a
/// phone number (7–15 digits, a separator or a leading `+`, no open
/// parenthesis, not a date, not a dotted version, address or price, not
/// space-separated blocks of four digits).
fn phone_shape(digits: usize, groups: &[usize], seps: &[u8], plus: bool, open: bool) -> bool {
    let only_dots = !seps.is_empty() && seps.iter().all(|&s| s == b'.');
    let date = matches!(groups, [4, 2, 2]);
    let version = only_dots && (3..=4).contains(&groups.len()) && groups.iter().all(|&g| g <= 3);
    let price = only_dots && groups.len() < 3;
    // 4-digit groups split by spaces are how cards and IBANs are written
    let blocks_of_four = !plus && !seps.is_empty() && seps.iter().all(|&s| s == b' ') && groups.iter().all(|&g| g == 4);
    (7..=15).contains(&digits) && (!seps.is_empty() || plus) && !open && !date && !version && !price && !blocks_of_four
}

/// Phone numbers in `text`; see the module doc. A number starts after a
/// character that is not a letter, digit, `+`, `.`, `-`, `#` or a currency sign; a space never
/// follows a `-` or `.` separator inside one number (`555-0100 42` is a
/// phone number and another number). Of the group boundaries a run offers,
/// the longest that has a phone's shape is taken.
pub fn find_phones(text: &str) -> Vec<NumberSpan> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c0 = b.get(i).copied().unwrap_or(0);
        let (plus, paren) = (c0 == b'+', c0 == b'(');
        let bad_before = text
            .get(..i)
            .and_then(|s| s.chars().next_back())
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '+' | '.' | '-' | '#' | '$' | '€' | '£' | '¥'));
        if !(c0.is_ascii_digit() || plus || paren) || bad_before {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i + usize::from(plus);
        let (mut digits, mut groups, mut seps, mut open, mut group) = (0usize, Vec::new(), Vec::new(), false, 0usize);
        let mut ends: Vec<usize> = Vec::new(); // ends whose prefix has a phone's shape
        while let Some(&c) = b.get(j) {
            if c.is_ascii_digit() {
                digits += 1;
                group += 1;
                j += 1;
                let next_is_digit = b.get(j).is_some_and(u8::is_ascii_digit);
                if !next_is_digit {
                    let mut closed = groups.clone();
                    closed.push(group);
                    let boundary = !text.get(j..).and_then(|s| s.chars().next()).is_some_and(char::is_alphanumeric);
                    if boundary && phone_shape(digits, &closed, &seps, plus, open) {
                        ends.push(j);
                    }
                }
            } else if c == b'(' && !open && group == 0 {
                open = true;
                seps.push(c);
                j += 1;
            } else if c == b')' && open && group > 0 {
                open = false;
                groups.push(group);
                group = 0;
                seps.push(c);
                j += 1;
                if matches!(b.get(j), Some(b' ' | b'-')) {
                    j += 1;
                }
            } else if matches!(c, b' ' | b'-' | b'.') && group > 0 && b.get(j + 1).is_some_and(|n| n.is_ascii_digit() || *n == b'(') {
                if c == b' ' && matches!(seps.last(), Some(b'-' | b'.')) {
                    break;
                }
                groups.push(group);
                group = 0;
                seps.push(c);
                j += 1;
            } else {
                break;
            }
        }
        match ends.last() {
            Some(&end) => {
                out.push(NumberSpan { kind: NumberKind::Phone, start, end });
                i = end;
            }
            None => i += 1,
        }
    }
    out
}

/// All three detectors; where spans overlap, the card or IBAN (checksummed)
/// wins over the phone number. Sorted by start.
pub fn find_numbers(text: &str) -> Vec<NumberSpan> {
    let mut found: Vec<NumberSpan> = find_cards(text).into_iter().chain(find_ibans(text)).collect();
    for phone in find_phones(text) {
        if !found.iter().any(|s| s.start < phone.end && phone.start < s.end) {
            found.push(phone);
        }
    }
    found.sort_by_key(|s| (s.start, s.end));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_mod97_accept_valid_and_refuse_one_digit_typos() {
        let card = [4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        assert!(luhn_valid(&card));
        let mut typo = card;
        typo[3] = 2;
        assert!(!luhn_valid(&typo));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765433"));
    }

    #[test]
    fn spans_cover_the_numbers() {
        let text = "card 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00, call +1 (555) 123-4567.";
        let kinds: Vec<(NumberKind, &str)> = find_numbers(text).iter().map(|s| (s.kind, &text[s.start..s.end])).collect();
        assert_eq!(
            kinds,
            [
                (NumberKind::Card, "4111 1111 1111 1111"),
                (NumberKind::Iban, "DE89 3704 0044 0532 0130 00"),
                (NumberKind::Phone, "+1 (555) 123-4567")
            ]
        );
        assert!(find_numbers("on 2024-01-15, version 1.2.3, id 12345678").is_empty());
    }
}
