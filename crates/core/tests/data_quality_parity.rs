//! The quality filters against datatrove 0.10.1, from
//! `tests/fixtures/data/quality.json` (made by `scripts/fixtures/data_quality.py`):
//! English words and sentences equal spaCy 3.8.18's blank English tokenizer and
//! sentencizer as datatrove calls them, and every filter's keep/drop decision and
//! reason equals datatrove's on random, adversarial and real text, at the
//! default settings and at three others.

use std::path::PathBuf;

use llmlab_core::data::quality::{
    C4QualityConfig, C4QualityFilter, EnglishTokenizer, FineWebQualityConfig, FineWebQualityFilter, GopherQualityConfig,
    GopherQualityFilter, GopherRepetitionConfig, GopherRepetitionFilter,
};
use serde_json::Value;

fn fixture() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/data/quality.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn quality_words_and_sentence_counts_equal_spacy_english() {
    let fx = fixture();
    let tokenizer = EnglishTokenizer::new();
    let cases = fx["tokenizer"].as_array().unwrap();
    let mut word_mismatches = Vec::new();
    let mut sentence_mismatches = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<&str> = case["words"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
        let words = tokenizer.with_words(text, |w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        if words != expected {
            word_mismatches.push(format!("{text:?}\n  spaCy: {expected:?}\n  ours:  {words:?}"));
        }
        let sentences = tokenizer.sentence_pieces(text).len() as u64;
        if sentences != case["sentences"].as_u64().unwrap() {
            sentence_mismatches.push(format!("{text:?}: spaCy {} ours {sentences}", case["sentences"]));
        }
    }
    println!("tokenizer: {}/{} word lists equal", cases.len() - word_mismatches.len(), cases.len());
    println!("sentencizer: {}/{} sentence counts equal", cases.len() - sentence_mismatches.len(), cases.len());
    for m in word_mismatches.iter().chain(&sentence_mismatches).take(30) {
        println!("{m}");
    }
    assert!(word_mismatches.is_empty() && sentence_mismatches.is_empty());
}

#[test]
fn quality_filter_decisions_and_reasons_equal_datatrove() {
    let fx = fixture();
    let gopher_quality = GopherQualityFilter::new(GopherQualityConfig::default()).unwrap();
    let gopher_repetition = GopherRepetitionFilter::new(GopherRepetitionConfig::default()).unwrap();
    let c4 = C4QualityFilter::new(C4QualityConfig::default()).unwrap();
    let fineweb = FineWebQualityFilter::new(FineWebQualityConfig::default()).unwrap();
    let tokenizer = EnglishTokenizer::new();
    type Check<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let reason = |r: Result<(), llmlab_core::data::quality::DropReason>| r.map_or_else(|d| d.0, |()| "keep".to_string());
    let gopher_max_100_words = GopherQualityFilter::new(GopherQualityConfig {
        max_doc_words: Some(100),
        min_doc_words: Some(10),
        ..GopherQualityConfig::default()
    })
    .unwrap();
    let c4_sentences = C4QualityFilter::new(C4QualityConfig { split_paragraph: false, ..C4QualityConfig::default() }).unwrap();
    let fineweb_exclude_zero = FineWebQualityFilter::new(FineWebQualityConfig {
        line_punct_exclude_zero: true,
        short_line_length: 10,
        ..FineWebQualityConfig::default()
    })
    .unwrap();
    let filters: Vec<(&str, Check)> = vec![
        ("gopher_quality", Box::new(|t| reason(gopher_quality.check(t)))),
        ("gopher_repetition", Box::new(|t| reason(gopher_repetition.check(t)))),
        ("c4", Box::new(|t| reason(c4.check(t)))),
        ("fineweb", Box::new(|t| reason(fineweb.check(t)))),
        ("gopher_quality_max_100_words", Box::new(|t| reason(gopher_max_100_words.check(t)))),
        ("c4_sentences", Box::new(|t| reason(c4_sentences.check(t)))),
        ("fineweb_punct_exclude_zero", Box::new(|t| reason(fineweb_exclude_zero.check(t)))),
    ];
    let docs = fx["documents"].as_array().unwrap();
    let mut all_equal = true;
    let mut total = (0, 0);
    let mut word_counts_equal = 0;
    for doc in docs {
        if tokenizer.word_count(doc["text"].as_str().unwrap()) as u64 == doc["words"].as_u64().unwrap() {
            word_counts_equal += 1;
        }
    }
    println!("word counts: {word_counts_equal}/{} documents equal", docs.len());
    for (name, check) in &filters {
        let mut equal = 0;
        let mut shown = 0;
        for doc in docs {
            let text = doc["text"].as_str().unwrap();
            let expected = doc[*name].as_str().unwrap();
            let ours = check(text);
            if ours == expected {
                equal += 1;
            } else if shown < 5 {
                shown += 1;
                println!("{name} [{}]: datatrove {expected}, ours {ours}: {:?}", doc["kind"], &text[..text.len().min(300)]);
            }
        }
        println!("quality {name}: {equal}/{} decisions equal", docs.len());
        all_equal &= equal == docs.len();
        total.0 += equal;
        total.1 += docs.len();
    }
    println!("quality: {}/{} decisions equal", total.0, total.1);
    assert!(all_equal);
}
