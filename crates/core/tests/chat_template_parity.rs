//! Chat templates against transformers 5.24.0's `apply_chat_template`
//! (Jinja2 3.1.6): every template TRL 1.16.0 ships, rendered on random
//! conversations with tricky content (tests/fixtures/chat_templates, from
//! scripts/fixtures/chat_templates.py). The text must be byte-equal, a
//! template that refuses a conversation must refuse it here too, and the ids
//! and `return_assistant_tokens_mask` masks must be equal.

use std::collections::BTreeMap;
use std::path::PathBuf;

use llmlab_core::instruction::chat_template::{assistant_mask, ChatInputs, ChatTemplate};
use llmlab_core::tokenizers::Tokenizer;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

#[test]
fn rendered_text_ids_and_assistant_masks_equal_transformers() {
    let data: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat_templates/cases.json")).unwrap()).unwrap();
    let tokenizer = Tokenizer::from_json(&std::fs::read_to_string(fixtures().join("tokenizers/bpe_bytelevel.tokenizer.json")).unwrap()).unwrap();
    let now = data["now_unix"].as_i64().unwrap();
    let variables = data["special_tokens"].as_object().unwrap().clone();
    let mut templates: BTreeMap<String, ChatTemplate> = BTreeMap::new();
    let (mut texts, mut refusals, mut ids, mut masks) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for case in data["cases"].as_array().unwrap() {
        let name = case["template"].as_str().unwrap();
        if !templates.contains_key(name) {
            let source = std::fs::read_to_string(fixtures().join(format!("chat_templates/templates/{name}.jinja"))).unwrap();
            templates.insert(name.to_string(), ChatTemplate::with_fixed_clock(&source, now).unwrap_or_else(|e| panic!("{name}: {e}")));
        }
        let inputs = ChatInputs {
            messages: case["messages"].clone(),
            tools: None,
            add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
            variables: variables.clone(),
        };
        let rendered = templates[name].render(&inputs);
        match (rendered, case.get("text")) {
            (Err(_), None) => refusals += 1,
            (Ok(out), None) => failures.push(format!("{name}: transformers refused ({}), we rendered {:?}", case["error"], out.text)),
            (Err(e), Some(_)) => failures.push(format!("{name}: we refused: {e}")),
            (Ok(out), Some(want)) => {
                if out.text != want.as_str().unwrap() {
                    failures.push(format!("{name}: text differs\n  ours:   {:?}\n  theirs: {:?}", out.text, want.as_str().unwrap()));
                    continue;
                }
                texts += 1;
                if let Some(want_ids) = case.get("input_ids") {
                    let encoding = tokenizer.encode(&out.text, false).unwrap();
                    let want_ids: Vec<u32> = serde_json::from_value(want_ids.clone()).unwrap();
                    if encoding.ids != want_ids {
                        failures.push(format!("{name}: ids differ"));
                        continue;
                    }
                    ids += 1;
                    if let Some(want_mask) = case.get("assistant_masks") {
                        let want_mask: Vec<u8> = serde_json::from_value(want_mask.clone()).unwrap();
                        let offsets: Vec<(usize, usize)> = encoding.offsets.clone();
                        let mask = assistant_mask(&out.generation_spans, &offsets);
                        if mask != want_mask {
                            failures.push(format!("{name}: assistant mask differs\n  ours:   {mask:?}\n  theirs: {want_mask:?}"));
                            continue;
                        }
                        masks += 1;
                    }
                }
            }
        }
    }
    println!("{} templates: {texts} texts byte-equal, {refusals} refusals shared, {ids} id sequences and {masks} assistant masks equal; {} mismatches", templates.len(), failures.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert!(masks > 100, "the fixture must exercise generation markers");
}
