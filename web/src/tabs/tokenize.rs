//! Tokenize tab: text in, tokens out (BPE, WordPiece, Unigram).
//!
//! The text and the tokenizer choices live in the share state; every change
//! re-encodes after a short pause (debounce) in the worker, which keeps the
//! parsed and trained tokenizers cached, so typing stays instant.

use crate::components::{bind, visible, CheckField, NumberField, SelectField, TextField};
use crate::job::{Job, JobState, JobStatus};
use crate::model_picker::{hub_endpoint, ModelPicker};
use crate::state::AppState;
use crate::worker_client;
use leptos::prelude::*;
use llmlab_wasm::protocol::tokenize::{
    ReplayStep, TokenizeRequest, TokenizeResponse, TokenizerSource,
};
use llmlab_wasm::protocol::{Request, Response};
use std::time::Duration;

const TOKENIZERS: &[(&str, &str)] = &[
    ("model", "The loaded model's tokenizer"),
    ("gpt2", "GPT-2 (byte-level BPE, from the Hub)"),
    ("wordpiece", "WordPiece example (BERT-style)"),
    ("unigram", "Unigram example (T5-style)"),
    ("trained", "BPE trained here on the text"),
    ("trained-wordpiece", "WordPiece trained here on the text"),
    ("trained-unigram", "Unigram trained here on the text"),
    ("upload", "Uploaded tokenizer.json"),
];

const SECOND_TOKENIZERS: &[(&str, &str)] = &[
    ("", "None"),
    ("model", "The loaded model's tokenizer"),
    ("gpt2", "GPT-2 (byte-level BPE, from the Hub)"),
    ("wordpiece", "WordPiece example (BERT-style)"),
    ("unigram", "Unigram example (T5-style)"),
    ("trained", "BPE trained here on the text"),
    ("trained-wordpiece", "WordPiece trained here on the text"),
    ("trained-unigram", "Unigram trained here on the text"),
    ("upload", "Uploaded tokenizer.json"),
];

/// Chips drawn per tokenizer; the counts always cover the whole text.
/// Drawing tens of thousands of elements would stall the page for seconds.
const MAX_CHIPS: usize = 2000;
/// Pause after the last keystroke before re-encoding.
const DEBOUNCE: Duration = Duration::from_millis(250);
/// Largest tokenizer.json accepted from the file input.
const MAX_UPLOAD_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// An uploaded tokenizer.json.
#[derive(Clone, Debug, PartialEq)]
struct Upload {
    name: String,
    text: String,
}

/// One encoded text, ready to draw.
#[derive(Clone, Debug, PartialEq)]
struct Encoded {
    text_chars: Vec<char>,
    ids: Vec<u32>,
    tokens: Vec<String>,
    offsets: Vec<(u32, u32)>,
    special: Vec<u32>,
    vocab_size: u32,
    model: String,
    load_millis: f64,
    encode_millis: f64,
}

/// The worker-side source for a choice of the drop-downs.
fn source_for(
    choice: &str,
    text: &str,
    vocab: u32,
    upload: Option<&Upload>,
) -> Result<TokenizerSource, String> {
    let site = |file: &str| TokenizerSource::Url {
        url: format!("{}models/tokenizers/{file}", worker_client::base_url()),
        use_cache: false,
    };
    let train = |model: &str| TokenizerSource::Train {
        text: text.to_string(),
        model: model.to_string(),
        vocab_size: vocab,
    };
    Ok(match choice {
        "model" => TokenizerSource::Model,
        "gpt2" => TokenizerSource::Url {
            url: format!(
                "{}/openai-community/gpt2/resolve/main/tokenizer.json",
                hub_endpoint().trim_end_matches('/')
            ),
            use_cache: true,
        },
        "wordpiece" => site("wordpiece.json"),
        "unigram" => site("unigram.json"),
        "trained" => train("bpe"),
        "trained-wordpiece" => train("wordpiece"),
        "trained-unigram" => train("unigram"),
        "upload" => match upload {
            Some(u) => TokenizerSource::Json {
                text: u.text.clone(),
            },
            None => return Err("Choose a tokenizer.json file to upload first.".into()),
        },
        other => return Err(format!("Unknown tokenizer choice '{other}'.")),
    })
}

/// Hover/focus text of one chip.
fn describe(e: &Encoded, i: usize) -> String {
    let id = e.ids.get(i).copied().unwrap_or_default();
    let token = e.tokens.get(i).map(String::as_str).unwrap_or("");
    let (start, end) = e.offsets.get(i).copied().unwrap_or_default();
    let source: String = e
        .text_chars
        .get(start as usize..end as usize)
        .map(|s| s.iter().collect())
        .unwrap_or_default();
    let mut out = format!("id {id} · chars {start}–{end} · token {:?}", token);
    if e.special.get(i) == Some(&1) {
        out.push_str(" · special token added by the post-processor");
    } else {
        out.push_str(&format!(" · text {:?}", visible(&source)));
    }
    if token.contains('Ġ') || token.contains('Ċ') || token.contains('ĉ') {
        out.push_str(" · byte-level BPE: Ġ is a space byte, Ċ a newline, ĉ a tab");
    }
    if token.contains('▁') {
        out.push_str(" · ▁ marks a space (SentencePiece)");
    }
    out
}

/// The Tokenize tab.
#[component]
pub fn TokenizeTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tok = state.tokenize;
    let upload = RwSignal::new(None::<Upload>);
    let upload_error = RwSignal::new(None::<String>);
    // Each side's encoding is a job; a newer keystroke supersedes the older
    // job (the generation counter drops its answers).
    let slots = [Job::<Encoded>::new(), Job::<Encoded>::new()];
    let replay_word = RwSignal::new(String::from("lower"));
    let replay = Job::<Vec<ReplayStep>>::new();
    let generation = StoredValue::new(0u64);
    let replay_generation = StoredValue::new(0u64);

    // Encode both sides after a pause whenever the text or a choice changes.
    Effect::new(move |_| {
        let (text, choices, vocab, add_special_tokens) = tok.with(|s| {
            (
                s.tok_text.clone(),
                [s.tokenizer.clone(), s.tokenizer2.clone()],
                s.train_vocab,
                s.tok_special_tokens,
            )
        });
        let up = upload.get();
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        set_timeout(
            move || {
                if generation.try_get_value() != Some(mine) {
                    return;
                }
                for (slot, choice) in slots.into_iter().zip(choices) {
                    if choice.is_empty() {
                        slot.set(JobState::Idle);
                        continue;
                    }
                    let source = match source_for(&choice, &text, vocab, up.as_ref()) {
                        Ok(s) => s,
                        Err(e) => {
                            slot.set(JobState::Failed(e));
                            continue;
                        }
                    };
                    slot.set(JobState::Running {
                        id: 0,
                        fraction: 0.0,
                        message: "Tokenizing…".into(),
                    });
                    let text_chars: Vec<char> = text.chars().collect();
                    let request = TokenizeRequest::Encode {
                        source,
                        text: text.clone(),
                        add_special_tokens,
                    };
                    let mut text_chars = Some(text_chars);
                    worker_client::request(Request::Tokenize(request), move |r| {
                        if generation.try_get_value() != Some(mine) {
                            return;
                        }
                        match r {
                            Response::Progress { fraction, message } => {
                                slot.set(JobState::Running {
                                    id: 0,
                                    fraction,
                                    message,
                                })
                            }
                            Response::Tokenize(TokenizeResponse::Encoded {
                                ids,
                                tokens,
                                offsets,
                                special,
                                vocab_size,
                                model,
                                load_millis,
                                encode_millis,
                            }) => {
                                let text_chars = text_chars.take().unwrap_or_default();
                                let e = Encoded {
                                    text_chars,
                                    ids,
                                    tokens,
                                    offsets,
                                    special,
                                    vocab_size,
                                    model,
                                    load_millis,
                                    encode_millis,
                                };
                                slot.set(JobState::Done(e));
                            }
                            Response::Error { message } | Response::Panic { message } => {
                                slot.set(JobState::Failed(message))
                            }
                            Response::Cancelled => slot.set(JobState::Cancelled),
                            _ => {}
                        }
                    });
                }
            },
            DEBOUNCE,
        );
    });

    // Replay the merges of the chosen word with the first tokenizer.
    Effect::new(move |_| {
        let word = replay_word.get();
        let (text, choice, vocab) =
            tok.with(|s| (s.tok_text.clone(), s.tokenizer.clone(), s.train_vocab));
        let up = upload.get();
        replay_generation.update_value(|g| *g += 1);
        let mine = replay_generation.get_value();
        set_timeout(
            move || {
                if replay_generation.try_get_value() != Some(mine) {
                    return;
                }
                if word.trim().is_empty() {
                    replay.set(JobState::Idle);
                    return;
                }
                let source = match source_for(&choice, &text, vocab, up.as_ref()) {
                    Ok(s) => s,
                    Err(e) => {
                        replay.set(JobState::Failed(e));
                        return;
                    }
                };
                replay.set(JobState::Running {
                    id: 0,
                    fraction: 0.0,
                    message: "Replaying…".into(),
                });
                worker_client::request(
                    Request::Tokenize(TokenizeRequest::Replay { source, word }),
                    move |r| {
                        if replay_generation.try_get_value() != Some(mine) {
                            return;
                        }
                        match r {
                            Response::Progress { fraction, message } => {
                                replay.set(JobState::Running {
                                    id: 0,
                                    fraction,
                                    message,
                                })
                            }
                            Response::Tokenize(TokenizeResponse::Replay { steps }) => {
                                replay.set(JobState::Done(steps))
                            }
                            Response::Error { message } | Response::Panic { message } => {
                                replay.set(JobState::Failed(message))
                            }
                            Response::Cancelled => replay.set(JobState::Cancelled),
                            _ => {}
                        }
                    },
                );
            },
            DEBOUNCE,
        );
    });

    let on_upload = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        upload_error.set(None);
        if file.size() > MAX_UPLOAD_BYTES {
            upload_error.set(Some(format!(
                "{} is {:.0} MB; the limit here is 64 MB.",
                file.name(),
                file.size() / 1e6
            )));
            return;
        }
        let name = file.name();
        wasm_bindgen_futures::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|v| v.as_string())
            {
                Some(text) => {
                    upload.set(Some(Upload { name, text }));
                    tok.update(|s| s.tokenizer = "upload".into());
                }
                None => upload_error.set(Some(format!("{name} could not be read as text."))),
            }
        });
    };

    let uses_model = move || tok.with(|s| s.tokenizer == "model" || s.tokenizer2 == "model");
    view! {
        <section data-testid="panel-tok" aria-labelledby="tab-tok" class="tok">
            <h2>"Tokenize"</h2>
            <TextField label="Text" testid="tok-text" rows=6 placeholder="Type or paste text to tokenize"
                bind=bind(tok, |s| s.tok_text.clone(), |s, v| s.tok_text = v)/>
            <div class="row">
                <SelectField label="Tokenizer" testid="tok-tokenizer" options=TOKENIZERS
                    bind=bind(tok, |s| s.tokenizer.clone(), |s, v| s.tokenizer = v)/>
                <SelectField label="Compare with" testid="tok-tokenizer2" options=SECOND_TOKENIZERS
                    bind=bind(tok, |s| s.tokenizer2.clone(), |s, v| s.tokenizer2 = v)/>
                <NumberField label="Vocabulary size (trained here)" testid="tok-vocab" min=30.0 max=8000.0 step=10.0
                    bind=bind(tok, |s| f64::from(s.train_vocab), |s, v| s.train_vocab = v as u32)/>
                <CheckField label=" Add special tokens" testid="tok-special" class="tok-check"
                    title="Like HF's encode(add_special_tokens=True): the post-processor adds e.g. BERT's [CLS] and [SEP]"
                    bind=bind(tok, |s| s.tok_special_tokens, |s, v| s.tok_special_tokens = v)/>
                <label class="field">
                    <span class="label">"Upload a tokenizer.json"</span>
                    <input type="file" accept=".json,application/json" data-testid="tok-upload" on:change=on_upload/>
                </label>
            </div>
            {move || upload.get().map(|u| view! { <p class="hint" data-testid="tok-upload-name">{format!("Uploaded: {} ({} bytes)", u.name, u.text.len())}</p> })}
            {move || upload_error.get().map(|e| view! { <p class="error" role="alert" data-testid="tok-upload-error">{e}</p> })}
            {move || uses_model().then(|| view! { <ModelPicker/> })}
            <p class="hint">"Hover or focus a token (Tab key) to see its id and character offsets. ␣ is a space, ↵ a newline, ⇥ a tab."</p>
            <div class="tok-sides" class:tok-two=move || tok.with(|s| !s.tokenizer2.is_empty())>
                <TokenPanel side=slots[0] index=1 label=Signal::derive(move || tok.with(|s| s.tokenizer.clone()))/>
                {move || tok.with(|s| !s.tokenizer2.is_empty()).then(|| view! {
                    <TokenPanel side=slots[1] index=2 label=Signal::derive(move || tok.with(|s| s.tokenizer2.clone()))/>
                })}
            </div>
            <h3>"BPE merge replay"</h3>
            <p class="hint">"One word through the first tokenizer's merges, lowest rank first (the tokenizer must be BPE: GPT-2 or BPE trained here)."</p>
            <label class="field">
                <span class="label">"Word"</span>
                <input data-testid="tok-replay-word" prop:value=move || replay_word.get()
                    on:input=move |ev| replay_word.set(event_target_value(&ev))/>
            </label>
            <JobStatus job=replay error_testid="tok-replay-error"/>
            {move || replay.with(|s| match s {
                JobState::Running { message, .. } => Some(view! { <p class="hint">{message.clone()}</p> }),
                _ => None,
            })}
            <ol class="tok-replay" data-testid="tok-replay">
                {move || replay.result().unwrap_or_default().into_iter().enumerate().map(|(i, step)| view! {
                    <li data-testid="tok-replay-step">
                        <span class="tok-rank">{format!("step {} · rank {}", i + 1, step.rank)}</span>
                        " "
                        <span class="tok-pair">{format!("{} + {} → {}{}", visible(&step.left), visible(&step.right), visible(&step.left), visible(&step.right))}</span>
                        " "
                        <span class="tok-symbols">
                            {step.symbols.iter().map(|s| view! { <span class="tok-chip tok-c0">{visible(s)}</span> }).collect_view()}
                        </span>
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}

/// One side of the view: counts and chips of one tokenizer.
#[component]
fn TokenPanel(side: Job<Encoded>, index: u32, label: Signal<String>) -> impl IntoView {
    let focused = RwSignal::new(String::new());
    // The last encoding stays on screen while the next one runs (typing
    // does not blank the chips); an error or a cleared choice removes it.
    let shown = Memo::new(move |prev: Option<&Option<Encoded>>| {
        side.with(|s| match s {
            JobState::Done(e) => Some(e.clone()),
            JobState::Running { .. } | JobState::Cancelled => prev.cloned().flatten(),
            JobState::Idle | JobState::Failed(_) => None,
        })
    });
    let testid = format!("tok-result-{index}");
    view! {
        <div class="tok-panel" data-testid=testid>
            <h3>{move || {
                let choice = label.get();
                let name = SECOND_TOKENIZERS.iter().find(|(v, _)| *v == choice).map_or(choice.clone(), |(_, t)| t.to_string());
                name
            }}</h3>
            <JobStatus job=side bar=true error_testid="tok-error"/>
            {move || shown.get().map(|e| {
                let chars = e.text_chars.len();
                let n = e.ids.len();
                let per = if n == 0 { "—".to_string() } else { format!("{:.2}", chars as f64 / n as f64) };
                let shown = n.min(MAX_CHIPS);
                let chips = (0..shown).map(|i| {
                    let info = describe(&e, i);
                    let token = e.tokens.get(i).cloned().unwrap_or_default();
                    let special = e.special.get(i) == Some(&1);
                    let class = format!("tok-chip tok-c{}{}", i % 6, if special { " tok-special" } else { "" });
                    let on_focus = info.clone();
                    view! {
                        <span class=class tabindex="0" title=info data-testid="tok-chip"
                            on:focus=move |_| focused.set(on_focus.clone())>{visible(&token)}</span>
                    }
                }).collect_view();
                view! {
                    <p class="tok-counts">
                        <span>"Tokens: "<b data-testid="tok-count-tokens">{n.to_string()}</b></span>
                        <span>"Characters: "<b data-testid="tok-count-chars">{chars.to_string()}</b></span>
                        <span>"Characters per token: "<b data-testid="tok-cpt">{per}</b></span>
                        <span>{format!("{} · vocabulary {} · encoded in {:.0} ms{}", e.model, e.vocab_size, e.encode_millis,
                            if e.load_millis > 0.0 { format!(" (loaded in {:.0} ms)", e.load_millis) } else { String::new() })}</span>
                    </p>
                    {(n > shown).then(|| view! { <p class="hint" data-testid="tok-truncated">{format!("Showing the first {shown} of {n} tokens.")}</p> })}
                    <div class="tok-chips" data-testid="tok-chips">{chips}</div>
                }
            })}
            <p class="tok-focus" aria-live="polite" data-testid="tok-focus">{move || focused.get()}</p>
        </div>
    }
}
