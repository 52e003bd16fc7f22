//! Tokenize tab: text in, tokens out (BPE, WordPiece, Unigram).

use crate::components::{NotLanded, NumberField, SelectField, TextField};
use leptos::prelude::*;

const TOKENIZERS: &[(&str, &str)] = &[
    ("model", "The loaded model's tokenizer"),
    ("gpt2", "GPT-2 (byte-level BPE)"),
    ("wordpiece", "WordPiece example (BERT-style)"),
    ("unigram", "Unigram example (T5-style)"),
    ("trained", "Trained here on the text"),
];

/// The Tokenize tab.
#[component]
pub fn TokenizeTab() -> impl IntoView {
    view! {
        <section data-testid="panel-tok" aria-labelledby="tab-tok">
            <h2>"Tokenize"</h2>
            <NotLanded what="The tokenizers" issue=3/>
            <TextField label="Text" testid="tok-text" rows=6 placeholder="Type or paste text to tokenize"
                get=|s| s.tok_text.clone() set=|s, v| s.tok_text = v/>
            <div class="row">
                <SelectField label="Tokenizer" testid="tok-tokenizer" options=TOKENIZERS
                    get=|s| s.tokenizer.clone() set=|s, v| s.tokenizer = v/>
                <NumberField label="Vocabulary size (trained here)" testid="tok-vocab" min=30.0 max=8000.0 step=10.0
                    get=|s| f64::from(s.train_vocab) set=|s, v| s.train_vocab = v as u32/>
            </div>
        </section>
    }
}
