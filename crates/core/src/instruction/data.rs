//! Instruction data: Alpaca records and chat conversations rendered as a
//! prompt and an answer, tokenized with the loss on the answer only.
//!
//! Accepted input (a JSON array of records, or JSON Lines, one per line):
//!
//! ```text
//! {"instruction": "upper: abc", "input": "", "output": "ABC"}     Alpaca
//! {"messages": [{"role": "user", "content": "upper: abc"},
//!               {"role": "assistant", "content": "ABC"}]}           chat
//! ```
//!
//! Without a checkpoint chat template the text follows this plain
//! Alpaca-style format ([`render`]); it avoids Alpaca's `###` markers so that
//! a small character vocabulary (letters, space, newline, `:`) can encode it:
//!
//! ```text
//! Instruction: {instruction}\n
//! Input: {input}\n                 (only when the input is not empty)
//! Response: {output}\n             (the newline ends the answer, like EOS)
//! ```
//!
//! A chat conversation renders its turns the same way (`system` as
//! `System: …`, `user` as `Instruction: …`, earlier `assistant` turns as
//! `Response: …`); its last message must be the assistant's and is the
//! answer.
//!
//! [`tokenize`] encodes the prompt and the answer separately and joins the
//! ids, then sets `labels = -100` on every prompt token: the answer-only loss
//! of TRL's `SFTTrainer` with `completion_only_loss`.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use serde_json::Value;

use super::InstructionError;
use crate::tokenizers::Tokenizer;

/// The label that takes no loss (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// One training example: what the model reads and what it should answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// Rendered prompt, ending with `Response: `.
    pub prompt: String,
    /// The answer, ending with the newline that closes it.
    pub answer: String,
}

impl Example {
    /// An Alpaca record (`instruction`, optional `input`, `output`) in the
    /// plain format.
    pub fn alpaca(instruction: &str, input: &str, output: &str) -> Self {
        Self { prompt: render_prompt(&[("Instruction", instruction), ("Input", input)]), answer: render_answer(output) }
    }

    /// The answer without its closing newline (what greedy decoding should print).
    pub fn expected(&self) -> &str {
        self.answer.strip_suffix('\n').unwrap_or(&self.answer)
    }
}

/// Lines `Field: value` (skipping empty inputs), then `Response: `.
fn render_prompt(fields: &[(&str, &str)]) -> String {
    let mut prompt = String::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 && *name == "Input" && value.is_empty() {
            continue;
        }
        prompt.push_str(&format!("{name}: {value}\n"));
    }
    prompt.push_str("Response: ");
    prompt
}

fn render_answer(output: &str) -> String {
    format!("{output}\n")
}

/// The whole training text of an example: prompt then answer.
pub fn render(example: &Example) -> String {
    format!("{}{}", example.prompt, example.answer)
}

/// Parses instruction data: a JSON array of records or JSON Lines (blank
/// lines skipped). Each record is Alpaca or chat (see the module docs).
pub fn parse(text: &str) -> Result<Vec<Example>, InstructionError> {
    let trimmed = text.trim_start();
    let records: Vec<(usize, Value)> = if trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(trimmed).map_err(|e| InstructionError::Data(format!("JSON array: {e}")))?;
        match value {
            Value::Array(items) => items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect(),
            _ => return Err(InstructionError::Data("expected a JSON array of records".into())),
        }
    } else {
        let mut records = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value = serde_json::from_str(line).map_err(|e| InstructionError::Data(format!("line {}: {e}", i + 1)))?;
            records.push((i + 1, value));
        }
        records
    };
    if records.is_empty() {
        return Err(InstructionError::Data("no records: give Alpaca JSON(L) or chat JSONL with `messages`".into()));
    }
    records.iter().map(|(n, v)| example_of(v).map_err(|e| InstructionError::Data(format!("record {n}: {e}")))).collect()
}

fn text_field<'a>(record: &'a Value, key: &str) -> Result<&'a str, String> {
    match &record[key] {
        Value::String(s) => Ok(s),
        Value::Null => Ok(""),
        other => Err(format!("`{key}` must be a string, not {other}")),
    }
}

fn example_of(record: &Value) -> Result<Example, String> {
    if !record.is_object() {
        return Err("not a JSON object".into());
    }
    if let Some(messages) = record.get("messages") {
        return chat_example(messages);
    }
    if record.get("instruction").is_none() || record.get("output").is_none() {
        return Err("needs `instruction` and `output` (Alpaca) or `messages` (chat)".into());
    }
    Ok(Example::alpaca(text_field(record, "instruction")?, text_field(record, "input")?, text_field(record, "output")?))
}

fn chat_example(messages: &Value) -> Result<Example, String> {
    let list = messages.as_array().ok_or("`messages` must be a list")?;
    let mut turns: Vec<(&str, &str)> = Vec::with_capacity(list.len());
    for m in list {
        let role = m["role"].as_str().ok_or("every message needs a string `role`")?;
        let content = text_field(m, "content")?;
        turns.push((role, content));
    }
    let Some((&(last_role, answer), earlier)) = turns.split_last() else {
        return Err("`messages` is empty".into());
    };
    if last_role != "assistant" {
        return Err("the last message must be the assistant's (it is the answer)".into());
    }
    let mut prompt = String::new();
    for &(role, content) in earlier {
        let name = match role {
            "system" => "System",
            "user" => "Instruction",
            "assistant" => "Response",
            other => return Err(format!("unknown role `{other}` (system, user or assistant)")),
        };
        prompt.push_str(&format!("{name}: {content}\n"));
    }
    prompt.push_str("Response: ");
    Ok(Example { prompt, answer: render_answer(answer) })
}

/// An example as model input: `ids` and `labels` of equal length, with
/// `labels[i] = ids[i]` on answer tokens and [`IGNORE_INDEX`] elsewhere
/// (labels are unshifted, as transformers takes them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokenized {
    /// Prompt ids then answer ids.
    pub ids: Vec<u32>,
    /// Loss targets.
    pub labels: Vec<i64>,
    /// Number of prompt tokens (the first answer token's index).
    pub prompt_len: usize,
}

/// Tokenizes an example (no special tokens), keeping at most `max_len`
/// tokens. Fails when the prompt leaves no room for an answer token.
pub fn tokenize(tokenizer: &Tokenizer, example: &Example, max_len: usize) -> Result<Tokenized, InstructionError> {
    let encode = |text: &str| -> Result<Vec<u32>, InstructionError> {
        let ids = tokenizer.encode(text, false).map_err(|e| InstructionError::Tokenize(e.to_string()))?.ids;
        // A vocabulary without an unknown token drops characters it lacks.
        if tokenizer.decode(&ids, false).chars().count() < text.chars().count() {
            return Err(InstructionError::Tokenize(format!("{text:?} has characters the model's tokenizer cannot encode")));
        }
        Ok(ids)
    };
    let prompt = encode(&example.prompt)?;
    let answer = encode(&example.answer)?;
    if answer.is_empty() || prompt.len() + 1 > max_len {
        return Err(InstructionError::Tokenize(format!(
            "the prompt takes {} tokens and the answer {}; the model reads at most {max_len}",
            prompt.len(),
            answer.len()
        )));
    }
    let prompt_len = prompt.len();
    let mut ids = prompt;
    ids.extend(answer);
    ids.truncate(max_len);
    let mut labels = vec![IGNORE_INDEX; prompt_len];
    labels.extend(ids[prompt_len..].iter().map(|&id| i64::from(id)));
    Ok(Tokenized { ids, labels, prompt_len })
}

/// Pads examples on the right to a `(B, T)` batch: pad id 0 with label
/// [`IGNORE_INDEX`]. A causal model never attends forward, so right padding
/// changes no real token's logits and needs no attention mask.
pub fn pad_batch(examples: &[&Tokenized]) -> (Vec<Vec<u32>>, Vec<Vec<i64>>) {
    let width = examples.iter().map(|t| t.ids.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(examples.len());
    let mut labels = Vec::with_capacity(examples.len());
    for t in examples {
        let mut row = t.ids.clone();
        row.resize(width, 0);
        ids.push(row);
        let mut row = t.labels.clone();
        row.resize(width, IGNORE_INDEX);
        labels.push(row);
    }
    (ids, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn char_tokenizer() -> Tokenizer {
        let chars: Vec<char> = "\n :ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".chars().collect();
        let vocab: Vec<String> =
            chars.iter().enumerate().map(|(i, c)| format!("{}:{i}", serde_json::to_string(&c.to_string()).unwrap())).collect();
        let json = format!(
            r#"{{"version":"1.0","model":{{"type":"BPE","vocab":{{{}}},"merges":[]}},"decoder":{{"type":"Fuse"}}}}"#,
            vocab.join(",")
        );
        Tokenizer::from_json(&json).unwrap()
    }

    #[test]
    fn alpaca_and_chat_render_the_documented_format() {
        let a = Example::alpaca("upper", "abc", "ABC");
        assert_eq!(render(&a), "Instruction: upper\nInput: abc\nResponse: ABC\n");
        let b = Example::alpaca("upper: abc", "", "ABC");
        assert_eq!(b.prompt, "Instruction: upper: abc\nResponse: ");
        let text = r#"{"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"upper: abc"},{"role":"assistant","content":"ABC"}]}"#;
        let chat = parse(text).unwrap();
        assert_eq!(render(&chat[0]), "System: Be brief\nInstruction: upper: abc\nResponse: ABC\n");
        assert_eq!(chat[0].expected(), "ABC");
    }

    #[test]
    fn json_arrays_and_jsonl_parse_alike_and_bad_records_name_their_line() {
        let jsonl = "{\"instruction\":\"a\",\"output\":\"b\"}\n\n{\"instruction\":\"c\",\"input\":\"d\",\"output\":\"e\"}\n";
        let array = r#"[{"instruction":"a","output":"b"},{"instruction":"c","input":"d","output":"e"}]"#;
        assert_eq!(parse(jsonl).unwrap(), parse(array).unwrap());
        let err = parse("{\"instruction\":\"a\",\"output\":\"b\"}\n{oops}\n").unwrap_err();
        assert!(format!("{err}").contains("line 2"), "{err}");
        let err = parse("{\"instruction\":\"a\"}").unwrap_err();
        assert!(format!("{err}").contains("record 1"), "{err}");
        let err = parse(r#"{"messages":[{"role":"user","content":"hi"}]}"#).unwrap_err();
        assert!(format!("{err}").contains("assistant"), "{err}");
        assert!(parse("  \n").is_err());
    }

    #[test]
    fn labels_mask_exactly_the_answer() {
        let tokenizer = char_tokenizer();
        let example = Example::alpaca("upper: abc", "", "ABC");
        let t = tokenize(&tokenizer, &example, 128).unwrap();
        let text = render(&example);
        assert_eq!(t.ids.len(), text.chars().count());
        assert_eq!(t.prompt_len, example.prompt.chars().count());
        let scored: String = t.labels.iter().filter(|&&l| l != IGNORE_INDEX).map(|&l| tokenizer.decode(&[l as u32], false)).collect();
        assert_eq!(scored, "ABC\n");
        assert!(t.labels[..t.prompt_len].iter().all(|&l| l == IGNORE_INDEX));
        assert!(t.labels[t.prompt_len..].iter().zip(&t.ids[t.prompt_len..]).all(|(&l, &id)| l == i64::from(id)));
        // Truncation keeps the prompt and cuts the answer; no room for an answer is an error.
        let short = tokenize(&tokenizer, &example, t.prompt_len + 2).unwrap();
        assert_eq!(short.labels.iter().filter(|&&l| l != IGNORE_INDEX).count(), 2);
        assert!(tokenize(&tokenizer, &example, t.prompt_len).is_err());
        // Characters outside the vocabulary are an error, not silently dropped.
        let digits = tokenize(&tokenizer, &Example::alpaca("add", "1", "2"), 128).unwrap_err();
        assert!(format!("{digits}").contains("cannot encode"), "{digits}");
        let (ids, labels) = pad_batch(&[&t, &short]);
        assert_eq!(ids[1].len(), t.ids.len());
        assert_eq!(labels[1][short.ids.len()..], [IGNORE_INDEX, IGNORE_INDEX]);
    }
}
