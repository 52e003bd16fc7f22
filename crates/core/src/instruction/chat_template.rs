//! Chat templates: a conversation rendered to the one string a chat model
//! was trained on, exact to transformers' `apply_chat_template`.
//!
//! A checkpoint ships its format as a Jinja template (`chat_template` in
//! `tokenizer_config.json`, or `chat_template.jinja`). transformers renders it
//! in a sandboxed Jinja2 environment with `trim_blocks` and `lstrip_blocks`,
//! the `loopcontrols` extension, a `tojson` filter that does not escape HTML
//! (Python's `json.dumps(x, ensure_ascii=False)`), the globals
//! `raise_exception`, `strftime_now`, `dict` and `namespace`, and the
//! variables `messages`, `tools`, `documents`, `add_generation_prompt` and
//! the tokenizer's special tokens (`bos_token`, `eos_token`, ...). We do the
//! same with minijinja (plus its Python-compatible string and dict methods).
//!
//! Training templates wrap what the assistant says in
//! `{% generation %}…{% endgeneration %}`. The characters rendered inside are
//! the ones that carry loss in supervised fine-tuning (TRL's
//! `assistant_only_loss`); [`assistant_mask`] turns them into the per-token
//! mask of `return_assistant_tokens_mask=True`. Here each tag becomes an
//! empty filter block (`{% filter … %}{% endfilter %}`), a block tag like the
//! original, so `lstrip_blocks`/`trim_blocks` and `-` whitespace control act
//! on it exactly as on the original tag; the filter prints an invisible
//! marker (a Unicode noncharacter) that is then cut out and recorded as a
//! character position.

use std::ops::Range;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use minijinja::value::{Kwargs, Serde, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::Value as Json;

use super::InstructionError;

/// Marks the start of a `{% generation %}` block in the raw render.
const OPEN: char = '\u{FDD0}';
/// Marks its end.
const CLOSE: char = '\u{FDD1}';
/// Templates larger than this are refused (real ones are under 40 KB).
const MAX_TEMPLATE_BYTES: usize = 256 * 1024;
/// Instructions a render may execute before it is stopped (a template with an
/// endless loop must not hang the page).
const FUEL: u64 = 50_000_000;

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
}

/// What a rendered conversation holds.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedChat {
    /// The text the model sees.
    pub text: String,
    /// Character ranges (Unicode scalar values, as Python counts) rendered
    /// inside `{% generation %}` blocks, in order.
    pub generation_spans: Vec<Range<usize>>,
}

/// The inputs of one render besides the template.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatInputs {
    /// The conversation: a JSON list of messages (`{"role", "content", ...}`).
    pub messages: Json,
    /// Tool schemas (JSON list), or `None`.
    pub tools: Option<Json>,
    /// Add the header that starts the assistant's reply.
    pub add_generation_prompt: bool,
    /// Further variables: the special tokens (`bos_token`, `eos_token`, ...)
    /// and any template keyword argument.
    pub variables: serde_json::Map<String, Json>,
}

/// Replaces `{% generation %}` / `{% endgeneration %}` (with their `-`
/// whitespace controls) by empty filter blocks that print the markers.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (lead, body) = match inner.strip_prefix('-') {
            Some(b) => ("-", b),
            None => match inner.strip_prefix('+') {
                Some(b) => ("+", b),
                None => ("", inner),
            },
        };
        let (body, trail) = match body.strip_suffix('-') {
            Some(b) => (b, "-"),
            None => match body.strip_suffix('+') {
                Some(b) => (b, "+"),
                None => (body, ""),
            },
        };
        let filter = match body.trim() {
            "generation" => Some("__generation_open"),
            "endgeneration" => Some("__generation_close"),
            _ => None,
        };
        match filter {
            Some(name) => out.push_str(&format!("{{%{lead} filter {name} %}}{{% endfilter {trail}%}}")),
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent,
/// separators=..., sort_keys=...)`.
struct PyJson {
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

impl PyJson {
    fn string(out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn float(out: &mut String, x: f64) -> Result<(), Error> {
        if x.is_nan() {
            out.push_str("NaN");
        } else if x.is_infinite() {
            out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
        } else {
            // Python's repr: shortest round-trip digits, always with a '.' or an exponent.
            let s = format!("{x:?}");
            out.push_str(&s);
        }
        Ok(())
    }

    fn newline(&self, out: &mut String, depth: usize) {
        if let Some(indent) = &self.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    }

    fn write(&self, out: &mut String, v: &Value, depth: usize) -> Result<(), Error> {
        if depth > 64 {
            return Err(Error::new(ErrorKind::InvalidOperation, "tojson: nesting deeper than 64"));
        }
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => match (i64::try_from(v.clone()), f64::try_from(v.clone())) {
                (Ok(i), _) if v.as_i64().is_some() => out.push_str(&i.to_string()),
                (_, Ok(f)) => Self::float(out, f)?,
                _ => out.push_str(&v.to_string()),
            },
            ValueKind::String => Self::string(out, v.as_str().unwrap_or_default()),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                if items.is_empty() {
                    out.push_str("[]");
                    return Ok(());
                }
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(out, depth + 1);
                    self.write(out, item, depth + 1)?;
                }
                self.newline(out, depth);
                out.push(']');
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                if keys.is_empty() {
                    out.push_str("{}");
                    return Ok(());
                }
                out.push('{');
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(out, depth + 1);
                    match key.as_str() {
                        Some(k) => Self::string(out, k),
                        None => Self::string(out, &key.to_string()),
                    }
                    out.push_str(&self.key_sep);
                    self.write(out, &v.get_item(key)?, depth + 1)?;
                }
                self.newline(out, depth);
                out.push('}');
            }
            _ => return Err(Error::new(ErrorKind::InvalidOperation, format!("tojson: cannot serialise {}", v.kind()))),
        }
        Ok(())
    }
}

fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    kwargs.assert_all_used()?;
    if ensure_ascii == Some(true) {
        return Err(Error::new(ErrorKind::InvalidOperation, "tojson: ensure_ascii=True is not supported"));
    }
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match (v.as_i64(), v.as_str()) {
            (Some(n), _) => Some(" ".repeat(n.clamp(0, 16) as usize)),
            (_, Some(s)) => Some(s.to_string()),
            _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: indent must be a number or a string")),
        },
    };
    let (item_sep, key_sep) = match separators.as_deref() {
        Some([a, b]) => (a.clone(), b.clone()),
        Some(_) => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be a pair")),
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let writer = PyJson { indent, item_sep, key_sep, sort_keys: sort_keys.unwrap_or(false) };
    let mut out = String::new();
    writer.write(&mut out, &value, 0)?;
    Ok(Value::from_safe_string(out))
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Python's `datetime.now().strftime(format)` for the codes chat templates
/// use (`%Y %m %d %e %b %B %a %A %H %M %S %y %j %%`), in UTC; `now` is
/// seconds since 1970 (the clock, or a fixed instant for reproducible runs).
fn strftime(secs: i64, format: &str) -> Result<Value, Error> {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    const WEEKDAYS: [&str; 7] = ["Thursday", "Friday", "Saturday", "Sunday", "Monday", "Tuesday", "Wednesday"];
    let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    let day_of_year = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:2}")),
            Some('b') => out.push_str(&month_name[..3]),
            Some('B') => out.push_str(month_name),
            Some('a') => out.push_str(&weekday[..3]),
            Some('A') => out.push_str(weekday),
            Some('H') => out.push_str(&format!("{:02}", sod / 3600)),
            Some('M') => out.push_str(&format!("{:02}", sod / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", sod % 60)),
            Some('j') => out.push_str(&format!("{day_of_year:03}")),
            Some('%') => out.push('%'),
            Some(other) => return Err(Error::new(ErrorKind::InvalidOperation, format!("strftime_now: %{other} is not supported"))),
            None => out.push('%'),
        }
    }
    Ok(Value::from(out))
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Drops keys whose value is null (transformers does this before rendering)
/// and fills `reasoning_content` / `thinking` from the older names for a
/// message's reasoning, as `_alias_reasoning_fields` does.
fn normalise_messages(messages: &Json) -> Result<Json, InstructionError> {
    let list = messages.as_array().ok_or_else(|| InstructionError::Messages("messages must be a JSON list".into()))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let obj = m.as_object().ok_or_else(|| InstructionError::Messages(format!("message {i} is not an object")))?;
        let mut clean: serde_json::Map<String, Json> = obj.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
        let reasoning = ["reasoning_content", "thinking", "reasoning"].iter().find_map(|k| clean.get(*k).cloned());
        if let Some(r) = reasoning {
            clean.entry("thinking".to_string()).or_insert_with(|| r.clone());
            clean.insert("reasoning_content".to_string(), r);
        }
        out.push(Json::Object(clean));
    }
    Ok(Json::Array(out))
}

fn contains_marker(v: &Json) -> bool {
    match v {
        Json::String(s) => s.contains([OPEN, CLOSE]),
        Json::Array(items) => items.iter().any(contains_marker),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains([OPEN, CLOSE]) || contains_marker(v)),
        _ => false,
    }
}

impl ChatTemplate {
    /// Compiles `source` (the Jinja text); `strftime_now` reads the clock.
    pub fn new(source: &str) -> Result<Self, InstructionError> {
        Self::build(source, None)
    }

    /// Like [`new`](Self::new), with `strftime_now` frozen at `unix_seconds`
    /// (UTC), so that a render is reproducible.
    pub fn with_fixed_clock(source: &str, unix_seconds: i64) -> Result<Self, InstructionError> {
        Self::build(source, Some(unix_seconds))
    }

    fn build(source: &str, fixed_now: Option<i64>) -> Result<Self, InstructionError> {
        if source.len() > MAX_TEMPLATE_BYTES {
            return Err(InstructionError::Template(format!("the template has {} bytes; at most {MAX_TEMPLATE_BYTES} are accepted", source.len())));
        }
        let mut env = Environment::new();
        let syntax = env.syntax().to_builder().trim_blocks(true).lstrip_blocks(true).build().map_err(|e| InstructionError::Template(format!("{e}")))?;
        env.set_syntax(syntax);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(100);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        // Python's `iter(value)` succeeds: not for None or numbers (minijinja
        // would iterate None as empty); Jinja2's Undefined iterates as empty.
        env.add_test("iterable", |v: Value| {
            matches!(v.kind(), ValueKind::Undefined | ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Bytes)
        });
        env.add_filter("__generation_open", |_: String| OPEN.to_string());
        env.add_filter("__generation_close", |_: String| CLOSE.to_string());
        env.add_function("raise_exception", |message: String| -> Result<Value, Error> { Err(Error::new(ErrorKind::InvalidOperation, message)) });
        env.add_function("strftime_now", move |format: String| {
            let now = fixed_now.unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
            });
            strftime(now, &format)
        });
        env.add_function("dict", |kwargs: Kwargs| -> Result<Value, Error> {
            let map: std::collections::BTreeMap<String, Value> =
                kwargs.args().map(|k| Ok((k.to_string(), kwargs.get::<Value>(k)?))).collect::<Result<_, Error>>()?;
            Ok(Value::from(Serde(&map)))
        });
        env.add_template_owned("chat", rewrite_generation_tags(source)).map_err(|e| InstructionError::Template(format!("{e:#}")))?;
        Ok(Self { env })
    }

    /// Reads the template of a checkpoint: `chat_template` in
    /// `tokenizer_config.json`, either a string or a list of named templates
    /// (the one named `default` is used).
    pub fn source_from_tokenizer_config(tokenizer_config_json: &str) -> Result<String, InstructionError> {
        let v: Json = serde_json::from_str(tokenizer_config_json).map_err(|e| InstructionError::Template(format!("tokenizer_config.json: {e}")))?;
        match &v["chat_template"] {
            Json::String(s) => Ok(s.clone()),
            Json::Array(list) => list
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str())
                .map(str::to_string)
                .ok_or_else(|| InstructionError::Template("chat_template is a list without a template named \"default\"".into())),
            _ => Err(InstructionError::Template("tokenizer_config.json has no chat_template".into())),
        }
    }

    /// The special-token variables transformers passes to the template
    /// (`special_tokens_map`), read from `tokenizer_config.json`.
    pub fn special_tokens_from_tokenizer_config(tokenizer_config_json: &str) -> serde_json::Map<String, Json> {
        let v: Json = serde_json::from_str(tokenizer_config_json).unwrap_or_default();
        let mut out = serde_json::Map::new();
        for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
            let token = match &v[key] {
                Json::String(s) => Some(s.clone()),
                Json::Object(o) => o.get("content").and_then(Json::as_str).map(str::to_string),
                _ => None,
            };
            if let Some(t) = token {
                out.insert(key.to_string(), Json::String(t));
            }
        }
        out
    }

    /// Renders one conversation.
    pub fn render(&self, inputs: &ChatInputs) -> Result<RenderedChat, InstructionError> {
        let messages = normalise_messages(&inputs.messages)?;
        if contains_marker(&messages) || inputs.tools.as_ref().is_some_and(contains_marker) {
            return Err(InstructionError::Messages("the messages contain U+FDD0 or U+FDD1, which are reserved".into()));
        }
        let mut ctx = inputs.variables.clone();
        ctx.insert("messages".into(), messages);
        ctx.insert("tools".into(), inputs.tools.clone().unwrap_or(Json::Null));
        ctx.insert("documents".into(), Json::Null);
        ctx.insert("add_generation_prompt".into(), Json::Bool(inputs.add_generation_prompt));
        let template = self.env.get_template("chat").map_err(|e| InstructionError::Template(format!("{e}")))?;
        let raw = template.render(Value::from(Serde(&ctx))).map_err(|e| InstructionError::Render(format!("{e:#}")))?;
        let mut text = String::with_capacity(raw.len());
        let mut spans = Vec::new();
        let (mut chars, mut open): (usize, Vec<usize>) = (0, vec![]);
        for c in raw.chars() {
            match c {
                OPEN => open.push(chars),
                CLOSE => {
                    let start = open.pop().ok_or_else(|| InstructionError::Render("endgeneration without generation".into()))?;
                    spans.push(start..chars);
                }
                c => {
                    text.push(c);
                    chars += 1;
                }
            }
        }
        // transformers records a block when it closes; keep start order for the mask's single pass.
        spans.sort_by_key(|s| (s.start, s.end));
        Ok(RenderedChat { text, generation_spans: spans })
    }
}

/// The per-token assistant mask of `return_assistant_tokens_mask=True`: a
/// token is 1 when its character span `(start, end)` overlaps a generation
/// span. `offsets` are character offsets, in order, as tokenizers report them.
pub fn assistant_mask(spans: &[Range<usize>], offsets: &[(usize, usize)]) -> Vec<u8> {
    let mut mask = vec![0u8; offsets.len()];
    let mut span = 0;
    for (i, &(start, end)) in offsets.iter().enumerate() {
        while span < spans.len() && start >= spans[span].end {
            span += 1;
        }
        if span == spans.len() {
            break;
        }
        if end > spans[span].start {
            mask[i] = 1;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, messages: Json, add: bool) -> RenderedChat {
        let inputs = ChatInputs { messages, add_generation_prompt: add, ..Default::default() };
        ChatTemplate::new(src).unwrap().render(&inputs).unwrap()
    }

    #[test]
    fn generation_blocks_become_character_spans() {
        let src = "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}!{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}";
        let out = render(src, json!([{"role": "user", "content": "hé"}, {"role": "assistant", "content": "ok"}]), false);
        // trim_blocks eats the newline after `{% endif %}`, as in transformers.
        assert_eq!(out.text, "<user>hé<assistant>ok!");
        assert_eq!(out.generation_spans, vec![19..22]);
        assert_eq!(&out.text.chars().collect::<Vec<_>>()[19..22].iter().collect::<String>(), "ok!");
    }

    #[test]
    fn tojson_is_pythons_json_dumps() {
        let src = "{{ messages[0] | tojson }}|{{ messages[0].content | tojson(indent=2) }}";
        let out = render(src, json!([{"content": ["a<b", 1, 2.5, null, true]}]), false);
        assert_eq!(out.text, "{\"content\": [\"a<b\", 1, 2.5, null, true]}|[\n  \"a<b\",\n  1,\n  2.5,\n  null,\n  true\n]");
    }

    #[test]
    fn raise_exception_and_bad_templates_are_errors_not_panics() {
        let t = ChatTemplate::new("{{ raise_exception('roles must alternate') }}").unwrap();
        let err = t.render(&ChatInputs { messages: json!([]), ..Default::default() }).unwrap_err();
        assert!(format!("{err}").contains("roles must alternate"), "{err}");
        assert!(ChatTemplate::new("{% for %}").is_err());
        let looping = ChatTemplate::new("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}").unwrap();
        assert!(looping.render(&ChatInputs { messages: json!([]), ..Default::default() }).is_err(), "fuel stops endless work");
        assert!(t.render(&ChatInputs { messages: json!({"role": "user"}), ..Default::default() }).is_err());
    }

    #[test]
    fn mask_marks_tokens_overlapping_a_span() {
        let offsets = [(0, 2), (2, 5), (5, 6), (6, 9), (9, 10)];
        assert_eq!(assistant_mask(&[3..6], &offsets), vec![0, 1, 1, 0, 0]);
        assert_eq!(assistant_mask(&[], &offsets), vec![0; 5]);
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-800_000, -1, 0, 59, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_425), (2025, 12, 3));
    }
}
