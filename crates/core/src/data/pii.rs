//! Personal data: e-mail and IP addresses replaced, exactly as datatrove's
//! `PIIFormatter` (datatrove 0.10.1, Python 3.11.7).
//!
//! datatrove finds them with two regular expressions and Python's
//! `re.sub`, scanning left to right:
//!
//! ```text
//! e-mail: \b[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*
//!         @(?:(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?
//!            |\[(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}
//!               (?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?|[A-Za-z0-9-]*[A-Za-z0-9]:)])
//! IPv4:   (?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)
//! ```
//!
//! Both are matched here by a small backtracking matcher ([`Node`]) that
//! explores alternatives and repetitions in the order Python's `sre` does
//! (greedy, first alternative first), so the matches, including where a
//! greedy repetition stops, are Python's. `\b` uses Python's word
//! characters ([`super::python_word_chars`], Unicode 14). An IP match is
//! replaced only if `ipaddress.ip_address(match).is_global` ([`is_global_ipv4`]);
//! otherwise (private, reserved, or an octet with a leading zero, which
//! `ipaddress` refuses) it stays. Replacements cycle through a list, the
//! counter moving only on a replacement, as datatrove's `PIIReplacer` does
//! (the counter lives as long as the formatter: one [`PiiFormatter`] over
//! many documents continues the cycle).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::python_word_chars::PYTHON_WORD_RANGES;

/// A node of a regular expression, matched by backtracking.
enum Node {
    /// One character in the class.
    Class(fn(char) -> bool),
    /// One given character.
    Char(char),
    /// Each node in turn.
    Seq(Vec<Node>),
    /// The first alternative that lets the rest match.
    Alt(Vec<Node>),
    /// Greedy repetition, `min..=max` times (`max = None`: unbounded).
    Repeat(Box<Node>, usize, Option<usize>),
    /// `\b`: a word character on exactly one side.
    WordBoundary,
}

fn is_python_word(c: char) -> bool {
    let cp = c as u32;
    PYTHON_WORD_RANGES
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                core::cmp::Ordering::Less
            } else if lo > cp {
                core::cmp::Ordering::Greater
            } else {
                core::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Matches `node` at `pos`, then the continuation `k` from where it ended;
/// true as soon as one way through succeeds (Python's backtracking order).
fn matches(node: &Node, text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match node {
        Node::Class(f) => text.get(pos).is_some_and(|&c| f(c)) && k(pos + 1),
        Node::Char(c) => text.get(pos) == Some(c) && k(pos + 1),
        Node::Seq(nodes) => seq(nodes, text, pos, k),
        Node::Alt(alts) => alts.iter().any(|alt| matches(alt, text, pos, k)),
        Node::Repeat(inner, min, max) => repeat(inner, *min, *max, 0, text, pos, k),
        Node::WordBoundary => {
            let before = pos.checked_sub(1).and_then(|p| text.get(p)).is_some_and(|&c| is_python_word(c));
            let after = text.get(pos).is_some_and(|&c| is_python_word(c));
            before != after && k(pos)
        }
    }
}

fn seq(nodes: &[Node], text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match nodes.split_first() {
        None => k(pos),
        Some((first, rest)) => matches(first, text, pos, &mut |p| seq(rest, text, p, k)),
    }
}

fn repeat(inner: &Node, min: usize, max: Option<usize>, count: usize, text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    // Every body here consumes at least one character, so this terminates.
    if max.is_none_or(|m| count < m) && matches(inner, text, pos, &mut |p| p > pos && repeat(inner, min, max, count + 1, text, p, k)) {
        return true;
    }
    count >= min && k(pos)
}

fn class(f: fn(char) -> bool) -> Node {
    Node::Class(f)
}
fn lit(s: &str) -> Node {
    Node::Seq(s.chars().map(Node::Char).collect())
}
fn opt(n: Node) -> Node {
    Node::Repeat(Box::new(n), 0, Some(1))
}
fn star(n: Node) -> Node {
    Node::Repeat(Box::new(n), 0, None)
}
fn plus(n: Node) -> Node {
    Node::Repeat(Box::new(n), 1, None)
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}
fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}
fn is_alnum_or_hyphen(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}
fn is_digit(c: char) -> bool {
    c.is_ascii_digit()
}

/// `25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?`
fn octet() -> Node {
    Node::Alt(vec![
        Node::Seq(vec![lit("25"), class(|c| ('0'..='5').contains(&c))]),
        Node::Seq(vec![Node::Char('2'), class(|c| ('0'..='4').contains(&c)), class(is_digit)]),
        Node::Seq(vec![opt(class(|c| c == '0' || c == '1')), class(is_digit), opt(class(is_digit))]),
    ])
}

/// `(?:OCTET\.){3}`
fn three_octets() -> Node {
    Node::Repeat(Box::new(Node::Seq(vec![octet(), Node::Char('.')])), 3, Some(3))
}

/// `[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?`
fn label() -> Node {
    Node::Seq(vec![class(is_alnum), opt(Node::Seq(vec![star(class(is_alnum_or_hyphen)), class(is_alnum)]))])
}

fn email_regex() -> Node {
    let local = Node::Seq(vec![plus(class(is_local_char)), star(Node::Seq(vec![Node::Char('.'), plus(class(is_local_char))]))]);
    let host = Node::Seq(vec![plus(Node::Seq(vec![label(), Node::Char('.')])), label()]);
    let literal = Node::Seq(vec![
        Node::Char('['),
        three_octets(),
        Node::Alt(vec![octet(), Node::Seq(vec![star(class(is_alnum_or_hyphen)), class(is_alnum), Node::Char(':')])]),
        Node::Char(']'),
    ]);
    Node::Seq(vec![Node::WordBoundary, local, Node::Char('@'), Node::Alt(vec![host, literal])])
}

fn ip_regex() -> Node {
    Node::Seq(vec![three_octets(), octet()])
}

/// The end of the first match of `node` starting exactly at `start`.
fn match_at(node: &Node, text: &[char], start: usize) -> Option<usize> {
    let mut end = None;
    matches(node, text, start, &mut |p| {
        end = Some(p);
        true
    });
    end
}

/// `ipaddress.ip_address(text).is_global` for a dotted IPv4 string
/// (Python 3.11.7): `false` when Python raises (an octet with a leading
/// zero or above 255), when the address is in 100.64.0.0/10, or in one of
/// the private networks 0/8, 10/8, 127/8, 169.254/16, 172.16/12,
/// 192.0.0.0/29, 192.0.0.170/31, 192.0.2/24, 192.168/16, 198.18/15,
/// 198.51.100/24, 203.0.113/24, 240/4, 255.255.255.255/32.
pub fn is_global_ipv4(text: &str) -> bool {
    let mut octets = [0u32; 4];
    let mut parts = text.split('.');
    for o in octets.iter_mut() {
        let Some(part) = parts.next() else { return false };
        let valid =
            !part.is_empty() && part.len() <= 3 && part.bytes().all(|b| b.is_ascii_digit()) && !(part.len() > 1 && part.starts_with('0'));
        match part.parse::<u32>() {
            Ok(v) if valid && v <= 255 => *o = v,
            _ => return false,
        }
    }
    if parts.next().is_some() {
        return false;
    }
    let ip = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3];
    let net = |a: u32, b: u32, c: u32, d: u32, prefix: u32| {
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        ip & mask == ((a << 24) | (b << 16) | (c << 8) | d) & mask
    };
    let shared = net(100, 64, 0, 0, 10);
    let private = net(0, 0, 0, 0, 8)
        || net(10, 0, 0, 0, 8)
        || net(127, 0, 0, 0, 8)
        || net(169, 254, 0, 0, 16)
        || net(172, 16, 0, 0, 12)
        || net(192, 0, 0, 0, 29)
        || net(192, 0, 0, 170, 31)
        || net(192, 0, 2, 0, 24)
        || net(192, 168, 0, 0, 16)
        || net(198, 18, 0, 0, 15)
        || net(198, 51, 100, 0, 24)
        || net(203, 0, 113, 0, 24)
        || net(240, 0, 0, 0, 4)
        || net(255, 255, 255, 255, 32);
    !shared && !private
}

/// datatrove's `PIIFormatter` with its defaults (public IPs only).
pub struct PiiFormatter {
    email: Node,
    ip: Node,
    /// Replacements for e-mail addresses, used in turn.
    pub email_replacements: Vec<String>,
    /// Replacements for IP addresses, used in turn.
    pub ip_replacements: Vec<String>,
    /// Replace only public (`is_global`) IPs, as datatrove's default.
    pub only_public_ips: bool,
    email_turn: usize,
    ip_turn: usize,
}

impl Default for PiiFormatter {
    fn default() -> Self {
        Self {
            email: email_regex(),
            ip: ip_regex(),
            email_replacements: vec!["email@example.com".into(), "firstname.lastname@example.org".into()],
            ip_replacements: ["22.214.171.124", "126.96.36.199", "188.8.131.52", "184.108.40.206", "220.127.116.11", "18.104.22.168"]
                .into_iter()
                .map(String::from)
                .collect(),
            only_public_ips: true,
            email_turn: 0,
            ip_turn: 0,
        }
    }
}

/// The matches of `node` that `re.sub` replaces, scanning left to right:
/// `(start, end)` character indices, non-overlapping and non-empty; after a
/// match the scan resumes at its end. Two shortcuts skip positions where no
/// match can start, without changing the result: `first` must hold for a
/// match's first character, and `needed` (if any) must occur at or after it.
fn match_spans(node: &Node, chars: &[char], first: fn(char) -> bool, needed: Option<char>) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut pos = 0;
    // The next position holding `needed` (at or after `pos`).
    let mut needed_at = 0;
    while pos < chars.len() {
        if let Some(c) = needed {
            if needed_at < pos {
                needed_at = pos;
            }
            while chars.get(needed_at).is_some_and(|&x| x != c) {
                needed_at += 1;
            }
            if needed_at >= chars.len() {
                break;
            }
        }
        if !chars.get(pos).is_some_and(|&c| first(c)) {
            pos += 1;
            continue;
        }
        match match_at(node, chars, pos) {
            Some(end) if end > pos => {
                spans.push((pos, end));
                pos = end;
            }
            _ => pos += 1,
        }
    }
    spans
}

/// `re.sub` with a replacement function: `replace(matched)` returns the
/// text to put instead (or `None` to keep the match).
fn substitute(node: &Node, text: &str, first: fn(char) -> bool, needed: Option<char>, mut replace: impl FnMut(&str) -> Option<String>) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for (start, end) in match_spans(node, &chars, first, needed) {
        out.extend(chars.get(pos..start).unwrap_or_default());
        let matched: String = chars.get(start..end).unwrap_or_default().iter().collect();
        match replace(&matched) {
            Some(r) => out.push_str(&r),
            None => out.push_str(&matched),
        }
        pos = end;
    }
    out.extend(chars.get(pos..).unwrap_or_default());
    out
}

/// What kind of address a span of [`PiiFormatter::find`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressKind {
    /// An e-mail address.
    Email,
    /// An IPv4 address (public only, unless `only_public_ips` is off).
    Ip,
}

/// An address found by [`PiiFormatter::find`]: `text[start..end]` (byte offsets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AddressSpan {
    /// What was found.
    pub kind: AddressKind,
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset after the last character.
    pub end: usize,
}

impl PiiFormatter {
    /// The text with e-mail addresses, then IP addresses, replaced.
    pub fn format(&mut self, text: &str) -> String {
        let (emails, email_turn) = (&self.email_replacements, &mut self.email_turn);
        let text = substitute(&self.email, text, is_local_char, Some('@'), |_| {
            let r = emails.get(*email_turn % emails.len().max(1)).cloned();
            *email_turn = (*email_turn + 1) % emails.len().max(1);
            r
        });
        let (ips, ip_turn, only_public) = (&self.ip_replacements, &mut self.ip_turn, self.only_public_ips);
        substitute(&self.ip, &text, is_digit, None, |m| {
            let valid = if only_public { is_global_ipv4(m) } else { is_valid_ipv4(m) };
            if !valid {
                return None;
            }
            let r = ips.get(*ip_turn % ips.len().max(1)).cloned();
            *ip_turn = (*ip_turn + 1) % ips.len().max(1);
            r
        })
    }
}

impl PiiFormatter {
    /// The addresses [`PiiFormatter::format`] replaces, found in the
    /// original text, sorted: e-mail addresses first, then the IP addresses
    /// of the text between them (`format` looks for IPs after the e-mails
    /// were replaced, and its replacement addresses hold no IP). IPs that
    /// `format` keeps (private ones, by default) are not listed.
    pub fn find(&self, text: &str) -> Vec<AddressSpan> {
        let chars: Vec<char> = text.chars().collect();
        let mut byte_at: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        byte_at.push(text.len());
        let byte = |i: usize| byte_at.get(i).copied().unwrap_or(text.len());
        let emails = match_spans(&self.email, &chars, is_local_char, Some('@'));
        let mut found: Vec<AddressSpan> =
            emails.iter().map(|&(s, e)| AddressSpan { kind: AddressKind::Email, start: byte(s), end: byte(e) }).collect();
        let mut gap_start = 0;
        for gap_end in emails.iter().map(|&(s, _)| s).chain([chars.len()]) {
            let gap = chars.get(gap_start..gap_end).unwrap_or_default();
            for (s, e) in match_spans(&self.ip, gap, is_digit, None) {
                let (start, end) = (byte(gap_start + s), byte(gap_start + e));
                let matched = text.get(start..end).unwrap_or_default();
                let valid = if self.only_public_ips { is_global_ipv4(matched) } else { is_valid_ipv4(matched) };
                if valid {
                    found.push(AddressSpan { kind: AddressKind::Ip, start, end });
                }
            }
            gap_start = emails.iter().find(|&&(s, _)| s == gap_end).map_or(gap_end, |&(_, e)| e);
        }
        found.sort_by_key(|s| (s.start, s.end));
        found
    }
}

/// `ipaddress.ip_address(text)` succeeds for this dotted IPv4 string (no leading zeros).
pub fn is_valid_ipv4(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
                && p.parse::<u32>().is_ok_and(|v| v <= 255)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_public_ips_are_replaced_in_turn() {
        let mut f = PiiFormatter::default();
        let out = f.format("mail a.b@c.org or x@y.co, from 8.8.8.8 and 10.0.0.1 and 1.1.1.1");
        assert_eq!(out, "mail email@example.com or firstname.lastname@example.org, from 22.214.171.124 and 10.0.0.1 and 126.96.36.199");
    }

    #[test]
    fn find_lists_exactly_what_format_replaces() {
        let f = PiiFormatter::default();
        let text = "Écrivez à a.b@c.org (serveur 8.8.8.8, pas 10.0.0.1) ou x@[1.2.3.4] puis 1.1.1.1";
        let found: Vec<(AddressKind, &str)> = f.find(text).iter().map(|s| (s.kind, &text[s.start..s.end])).collect();
        assert_eq!(
            found,
            [(AddressKind::Email, "a.b@c.org"), (AddressKind::Ip, "8.8.8.8"), (AddressKind::Email, "x@[1.2.3.4]"), (AddressKind::Ip, "1.1.1.1")]
        );
    }

    #[test]
    fn octets_with_leading_zeros_are_not_addresses() {
        assert!(
            !is_global_ipv4("08.8.8.8") && is_global_ipv4("8.8.8.8") && !is_global_ipv4("100.64.1.1") && !is_global_ipv4("192.168.1.1")
        );
    }
}
