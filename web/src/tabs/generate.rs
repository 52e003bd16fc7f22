//! Generate tab: decoding strategies, step by step.
//!
//! The worker streams one message per generated token (or beam step); the
//! tab colors each token by its probability, shows the candidates of any
//! step as bars with the top-k / nucleus cut-offs, and draws beam search as
//! a table per step (parent beam, token, cumulative log-probability, fate).
//!
//! "Use the model's generation_config.json" (model defaults) sends only the
//! controls moved away from their defaults, so an untouched tab decodes as
//! `model.generate(input_ids)` with no arguments, like `llmlab generate`
//! without flags; the core decides which settings that leaves unset. After
//! each run the tab lists every setting the worker used and its source.

use crate::components::{bind, visible, CheckField, NumberField, SelectField, TextField};
use crate::job::{Answer, Job, JobState, JobStatus};
use crate::model_picker::{ModelPicker, ModelState};
use crate::state::AppState;
use leptos::prelude::*;
use llmlab_core::decoding::limits::MAX_ROWS;
use llmlab_core::decoding::settings::{ResolvedSetting, UserSettings};
use llmlab_core::share::{EarlyStopping, GenerateSettings, LinkName, Strategy};
use llmlab_wasm::protocol::generate::{
    BeamView, GenerateRequest, GenerateResponse, RowView, SequenceView, StepView,
};
use llmlab_wasm::protocol::{Request, Response};

const STRATEGIES: &[(&str, &str)] = &[
    ("greedy", "Greedy"),
    ("beam", "Beam search"),
    ("sample", "Sampling"),
];
const EARLY_STOPPING: &[(&str, &str)] = &[
    ("false", "false (heuristic)"),
    ("true", "true"),
    ("never", "never"),
];

/// Curriculum prompt templates: (button label, test id, prompt).
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "Dialogue",
        "dialogue",
        "System: You are a helpful, concise assistant.\nUser: What is a language model?\nAssistant:",
    ),
    ("Writing", "writing", "Write a short story about a lighthouse keeper who finds a message in a bottle.\n\nOnce upon a time"),
    ("Code", "code", "# Python: return the n-th Fibonacci number\ndef fibonacci(n):\n"),
    (
        "Sentiment",
        "sentiment",
        "Classify the sentiment as positive or negative.\nReview: The food was cold and the service slow.\nSentiment: negative\nReview: A wonderful film, I loved every minute.\nSentiment:",
    ),
    (
        "Intent",
        "intent",
        "Classify the intent (book_flight, weather, play_music).\nText: Will it rain in Paris tomorrow?\nIntent: weather\nText: Put on some jazz please.\nIntent:",
    ),
    (
        "Named entities",
        "ner",
        "Extract the named entities (PERSON, ORG, LOC).\nText: Ada Lovelace worked with Charles Babbage in London.\nEntities: Ada Lovelace (PERSON), Charles Babbage (PERSON), London (LOC)\nText: Satya Nadella leads Microsoft from Redmond.\nEntities:",
    ),
    (
        "Relations",
        "relations",
        "Extract (subject, relation, object) triples.\nText: Marie Curie was born in Warsaw.\nTriples: (Marie Curie, born_in, Warsaw)\nText: Guido van Rossum created Python.\nTriples:",
    ),
];

/// The final message of a run.
#[derive(Clone, Debug, PartialEq)]
struct FinishedView {
    sequences: Vec<SequenceView>,
    prompt_len: usize,
    tokens_per_second: f64,
    forward_calls: usize,
    kv_cache: bool,
    cancelled: bool,
}

/// The tab's settings as the worker wants them (the core converts the
/// share state, so a link decodes the same way in the CLI).
fn settings(s: &GenerateSettings, seed: u64) -> llmlab_wasm::protocol::generate::GenerateSettings {
    llmlab_wasm::protocol::generate::GenerateSettings { decoding: UserSettings::from_share_link(s, seed), kv_cache: s.kv_cache }
}

/// Follow the loaded model with the model-defaults switch: on a page opened
/// without a link, every model load turns it on when the model has a
/// `generation_config.json` and off when it has none (so the embedded default
/// model keeps the tab's explicit settings). A page opened from a link keeps
/// the link's switch (off in links older than the switch).
pub fn follow_model_defaults(state: AppState, model: RwSignal<ModelState>, opened_from_link: bool) {
    if opened_from_link {
        return;
    }
    Effect::new(move |_| {
        if let JobState::Done(summary) = model.get() {
            let on = summary.has_generation_config;
            if state.generate.with_untracked(|s| s.model_defaults != on) {
                state.generate.update(|s| s.model_defaults = on);
            }
        }
    });
}

/// Background color of a token of probability `p`: red (unlikely) to green (likely).
fn prob_color(p: f32) -> String {
    format!("hsl({:.0}, 75%, 82%)", p.clamp(0.0, 1.0) * 120.0)
}

/// The Generate tab.
#[component]
pub fn GenerateTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let gen = state.generate;
    let model = expect_context::<RwSignal<ModelState>>();
    let job = Job::<FinishedView>::new();
    let prompt_tokens = RwSignal::new(Vec::<String>::new());
    let note = RwSignal::new(None::<String>);
    let mode = RwSignal::new(String::new());
    let num_beams = RwSignal::new(1usize);
    let resolved = RwSignal::new(Vec::<ResolvedSetting>::new());
    let steps = RwSignal::new(Vec::<StepView>::new());
    let finished = Memo::new(move |_| job.result());
    let selected = RwSignal::new(None::<(usize, usize)>);
    // Last tokens/s with the KV cache [off, on], for the comparison note.
    let speeds = RwSignal::new([None::<f64>; 2]);
    // Finished runs so far (lets tests and screen readers tell runs apart).
    let runs = RwSignal::new(0u32);
    let loaded = move || matches!(model.get(), JobState::Done(_));
    let has_tokenizer = move || matches!(model.get(), JobState::Done(s) if s.has_tokenizer);

    let generate = move || {
        if job.is_running_untracked() || !matches!(model.get_untracked(), JobState::Done(_)) {
            return;
        }
        let seed = state.seed.get_untracked();
        let (prompt, settings) = gen.with_untracked(|s| (s.prompt.clone(), settings(s, seed)));
        steps.set(Vec::new());
        note.set(None);
        selected.set(None);
        prompt_tokens.set(Vec::new());
        resolved.set(Vec::new());
        let request = Request::Generate(GenerateRequest::Run { prompt, settings });
        job.start(request, "Generating…", move |r| match r {
            Response::Generate(GenerateResponse::Started {
                prompt_tokens: p,
                note: n,
                strategy,
                num_beams: b,
                resolved: r,
            }) => {
                prompt_tokens.set(p);
                resolved.set(r);
                note.set(n);
                mode.set(strategy);
                num_beams.set(b);
                Answer::Continue
            }
            Response::Generate(GenerateResponse::Step { step }) => {
                steps.update(|s| s.push(step));
                Answer::Continue
            }
            Response::Generate(GenerateResponse::Finished {
                sequences,
                prompt_len,
                tokens_per_second,
                forward_calls,
                kv_cache,
                cancelled,
            }) => {
                runs.update(|n| *n += 1);
                if !cancelled {
                    speeds.update(|s| s[usize::from(kv_cache)] = Some(tokens_per_second));
                }
                Answer::Done(FinishedView {
                    sequences,
                    prompt_len,
                    tokens_per_second,
                    forward_calls,
                    kv_cache,
                    cancelled,
                })
            }
            _ => Answer::Continue,
        });
    };
    let on_prompt_key = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" && (ev.ctrl_key() || ev.meta_key()) {
            ev.prevent_default();
            generate();
        }
    };

    view! {
        <section class="gen" data-testid="panel-gen" aria-labelledby="tab-gen">
            <h2>"Generate"</h2>
            <ModelPicker/>
            <div class="gen-templates" role="group" aria-label="Prompt templates">
                <span>"Templates: "</span>
                {TEMPLATES.iter().map(|&(label, id, text)| view! {
                    <button data-testid=format!("template-{id}") on:click=move |_| gen.update(|s| s.prompt = text.to_string())>{label}</button>
                }).collect_view()}
            </div>
            <div on:keydown=on_prompt_key>
                <TextField label="Prompt (Ctrl+Enter generates)" testid="prompt" rows=5 placeholder="Once upon a time"
                    bind=bind(gen, |s| s.prompt.clone(), |s, v| s.prompt = v)/>
            </div>
            {move || (loaded() && !has_tokenizer()).then(|| view! {
                <p class="hint" data-testid="ids-hint">"This model has no tokenizer: type the prompt as token ids, e.g. 464, 3290, 318."</p>
            })}
            <div class="row">
                <SelectField label="Strategy" testid="strategy" options=STRATEGIES
                    bind=bind(gen, |s| s.strategy.key().to_string(), |s, v| s.strategy = Strategy::from_key(&v).unwrap_or(Strategy::Greedy))/>
                <NumberField label="Max new tokens" testid="max-new-tokens" min=1.0 max=1024.0 step=1.0
                    bind=bind(gen, |s| f64::from(s.max_new_tokens), |s, v| s.max_new_tokens = v as u32)/>
                <NumberField label="Min new tokens" testid="min-new-tokens" min=0.0 max=1024.0 step=1.0
                    bind=bind(gen, |s| f64::from(s.min_new_tokens), |s, v| s.min_new_tokens = v as u32)/>
                <NumberField label="Seed" testid="seed" min=0.0 max=9007199254740991.0 step=1.0
                    bind=bind(state.seed, |s| *s as f64, |s, v| *s = v as u64)/>
                <CheckField label=" KV cache" testid="kv" bind=bind(gen, |s| s.kv_cache, |s, v| s.kv_cache = v)/>
            </div>
            <div class="row">
                <CheckField label=" Use the model's generation_config.json" testid="model-defaults"
                    title="Model defaults: the controls you leave at their defaults are not sent"
                    bind=bind(gen, |s| s.model_defaults, |s, v| s.model_defaults = v)/>
                <span class="hint" data-testid="model-defaults-hint">{move || if gen.with(|s| s.model_defaults) {
                    "On: controls left at their defaults are not sent, so the model's generation_config.json \
                     (then transformers' defaults) decides them, as model.generate(input_ids) with no arguments. \
                     To force a value equal to a control's default, turn this off."
                } else {
                    "Off: every control below is sent as shown and overrides the model's generation_config.json."
                }}</span>
            </div>
            <fieldset class="row">
                <legend>"Beam search"</legend>
                <NumberField label="Beams" testid="num-beams" min=1.0 max={MAX_ROWS as f64} step=1.0
                    bind=bind(gen, |s| f64::from(s.num_beams), |s, v| s.num_beams = v as u32)/>
                <NumberField label="Length penalty" testid="length-penalty" min=-5.0 max=5.0 step=0.1
                    bind=bind(gen, |s| s.length_penalty, |s, v| s.length_penalty = v)/>
                <SelectField label="Early stopping" testid="early-stopping" options=EARLY_STOPPING
                    bind=bind(gen, |s| s.early_stopping.key().to_string(), |s, v| s.early_stopping = EarlyStopping::from_key(&v).unwrap_or(EarlyStopping::False))/>
                <NumberField label="Return sequences" testid="num-return" min=1.0 max={MAX_ROWS as f64} step=1.0
                    bind=bind(gen, |s| f64::from(s.num_return_sequences), |s, v| s.num_return_sequences = v as u32)/>
                <NumberField label="No-repeat n-gram" testid="no-repeat-ngram" min=0.0 max=10.0 step=1.0
                    bind=bind(gen, |s| f64::from(s.no_repeat_ngram), |s, v| s.no_repeat_ngram = v as u32)/>
            </fieldset>
            <fieldset class="row">
                <legend>"Sampling"</legend>
                <NumberField label="Temperature" testid="temperature" min=0.0 max=5.0 step=0.05
                    bind=bind(gen, |s| s.temperature, |s, v| s.temperature = v)/>
                <NumberField label="Top-k (0 = off)" testid="top-k" min=0.0 max=1000.0 step=1.0
                    bind=bind(gen, |s| f64::from(s.top_k), |s, v| s.top_k = v as u32)/>
                <NumberField label="Top-p (1 = off)" testid="top-p" min=0.0 max=1.0 step=0.01
                    bind=bind(gen, |s| s.top_p, |s, v| s.top_p = v)/>
                <NumberField label="Min-p (0 = off)" testid="min-p" min=0.0 max=1.0 step=0.01
                    bind=bind(gen, |s| s.min_p, |s, v| s.min_p = v)/>
                <NumberField label="Typical-p (1 = off)" testid="typical-p" min=0.0 max=1.0 step=0.01
                    bind=bind(gen, |s| s.typical_p, |s, v| s.typical_p = v)/>
                <NumberField label="Repetition penalty" testid="repetition-penalty" min=0.5 max=3.0 step=0.05
                    bind=bind(gen, |s| s.repetition_penalty, |s, v| s.repetition_penalty = v)/>
            </fieldset>
            <div class="row">
                <button class="primary" data-testid="generate"
                    disabled=move || job.is_running() || !loaded()
                    on:click=move |_| generate()>"Generate"</button>
                <button data-testid="stop" disabled=move || !job.is_running() on:click=move |_| job.cancel()>"Stop"</button>
                {move || (!loaded()).then(|| view! { <span class="hint">"Load a model first."</span> })}
            </div>
            <JobStatus job error_testid="gen-error"/>
            {move || note.get().map(|n| view! { <p class="warning" role="status" data-testid="gen-note">{n}</p> })}
            <Speed job finished speeds steps runs/>
            <Resolved resolved/>
            {move || if mode.get() == "beam" {
                view! { <BeamTree steps num_beams finished/> }.into_any()
            } else {
                view! { <TokenOutput prompt_tokens steps selected finished/> }.into_any()
            }}
        </section>
    }
}

/// The settings the worker decoded with, and who set each one.
#[component]
fn Resolved(resolved: RwSignal<Vec<ResolvedSetting>>) -> impl IntoView {
    move || {
        (!resolved.with(Vec::is_empty)).then(|| {
            view! {
                <details class="gen-resolved" data-testid="resolved-settings">
                    <summary>"Settings used (and where each came from)"</summary>
                    <table>
                        <thead><tr><th>"Setting"</th><th>"Value"</th><th>"From"</th></tr></thead>
                        <tbody>
                            {resolved.get().into_iter().map(|r| view! {
                                <tr data-testid=format!("resolved-{}", r.name)>
                                    <td><code>{r.name.clone()}</code></td>
                                    <td class="num" data-testid="resolved-value">{r.value.clone()}</td>
                                    <td data-testid="resolved-source">{r.source.label()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </details>
            }
        })
    }
}

/// Tokens/s (live while running) and the KV-cache comparison.
#[component]
fn Speed(
    job: Job<FinishedView>,
    finished: Memo<Option<FinishedView>>,
    speeds: RwSignal<[Option<f64>; 2]>,
    steps: RwSignal<Vec<StepView>>,
    runs: RwSignal<u32>,
) -> impl IntoView {
    move || {
        if job.is_running() {
            return view! { <p class="gen-speed" data-testid="gen-status">{format!("Generating… {} steps", steps.with(Vec::len))}</p> }.into_any();
        }
        let Some(f) = finished.get() else {
            return ().into_any();
        };
        let [off, on] = speeds.get();
        let comparison = match (on, off) {
            (Some(on), Some(off)) if off > 0.0 => format!(
                " KV cache on: {on:.1} tokens/s, off: {off:.1} tokens/s ({:.1}× with the cache: without it every step re-reads the whole sequence).",
                on / off
            ),
            _ => " Toggle the KV cache and generate again to compare speeds.".to_string(),
        };
        view! {
            <p class="gen-speed" data-testid="gen-speed" data-run=runs.get().to_string() data-ids=sequence_ids(&f) aria-live="polite">
                {format!(
                    "{}{:.1} tokens/s, {} forward calls, KV cache {}.{}",
                    if f.cancelled { "Stopped. " } else { "" },
                    f.tokens_per_second,
                    f.forward_calls,
                    if f.kv_cache { "on" } else { "off" },
                    comparison
                )}
            </p>
        }
        .into_any()
    }
}

/// Every returned sequence's full ids (`16,62,89`), sequences separated by
/// `;`: the exact output, for tests and for comparing with the CLI.
fn sequence_ids(f: &FinishedView) -> String {
    let row = |s: &SequenceView| s.ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    f.sequences.iter().map(row).collect::<Vec<_>>().join(";")
}

/// Greedy / sampling output: the colored tokens of each row and, for the
/// selected token, the candidate bars.
#[component]
fn TokenOutput(
    prompt_tokens: RwSignal<Vec<String>>,
    steps: RwSignal<Vec<StepView>>,
    selected: RwSignal<Option<(usize, usize)>>,
    finished: Memo<Option<FinishedView>>,
) -> impl IntoView {
    let rows = move || {
        steps.with(|all| {
            let n = all.iter().find_map(|s| match s {
                StepView::Tokens { rows, .. } => Some(rows.len()),
                StepView::Beams { .. } => None,
            });
            n.unwrap_or(0)
        })
    };
    let lines = move || {
        (0..rows())
            .map(|row| {
                let tokens: Vec<(usize, RowView)> = steps.with(|all| {
                    all.iter()
                        .filter_map(|s| match s {
                            StepView::Tokens { step, rows } => rows.get(row).filter(|r| !r.padding).map(|r| (*step, r.clone())),
                            StepView::Beams { .. } => None,
                        })
                        .collect()
                });
                view! {
                    <p class="gen-output" data-testid="gen-output">
                        <span class="gen-prompt">{prompt_tokens.get().concat()}</span>
                        {tokens.into_iter().map(|(step, r)| {
                            let is_selected = move || selected.get() == Some((step, row));
                            view! {
                                <button class="gen-token" data-testid="gen-token"
                                    class:selected=is_selected
                                    aria-pressed=move || if is_selected() { "true" } else { "false" }
                                    title=format!("step {step}: p = {:.3}", r.chosen.prob)
                                    style:background=prob_color(r.chosen.prob)
                                    on:click=move |_| selected.set(Some((step, row)))>{visible(&r.chosen.text)}</button>
                            }
                        }).collect_view()}
                    </p>
                }
            })
            .collect_view()
    };
    let bars = move || {
        let (step, row) = selected.get()?;
        let r = steps.with(|all| {
            all.iter().find_map(|s| match s {
                StepView::Tokens { step: s, rows } if *s == step => rows.get(row).cloned(),
                _ => None,
            })
        })?;
        Some(view! { <CandidateBars step seq=row row=r/> })
    };
    view! {
        {move || (!steps.with(Vec::is_empty)).then(|| view! {
            <div class="gen-legend" data-testid="prob-legend">
                <span>"Token probability: "</span>
                {[0.0f32, 0.25, 0.5, 0.75, 1.0].into_iter().map(|p| view! {
                    <span class="gen-swatch" style:background=prob_color(p)>{format!("{p:.2}")}</span>
                }).collect_view()}
                <span class="hint">" Click a token (or Tab to it and press Enter) to see that step's candidates."</span>
            </div>
        })}
        {lines}
        {bars}
        {move || finished.get().filter(|f| f.sequences.len() > 1).map(|f| view! { <Sequences finished=f/> })}
    }
}

/// One step's best candidates as horizontal bars, with the cut-offs.
#[component]
fn CandidateBars(step: usize, seq: usize, row: RowView) -> impl IntoView {
    let shown = row.candidates.len();
    let max = row.candidates.first().map_or(1.0, |c| c.prob).max(1e-9);
    let cut = |kept: Option<usize>, name: &'static str, testid: &'static str| {
        kept.map(|k| {
            let text = if k < shown {
                format!("{name} cut-off: {k} tokens kept above this line")
            } else {
                format!("{name} keeps {k} tokens (cut below the {shown} shown)")
            };
            (k, text, testid)
        })
    };
    let cuts: Vec<(usize, String, &'static str)> = [
        cut(row.kept_after_top_k, "top-k", "cut-top-k"),
        cut(row.kept_after_top_p, "nucleus (top-p)", "cut-top-p"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let below: Vec<(usize, String, &'static str)> =
        cuts.iter().filter(|c| c.0 >= shown).cloned().collect();
    view! {
        <div class="gen-bars" data-testid="prob-bars">
            <h3>{format!("Step {step}{}: top candidates", if seq > 0 { format!(" (sequence {})", seq + 1) } else { String::new() })}</h3>
            <p class="caption">{format!("Probabilities after every processor; {} tokens survive the filters.", row.kept)}</p>
            {row.candidates.iter().enumerate().map(|(i, c)| {
                let chosen = c.id == row.chosen.id;
                let lines: Vec<(String, &'static str)> = cuts.iter().filter(|x| x.0 == i && i > 0).map(|x| (x.1.clone(), x.2)).collect();
                view! {
                    {lines.into_iter().map(|(t, id)| view! { <div class="gen-cut" data-testid=id>{t}</div> }).collect_view()}
                    <div class="gen-bar-row" class:chosen=chosen data-testid=if chosen { "chosen-bar" } else { "cand-bar" }>
                        <span class="gen-bar-label">{visible(&c.text)}</span>
                        <span class="gen-bar-track"><span class="gen-bar" style:width=format!("{:.1}%", c.prob / max * 100.0)></span></span>
                        <span class="num">{format!("{:.4}", c.prob)}</span>
                        <span class="gen-chosen-mark">{if chosen { "◀ chosen" } else { "" }}</span>
                    </div>
                }
            }).collect_view()}
            {below.into_iter().map(|(_, t, id)| view! { <div class="gen-cut" data-testid=id>{t}</div> }).collect_view()}
        </div>
    }
}

/// The returned sequences (several for beams / multiple samples).
#[component]
fn Sequences(finished: FinishedView) -> impl IntoView {
    view! {
        <ol class="gen-sequences" data-testid="gen-sequences">
            {finished.sequences.iter().enumerate().map(|(i, s)| view! {
                <li class:winner=i == 0 data-testid="gen-sequence">
                    <span class="gen-seq-text">{s.text.clone()}</span>
                    <span class="num">{format!(" score {:.4}", s.score)}</span>
                </li>
            }).collect_view()}
        </ol>
    }
}

/// One drawn candidate of the beam tree.
#[derive(Clone)]
struct BeamRow {
    candidate: BeamView,
    prefix: String,
    ids: Vec<u32>,
}

/// Beam search as a table per step: each candidate extends a running beam
/// (its tokens so far), with its cumulative log-probability and its fate.
#[component]
fn BeamTree(
    steps: RwSignal<Vec<StepView>>,
    num_beams: RwSignal<usize>,
    finished: Memo<Option<FinishedView>>,
) -> impl IntoView {
    move || {
        let beams_count = num_beams.get().max(1);
        // Running beams' texts and ids, rebuilt from the candidates' fates.
        let mut beams: Vec<(String, Vec<u32>)> = vec![(String::new(), Vec::new()); beams_count];
        let mut tables = Vec::new();
        let winner: Option<Vec<i64>> = finished.with(|f| {
            f.as_ref().and_then(|f| {
                f.sequences
                    .first()
                    .map(|s| s.ids.iter().skip(f.prompt_len).copied().collect())
            })
        });
        let total = steps.with(Vec::len);
        steps.with(|all| {
            for (index, s) in all.iter().enumerate() {
                let StepView::Beams { step, candidates } = s else {
                    continue;
                };
                let mut next = beams.clone();
                let rows: Vec<BeamRow> = candidates
                    .iter()
                    .map(|c| {
                        let (prefix, mut ids) = beams.get(c.parent).cloned().unwrap_or_default();
                        ids.push(c.token);
                        if let Some(i) = c.next_beam {
                            if let Some(slot) = next.get_mut(i) {
                                *slot = (format!("{prefix}{}", c.text), ids.clone());
                            }
                        }
                        BeamRow {
                            candidate: c.clone(),
                            prefix,
                            ids,
                        }
                    })
                    .collect();
                beams = next;
                tables.push((*step, index + 1 == total, rows));
            }
        });
        let is_winner = |ids: &[u32]| {
            winner.as_ref().is_some_and(|w| {
                let w: Vec<i64> = w.clone();
                ids.len() <= w.len()
                    && ids.iter().zip(&w).all(|(&a, &b)| i64::from(a) == b)
                    && w[ids.len()..]
                        .iter()
                        .all(|&x| Some(&x) == w.last() || x < 0)
            })
        };
        view! {
            <div class="gen-beams" data-testid="beam-tree">
                {(!tables.is_empty()).then(|| view! {
                    <p class="caption">"Each step: the best candidates, each extending a running beam. Greyed: pruned. Gold: finished hypotheses; the winner is outlined."</p>
                })}
                {tables.into_iter().map(|(step, last, rows)| view! {
                    <table class="gen-beam-step" data-testid="beam-step">
                        <caption>{format!("Step {step}")}</caption>
                        <thead><tr><th>"Beam"</th><th>"Tokens so far"</th><th>"+ token"</th><th>"cum. log-prob"</th><th>"Fate"</th></tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| {
                                let c = &r.candidate;
                                let winner = (c.fate == "finished" || (last && c.fate == "running")) && is_winner(&r.ids);
                                let fate = match (c.fate.as_str(), c.next_beam) {
                                    ("running", Some(i)) => format!("→ beam {i}"),
                                    ("finished", _) => "finished".to_string(),
                                    ("rejected", _) => "finished, not kept".to_string(),
                                    _ => "pruned".to_string(),
                                };
                                view! {
                                    <tr class=format!("fate-{}", c.fate) class:winner=winner
                                        data-testid=if winner { "beam-winner".to_string() } else { format!("beam-{}", c.fate) }>
                                        <td class="num">{c.parent.to_string()}</td>
                                        <td>{visible(&r.prefix)}</td>
                                        <td><b>{visible(&c.text)}</b></td>
                                        <td class="num">{format!("{:.3}", c.cumulative_logprob)}</td>
                                        <td>{fate}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }).collect_view()}
            </div>
            {finished.get().map(|f| view! { <h3>"Returned hypotheses (best first)"</h3><Sequences finished=f/> })}
        }
    }
}
