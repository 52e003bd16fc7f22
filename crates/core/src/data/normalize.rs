//! Text normalization: one spelling per text before anything is compared.
//!
//! The same sentence reaches a crawl in many byte sequences: `é` precomposed
//! (U+00E9) or as `e` + combining acute (U+0065 U+0301), `ﬁ` as a ligature,
//! Windows line endings, a zero-width space pasted from a web page, or UTF-8
//! that some tool decoded as Windows-1252 (`cafÃ©`). Deduplication compares
//! bytes, so each of these must be folded first. [`normalize`] runs the steps
//! below in this order, each one switchable in [`NormalizeConfig`]:
//!
//! 1. **mojibake repair** (off by default, [`repair_mojibake`]): if every
//!    character of the text is one byte of Latin-1 or Windows-1252 and those
//!    bytes are valid UTF-8 that contain a multi-byte character, the text is
//!    replaced by that UTF-8 (repeated while it applies, at most 3 times, for
//!    text that was mis-decoded twice). It is all-or-nothing per text: real
//!    Latin-1 text (`café` = `63 61 66 E9`) is not valid UTF-8, so it is kept.
//! 2. **line endings** ([`unify_line_endings`]): `\r\n`, a lone `\r`, NEL
//!    (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029)
//!    become `\n`.
//! 3. **control and invisible characters** ([`is_removed_invisible`]) are
//!    deleted; the exact set is listed on that function.
//! 4. **Unicode normal form** ([`NormalForm`]): NFC by default, exactly
//!    Python's `unicodedata.normalize` for every character that both Unicode
//!    versions assign (see below).
//! 5. **whitespace** ([`collapse_whitespace`]): within a line, every run of
//!    Unicode `White_Space` characters becomes one space; lines are trimmed;
//!    more than one empty line in a row becomes one (paragraphs survive);
//!    the text is trimmed.
//!
//! ## Unicode versions
//!
//! The normal forms come from the `unicode-normalization` crate, whose
//! tables are Unicode 18.0.0 ([`CRATE_UNICODE_VERSION`]); the reference,
//! Python 3.11's `unicodedata`, has Unicode 14.0.0
//! ([`REFERENCE_UNICODE_VERSION`]). Unicode's normalization stability policy
//! guarantees that a string of characters assigned in both versions has the
//! same normal forms in both, so the two can only differ on code points that
//! Unicode 14 left unassigned: Python leaves those unchanged, while the
//! crate may decompose or reorder the ones assigned since (e.g. the
//! Kirat Rai vowel signs of Unicode 16 that compose canonically). The parity
//! test takes its random strings from every plane, excludes the Unicode-14
//! unassigned code points (a committed table of Python's category `Cn`), and
//! counts how many of those excluded code points the crate does normalize.

use alloc::string::String;
use alloc::vec::Vec;

use unicode_normalization::UnicodeNormalization;

/// The Unicode version of the normal forms computed here (the crate's tables).
pub const CRATE_UNICODE_VERSION: (u8, u8, u8) = unicode_normalization::UNICODE_VERSION;

/// The Unicode version of the reference (Python 3.11's `unicodedata.unidata_version`).
pub const REFERENCE_UNICODE_VERSION: (u8, u8, u8) = (14, 0, 0);

/// The four Unicode normal forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NormalForm {
    /// Canonical decomposition, then canonical composition (`é` stays one code point).
    Nfc,
    /// Compatibility decomposition, then canonical composition (`ﬁ` → `fi`, `²` → `2`).
    Nfkc,
    /// Canonical decomposition (`é` → `e` + U+0301).
    Nfd,
    /// Compatibility decomposition.
    Nfkd,
}

impl NormalForm {
    /// Parses `nfc`, `nfkc`, `nfd` or `nfkd` (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "nfc" => Some(Self::Nfc),
            "nfkc" => Some(Self::Nfkc),
            "nfd" => Some(Self::Nfd),
            "nfkd" => Some(Self::Nfkd),
            _ => None,
        }
    }
}

/// `text` in the normal form `form` (Python's `unicodedata.normalize(form, text)`).
pub fn unicode_normalize(text: &str, form: NormalForm) -> String {
    match form {
        NormalForm::Nfc => text.nfc().collect(),
        NormalForm::Nfkc => text.nfkc().collect(),
        NormalForm::Nfd => text.nfd().collect(),
        NormalForm::Nfkd => text.nfkd().collect(),
    }
}

/// Which steps [`normalize`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NormalizeConfig {
    /// Repair UTF-8 that was decoded as Latin-1 / Windows-1252 (off by default).
    pub repair_mojibake: bool,
    /// `\r\n`, `\r`, U+0085, U+2028, U+2029 → `\n`.
    pub unify_line_endings: bool,
    /// Delete the characters of [`is_removed_invisible`].
    pub remove_invisible: bool,
    /// The Unicode normal form, or `None` to keep the code points as they are.
    pub form: Option<NormalForm>,
    /// Collapse whitespace as [`collapse_whitespace`] does.
    pub collapse_whitespace: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        Self {
            repair_mojibake: false,
            unify_line_endings: true,
            remove_invisible: true,
            form: Some(NormalForm::Nfc),
            collapse_whitespace: true,
        }
    }
}

/// Runs the enabled steps of `config` on `text`, in the order of the module doc.
pub fn normalize(text: &str, config: &NormalizeConfig) -> String {
    let mut out = String::from(text);
    if config.repair_mojibake {
        out = repair_mojibake(&out);
    }
    if config.unify_line_endings {
        out = unify_line_endings(&out);
    }
    if config.remove_invisible {
        out = remove_invisible(&out);
    }
    if let Some(form) = config.form {
        out = unicode_normalize(&out, form);
    }
    if config.collapse_whitespace {
        out = collapse_whitespace(&out);
    }
    out
}

/// `\r\n`, a lone `\r`, NEL (U+0085), LINE SEPARATOR (U+2028) and
/// PARAGRAPH SEPARATOR (U+2029) each become one `\n`.
pub fn unify_line_endings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\u{85}' | '\u{2028}' | '\u{2029}' => out.push('\n'),
            _ => out.push(c),
        }
    }
    out
}

/// The characters [`remove_invisible`] deletes:
///
/// - C0 and C1 controls (`Cc`) except the whitespace ones (TAB, LF, VT, FF,
///   CR, and NEL, which [`unify_line_endings`] turns into `\n`):
///   U+0000–U+0008, U+000E–U+001F, U+007F–U+0084, U+0086–U+009F;
/// - SOFT HYPHEN U+00AD, ZERO WIDTH SPACE U+200B, WORD JOINER U+2060,
///   the invisible math operators U+2061–U+2064, ZERO WIDTH NO-BREAK SPACE /
///   byte order mark U+FEFF, MONGOLIAN VOWEL SEPARATOR U+180E;
/// - bidirectional controls: LRM/RLM U+200E–U+200F, ALM U+061C, the
///   embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069
///   (they reorder what is displayed without changing the words);
/// - the interlinear annotation characters U+FFF9–U+FFFB.
///
/// Kept on purpose: ZERO WIDTH NON-JOINER / JOINER (U+200C, U+200D), which
/// change the spelling of Persian and Indic words and build emoji sequences,
/// COMBINING GRAPHEME JOINER (U+034F) and the variation selectors, which
/// are part of how a character is written, and the emoji tag characters.
pub fn is_removed_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00..=0x08
            | 0x0E..=0x1F
            | 0x7F..=0x84
            | 0x86..=0x9F
            | 0xAD
            | 0x061C
            | 0x180E
            | 0x200B
            | 0x200E..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x2069
            | 0xFEFF
            | 0xFFF9..=0xFFFB
    )
}

/// `text` without the characters of [`is_removed_invisible`].
pub fn remove_invisible(text: &str) -> String {
    text.chars().filter(|&c| !is_removed_invisible(c)).collect()
}

/// Unicode's `White_Space` property (a closed set of 25 characters, stable
/// across versions), without `\n`, which separates lines.
pub fn is_inline_white_space(c: char) -> bool {
    matches!(
        c as u32,
        0x09 | 0x0B..=0x0D | 0x20 | 0x85 | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000
    )
}

/// Within each line, every run of [`is_inline_white_space`] characters
/// becomes one space and the line is trimmed; two or more empty lines in a
/// row become one (so paragraphs stay apart); the text is trimmed of
/// leading and trailing empty lines. Lines are split at `\n` only (run
/// [`unify_line_endings`] first).
pub fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut empty_run = 0usize; // empty lines since the last non-empty one
    let mut wrote_line = false;
    for line in text.split('\n') {
        let mut collapsed = String::with_capacity(line.len());
        let mut pending_space = false;
        for c in line.chars() {
            if is_inline_white_space(c) {
                pending_space = !collapsed.is_empty();
            } else {
                if pending_space {
                    collapsed.push(' ');
                    pending_space = false;
                }
                collapsed.push(c);
            }
        }
        if collapsed.is_empty() {
            empty_run += 1;
            continue;
        }
        if wrote_line {
            out.push('\n');
            if empty_run > 0 {
                out.push('\n');
            }
        }
        out.push_str(&collapsed);
        wrote_line = true;
        empty_run = 0;
    }
    out
}

/// What Windows-1252 decodes the bytes 0x80–0x9F to; the five bytes it
/// leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) are their Latin-1 C1
/// control, as lenient decoders read them.
const CP1252_80_TO_9F: [u32; 32] = [
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090,
    0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
];

/// The byte Windows-1252 encodes `c` as, for the characters that are not
/// Latin-1 (the 27 printable characters of 0x80–0x9F).
fn cp1252_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 0x100 {
        return None;
    }
    CP1252_80_TO_9F.iter().position(|&t| t == cp).and_then(|i| u8::try_from(0x80 + i).ok())
}

/// One round of repair: the text's characters as Latin-1 / Windows-1252
/// bytes, decoded as UTF-8, when that is possible and changes something.
fn repair_once(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    for c in text.chars() {
        let byte = match u8::try_from(c as u32) {
            Ok(b) => b, // Latin-1, including the C1 codes Windows-1252 leaves undefined
            Err(_) => cp1252_byte(c)?,
        };
        bytes.push(byte);
    }
    if bytes.is_ascii() {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// Repairs UTF-8 that was decoded as Latin-1 or Windows-1252 (`cafÃ©` →
/// `café`, `â€™` → `’`); text that is not such mojibake is returned
/// unchanged. See step 1 of the module doc.
pub fn repair_mojibake(text: &str) -> String {
    let mut out = String::from(text);
    for _ in 0..3 {
        match repair_once(&out) {
            Some(repaired) => out = repaired,
            None => break,
        }
    }
    out
}

/// `text` as it would look after its UTF-8 bytes were decoded as
/// Windows-1252 (bytes that code page leaves undefined read as Latin-1):
/// the damage [`repair_mojibake`] undoes, for tests and demonstrations.
pub fn to_mojibake(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            0x80..=0x9F => CP1252_80_TO_9F.get(usize::from(b - 0x80)).and_then(|&cp| char::from_u32(cp)).unwrap_or(char::from(b)),
            _ => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_equivalents_become_one_string() {
        assert_eq!(unicode_normalize("e\u{301}", NormalForm::Nfc), "\u{e9}");
        assert_eq!(unicode_normalize("\u{e9}", NormalForm::Nfd), "e\u{301}");
        assert_eq!(unicode_normalize("\u{fb01}\u{b2}", NormalForm::Nfkc), "fi2");
        assert_eq!(unicode_normalize("\u{fb01}", NormalForm::Nfc), "\u{fb01}");
    }

    #[test]
    fn every_line_ending_becomes_a_newline() {
        assert_eq!(unify_line_endings("a\r\nb\rc\u{85}d\u{2028}e\u{2029}f\n"), "a\nb\nc\nd\ne\nf\n");
        assert_eq!(unify_line_endings("\r\r\n"), "\n\n");
    }

    #[test]
    fn invisible_characters_are_removed_but_joiners_kept() {
        assert_eq!(remove_invisible("a\u{200b}b\u{feff}c\u{ad}d\u{202e}e\u{0}f"), "abcdef");
        assert_eq!(remove_invisible("\u{200d}\u{200c}\t\n"), "\u{200d}\u{200c}\t\n");
    }

    #[test]
    fn whitespace_runs_collapse_and_paragraphs_survive() {
        assert_eq!(collapse_whitespace("  a \t\u{a0} b  \n\n\n\n c\u{3000}\n"), "a b\n\nc");
        assert_eq!(collapse_whitespace("a\nb"), "a\nb");
        assert_eq!(collapse_whitespace(" \n \n"), "");
    }

    #[test]
    fn mojibake_repair_undoes_the_cp1252_misreading() {
        for text in ["café", "naïve — “quoted” ’", "日本語 €", "Ž ž Š š Œ œ Ÿ ƒ"] {
            let broken = to_mojibake(text);
            assert_ne!(broken, text);
            assert_eq!(repair_mojibake(&broken), text, "{broken}");
            // twice mis-decoded text is repaired too
            assert_eq!(repair_mojibake(&to_mojibake(&broken)), text);
        }
    }

    #[test]
    fn text_that_is_not_mojibake_is_unchanged() {
        for text in ["café", "plain ascii", "日本語", "Ã alone", "€100"] {
            assert_eq!(repair_mojibake(text), text);
        }
    }

    #[test]
    fn the_pipeline_folds_spelling_variants_together() {
        let config = NormalizeConfig::default();
        let a = normalize("Cafe\u{301}\r\n  au\u{200b} lait ", &config);
        let b = normalize("Caf\u{e9}\nau lait", &config);
        assert_eq!(a, b);
        assert_eq!(a, "Caf\u{e9}\nau lait");
    }
}
