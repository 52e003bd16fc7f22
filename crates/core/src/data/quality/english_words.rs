//! English word and sentence splitting exactly as datatrove 0.10.1 does it:
//! spaCy 3.8's blank English tokenizer (`spacy.blank("en")`, no model) and its
//! rule-based `sentencizer`.
//!
//! spaCy's tokenizer, reproduced step by step:
//!
//! 1. The text is cut at every change between whitespace and non-whitespace
//!    (Python's `str.isspace`). A single `' '` after a token only marks that
//!    token as followed by a space; any other whitespace run is a token of its own.
//! 2. Each piece that is a tokenizer exception ("special case", e.g. `don't` →
//!    `do` `n't`, `a.m.`, `:)`) becomes the exception's tokens.
//! 3. Otherwise prefixes (`(`, `"`, `$`, ...) and suffixes (`)`, `.`, `'s`,
//!    units after digits, ...) are peeled off alternately until none is left or
//!    what is left is an exception.
//! 4. The core is kept whole if it is a URL (spaCy's `URL_MATCH`), else cut at
//!    infixes (`...`, hyphens between letters, `a.B`, `x,y`, `2+3`, `a/b`).
//! 5. Exceptions that themselves contain affixes (`a.m.` seen as `a.m` `.`) are
//!    found again over the token sequence and merged back, longest first.
//!
//! Tokens are byte ranges of the input, since every token is a substring of it.
//! The Python regexes are hand-written here (no regex engine in `no_std`); the
//! character classes come from spaCy's own, in [`super::spacy_english_tables`].
//!
//! The tokenizer's cache of earlier pieces is not reproduced: it returns what
//! the rules return, which is what the cache holds.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::spacy_english_tables as tables;
use crate::data::python_word_chars::PYTHON_WORD_RANGES;

/// The string on which datatrove retries spaCy without it.
const SPACY_FAILING_STRING: &str = "IS_ALPHA";

/// One prefix alternative of spaCy's English prefix regex.
#[derive(Clone, Copy, Debug)]
pub enum PrefixRule {
    /// A fixed string.
    Literal(&'static str),
    /// One character of spaCy's `ICONS` class.
    Icon,
    /// Two or more `.` (`\.\.+`, greedy).
    Dots,
    /// `+` not followed by an ASCII digit (`\+(?![0-9])`).
    PlusNotBeforeDigit,
}

/// A token: the byte range `start..end` of the input and whether one `' '` follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset after the last character.
    pub end: usize,
    /// The token is followed by a single space that belongs to no token.
    pub space_after: bool,
}

/// A special case whose string also splits into affixes, so that the tokenizer
/// may have cut it; its tokens without special cases, as byte ranges of the string.
struct MergePattern {
    special: usize,
    pieces: Vec<(usize, usize)>,
}

/// spaCy 3.8's blank English tokenizer plus its sentencizer.
pub struct EnglishTokenizer {
    /// Merge patterns by the text of their first token.
    merge_patterns: BTreeMap<&'static str, Vec<MergePattern>>,
}

/// Python's `str.isspace()`.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whether `c` lies in one of the sorted inclusive `ranges`.
pub(crate) fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let cp = c as u32;
    ranges
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

fn is_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(c, tables::ALPHA)
    }
}

fn is_alpha_lower(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_lowercase()
    } else {
        in_ranges(c, tables::ALPHA_LOWER)
    }
}

fn is_alpha_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        in_ranges(c, tables::ALPHA_UPPER)
    }
}

fn is_icon(c: char) -> bool {
    !c.is_ascii() && in_ranges(c, tables::ICONS)
}

fn is_quote(c: char) -> bool {
    in_ranges(c, tables::QUOTES)
}

/// Python `re`'s `\d`.
pub(crate) fn is_python_digit(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        in_ranges(c, tables::PYTHON_DIGIT)
    }
}

/// Python `re`'s `\w`.
fn is_python_word(c: char) -> bool {
    in_ranges(c, PYTHON_WORD_RANGES)
}

/// spaCy's `is_punct`: every character is in a Unicode punctuation category.
pub fn is_punct(text: &str) -> bool {
    text.chars().all(|c| in_ranges(c, tables::UNICODE_PUNCT))
}

/// Python's `str.isalpha()` for one character.
pub fn is_python_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(c, tables::PYTHON_ALPHA)
    }
}

fn special_case(text: &str) -> Option<usize> {
    tables::SPECIAL_CASES.binary_search_by(|(key, _)| (*key).cmp(text)).ok()
}

fn last_char(s: &str) -> Option<char> {
    s.chars().next_back()
}

fn first_char(s: &str) -> Option<char> {
    s.chars().next()
}

/// Byte length of spaCy's prefix at the start of `s` (0 if none).
pub fn find_prefix(s: &str) -> usize {
    let Some(first) = first_char(s) else { return 0 };
    for rule in tables::PREFIX_RULES {
        match *rule {
            PrefixRule::Literal(lit) => {
                if s.starts_with(lit) {
                    return lit.len();
                }
            }
            PrefixRule::Icon => {
                if is_icon(first) {
                    return first.len_utf8();
                }
            }
            PrefixRule::Dots => {
                let dots = s.bytes().take_while(|&b| b == b'.').count();
                if dots >= 2 {
                    return dots;
                }
            }
            PrefixRule::PlusNotBeforeDigit => {
                if first == '+' && !s[1..].starts_with(|c: char| c.is_ascii_digit()) {
                    return 1;
                }
            }
        }
    }
    0
}

/// The longest suffix alternative, in characters, apart from runs of dots.
const LONGEST_SUFFIX_CHARS: usize = 8;

/// Whether one of spaCy's suffix alternatives matches exactly `s[p..]`; the
/// lookbehinds see `s[..p]` only.
fn suffix_matches_at(s: &str, p: usize) -> bool {
    let tail = &s[p..];
    let before = &s[..p];
    let prev = last_char(before);
    let prev_is_digit = prev.is_some_and(|c| c.is_ascii_digit());
    if tables::SUFFIX_LITERALS.contains(&tail) {
        return true;
    }
    let mut tail_chars = tail.chars();
    if let (Some(c), None) = (tail_chars.next(), tail_chars.next()) {
        if is_icon(c) {
            return true;
        }
        if c == '+' && prev_is_digit {
            return true;
        }
        if c == '.' {
            let mut back = before.chars().rev();
            let (p1, p2) = (back.next(), back.next());
            if let (Some(p1), Some(p2)) = (p1, p2) {
                if p2 == '°' && matches!(p1, 'F' | 'f' | 'C' | 'c' | 'K' | 'k') {
                    return true;
                }
                if is_alpha_upper(p1) && is_alpha_upper(p2) {
                    return true;
                }
            }
            if let Some(p1) = p1 {
                if in_ranges(p1, tables::SUFFIX_DOT_AFTER) {
                    return true;
                }
            }
        }
    }
    prev_is_digit && (tables::SUFFIX_CURRENCIES.contains(&tail) || tables::SUFFIX_UNITS.contains(&tail))
}

/// Byte length of spaCy's suffix at the end of `s` (0 if none): the leftmost
/// start at which some suffix alternative matches up to the end.
pub fn find_suffix(s: &str) -> usize {
    let dots = s.bytes().rev().take_while(|&b| b == b'.').count();
    let dots_start = if dots >= 2 { Some(s.len() - dots) } else { None };
    let mut starts = [0usize; LONGEST_SUFFIX_CHARS];
    let mut n = 0;
    for (i, _) in s.char_indices().rev().take(LONGEST_SUFFIX_CHARS) {
        starts[n] = i;
        n += 1;
    }
    for &p in starts[..n].iter().rev() {
        if dots_start.is_some_and(|d| d <= p) {
            break;
        }
        if suffix_matches_at(s, p) {
            return s.len() - p;
        }
    }
    dots_start.map_or(0, |d| s.len() - d)
}

/// spaCy's English infix matches in `s` (byte ranges), as `finditer` finds them.
pub fn find_infixes(s: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut prev: Option<char> = None;
    let mut p = 0;
    while p < s.len() {
        let rest = &s[p..];
        let Some(c) = first_char(rest) else { break };
        let next = first_char(&rest[c.len_utf8()..]);
        let mut matched: Option<usize> = None;
        if rest.starts_with("..") {
            matched = Some(rest.bytes().take_while(|&b| b == b'.').count());
        } else if c == '…' || is_icon(c) {
            matched = Some(c.len_utf8());
        } else if let Some(pc) = prev {
            let pc_alpha = is_alpha(pc);
            let next_alpha = next.is_some_and(is_alpha);
            // The three one-character infixes: an operator between digits, `.` from
            // lower to upper case, `,` between letters.
            let one_char =
                (pc.is_ascii_digit() && matches!(c, '+' | '-' | '*' | '^') && next.is_some_and(|n| n.is_ascii_digit() || n == '-'))
                    || (c == '.' && (is_alpha_lower(pc) || is_quote(pc)) && next.is_some_and(|n| is_alpha_upper(n) || is_quote(n)))
                    || (c == ',' && pc_alpha && next_alpha);
            if one_char {
                matched = Some(1);
            } else if pc_alpha || pc.is_ascii_digit() {
                for hyphen in tables::INFIX_HYPHENS {
                    if rest.starts_with(hyphen) && first_char(&rest[hyphen.len()..]).is_some_and(is_alpha) {
                        matched = Some(hyphen.len());
                        break;
                    }
                }
                if matched.is_none() && matches!(c, ':' | '<' | '>' | '=' | '/') && next_alpha {
                    matched = Some(1);
                }
            }
        }
        match matched {
            Some(len) => {
                found.push((p, p + len));
                prev = last_char(&s[..p + len]);
                p += len;
            }
            None => {
                prev = Some(c);
                p += c.len_utf8();
            }
        }
    }
    found
}

/// Possible ends of `\d{min,max}` starting at `p`.
fn digit_run_ends(s: &str, p: usize, min: usize, max: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = p;
    for count in 1..=max {
        match first_char(&s[at..]) {
            Some(c) if is_python_digit(c) => at += c.len_utf8(),
            _ => break,
        }
        if count >= min {
            ends.push(at);
        }
    }
    ends
}

/// Possible ends of `(?:\.\d{1,3}){count}` starting at `p` (a lookahead needs only one).
fn dotted_digit_groups_ends(s: &str, p: usize, count: usize) -> Vec<usize> {
    let mut ends = alloc::vec![p];
    for _ in 0..count {
        let mut next = Vec::new();
        for &e in &ends {
            if s[e..].starts_with('.') {
                next.extend(digit_run_ends(s, e + 1, 1, 3));
            }
        }
        ends = next;
    }
    ends
}

/// Possible ends of one IP octet alternative at `p`, given the alternatives as
/// closures over the up-to-three characters that follow.
fn octet_ends(s: &str, p: usize, allowed: fn(&[char]) -> bool) -> Vec<usize> {
    let chars: Vec<(usize, char)> = s[p..].char_indices().take(3).collect();
    let mut ends = Vec::new();
    for len in 1..=chars.len() {
        let cs: Vec<char> = chars[..len].iter().map(|&(_, c)| c).collect();
        if allowed(&cs) {
            let end = chars.get(len).map_or(s.len(), |&(i, _)| p + i);
            ends.push(end);
        }
    }
    ends
}

/// `(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])` and `(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])`.
fn first_or_last_octet(cs: &[char], last: bool) -> bool {
    let d = |c: char| is_python_digit(c);
    match cs {
        [a] => matches!(a, '1'..='9'),
        [a, b] => matches!(a, '1'..='9') && d(*b),
        [a, b, c] => {
            (*a == '1' && d(*b) && d(*c))
                || (*a == '2' && if last { matches!(b, '0'..='4') } else { matches!(b, '0' | '1') } && d(*c))
                || (*a == '2' && *b == '2' && !last && matches!(c, '0'..='3'))
                || (*a == '2' && *b == '5' && last && matches!(c, '0'..='4'))
        }
        _ => false,
    }
}

/// `(?:1?\d{1,2}|2[0-4]\d|25[0-5])`.
fn middle_octet(cs: &[char]) -> bool {
    let d = |c: char| is_python_digit(c);
    match cs {
        [a] => d(*a),
        [a, b] => d(*a) && d(*b),
        [a, b, c] => {
            (*a == '1' && d(*b) && d(*c))
                || (*a == '2' && matches!(b, '0'..='4') && d(*c))
                || (*a == '2' && *b == '5' && matches!(c, '0'..='5'))
        }
        _ => false,
    }
}

/// Possible ends of the IP-address host alternative at `p`, with its exclusions of private networks.
fn ip_host_ends(s: &str, p: usize) -> Vec<usize> {
    let rest = &s[p..];
    for private in ["10", "127"] {
        if rest.starts_with(private) && !dotted_digit_groups_ends(s, p + private.len(), 3).is_empty() {
            return Vec::new();
        }
    }
    for private in ["169.254", "192.168"] {
        if rest.starts_with(private) && !dotted_digit_groups_ends(s, p + private.len(), 2).is_empty() {
            return Vec::new();
        }
    }
    if let Some(after) = rest.strip_prefix("172.") {
        let second: Vec<char> = after.chars().take(2).collect();
        let ok = match second.as_slice() {
            [a, b] => (*a == '1' && matches!(b, '6'..='9')) || (*a == '2' && is_python_digit(*b)) || (*a == '3' && matches!(b, '0' | '1')),
            _ => false,
        };
        if ok {
            let at = p + 4 + second.iter().map(|c| c.len_utf8()).sum::<usize>();
            if !dotted_digit_groups_ends(s, at, 2).is_empty() {
                return Vec::new();
            }
        }
    }
    let mut ends = octet_ends(s, p, |cs| first_or_last_octet(cs, false));
    for _ in 0..2 {
        let mut next = Vec::new();
        for &e in &ends {
            if s[e..].starts_with('.') {
                next.extend(octet_ends(s, e + 1, middle_octet));
            }
        }
        ends = next;
    }
    let mut last = Vec::new();
    for &e in &ends {
        if s[e..].starts_with('.') {
            last.extend(octet_ends(s, e + 1, |cs| first_or_last_octet(cs, true)));
        }
    }
    last
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c)
}

/// Possible ends of the domain-name host alternative at `p`: one or more
/// labels each followed by `.`, then a top-level domain of 2 to 63 `ALPHA_LOWER`.
fn domain_host_ends(s: &str, p: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = p;
    while let Some(dot) = s[at..].find('.').map(|i| at + i) {
        let label = &s[at..dot];
        let count = label.chars().count();
        let valid = (1..=64).contains(&count)
            && first_char(label).is_some_and(is_host_char)
            && last_char(label).is_some_and(is_host_char)
            && label.chars().all(|c| is_host_char(c) || c == '_' || c == '-');
        if !valid {
            break;
        }
        at = dot + 1;
        let mut tld_end = at;
        for (count, c) in s[at..].chars().enumerate() {
            if count >= 63 || !is_alpha_lower(c) {
                break;
            }
            tld_end += c.len_utf8();
            if count + 1 >= 2 {
                ends.push(tld_end);
            }
        }
    }
    ends
}

/// Whether `s[p..]` is `(?::\d{2,5})?(?:[/?#]\S*)?` up to the end (the text has no whitespace).
fn port_and_path_to_end(s: &str, p: usize) -> bool {
    let path_ok = |e: usize| e == s.len() || s[e..].starts_with(['/', '?', '#']);
    if path_ok(p) {
        return true;
    }
    s[p..].starts_with(':') && digit_run_ends(s, p + 1, 2, 5).into_iter().any(path_ok)
}

/// spaCy's `URL_MATCH` on a whitespace-free string.
pub fn is_url(s: &str) -> bool {
    // Both host alternatives (IP address, domain with a top-level domain) contain a dot.
    if !s.contains('.') {
        return false;
    }
    let mut scheme_ends = alloc::vec![0];
    let scheme_len = s.char_indices().find(|&(_, c)| !(is_python_word(c) || matches!(c, '+' | '-' | '.'))).map_or(s.len(), |(i, _)| i);
    // `[\w+\-.]{2,}://`: the scheme may end at any "://" inside the leading run of scheme characters.
    let mut search = 0;
    while let Some(i) = s[search..].find("://").map(|i| search + i) {
        if i > scheme_len {
            break;
        }
        if s[..i].chars().count() >= 2 {
            scheme_ends.push(i + 3);
        }
        search = i + 1;
    }
    for host_start_base in scheme_ends {
        let mut host_starts = alloc::vec![host_start_base];
        // `\S+(?::\S*)?@`: at least one character, then `@`.
        for (i, c) in s[host_start_base..].char_indices() {
            if c == '@' && i > 0 {
                host_starts.push(host_start_base + i + 1);
            }
        }
        for h in host_starts {
            let hosts = ip_host_ends(s, h).into_iter().chain(domain_host_ends(s, h));
            for end in hosts {
                if port_and_path_to_end(s, end) {
                    return true;
                }
            }
        }
    }
    false
}

impl Default for EnglishTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl EnglishTokenizer {
    /// Builds the tokenizer, including the merge patterns of special cases that contain affixes.
    pub fn new() -> Self {
        let mut merge_patterns: BTreeMap<&'static str, Vec<MergePattern>> = BTreeMap::new();
        let empty = Self { merge_patterns: BTreeMap::new() };
        for (special, (key, _)) in tables::SPECIAL_CASES.iter().enumerate() {
            let key: &'static str = key;
            let has_affix = find_prefix(key) != 0 || !find_infixes(key).is_empty() || find_suffix(key) != 0 || key.contains(' ');
            if !has_affix {
                continue;
            }
            let mut tokens = Vec::new();
            empty.tokenize_affixes(key, false, &mut tokens);
            let Some(first) = tokens.first() else { continue };
            let pieces = tokens.iter().map(|t| (t.start, t.end)).collect();
            merge_patterns.entry(&key[first.start..first.end]).or_default().push(MergePattern { special, pieces });
        }
        Self { merge_patterns }
    }

    /// The tokens of `text`, whitespace tokens included, as spaCy's `nlp.tokenizer(text)` gives them.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        self.tokenize_affixes(text, true, &mut tokens);
        if !self.merge_patterns.is_empty() {
            self.apply_special_cases(text, &mut tokens);
        }
        tokens
    }

    /// datatrove's `word_tokenize`: the token texts, stripped, without the
    /// empty ones, handed to `f`.
    ///
    /// spaCy 3.8 raises inside a `memory_zone` when a token is `IS_ALPHA`
    /// (once that string has been seen before), and datatrove then tokenizes
    /// the text with every `IS_ALPHA` removed; that steady state is reproduced.
    /// (spaCy raises on some other symbol names too, `SENT_START` for one;
    /// datatrove does not catch those and stops, so they have no reference.)
    pub fn with_words<R>(&self, text: &str, f: impl FnOnce(&[&str]) -> R) -> R {
        let words = self.plain_words(text);
        if words.contains(&SPACY_FAILING_STRING) {
            let cleaned = text.replace(SPACY_FAILING_STRING, "");
            f(&self.plain_words(&cleaned))
        } else {
            f(&words)
        }
    }

    /// The number of words datatrove's `word_tokenize` finds.
    pub fn word_count(&self, text: &str) -> usize {
        self.with_words(text, |w| w.len())
    }

    /// The stripped non-empty token texts of `text`, without datatrove's `IS_ALPHA` workaround.
    pub fn plain_words<'t>(&self, text: &'t str) -> Vec<&'t str> {
        self.tokenize(text).into_iter().map(|t| text[t.start..t.end].trim_matches(is_python_space)).filter(|w| !w.is_empty()).collect()
    }

    /// The token indices at which spaCy's default `sentencizer` starts a sentence.
    fn sentence_starts(&self, text: &str, tokens: &[Token]) -> Vec<usize> {
        if tokens.is_empty() {
            return Vec::new();
        }
        let mut starts = alloc::vec![0];
        let mut seen_period = false;
        for (i, token) in tokens.iter().enumerate() {
            let word = &text[token.start..token.end];
            let mut chars = word.chars();
            let in_punct_chars = match (chars.next(), chars.next()) {
                (Some(c), None) => tables::SENTENCE_PUNCT.binary_search(&c).is_ok(),
                _ => false,
            };
            if seen_period && !in_punct_chars && !is_punct(word) {
                starts.push(i);
                seen_period = false;
            } else if in_punct_chars {
                seen_period = true;
            }
        }
        starts
    }

    /// The end of each sentence but the last, in characters of `text`.
    fn sentence_ends_in_chars(&self, text: &str) -> Vec<usize> {
        let tokens = self.tokenize(text);
        let starts = self.sentence_starts(text, &tokens);
        let mut ends = Vec::with_capacity(starts.len());
        let (mut byte_at, mut char_at) = (0, 0);
        for &next_start in starts.iter().skip(1) {
            let end = tokens[next_start - 1].end;
            char_at += text[byte_at..end].chars().count();
            byte_at = end;
            ends.push(char_at);
        }
        ends
    }

    /// datatrove's `split_into_sentences`: `text` cut after the end of each
    /// sentence but the last (the whitespace between sentences starts the next
    /// piece); the whole text as one piece when it has no token. With a token
    /// `IS_ALPHA` the sentences are found without it and the cuts
    /// fall at the same character offsets of the original text, as in datatrove.
    pub fn sentence_pieces<'t>(&self, text: &'t str) -> Vec<&'t str> {
        let fails = self.tokenize(text).iter().any(|t| &text[t.start..t.end] == SPACY_FAILING_STRING);
        let ends =
            if fails { self.sentence_ends_in_chars(&text.replace(SPACY_FAILING_STRING, "")) } else { self.sentence_ends_in_chars(text) };
        let byte_offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).chain(core::iter::once(text.len())).collect();
        let to_byte = |chars: usize| byte_offsets.get(chars).copied().unwrap_or(text.len());
        let mut pieces = Vec::with_capacity(ends.len() + 1);
        let mut from = 0;
        for end in ends {
            let end = to_byte(end).max(from);
            pieces.push(&text[from..end]);
            from = end;
        }
        pieces.push(&text[from..]);
        pieces
    }

    fn tokenize_affixes(&self, text: &str, with_special_cases: bool, tokens: &mut Vec<Token>) {
        let Some(first) = first_char(text) else { return };
        let mut in_ws = is_python_space(first);
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if is_python_space(c) != in_ws {
                if start < i {
                    self.tokenize_piece(text, start, i, with_special_cases, tokens);
                }
                if c == ' ' {
                    if let Some(last) = tokens.last_mut() {
                        last.space_after = true;
                    }
                    start = i + 1;
                } else {
                    start = i;
                }
                in_ws = !in_ws;
            }
        }
        if start < text.len() {
            self.tokenize_piece(text, start, text.len(), with_special_cases, tokens);
        }
    }

    fn push_special(special: usize, at: usize, tokens: &mut Vec<Token>) {
        let mut offset = at;
        for orth in tables::SPECIAL_CASES[special].1 {
            tokens.push(Token { start: offset, end: offset + orth.len(), space_after: false });
            offset += orth.len();
        }
    }

    fn tokenize_piece(&self, text: &str, start: usize, end: usize, with_special_cases: bool, tokens: &mut Vec<Token>) {
        let special = |s: usize, e: usize| if with_special_cases { special_case(&text[s..e]) } else { None };
        if let Some(index) = special(start, end) {
            Self::push_special(index, start, tokens);
            return;
        }
        // A piece of ASCII letters has no prefix, suffix, infix or URL: one token.
        if text[start..end].bytes().all(|b| b.is_ascii_alphabetic()) {
            tokens.push(Token { start, end, space_after: false });
            return;
        }
        let (mut s, mut e) = (start, end);
        let mut prefixes: Vec<(usize, usize)> = Vec::new();
        let mut suffixes: Vec<(usize, usize)> = Vec::new();
        let mut last_size = 0;
        while s < e && e - s != last_size {
            if special(s, e).is_some() {
                break;
            }
            last_size = e - s;
            let pre_len = find_prefix(&text[s..e]);
            if pre_len != 0 && s + pre_len < e && special(s + pre_len, e).is_some() {
                prefixes.push((s, s + pre_len));
                s += pre_len;
                break;
            }
            let suf_len = find_suffix(&text[s + pre_len..e]);
            if suf_len != 0 && s < e - suf_len && special(s, e - suf_len).is_some() {
                suffixes.push((e - suf_len, e));
                e -= suf_len;
                break;
            }
            if pre_len != 0 && suf_len != 0 && pre_len + suf_len <= e - s {
                prefixes.push((s, s + pre_len));
                suffixes.push((e - suf_len, e));
                s += pre_len;
                e -= suf_len;
            } else if pre_len != 0 {
                prefixes.push((s, s + pre_len));
                s += pre_len;
            } else if suf_len != 0 {
                suffixes.push((e - suf_len, e));
                e -= suf_len;
            }
        }
        let plain = |s: usize, e: usize| Token { start: s, end: e, space_after: false };
        tokens.extend(prefixes.iter().map(|&(a, b)| plain(a, b)));
        if s < e {
            let core = &text[s..e];
            if let Some(index) = special(s, e) {
                Self::push_special(index, s, tokens);
            } else if is_url(core) {
                tokens.push(plain(s, e));
            } else {
                let mut piece_start = 0;
                for (infix_start, infix_end) in find_infixes(core) {
                    if infix_start == 0 {
                        continue;
                    }
                    if infix_start != piece_start {
                        tokens.push(plain(s + piece_start, s + infix_start));
                    }
                    tokens.push(plain(s + infix_start, s + infix_end));
                    piece_start = infix_end;
                }
                if piece_start < core.len() {
                    tokens.push(plain(s + piece_start, e));
                }
            }
        }
        tokens.extend(suffixes.iter().rev().map(|&(a, b)| plain(a, b)));
    }

    /// Merges back special cases that the affix rules cut, as spaCy's `_apply_special_cases`.
    fn apply_special_cases(&self, text: &str, tokens: &mut Vec<Token>) {
        // Every match: (start token, end token, special index).
        let mut matches: Vec<(usize, usize, usize)> = Vec::new();
        for i in 0..tokens.len() {
            let Some(patterns) = self.merge_patterns.get(&text[tokens[i].start..tokens[i].end]) else { continue };
            for pattern in patterns {
                let key = tables::SPECIAL_CASES[pattern.special].0;
                let n = pattern.pieces.len();
                if i + n > tokens.len() {
                    continue;
                }
                let equal = pattern.pieces.iter().zip(&tokens[i..i + n]).all(|(&(a, b), t)| key[a..b] == text[t.start..t.end]);
                if equal {
                    matches.push((i, i + n, pattern.special));
                }
            }
        }
        if matches.is_empty() {
            return;
        }
        // Longest first, then leftmost; a match is kept if neither its first nor
        // its last token was covered by a match looked at before.
        matches.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
        let mut seen = alloc::vec![false; tokens.len()];
        let mut kept: Vec<(usize, usize, usize)> = Vec::new();
        for &(start, end, special) in &matches {
            if !seen[start] && !seen[end - 1] {
                kept.push((start, end, special));
            }
            for flag in &mut seen[start..end] {
                *flag = true;
            }
        }
        kept.sort_by_key(|m| m.0);
        let mut merged = Vec::with_capacity(tokens.len());
        let mut i = 0;
        let mut next_kept = kept.iter().peekable();
        while i < tokens.len() {
            match next_kept.peek() {
                Some(&&(start, end, special)) if start == i => {
                    next_kept.next();
                    let span_start = tokens[start].start;
                    let span_end = tokens[end - 1].end;
                    if &text[span_start..span_end] == tables::SPECIAL_CASES[special].0 {
                        let final_space = tokens[end - 1].space_after;
                        Self::push_special(special, span_start, &mut merged);
                        if let Some(last) = merged.last_mut() {
                            last.space_after = final_space;
                        }
                    } else {
                        merged.extend_from_slice(&tokens[start..end]);
                    }
                    i = end;
                }
                _ => {
                    merged.push(tokens[i]);
                    i += 1;
                }
            }
        }
        *tokens = merged;
    }
}
