//! The built-in instruction set: small string tasks generated in code from a
//! seed, so that a tiny model visibly learns to follow instructions within
//! minutes.
//!
//! ```text
//! upper: cab     ->  CAB        every letter in capitals
//! reverse: cab   ->  bac        the letters backwards
//! ```
//!
//! Words are 3 to [`MAX_WORD_LEN`] lowercase letters. The distinct words
//! drawn from the seed are split once: the first [`HELD_OUT_WORDS`] are held
//! out and every training example uses one of the others, so no held-out word
//! (in any task) is ever trained on. Only letters, space, `:` and newline
//! appear, which the default character model's vocabulary can encode.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::data::Example;
use crate::rng::Rng;

/// Longest word of a task.
pub const MAX_WORD_LEN: u64 = 4;
/// Distinct words kept for held-out prompts.
pub const HELD_OUT_WORDS: usize = 4;
/// Distinct words the training examples are made of.
pub const TRAIN_WORDS: usize = 300;
/// Letters words are drawn from.
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyz";

/// One of the built-in tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinTask {
    /// The word in capitals.
    Upper,
    /// The word backwards.
    Reverse,
    /// The word again.
    Repeat,
    /// The word's first letter.
    First,
    /// The word's last letter.
    Last,
}

impl BuiltinTask {
    /// Every task, in the order examples cycle through them.
    pub const ALL: [BuiltinTask; 4] = [BuiltinTask::Repeat, BuiltinTask::First, BuiltinTask::Last, BuiltinTask::Upper];

    /// The instruction's verb.
    pub fn key(self) -> &'static str {
        match self {
            Self::Upper => "upper",
            Self::Reverse => "reverse",
            Self::Repeat => "repeat",
            Self::First => "first",
            Self::Last => "last",
        }
    }

    /// The correct answer for `word`.
    pub fn answer(self, word: &str) -> String {
        match self {
            Self::Upper => word.to_ascii_uppercase(),
            Self::Reverse => word.chars().rev().collect(),
            Self::Repeat => word.into(),
            Self::First => word.chars().take(1).collect(),
            Self::Last => word.chars().last().map(String::from).unwrap_or_default(),
        }
    }

    /// The example `"{key}: {word}"` -> answer, in the plain Alpaca format.
    pub fn example(self, word: &str) -> Example {
        Example::alpaca(&format!("{}: {word}", self.key()), "", &self.answer(word))
    }
}

/// The built-in set of one seed: training examples and held-out prompts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinSet {
    /// Every task on every training word.
    pub train: Vec<Example>,
    /// Every task on every held-out word (never seen in training).
    pub held_out: Vec<Example>,
}

/// Generates the built-in set of `seed` (the same seed gives the same set).
pub fn builtin_set(seed: u64) -> BuiltinSet {
    let mut rng = Rng::new(seed ^ 0xB17_1A57);
    let mut seen = BTreeSet::new();
    let mut words = Vec::with_capacity(HELD_OUT_WORDS + TRAIN_WORDS);
    while words.len() < HELD_OUT_WORDS + TRAIN_WORDS {
        let len = 3 + rng.below(MAX_WORD_LEN - 2);
        let word: String = (0..len).map(|_| char::from(LETTERS[rng.below(LETTERS.len() as u64) as usize])).collect();
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    let (held, train) = words.split_at(HELD_OUT_WORDS);
    let all =
        |words: &[String]| -> Vec<Example> { words.iter().flat_map(|w| BuiltinTask::ALL.iter().map(move |t| t.example(w))).collect() };
    BuiltinSet { train: all(train), held_out: all(held) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word_of(example: &Example) -> &str {
        example.prompt.trim_end_matches("\nResponse: ").rsplit(' ').next().unwrap_or("")
    }

    #[test]
    fn builtin_split_is_disjoint_and_deterministic() {
        let set = builtin_set(7);
        assert_eq!(set, builtin_set(7));
        assert_ne!(set.train, builtin_set(8).train);
        assert_eq!(set.held_out.len(), HELD_OUT_WORDS * BuiltinTask::ALL.len());
        assert_eq!(set.train.len(), TRAIN_WORDS * BuiltinTask::ALL.len());
        let held: BTreeSet<&str> = set.held_out.iter().map(word_of).collect();
        assert_eq!(held.len(), HELD_OUT_WORDS);
        assert!(set.train.iter().all(|e| !held.contains(word_of(e))), "a held-out word was trained on");
    }

    #[test]
    fn tasks_answer_as_documented() {
        assert_eq!(BuiltinTask::Upper.example("cab").prompt, "Instruction: upper: cab\nResponse: ");
        assert_eq!(BuiltinTask::Upper.example("cab").answer, "CAB\n");
        assert_eq!(BuiltinTask::Reverse.example("cab").expected(), "bac");
    }
}
