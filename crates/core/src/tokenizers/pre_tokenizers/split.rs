//! The `Split` pre-tokenizer's pattern: a literal string, one of the regexes
//! we have a hand-written matcher for (GPT-2's, Llama 3's / cl100k's), or,
//! with the `regex-split` feature (std only), any other regex run by
//! `fancy-regex`.
//!
//! HF compiles `Split` regexes with Oniguruma (Ruby syntax). `fancy-regex`
//! understands the same lookarounds, atomic groups and possessive
//! quantifiers. The differences that would change matches silently are
//! translated or refused:
//! - Ruby's `^`/`$` always match at line starts/ends: patterns are compiled
//!   in multi-line mode; Ruby's `(?m)` (dot matches newline, the opposite
//!   meaning) is refused rather than misread;
//! - `\w` differs by 8 code points (measured over all of Unicode against
//!   tokenizers 0.23.3: Oniguruma adds `²³¹¼½¾`, Rust's adds ZWNJ/ZWJ), so
//!   `\w`, `\W`, `\b`, `\B` are rewritten with Oniguruma's set; `\d`,
//!   `\s`, `\h`, `.`, `\p{L}`, `\p{N}`, `\p{P}`, `\p{S}` were measured equal;
//! - POSIX brackets (`[[:alpha:]]`) are ASCII-only in Rust but Unicode in
//!   Oniguruma: refused.
//!
//! A tokenizer.json is untrusted input, and a backtracking regex can take
//! time exponential (or quadratic per match) in the text. `fancy-regex` runs
//! lookaround-free patterns on `regex-automata`, which is linear; only
//! patterns with lookaround, backreferences or atomic groups go through its
//! backtracking VM, and two limits keep that VM from hanging:
//! - [`MAX_LOOKAROUND_CHARS`]: a lookaround may only look at a bounded number
//!   of characters (real tokenizers use one: `\s+(?!\S)`). An unbounded
//!   one (`(?=(a+))a*b`) re-reads the rest of the text at every start
//!   position, which no backtracking limit catches (each try backtracks
//!   once), so it is refused when the tokenizer is loaded;
//! - [`BACKTRACK_LIMIT`]: one search may backtrack this many times before it
//!   stops with a [`TokenizerError`] naming the pattern and the limit, never
//!   a panic and never a silently shorter list of matches.
//!
//! Neither limit sees a pattern that is quadratic one search at a time:
//! `(?>[xa]*)b|a` on `aaaa…` reads to the end of the text, fails, and then
//! matches one `a`; the next search starts one character later and reads to
//! the end again. Each search backtracks a few times only, yet the whole
//! Split costs n²/2 steps (about 10 s of CPU on 100 KB). So the Split as a
//! whole has a wall-clock budget, [`split_time_limit`] of the text's length,
//! checked between two matches: past it the Split stops with
//! [`TokenizerError::TimeLimit`]. The budget is about 25 times what real
//! tokenizer regexes need, so only a pathological pattern reaches it. One
//! search cannot be interrupted: its cost stays bounded by
//! `BACKTRACK_LIMIT` times the text's length (about 1 s on 100 KB).

use super::super::error::TokenizerError;
use super::super::normalized::{literal_matches, Offsets};
use super::super::patterns::KnownPattern;
use alloc::string::String;
#[cfg(feature = "regex-split")]
use alloc::string::ToString;
use alloc::vec::Vec;

/// What a `Split` pre-tokenizer splits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitPattern {
    /// A literal string.
    Literal(String),
    /// One of the regexes we have a hand-written matcher for (fast path).
    Regex(KnownPattern),
    /// Any other regex, run by `fancy-regex`.
    #[cfg(feature = "regex-split")]
    Fancy(FancyPattern),
}

impl SplitPattern {
    /// The pattern for `{"Regex": source}`: the hand-written matcher when
    /// there is one, else the regex engine (feature `regex-split`), else an
    /// error naming the regex.
    pub fn from_regex(source: &str) -> Result<Self, TokenizerError> {
        if let Some(known) = KnownPattern::from_regex(source) {
            return Ok(Self::Regex(known));
        }
        #[cfg(feature = "regex-split")]
        {
            FancyPattern::new(source).map(Self::Fancy)
        }
        #[cfg(not(feature = "regex-split"))]
        {
            Err(TokenizerError::Unsupported {
                stage: "Split regex (build with the `regex-split` feature for arbitrary regexes)",
                name: source.into(),
            })
        }
    }

    /// The regex source, or `None` for a literal.
    pub fn regex_source(&self) -> Option<&str> {
        match self {
            Self::Literal(_) => None,
            Self::Regex(p) => Some(p.source()),
            #[cfg(feature = "regex-split")]
            Self::Fancy(p) => Some(&p.source),
        }
    }

    /// All non-overlapping matches `(start, end)` (bytes) in `text`, leftmost first.
    pub fn find_all(&self, text: &str) -> Result<Vec<Offsets>, TokenizerError> {
        match self {
            Self::Literal(s) => Ok(literal_matches(text, s)),
            Self::Regex(p) => Ok(p.find_all(text)),
            #[cfg(feature = "regex-split")]
            Self::Fancy(p) => p.find_all(text),
        }
    }
}

/// A compiled `fancy-regex` pattern and its source (kept for `to_json`).
#[cfg(feature = "regex-split")]
#[derive(Debug, Clone)]
pub struct FancyPattern {
    /// The regex as written in tokenizer.json.
    pub source: String,
    regex: fancy_regex::Regex,
}

#[cfg(feature = "regex-split")]
impl PartialEq for FancyPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[cfg(feature = "regex-split")]
impl Eq for FancyPattern {}

/// Longest regex source accepted (real tokenizers use a few hundred bytes).
#[cfg(feature = "regex-split")]
const MAX_REGEX_BYTES: usize = 4096;

/// Most characters a lookaround's body may match (`(?!\S)` matches one).
/// Bounding it bounds what one backtracking step costs.
pub const MAX_LOOKAROUND_CHARS: usize = 32;

/// Backtracks one search for the next match may make before it fails with
/// an error (fancy-regex's default is 1,000,000). A search also counts one
/// per start position it gives up on, so a pattern without a catch-all
/// alternative, such as `\s+(?!\S)` alone, can skip about this many
/// characters between two matches. At this limit a search costs at most a
/// few milliseconds on a 100 KB piece of text.
pub const BACKTRACK_LIMIT: usize = 10_000;

/// Wall-clock time every Split may spend on one piece of text, whatever its length.
#[cfg(feature = "regex-split")]
pub const SPLIT_TIME_LIMIT_BASE: core::time::Duration = core::time::Duration::from_millis(500);

/// Wall-clock time a Split may spend per byte of text on top of the base
/// (2 s per MB). A lookaround regex such as `\s+(?!\S)|\s+|\w+|[^\s\w]+`
/// splits a megabyte of English in about 0.1 s, even in a test build. The
/// clock is wall time, so a machine loaded many times over could reach it.
#[cfg(feature = "regex-split")]
pub const SPLIT_TIME_LIMIT_PER_BYTE: core::time::Duration = core::time::Duration::from_micros(2);

/// The wall-clock budget of one Split over `bytes` bytes of text: the base plus the per-byte allowance.
#[cfg(feature = "regex-split")]
pub fn split_time_limit(bytes: usize) -> core::time::Duration {
    let per_byte = SPLIT_TIME_LIMIT_PER_BYTE.saturating_mul(u32::try_from(bytes).unwrap_or(u32::MAX));
    SPLIT_TIME_LIMIT_BASE.saturating_add(per_byte)
}

#[cfg(feature = "regex-split")]
impl FancyPattern {
    /// Compiles `source` with Oniguruma's (Ruby's) line-anchor semantics.
    pub fn new(source: &str) -> Result<Self, TokenizerError> {
        let refuse = |reason: String| TokenizerError::Invalid { path: "Split regex".into(), reason };
        if source.len() > MAX_REGEX_BYTES {
            return Err(TokenizerError::TooLarge {
                what: "Split regex (bytes)",
                size: source.len(),
                limit: MAX_REGEX_BYTES,
            });
        }
        if has_ruby_dotall_flag(source) {
            return Err(refuse(alloc::format!(
                "`{source}` uses Ruby's (?m) flag (dot matches newline), which we do not translate"
            )));
        }
        let translated = translate_oniguruma(source).map_err(|why| refuse(alloc::format!("`{source}`: {why}")))?;
        // Ruby syntax: `^`/`$` are line anchors, always.
        let translated = alloc::format!("(?m:{translated})");
        let tree = fancy_regex::Expr::parse_tree(&translated).map_err(|e| {
            refuse(alloc::format!(
                "`{source}` is not a regex we can compile: {e}"
            ))
        })?;
        check_lookarounds(&tree.expr).map_err(|why| refuse(alloc::format!("`{source}`: {why}")))?;
        let regex = fancy_regex::RegexBuilder::new(&translated)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map_err(|e| refuse(alloc::format!("`{source}` is not a regex we can compile: {e}")))?;
        Ok(Self { source: source.to_string(), regex })
    }

    /// All non-overlapping matches, leftmost first. A run-time failure (the
    /// backtracking limit or the time budget on a pathological pattern) is an
    /// error, never a silently shorter list.
    pub fn find_all(&self, text: &str) -> Result<Vec<Offsets>, TokenizerError> {
        let started = std::time::Instant::now();
        let limit = split_time_limit(text.len());
        let mut out: Vec<Offsets> = Vec::new();
        // One search per item: the budget is checked between two searches.
        for m in self.regex.find_iter(text) {
            let m = m.map_err(|e| TokenizerError::Invalid {
                path: "Split regex".into(),
                reason: match e {
                    fancy_regex::Error::RuntimeError(fancy_regex::RuntimeError::BacktrackLimitExceeded) => {
                        alloc::format!(
                            "`{}` backtracked more than {BACKTRACK_LIMIT} times (BACKTRACK_LIMIT) looking for one \
                             match in a piece of {} bytes; the pattern is too costly on this text",
                            self.source,
                            text.len()
                        )
                    }
                    e => alloc::format!("`{}` failed on the input: {e}", self.source),
                },
            })?;
            if started.elapsed() > limit {
                return Err(TokenizerError::TimeLimit {
                    pattern: self.source.clone(),
                    bytes: text.len(),
                    limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
                });
            }
            out.push((m.start(), m.end()));
        }
        Ok(out)
    }
}

/// Most characters `expr` can match, or `None` when unbounded (or unknown,
/// as for backreferences and subroutine calls). Every `Delegate` the parser
/// makes is one character class.
#[cfg(feature = "regex-split")]
fn max_chars(expr: &fancy_regex::Expr) -> Option<usize> {
    use fancy_regex::Expr;
    match expr {
        Expr::Empty
        | Expr::Assertion(_)
        | Expr::LookAround(..)
        | Expr::KeepOut
        | Expr::ContinueFromPreviousMatchEnd
        | Expr::BacktrackingControlVerb(_)
        | Expr::BackrefExistsCondition { .. }
        | Expr::DefineGroup { .. } => Some(0),
        Expr::Any { .. } | Expr::Delegate { .. } => Some(1),
        Expr::GeneralNewline { .. } => Some(2),
        // Bytes bound characters from above (case folding never triples a
        // character's length in chars).
        Expr::Literal { val, .. } => Some(val.len()),
        Expr::LiteralBytes { bytes } => Some(bytes.len()),
        Expr::Concat(children) => children
            .iter()
            .try_fold(0usize, |sum, c| sum.checked_add(max_chars(c)?)),
        Expr::Alt(children) => children
            .iter()
            .try_fold(0usize, |most, c| Some(most.max(max_chars(c)?))),
        Expr::Group(child) => max_chars(child),
        Expr::AtomicGroup(child) => max_chars(child),
        Expr::Repeat { child, hi, .. } => match max_chars(child)? {
            0 => Some(0),
            _ if *hi == usize::MAX => None,
            width => width.checked_mul(*hi),
        },
        Expr::Conditional {
            condition,
            true_branch,
            false_branch,
        } => {
            max_chars(condition)?.checked_add(max_chars(true_branch)?.max(max_chars(false_branch)?))
        }
        Expr::Backref { .. }
        | Expr::BackrefWithRelativeRecursionLevel { .. }
        | Expr::SubroutineCall(_)
        | Expr::Absent(_)
        | Expr::AstNode(..) => None,
    }
}

/// Refuses a lookaround whose body can match more than
/// [`MAX_LOOKAROUND_CHARS`] characters, at any depth.
#[cfg(feature = "regex-split")]
fn check_lookarounds(expr: &fancy_regex::Expr) -> Result<(), String> {
    if let fancy_regex::Expr::LookAround(body, _) = expr {
        if max_chars(body).is_none_or(|n| n > MAX_LOOKAROUND_CHARS) {
            return Err(alloc::format!(
                "a lookaround may look at most {MAX_LOOKAROUND_CHARS} characters ahead or behind \
                 (MAX_LOOKAROUND_CHARS); an unbounded one makes matching quadratic or worse"
            ));
        }
    }
    expr.children_iter().try_for_each(check_lookarounds)
}

/// Oniguruma's `\w` written for the Rust regex engine: Rust's `\w` plus
/// `² ³ ¹ ¼ ½ ¾`, minus ZWNJ and ZWJ.
#[cfg(feature = "regex-split")]
const ONIG_WORD: &str = r"[[\w\xB2\xB3\xB9\xBC-\xBE]&&[^\x{200C}\x{200D}]]";
/// Its complement.
#[cfg(feature = "regex-split")]
const ONIG_NOT_WORD: &str = r"[\x{200C}\x{200D}[^\w\xB2\xB3\xB9\xBC-\xBE]]";

/// Rewrites the escapes whose meaning differs between Oniguruma and Rust's
/// regex (see the module comment), or says why the pattern is refused.
#[cfg(feature = "regex-split")]
fn translate_oniguruma(source: &str) -> Result<String, &'static str> {
    let mut out = String::with_capacity(source.len() + 64);
    let mut chars = source.chars();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else { return Err("ends with a lone backslash") };
                match (e, class_depth > 0) {
                    ('w', _) => out.push_str(ONIG_WORD),
                    ('W', _) => out.push_str(ONIG_NOT_WORD),
                    ('b', false) => out.push_str(&alloc::format!(
                        "(?:(?<={ONIG_WORD})(?!{ONIG_WORD})|(?<!{ONIG_WORD})(?={ONIG_WORD}))"
                    )),
                    ('B', false) => out.push_str(&alloc::format!(
                        "(?:(?<={ONIG_WORD})(?={ONIG_WORD})|(?<!{ONIG_WORD})(?!{ONIG_WORD}))"
                    )),
                    ('b' | 'B', true) => return Err("\\b inside a character class is not supported"),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' => {
                if class_depth > 0 && chars.as_str().starts_with(':') {
                    return Err(
                        "POSIX bracket classes ([:alpha:]) are Unicode in Oniguruma and ASCII in Rust: not supported",
                    );
                }
                class_depth += 1;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal, not the end.
                if chars.as_str().starts_with('^') {
                    out.push('^');
                    chars.next();
                }
                if chars.as_str().starts_with(']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// True when an inline flag group (`(?m)`, `(?im:`, `(?-m)`, ...) sets `m`
/// outside a character class.
#[cfg(feature = "regex-split")]
fn has_ruby_dotall_flag(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut i = 0;
    let mut in_class = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' => in_class += 1,
            b']' if in_class > 0 => in_class -= 1,
            b'(' if in_class == 0 && bytes.get(i + 1) == Some(&b'?') => {
                // Flags (on, then `-` and off) run until `)` or `:`. Turning
                // `m` off is refused too: in Rust it would turn line anchors off.
                let mut k = i + 2;
                while let Some(&c) = bytes.get(k) {
                    if c.is_ascii_alphabetic() || c == b'-' {
                        if c == b'm' {
                            return true;
                        }
                        k += 1;
                    } else {
                        break;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(all(test, feature = "regex-split"))]
mod tests {
    use super::*;

    fn pieces(p: &SplitPattern, s: &str) -> Vec<String> {
        p.find_all(s).unwrap().into_iter().map(|(a, b)| String::from(&s[a..b])).collect()
    }

    #[test]
    fn known_patterns_keep_the_fast_path() {
        let p = SplitPattern::from_regex(super::super::super::patterns::GPT2_PATTERN).unwrap();
        assert!(matches!(p, SplitPattern::Regex(KnownPattern::Gpt2)));
    }

    #[test]
    fn arbitrary_regex_with_lookahead() {
        let p = SplitPattern::from_regex(r"\d{1,3}(?=(?:\d{3}){0,9}\b)").unwrap();
        assert!(matches!(p, SplitPattern::Fancy(_)));
        assert_eq!(pieces(&p, "x 1234567 y"), ["1", "234", "567"]);
        assert_eq!(p.regex_source(), Some(r"\d{1,3}(?=(?:\d{3}){0,9}\b)"));
    }

    #[test]
    fn unbounded_lookarounds_are_refused_when_loaded() {
        // Each re-reads the rest of the text at every start position: on
        // 100,000 `a`s + `!`, `(?=(a+))a*b` ran for minutes, backtracking
        // once per position, so no backtracking limit stopped it.
        for bad in [
            r"(?=(a+))a*b",
            r"(?=(?=(a+))a*)a*b",
            r"(?=(.*))b",
            r"x(?!(?:y|z)+)",
            r"(?<=a.*)b",
            r"\d{1,3}(?=(?:\d{3})*\b)",
            r"(?=\w{33})",
        ] {
            let e = SplitPattern::from_regex(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("MAX_LOOKAROUND_CHARS"), "{e}");
        }
        // Bounded ones are what real tokenizers use.
        for good in [
            r"\s+(?!\S)|\s+",
            r"(?<=\p{Ll})(?=\p{Lu})",
            r"(?=(?=a)a{0,31})a",
            r"(?=\w{32})",
            r"\b",
        ] {
            assert!(SplitPattern::from_regex(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn catastrophic_patterns_fail_with_an_error_or_run_linearly() {
        let text = alloc::format!("{}!", "a".repeat(100_000));
        // Without lookaround (or with only a trailing positive lookahead,
        // which fancy-regex rewrites as a capture), the pattern runs on
        // regex-automata, which is linear: no error.
        for linear in [
            r"(a+)+$",
            r"(a|aa)+b",
            r"(a*)*b",
            r"(?:a+|a)+!",
            r"(a|aa)+(?=b)",
        ] {
            let p = SplitPattern::from_regex(linear).unwrap();
            let matches = p.find_all(&text).unwrap();
            assert!(matches.len() <= 1, "{linear}: {matches:?}");
        }
        // With (bounded) lookaround, the backtracking VM runs and stops at
        // the limit with an error that names the pattern and the limit.
        for exponential in [
            r"(?:a|aa)+(?!a|!)",
            r"(a+)+(?!a|!)",
            r"(?:(?=a)a|a)+b",
            r"(?:a|(?=a)aa)+(?=b)",
        ] {
            let p = SplitPattern::from_regex(exponential).unwrap();
            let e = p.find_all(&text).unwrap_err().to_string();
            assert!(
                e.contains(exponential) && e.contains("BACKTRACK_LIMIT"),
                "{e}"
            );
        }
    }

    #[test]
    fn patterns_quadratic_one_search_at_a_time_stop_at_the_time_budget() {
        // Each search reads to the end of the text (or of a run), fails, then
        // matches one character; the next search starts one character later.
        // Few backtracks per search, n²/2 steps in all: 1 to 10 s of CPU
        // each on 100 KB in a release build before the budget.
        let a = "a".repeat(100_000);
        let xa = "xa".repeat(50_000);
        let runs = alloc::format!("{}!", "a".repeat(999)).repeat(100);
        for (pattern, text) in [
            (r"(?=x)[xa]*b|a", &xa),
            (r"(?>[xa]*)b|a", &a),
            (r"[xa]*+b|a", &a),
            (r"(?<=a)[xa]*b|a", &a),
            (r"a+(?=b)|a", &runs),
        ] {
            let p = SplitPattern::from_regex(pattern).unwrap();
            match p.find_all(text) {
                Err(TokenizerError::TimeLimit { pattern: named, bytes, limit_ms }) => {
                    assert_eq!((named.as_str(), bytes), (pattern, text.len()));
                    assert_eq!(u128::from(limit_ms), split_time_limit(text.len()).as_millis());
                }
                other => panic!("{pattern}: expected the time budget error, got {:?}", other.map(|m| m.len())),
            }
        }
    }

    #[test]
    fn lookaround_tokenizer_regex_splits_a_megabyte_within_the_budget() {
        // The cl100k-style `\s+(?!\S)` through the backtracking VM, on 1 MB
        // of prose and on 1 MB of one repeated letter.
        let p = SplitPattern::from_regex(r"\s+(?!\S)|\s+|\w+|[^\s\w]+").unwrap();
        assert!(matches!(p, SplitPattern::Fancy(_)));
        let verse = "Second Sailor:\nBefore we travel any further, hear my story.\n\nCrew:\nTell, tell.\n\n";
        let prose = verse.repeat(1_000_000 / verse.len());
        // 33 pieces per verse, and its closing `\n\n` splits in two before the next one.
        let words = p.find_all(&prose).unwrap();
        assert_eq!(words.len(), 34 * (1_000_000 / verse.len()) - 1);
        assert_eq!(p.find_all(&"a".repeat(1_000_000)).unwrap(), [(0, 1_000_000)]);
    }

    #[test]
    fn word_class_is_oniguruma_s() {
        // Oniguruma: `²` is a word char, ZWJ is not (Rust's regex: the opposite).
        let p = SplitPattern::from_regex(r"\w+").unwrap();
        assert_eq!(pieces(&p, "a²b\u{200D}c"), ["a²b", "c"]);
        let p = SplitPattern::from_regex(r"[\W_]+").unwrap();
        assert_eq!(pieces(&p, "a²b\u{200D}c_"), ["\u{200D}", "_"]);
        let p = SplitPattern::from_regex(r"\b").unwrap();
        assert_eq!(p.find_all("x² y").unwrap(), [(0, 0), (3, 3), (4, 4), (5, 5)]);
    }

    #[test]
    fn anchors_are_line_anchors_as_in_ruby() {
        let p = SplitPattern::from_regex(r"^a").unwrap();
        assert_eq!(p.find_all("ab\nab").unwrap(), [(0, 1), (3, 4)]);
    }

    #[test]
    fn ruby_dotall_flag_and_bad_regex_are_refused_by_name() {
        for bad in ["(?m).", "(?im:a.)", "(?i-m:^a)", "(unclosed", "[[:alpha:]]+", r"[\b]"] {
            let e = SplitPattern::from_regex(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        // `m` inside a class or escaped is fine.
        assert!(SplitPattern::from_regex(r"[(?m)]").is_ok());
    }
}
