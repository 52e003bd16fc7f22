//! Built-in toy tasks for the Train tab: tiny languages generated in code
//! from a seed, where a small model visibly learns within seconds and the
//! learning can be measured by accuracy instead of only by loss.
//!
//! Every task writes one example per line, `prompt` immediately followed by
//! its `answer` and a newline:
//!
//! ```text
//! addition   12+345=357        prompt "12+345="  answer "357"
//! reversal   abc|cba           prompt "abc|"     answer "cba"
//! grammar    ([(>)])           prompt "([(>"     answer ")])"
//! ```
//!
//! The grammar task is the Dyck language of the probabilistic context-free
//! grammar `S → ( S ) S  [p]  |  [ S ] S  [p]  |  ε  [1 − 2p]`: the prompt is
//! a prefix of a sentence (brackets still open) followed by `>`, and the
//! answer is the unique shortest way to close it. Solving it needs a stack,
//! which is why it is the hardest of the three.
//!
//! Accuracy is exact match: greedy-complete the prompt (with earlier example
//! lines before it as context, like the training text) until a newline and
//! compare with the answer ([`accuracy`], [`greedy_complete`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::model::Model;
use super::precision::Precision;
use super::TrainError;
use crate::rng::Rng;

/// Largest operand of the addition task (two digits keep it learnable in
/// seconds; the sum has up to three).
const ADDITION_MAX: u64 = 99;
/// Letters the reversal task draws from.
const REVERSAL_LETTERS: &[u8] = b"abcde";
/// Longest string the reversal task reverses.
const REVERSAL_MAX_LEN: u64 = 4;
/// Probability of each bracket rule in the grammar (ε gets the rest).
const GRAMMAR_RULE_P: f64 = 0.3;
/// Deepest nesting the grammar generates (keeps lines short).
const GRAMMAR_MAX_DEPTH: usize = 4;

/// One of the built-in tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyTask {
    /// `a+b=c` with operands up to 99.
    Addition,
    /// `s|reverse(s)` over a five-letter alphabet.
    Reversal,
    /// Close the open brackets of a Dyck-grammar prefix.
    Grammar,
}

/// One example: the model sees `prompt` and must produce `answer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToyExample {
    /// What the model is given (ends with the task's separator).
    pub prompt: String,
    /// The only correct continuation (without the newline).
    pub answer: String,
}

/// An accuracy probe: earlier example lines as context, then the prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Preceding lines followed by the example's prompt.
    pub context: String,
    /// The expected completion.
    pub answer: String,
}

impl ToyTask {
    /// Every task, in the order the UI lists them.
    pub const ALL: [ToyTask; 3] = [ToyTask::Addition, ToyTask::Reversal, ToyTask::Grammar];

    /// Short name used in links and by the worker protocol.
    pub fn key(self) -> &'static str {
        match self {
            Self::Addition => "addition",
            Self::Reversal => "reversal",
            Self::Grammar => "grammar",
        }
    }

    /// Parses [`ToyTask::key`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.key() == name)
    }

    /// Every character the task can write (so a character vocabulary built
    /// from it covers any example, even ones a short corpus lacks).
    pub fn alphabet(self) -> &'static str {
        match self {
            Self::Addition => "0123456789+=\n",
            Self::Reversal => "abcde|\n",
            Self::Grammar => "()[]>\n",
        }
    }

    /// A fresh random example.
    pub fn example(self, rng: &mut Rng) -> ToyExample {
        match self {
            Self::Addition => {
                let a = rng.below(ADDITION_MAX + 1);
                let b = rng.below(ADDITION_MAX + 1);
                let mut prompt = String::new();
                let _ = write!(prompt, "{a}+{b}=");
                let mut answer = String::new();
                let _ = write!(answer, "{}", a + b);
                ToyExample { prompt, answer }
            }
            Self::Reversal => {
                let len = 1 + rng.below(REVERSAL_MAX_LEN) as usize;
                let word: String = (0..len).map(|_| REVERSAL_LETTERS[rng.below(REVERSAL_LETTERS.len() as u64) as usize] as char).collect();
                let mut prompt = word.clone();
                prompt.push('|');
                ToyExample { prompt, answer: word.chars().rev().collect() }
            }
            Self::Grammar => grammar_example(rng),
        }
    }

    /// `n` examples drawn from `seed`.
    pub fn examples(self, seed: u64, n: usize) -> Vec<ToyExample> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| self.example(&mut rng)).collect()
    }

    /// Training text of at least `min_chars` characters (whole lines), drawn
    /// from `seed`.
    pub fn corpus(self, seed: u64, min_chars: usize) -> String {
        let mut rng = Rng::new(seed);
        let mut text = String::new();
        while text.len() < min_chars {
            let e = self.example(&mut rng);
            text.push_str(&e.prompt);
            text.push_str(&e.answer);
            text.push('\n');
        }
        text
    }

    /// `n` accuracy probes from `seed`: each has at least `context_chars`
    /// characters of earlier lines before its prompt, so the model sees the
    /// prompt where it saw prompts during training (after a newline, with
    /// other examples before it).
    pub fn probes(self, seed: u64, n: usize, context_chars: usize) -> Vec<Probe> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let mut context = String::new();
                while context.len() < context_chars {
                    let e = self.example(&mut rng);
                    context.push_str(&e.prompt);
                    context.push_str(&e.answer);
                    context.push('\n');
                }
                let e = self.example(&mut rng);
                context.push_str(&e.prompt);
                Probe { context, answer: e.answer }
            })
            .collect()
    }
}

/// A prefix of a Dyck sentence with brackets still open, `>`, and the
/// closing brackets in order.
fn grammar_example(rng: &mut Rng) -> ToyExample {
    loop {
        let mut sentence = Vec::new();
        expand(rng, 0, &mut sentence);
        // Prefixes ending with at least one bracket open.
        let mut stack = Vec::new();
        let mut open_prefixes = Vec::new();
        for (i, &b) in sentence.iter().enumerate() {
            match b {
                b'(' | b'[' => stack.push(b),
                _ => {
                    stack.pop();
                }
            }
            if !stack.is_empty() {
                open_prefixes.push((i + 1, stack.clone()));
            }
        }
        if open_prefixes.is_empty() {
            continue; // ε or nothing open anywhere: draw again
        }
        let (cut, open) = &open_prefixes[rng.below(open_prefixes.len() as u64) as usize];
        let mut prompt: String = sentence[..*cut].iter().map(|&b| b as char).collect();
        prompt.push('>');
        let answer = open.iter().rev().map(|&b| if b == b'(' { ')' } else { ']' }).collect();
        return ToyExample { prompt, answer };
    }
}

/// Expands `S` at nesting `depth` into `out` (rules drawn with their
/// probabilities; beyond the depth limit only ε).
fn expand(rng: &mut Rng, depth: usize, out: &mut Vec<u8>) {
    if depth >= GRAMMAR_MAX_DEPTH {
        return;
    }
    let u = rng.uniform_f64();
    let (open, close) = if u < GRAMMAR_RULE_P {
        (b'(', b')')
    } else if u < 2.0 * GRAMMAR_RULE_P {
        (b'[', b']')
    } else {
        return;
    };
    out.push(open);
    expand(rng, depth + 1, out);
    out.push(close);
    expand(rng, depth, out);
}

/// The part of a completion that counts: everything before its first
/// newline.
pub fn first_line(completion: &str) -> &str {
    completion.split('\n').next().unwrap_or("")
}

/// Fraction of probes whose completion (up to its first newline) equals the
/// answer exactly. Missing completions count as wrong; no probes give 0.
pub fn accuracy(probes: &[Probe], completions: &[String]) -> f64 {
    if probes.is_empty() {
        return 0.0;
    }
    let correct = probes.iter().zip(completions).filter(|(p, c)| first_line(c) == p.answer).count();
    correct as f64 / probes.len() as f64
}

/// Greedy continuation of several token sequences at once, `new_tokens`
/// each. All rows are cut to the same window (the shortest row, at most the
/// model's context) and decoded together as one batch: one forward pass of
/// `(B, T)` per new token. Returns only the new tokens of each row.
pub fn greedy_complete(model: &mut Model, contexts: &[Vec<u32>], new_tokens: usize) -> Result<Vec<Vec<u32>>, TrainError> {
    let batch = contexts.len();
    let window = contexts.iter().map(Vec::len).min().unwrap_or(0).min(model.config.context);
    if batch == 0 || window == 0 {
        return Err(TrainError::NotEnoughData);
    }
    let v = model.config.vocab_size;
    let mut rows: Vec<Vec<u32>> = contexts.iter().map(|c| c[c.len() - window..].to_vec()).collect();
    let mut out = alloc::vec![Vec::with_capacity(new_tokens); batch];
    let mut tokens = Vec::with_capacity(batch * window);
    for _ in 0..new_tokens {
        tokens.clear();
        for row in &rows {
            tokens.extend_from_slice(&row[row.len() - window..]);
        }
        model.forward(&tokens, None, batch, window, Precision::Fp32)?;
        let logits = model.logits();
        for (b, (row, new)) in rows.iter_mut().zip(out.iter_mut()).enumerate() {
            let last = logits.get((b * window + window - 1) * v..(b * window + window) * v).ok_or(TrainError::Shape("logits too small"))?;
            let best = last.iter().enumerate().fold((0usize, f32::NEG_INFINITY), |acc, (i, &x)| if x > acc.1 { (i, x) } else { acc }).0;
            row.push(best as u32);
            new.push(best as u32);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::char_tokenizer::CharTokenizer;
    use crate::train::config::Config;

    #[test]
    fn examples_are_well_formed() {
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            let e = ToyTask::Addition.example(&mut rng);
            let (a, b) = e.prompt.trim_end_matches('=').split_once('+').unwrap();
            assert_eq!(a.parse::<u64>().unwrap() + b.parse::<u64>().unwrap(), e.answer.parse::<u64>().unwrap());
            let e = ToyTask::Reversal.example(&mut rng);
            let word = e.prompt.strip_suffix('|').unwrap();
            assert!(!word.is_empty() && word.len() <= REVERSAL_MAX_LEN as usize);
            assert_eq!(e.answer, word.chars().rev().collect::<String>());
            let e = ToyTask::Grammar.example(&mut rng);
            // prompt + answer (minus the `>`) is balanced and the answer only closes.
            let mut stack = Vec::new();
            for c in e.prompt.trim_end_matches('>').chars().chain(e.answer.chars()) {
                match c {
                    '(' | '[' => stack.push(c),
                    ')' => assert_eq!(stack.pop(), Some('(')),
                    ']' => assert_eq!(stack.pop(), Some('[')),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert!(stack.is_empty(), "{e:?}");
            assert!(!e.answer.is_empty() && e.answer.chars().all(|c| c == ')' || c == ']'));
        }
    }

    #[test]
    fn generation_is_deterministic_by_seed() {
        for task in ToyTask::ALL {
            assert_eq!(task.corpus(7, 500), task.corpus(7, 500));
            assert_ne!(task.corpus(7, 500), task.corpus(8, 500));
            assert_eq!(task.probes(3, 5, 40), task.probes(3, 5, 40));
            let text = task.corpus(7, 500);
            assert!(text.len() >= 500 && text.ends_with('\n'));
            assert!(text.chars().all(|c| task.alphabet().contains(c)), "{task:?}");
            assert_eq!(ToyTask::parse(task.key()), Some(task));
        }
        assert_eq!(ToyTask::parse("nope"), None);
    }

    #[test]
    fn accuracy_of_oracle_is_one_and_of_wrong_answers_zero() {
        for task in ToyTask::ALL {
            let probes = task.probes(11, 50, 30);
            for p in &probes {
                assert!(p.context.len() >= 30);
            }
            let oracle: Vec<String> = probes.iter().map(|p| alloc::format!("{}\nnext line", p.answer)).collect();
            assert_eq!(accuracy(&probes, &oracle), 1.0);
            // Right answer with a wrong character appended before the newline.
            let wrong: Vec<String> = probes.iter().map(|p| alloc::format!("{}0\n", p.answer)).collect();
            assert_eq!(accuracy(&probes, &wrong), 0.0);
            let half: Vec<String> =
                probes.iter().enumerate().map(|(i, p)| if i % 2 == 0 { p.answer.clone() } else { String::new() }).collect();
            assert_eq!(accuracy(&probes, &half), 0.5);
            assert_eq!(accuracy(&probes, &[]), 0.0);
        }
    }

    #[test]
    fn greedy_complete_matches_one_row_at_a_time() {
        let text = ToyTask::Reversal.corpus(1, 200);
        let tok = CharTokenizer::from_corpus(&text);
        let mut model = Model::new(Config::gpt2(tok.vocab_size(), 16, 1, 2, 8), &mut Rng::new(2)).unwrap();
        let probes = ToyTask::Reversal.probes(5, 3, 20);
        let contexts: Vec<Vec<u32>> = probes.iter().map(|p| tok.encode(&p.context).unwrap()).collect();
        let together = greedy_complete(&mut model, &contexts, 4).unwrap();
        let window = contexts.iter().map(Vec::len).min().unwrap().min(16);
        for (ctx, got) in contexts.iter().zip(&together) {
            // Decoding one row alone with the same window gives the same tokens.
            let mut row = ctx[ctx.len() - window..].to_vec();
            for &expected in got {
                model.forward(&row[row.len() - window..], None, 1, window, Precision::Fp32).unwrap();
                let v = model.config.vocab_size;
                let last = &model.logits()[(window - 1) * v..window * v];
                let best = (0..v).fold(0, |best, i| if last[i] > last[best] { i } else { best }) as u32;
                assert_eq!(best, expected);
                row.push(best);
            }
        }
        assert!(greedy_complete(&mut model, &[], 1).is_err());
    }
}
