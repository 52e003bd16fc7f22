//! Post-processors: the last encoding stage, which adds the special tokens
//! a model expects (`[CLS] A [SEP] B [SEP]`, `<s> A </s>`...), sets the
//! type ids of sentence pairs, and (byte-level) trims spaces off offsets.

use super::error::TokenizerError;
use super::json::{self, Obj};
use super::pre_tokenizers::byte_level::BYTE_TO_CHAR;
use super::Encoding;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{json, Map, Value};

/// One piece of a template: a sequence or a special token, with its type id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// The first (`A`) or second (`B`) sequence.
    Sequence {
        /// 0 for A, 1 for B.
        which: usize,
        /// Type id given to its tokens.
        type_id: u32,
    },
    /// A special token (looked up in the template's `special_tokens`).
    Special {
        /// Its name in `special_tokens`.
        name: String,
        /// Type id given to it.
        type_id: u32,
    },
}

/// The ids and tokens a template's special token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialTokenSpec {
    /// Name in the template.
    pub name: String,
    /// Its ids.
    pub ids: Vec<u32>,
    /// Its tokens.
    pub tokens: Vec<String>,
}

/// A post-processor, as named in tokenizer.json.
#[derive(Debug, Clone)]
pub enum PostProcessor {
    /// Trims the `Ġ` spaces from offsets.
    ByteLevel {
        /// Whether offsets are trimmed.
        trim_offsets: bool,
        /// Whether the pre-tokenizer prepended a space (then the first one is kept).
        add_prefix_space: bool,
    },
    /// `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]`.
    Bert {
        /// (token, id) of the separator.
        sep: (String, u32),
        /// (token, id) of the classifier token.
        cls: (String, u32),
    },
    /// `<s> A </s>` / `<s> A </s></s> B </s>`, with byte-level offset trimming.
    Roberta {
        /// (token, id) of the separator.
        sep: (String, u32),
        /// (token, id) of the classifier token.
        cls: (String, u32),
        /// Whether offsets are trimmed.
        trim_offsets: bool,
        /// Whether a space was prepended.
        add_prefix_space: bool,
    },
    /// Any layout, from a template.
    Template {
        /// The template for one sequence.
        single: Vec<Piece>,
        /// The template for a pair.
        pair: Vec<Piece>,
        /// What each special token name stands for.
        special_tokens: Vec<SpecialTokenSpec>,
    },
    /// Several post-processors in order.
    Sequence(Vec<PostProcessor>),
}

fn is_space_like(c: char) -> bool {
    c == BYTE_TO_CHAR[b' ' as usize] || c.is_whitespace()
}

/// Removes leading/trailing `Ġ` (and whitespace) of each token from its offsets.
fn trim_offsets(enc: &mut Encoding, add_prefix_space: bool) {
    for (i, (token, offsets)) in enc.tokens.iter().zip(enc.offsets.iter_mut()).enumerate() {
        let mut leading = token.chars().take_while(|&c| is_space_like(c)).count();
        let trailing = token.chars().rev().take_while(|&c| is_space_like(c)).count();
        if leading == 0 && trailing == 0 {
            continue;
        }
        if leading > 0 {
            let is_first = i == 0 || offsets.0 == 0;
            if is_first && add_prefix_space && leading == 1 {
                leading = 0;
            }
            offsets.0 = (offsets.0 + leading).min(offsets.1);
        }
        if trailing > 0 && offsets.1 >= trailing {
            offsets.1 = (offsets.1 - trailing).max(offsets.0);
        }
    }
}

fn special(tok: &(String, u32), type_id: u32) -> Encoding {
    Encoding {
        ids: alloc::vec![tok.1],
        tokens: alloc::vec![tok.0.clone()],
        offsets: alloc::vec![(0, 0)],
        type_ids: alloc::vec![type_id],
        special_tokens_mask: alloc::vec![1],
    }
}

fn with_type(mut enc: Encoding, type_id: u32) -> Encoding {
    enc.type_ids = alloc::vec![type_id; enc.ids.len()];
    enc
}

impl PostProcessor {
    /// Processes the encoding(s) of one sequence or a pair (HF's `process_encodings`).
    pub fn process_encodings(&self, mut encodings: Vec<Encoding>, add_special_tokens: bool) -> Vec<Encoding> {
        match self {
            Self::ByteLevel { trim_offsets: trim, add_prefix_space } => {
                if *trim {
                    encodings.iter_mut().for_each(|e| trim_offsets(e, *add_prefix_space));
                }
                encodings
            }
            Self::Bert { sep, cls } => {
                if !add_special_tokens {
                    return encodings;
                }
                let mut out = Vec::with_capacity(encodings.len() * 3);
                for (i, enc) in encodings.into_iter().enumerate() {
                    if i == 0 {
                        out.push(special(cls, 0));
                        out.push(enc);
                        out.push(special(sep, 0));
                    } else {
                        out.push(enc);
                        out.push(special(sep, 1));
                    }
                }
                alloc::vec![Encoding::merge(out)]
            }
            Self::Roberta { sep, cls, trim_offsets: trim, add_prefix_space } => {
                if *trim {
                    encodings.iter_mut().for_each(|e| trim_offsets(e, *add_prefix_space));
                }
                let encodings: Vec<Encoding> = encodings.into_iter().map(|e| with_type(e, 0)).collect();
                if !add_special_tokens {
                    return encodings;
                }
                let mut out = Vec::new();
                for (i, enc) in encodings.into_iter().enumerate() {
                    if i == 0 {
                        out.push(special(cls, 0));
                        out.push(enc);
                        out.push(special(sep, 0));
                    } else {
                        out.push(special(sep, 0));
                        out.push(enc);
                        out.push(special(sep, 0));
                    }
                }
                alloc::vec![Encoding::merge(out)]
            }
            Self::Template { single, pair, special_tokens } => {
                let template = if encodings.len() == 2 { pair } else { single };
                let mut out = Vec::with_capacity(template.len());
                for piece in template {
                    match piece {
                        Piece::Sequence { which, type_id } => {
                            if let Some(enc) = encodings.get(*which) {
                                out.push(with_type(enc.clone(), *type_id));
                            }
                        }
                        Piece::Special { name, type_id } => {
                            if !add_special_tokens {
                                continue;
                            }
                            if let Some(spec) = special_tokens.iter().find(|s| &s.name == name) {
                                let n = spec.ids.len();
                                out.push(Encoding {
                                    ids: spec.ids.clone(),
                                    tokens: spec.tokens.clone(),
                                    offsets: alloc::vec![(0, 0); n],
                                    type_ids: alloc::vec![*type_id; n],
                                    special_tokens_mask: alloc::vec![1; n],
                                });
                            }
                        }
                    }
                }
                alloc::vec![Encoding::merge(out)]
            }
            Self::Sequence(list) => {
                list.iter().fold(encodings, |acc, p| p.process_encodings(acc, add_special_tokens))
            }
        }
    }

    /// Reads a post-processor from its JSON object.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, TokenizerError> {
        let o: &Obj = json::as_obj(v, path)?;
        let ty = json::get_type(o, path)?;
        let token_pair = |key: &str| -> Result<(String, u32), TokenizerError> {
            let arr = o.get(key).and_then(Value::as_array).filter(|a| a.len() == 2);
            let pair = arr.and_then(|a| Some((a[0].as_str()?.to_string(), json::as_id(&a[1], key).ok()?)));
            pair.ok_or_else(|| json::field_err(path, key, "a [token, id] pair"))
        };
        Ok(match ty {
            "ByteLevel" => Self::ByteLevel {
                trim_offsets: json::bool_or(o, "trim_offsets", path, true)?,
                add_prefix_space: json::bool_or(o, "add_prefix_space", path, true)?,
            },
            "BertProcessing" => Self::Bert { sep: token_pair("sep")?, cls: token_pair("cls")? },
            "RobertaProcessing" => Self::Roberta {
                sep: token_pair("sep")?,
                cls: token_pair("cls")?,
                trim_offsets: json::bool_or(o, "trim_offsets", path, true)?,
                add_prefix_space: json::bool_or(o, "add_prefix_space", path, true)?,
            },
            "TemplateProcessing" => {
                let single = read_template(json::req(o, "single", path)?, &json::join(path, "single"))?;
                let pair = read_template(json::req(o, "pair", path)?, &json::join(path, "pair"))?;
                let specials = match o.get("special_tokens") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(v) => read_specials(v, &json::join(path, "special_tokens"))?,
                };
                for piece in single.iter().chain(pair.iter()) {
                    if let Piece::Special { name, .. } = piece {
                        if !specials.iter().any(|s| &s.name == name) {
                            return Err(TokenizerError::UnknownToken {
                                context: "post_processor template",
                                token: name.clone(),
                            });
                        }
                    }
                }
                Self::Template { single, pair, special_tokens: specials }
            }
            "Sequence" => {
                let list = json::req_array(o, "processors", path)?;
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    out.push(Self::from_json(item, &format!("{path}.processors[{i}]"))?);
                }
                Self::Sequence(out)
            }
            other => return Err(json::unsupported("post_processor", other)),
        })
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::ByteLevel { trim_offsets, add_prefix_space } => json!({
                "type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim_offsets, "use_regex": true
            }),
            Self::Bert { sep, cls } => json!({"type": "BertProcessing", "sep": [sep.0, sep.1], "cls": [cls.0, cls.1]}),
            Self::Roberta { sep, cls, trim_offsets, add_prefix_space } => json!({
                "type": "RobertaProcessing", "sep": [sep.0, sep.1], "cls": [cls.0, cls.1],
                "trim_offsets": trim_offsets, "add_prefix_space": add_prefix_space
            }),
            Self::Template { single, pair, special_tokens } => {
                let pieces = |t: &Vec<Piece>| -> Vec<Value> {
                    t.iter()
                        .map(|p| match p {
                            Piece::Sequence { which, type_id } => {
                                json!({"Sequence": {"id": if *which == 0 { "A" } else { "B" }, "type_id": type_id}})
                            }
                            Piece::Special { name, type_id } => json!({"SpecialToken": {"id": name, "type_id": type_id}}),
                        })
                        .collect()
                };
                let mut specials = Map::new();
                for s in special_tokens {
                    specials.insert(s.name.clone(), json!({"id": s.name, "ids": s.ids, "tokens": s.tokens}));
                }
                json!({"type": "TemplateProcessing", "single": pieces(single), "pair": pieces(pair), "special_tokens": specials})
            }
            Self::Sequence(list) => {
                json!({"type": "Sequence", "processors": list.iter().map(Self::to_json).collect::<Vec<_>>()})
            }
        }
    }
}

fn read_template(v: &Value, path: &str) -> Result<Vec<Piece>, TokenizerError> {
    let arr = v.as_array().ok_or_else(|| TokenizerError::Field { path: path.to_string(), expected: "an array" })?;
    json::check_len(arr.len(), "template")?;
    let mut out = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let o = json::as_obj(item, &p)?;
        if let Some(seq) = o.get("Sequence") {
            let so = json::as_obj(seq, &p)?;
            let which = match json::req_str(so, "id", &p)? {
                "A" => 0,
                "B" => 1,
                other => {
                    return Err(TokenizerError::Invalid { path: p, reason: format!("unknown sequence `{other}`") })
                }
            };
            let type_id = json::usize_or(so, "type_id", &p, 0)? as u32;
            out.push(Piece::Sequence { which, type_id });
        } else if let Some(sp) = o.get("SpecialToken") {
            let so = json::as_obj(sp, &p)?;
            out.push(Piece::Special {
                name: json::req_str(so, "id", &p)?.to_string(),
                type_id: json::usize_or(so, "type_id", &p, 0)? as u32,
            });
        } else {
            return Err(TokenizerError::Field { path: p, expected: "a Sequence or SpecialToken piece" });
        }
    }
    Ok(out)
}

fn read_specials(v: &Value, path: &str) -> Result<Vec<SpecialTokenSpec>, TokenizerError> {
    let o = json::as_obj(v, path)?;
    json::check_len(o.len(), "special_tokens")?;
    let mut out = Vec::with_capacity(o.len());
    for (name, spec) in o {
        let p = format!("{path}.{name}");
        let so = json::as_obj(spec, &p)?;
        let ids_json = json::req_array(so, "ids", &p)?;
        let toks_json = json::req_array(so, "tokens", &p)?;
        let mut ids = Vec::with_capacity(ids_json.len());
        for id in ids_json {
            ids.push(json::as_id(id, &p)?);
        }
        let mut tokens = Vec::with_capacity(toks_json.len());
        for t in toks_json {
            tokens.push(t.as_str().ok_or_else(|| json::field_err(&p, "tokens", "an array of strings"))?.to_string());
        }
        if ids.len() != tokens.len() {
            return Err(TokenizerError::Invalid { path: p, reason: "ids and tokens differ in length".into() });
        }
        out.push(SpecialTokenSpec { name: name.clone(), ids, tokens });
    }
    Ok(out)
}
