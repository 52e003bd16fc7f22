//! Evaluate tab: BLEU, chrF, ROUGE, perplexity and human evaluation.
//!
//! Scoring runs in the worker with the same core scorers as `llmlab score`,
//! so the numbers here are sacrebleu's and rouge-score's. Every setting is
//! part of the share state; the corpus texts are also kept in
//! `localStorage`.

mod human;

use human::HumanEval;

use crate::components::{bind, visible, NumberField, SelectField, TextField};
use crate::job::{Answer, Job, JobState, JobStatus};
use crate::model_picker::{ModelPicker, ModelState};
use crate::state::AppState;
use crate::worker_client;
use leptos::prelude::*;
use llmlab_core::share::EvaluateSettings;
use llmlab_wasm::protocol::evaluate::{
    BleuView, EvaluateRequest, EvaluateResponse, Piece, RougeView, ScoreSettings, SurpriseToken,
};
use llmlab_wasm::protocol::{Request, Response};

/// Largest uploaded corpus file.
const MAX_UPLOAD_BYTES: f64 = 64.0 * 1024.0 * 1024.0;
/// Per-line ROUGE rows listed under the table.
const LISTED_LINES: usize = 50;

const TOKENIZERS: &[(&str, &str)] = &[
    ("13a", "13a (default)"),
    ("intl", "intl"),
    ("none", "none"),
    ("char", "char"),
    ("zh", "zh"),
];
const SMOOTHING: &[(&str, &str)] = &[
    ("exp", "exp (default)"),
    ("floor", "floor"),
    ("add-k", "add-k"),
    ("none", "none"),
];

/// The reference sets of the references text: a line holding only `---`
/// starts the next set.
pub fn reference_sets(text: &str) -> Vec<String> {
    let mut sets = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.split('\n') {
        if line.trim_end_matches('\r') == "---" {
            sets.push(current.join("\n"));
            current.clear();
        } else {
            current.push(line);
        }
    }
    sets.push(current.join("\n"));
    sets
}

/// Line `i` of a text as the scorer splits it.
fn segment(text: &str, i: usize) -> Option<String> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.split('\n').nth(i).map(String::from)
}

fn score_settings(s: &EvaluateSettings) -> ScoreSettings {
    ScoreSettings {
        tokenize: s.bleu_tokenize.clone(),
        smooth_method: s.bleu_smooth.clone(),
        smooth_value: s.bleu_smooth_value,
        lowercase: s.metric_lowercase,
        rouge_types: s
            .rouge_types
            .split(',')
            .map(|t| t.trim().to_string())
            .collect(),
        stem: s.rouge_stem,
    }
}

/// A finished scoring run.
#[derive(Clone, Debug, PartialEq)]
struct Scores {
    lines: usize,
    reference_sets: usize,
    bleu: BleuView,
    chrf: f64,
    chrf_plus_plus: f64,
    rouge_types: Vec<String>,
    rouge_mean: Vec<RougeView>,
    rouge_per_line: Vec<Vec<RougeView>>,
    millis: f64,
}

/// A finished perplexity run.
#[derive(Clone, Debug, PartialEq)]
struct PerplexityView {
    ppl: f64,
    nll: f64,
    tokens: usize,
    bits_per_char: f64,
    surprise: Vec<SurpriseToken>,
    windows: usize,
    max_length: usize,
    stride: usize,
    millis: f64,
}

/// Reads a chosen file as text into `on_text(name, text)`.
fn read_file(
    ev: &leptos::ev::Event,
    error: RwSignal<Option<String>>,
    on_text: impl Fn(String, String) + 'static,
) {
    let input: web_sys::HtmlInputElement = event_target(ev);
    let files = input.files();
    let count = files.as_ref().map_or(0, |f| f.length());
    let mut chosen = Vec::new();
    for k in 0..count {
        if let Some(file) = files.as_ref().and_then(|f| f.get(k)) {
            chosen.push(file);
        }
    }
    error.set(None);
    leptos::task::spawn_local(async move {
        for file in chosen {
            let name = file.name();
            if file.size() > MAX_UPLOAD_BYTES {
                error.set(Some(format!(
                    "{name} is {:.0} MB; the limit here is 64 MB.",
                    file.size() / 1e6
                )));
                return;
            }
            match wasm_bindgen_futures::JsFuture::from(file.text())
                .await
                .ok()
                .and_then(|v| v.as_string())
            {
                Some(text) => on_text(name, text),
                None => {
                    error.set(Some(format!("{name} could not be read as text.")));
                    return;
                }
            }
        }
    });
}

/// The Evaluate tab.
#[component]
pub fn EvaluateTab() -> impl IntoView {
    let eval = expect_context::<AppState>().evaluate;
    let upload_error = RwSignal::new(None::<String>);
    let upload_note = RwSignal::new(None::<String>);
    let scoring = Job::<Scores>::new();
    let scores = scoring.last_result();
    let score = move || {
        let (hypotheses, references, settings) =
            eval.with_untracked(|s| (s.hyp.clone(), reference_sets(&s.refs), score_settings(s)));
        let request = Request::Evaluate(EvaluateRequest::Score {
            hypotheses,
            references,
            settings,
        });
        scoring.start(request, "Scoring…", move |answer| match answer {
            Response::Evaluate(EvaluateResponse::Scored {
                lines,
                reference_sets,
                bleu,
                chrf,
                chrf_plus_plus,
                rouge_types,
                rouge_mean,
                rouge_per_line,
                millis,
            }) => Answer::Done(Scores {
                lines,
                reference_sets,
                bleu,
                chrf,
                chrf_plus_plus,
                rouge_types,
                rouge_mean,
                rouge_per_line,
                millis,
            }),
            _ => Answer::Continue,
        });
    };
    let on_hyp_file = move |ev: leptos::ev::Event| {
        read_file(&ev, upload_error, move |name, text| {
            upload_note.set(Some(format!(
                "Hypotheses from {name} ({} bytes)",
                text.len()
            )));
            eval.update(|s| s.hyp = text);
        })
    };
    let on_ref_files = move |ev: leptos::ev::Event| {
        // Each file becomes one more reference set (the first fills an empty box).
        read_file(&ev, upload_error, move |name, text| {
            let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
            upload_note.set(Some(format!(
                "Reference set from {name} ({} bytes)",
                text.len()
            )));
            eval.update(|s| {
                let current = s.refs.strip_suffix('\n').unwrap_or(&s.refs);
                s.refs = if current.trim().is_empty() {
                    text
                } else {
                    format!("{current}\n---\n{text}")
                };
            });
        })
    };
    let set_count = move || eval.with(|s| reference_sets(&s.refs).len());

    view! {
        <section class="eval" data-testid="panel-eval" aria-labelledby="tab-eval">
            <h2>"Evaluate"</h2>
            <p class="hint">"BLEU and chrF as sacrebleu 2.x computes them, ROUGE as Google's rouge-score does, perplexity under the loaded model, and human evaluation."</p>
            <div class="eval-corpus">
                <div>
                    <TextField label="Hypotheses (one segment per line)" testid="hyp" rows=6
                        bind=bind(eval, |s| s.hyp.clone(), |s, v| s.hyp = v)/>
                    <label class="field">
                        <span class="label">"…or upload a hypothesis file"</span>
                        <input type="file" accept=".txt,text/plain" data-testid="hyp-upload" on:change=on_hyp_file/>
                    </label>
                </div>
                <div>
                    <TextField label="References (one per line; separate extra reference sets with a line ---)" testid="refs" rows=6
                        bind=bind(eval, |s| s.refs.clone(), |s, v| s.refs = v)/>
                    <label class="field">
                        <span class="label">"…or upload reference files (each adds a set)"</span>
                        <input type="file" multiple accept=".txt,text/plain" data-testid="ref-upload" on:change=on_ref_files/>
                    </label>
                    <p class="hint" data-testid="ref-set-count">{move || format!("{} reference set(s)", set_count())}</p>
                </div>
            </div>
            {move || upload_note.get().map(|n| view! { <p class="hint" data-testid="upload-note">{n}</p> })}
            {move || upload_error.get().map(|e| view! { <p class="error" role="alert" data-testid="upload-error">{e}</p> })}
            <div class="row eval-options">
                <SelectField label="BLEU tokenizer" testid="bleu-tokenize" options=TOKENIZERS
                    bind=bind(eval, |s| s.bleu_tokenize.clone(), |s, v| s.bleu_tokenize = v)/>
                <SelectField label="Smoothing" testid="bleu-smooth" options=SMOOTHING
                    bind=bind(eval, |s| s.bleu_smooth.clone(), |s, v| s.bleu_smooth = v)/>
                <label class="field">
                    <span class="label">"Smoothing value (empty: default)"</span>
                    <input data-testid="bleu-smooth-value" inputmode="decimal" size="6"
                        prop:value=move || eval.with(|s| s.bleu_smooth_value.map(|v| v.to_string()).unwrap_or_default())
                        on:change=move |ev| {
                            let text = event_target_value(&ev);
                            let value = text.trim().parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v.clamp(0.0, 100.0));
                            eval.update(|s| s.bleu_smooth_value = value);
                        }/>
                </label>
                <label class="field check">
                    <input type="checkbox" data-testid="metric-lowercase"
                        prop:checked=move || eval.with(|s| s.metric_lowercase)
                        on:change=move |ev| { let on = event_target_checked(&ev); eval.update(|s| s.metric_lowercase = on) }/>
                    <span class="label">"Lowercase (BLEU, chrF)"</span>
                </label>
                <label class="field">
                    <span class="label">"ROUGE types"</span>
                    <input data-testid="rouge-types" size="28"
                        prop:value=move || eval.with(|s| s.rouge_types.clone())
                        on:change=move |ev| { let v = event_target_value(&ev); eval.update(|s| s.rouge_types = v.replace(' ', "")) }/>
                </label>
                <label class="field check">
                    <input type="checkbox" data-testid="rouge-stem"
                        prop:checked=move || eval.with(|s| s.rouge_stem)
                        on:change=move |ev| { let on = event_target_checked(&ev); eval.update(|s| s.rouge_stem = on) }/>
                    <span class="label">"Porter stemmer (ROUGE)"</span>
                </label>
            </div>
            <div class="row">
                <button class="primary" data-testid="score" disabled=move || scoring.is_running() on:click=move |_| score()>"Score"</button>
            </div>
            <JobStatus job=scoring what="Scoring" bar=true cancel_testid="score-cancel" error_testid="score-error"/>
            {move || scores.get().map(|s| view! { <ScoreResults scores=s/> })}
            <PerplexitySection/>
            <HumanEval/>
        </section>
    }
}

/// A number shown rounded, with the exact value in `data-value` for tests
/// and tooltips.
fn exact(value: f64, digits: usize) -> (String, String) {
    (format!("{value:.digits$}"), value.to_string())
}

/// BLEU, chrF and ROUGE results, and the ROUGE-L alignment of one line.
#[component]
fn ScoreResults(scores: Scores) -> impl IntoView {
    let b = scores.bleu.clone();
    let (bleu_text, bleu_exact) = exact(b.score, 2);
    let bars = (0..4)
        .map(|k| {
            let p = b.precisions.get(k).copied().unwrap_or(0.0);
            let counts = b.counts.get(k).copied().unwrap_or(0.0);
            let totals = b.totals.get(k).copied().unwrap_or(0.0);
            view! {
                <div class="eval-bar-row">
                    <span class="eval-bar-label">{format!("{}-gram", k + 1)}</span>
                    <div class="eval-bar-track"><div class="eval-bar" style:width=format!("{:.2}%", p.clamp(0.0, 100.0))></div></div>
                    <span class="num" data-testid=format!("bleu-p{}", k + 1) data-value=p.to_string()>
                        {format!("{p:.2}% ({counts:.0} / {totals:.0})")}
                    </span>
                </div>
            }
        })
        .collect_view();
    let (c, r) = (b.hyp_len, b.ref_len);
    let bp_text = if c == 0 {
        "The hypotheses have no tokens, so BLEU is 0.".to_string()
    } else if c < r {
        format!(
            "The hypotheses have c = {c} tokens and the closest reference lengths add up to r = {r}. Since c < r, short output is penalized: BP = exp(1 − r/c) = exp(1 − {r}/{c}) = {:.4}. Without it, a system could score high precision by writing very little.",
            b.bp
        )
    } else {
        format!(
            "The hypotheses have c = {c} tokens and the closest reference lengths add up to r = {r}. Since c ≥ r, there is no brevity penalty: BP = 1. (Overly long output is already punished by lower precision.)"
        )
    };
    let rouge_rows = scores
        .rouge_types
        .iter()
        .zip(&scores.rouge_mean)
        .map(|(name, m)| {
            let cell = |field: &str, v: f64| {
                let (text, value) = exact(v, 4);
                view! { <td class="num" data-testid=format!("rouge-{name}-{field}") data-value=value>{text}</td> }
            };
            view! { <tr><td>{name.clone()}</td>{cell("p", m.precision)}{cell("r", m.recall)}{cell("f", m.fmeasure)}</tr> }
        })
        .collect_view();
    let (chrf_text, chrf_exact) = exact(scores.chrf, 2);
    let (chrfpp_text, chrfpp_exact) = exact(scores.chrf_plus_plus, 2);
    let types = scores.rouge_types.clone();
    let per_line = scores.rouge_per_line.clone();
    let eval = expect_context::<AppState>().evaluate;
    let listed = per_line
        .iter()
        .take(LISTED_LINES)
        .enumerate()
        .map(|(i, line)| {
            view! {
                <tr class:selected=move || eval.with(|s| s.eval_line as usize == i)>
                    <td class="num">{i + 1}</td>
                    {line.iter().map(|v| view! { <td class="num">{format!("{:.4}", v.fmeasure)}</td> }).collect_view()}
                    <td><button data-testid=format!("align-line-{i}") on:click=move |_| eval.update(|s| s.eval_line = i as u32)>"Align"</button></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="eval-results" data-testid="score-results">
            <p class="hint" data-testid="score-summary">{format!("{} lines, {} reference set(s), scored in {:.0} ms in the worker.", scores.lines, scores.reference_sets, scores.millis)}</p>
            <div class="eval-cards">
                <div class="eval-card">
                    <h3>"BLEU"</h3>
                    <p class="eval-big" data-testid="bleu-score" data-value=bleu_exact>{bleu_text}</p>
                    <p class="caption">"BLEU = BP × exp(mean of log n-gram precisions, n = 1..4)"</p>
                    <div class="eval-bars" data-testid="bleu-bars">{bars}</div>
                    <p class="eval-bp" data-testid="bleu-bp" data-value=b.bp.to_string()>{bp_text}</p>
                    <p class="caption" data-testid="bleu-lengths">{format!("ratio = c/r = {:.4}, hyp_len = {c}, ref_len = {r}", b.ratio)}</p>
                </div>
                <div class="eval-card">
                    <h3>"chrF"</h3>
                    <p class="eval-big" data-testid="chrf" data-value=chrf_exact>{chrf_text}</p>
                    <p class="caption">"F-score (β = 2) of character 1- to 6-grams"</p>
                    <h3>"chrF++"</h3>
                    <p class="eval-big" data-testid="chrfpp" data-value=chrfpp_exact>{chrfpp_text}</p>
                    <p class="caption">"chrF plus word 1- and 2-grams"</p>
                </div>
            </div>
            <h3>"ROUGE (mean over lines, against the first reference set)"</h3>
            <table class="eval-rouge" data-testid="rouge-table">
                <thead><tr><th>"Type"</th><th>"Precision"</th><th>"Recall"</th><th>"F-measure"</th></tr></thead>
                <tbody>{rouge_rows}</tbody>
            </table>
            <details>
                <summary>{format!("F-measure per line (first {} lines)", per_line.len().min(LISTED_LINES))}</summary>
                <table class="eval-rouge">
                    <thead><tr><th>"Line"</th>{types.iter().map(|t| view! { <th>{t.clone()}</th> }).collect_view()}<th></th></tr></thead>
                    <tbody>{listed}</tbody>
                </table>
            </details>
            <Alignment lines=scores.lines/>
        </div>
    }
}

/// Highlighted pieces of one text.
fn highlighted(pieces: Vec<Piece>) -> impl IntoView {
    pieces
        .into_iter()
        .map(|p| {
            if p.lcs {
                view! { <mark class="lcs">{p.text}</mark> }.into_any()
            } else {
                view! { <span>{p.text}</span> }.into_any()
            }
        })
        .collect_view()
}

/// The ROUGE-L longest common subsequence of the chosen line.
#[component]
fn Alignment(lines: usize) -> impl IntoView {
    let eval = expect_context::<AppState>().evaluate;
    // The latest request wins (the line or the texts changed): its answer
    // replaces whatever the earlier one said.
    let aligned = Job::<EvaluateResponse>::new();
    // Re-align when the line, the texts or the stemmer change (a memo, so
    // edits elsewhere in the state do not re-run it).
    let inputs = Memo::new(move |_| {
        eval.with(|s| {
            let line = s.eval_line as usize;
            let first = reference_sets(&s.refs)
                .into_iter()
                .next()
                .unwrap_or_default();
            (
                line,
                segment(&first, line),
                segment(&s.hyp, line),
                s.rouge_stem,
            )
        })
    });
    Effect::new(move |_| {
        let (line, target, prediction, stem) = inputs.get();
        let (Some(target), Some(prediction)) = (target, prediction) else {
            aligned.set(JobState::Failed(format!(
                "Line {} does not exist in both texts.",
                line + 1
            )));
            return;
        };
        aligned.set(JobState::Running {
            id: 0,
            fraction: 0.0,
            message: String::new(),
        });
        worker_client::request(
            Request::Evaluate(EvaluateRequest::Align {
                target,
                prediction,
                stem,
            }),
            move |r| match r {
                Response::Evaluate(a @ EvaluateResponse::Aligned { .. }) => {
                    aligned.set(JobState::Done(a))
                }
                Response::Error { message } | Response::Panic { message } => {
                    aligned.set(JobState::Failed(message))
                }
                _ => {}
            },
        );
    });
    view! {
        <div class="eval-align" data-testid="alignment">
            <h3>"ROUGE-L: the longest common subsequence"</h3>
            <NumberField label="Line" testid="eval-line" min=0.0 max=(lines.max(1) - 1) as f64 step=1.0
                bind=bind(eval, |s| f64::from(s.eval_line), |s, v| s.eval_line = v as u32)/>
            <p class="hint">"Line numbers start at 0 here. Marked words are in order in both texts; ROUGE-L precision is their count over the hypothesis' words, recall over the reference's."</p>
            <JobStatus job=aligned error_testid="align-error"/>
            {move || match aligned.result() {
                Some(EvaluateResponse::Aligned { target, prediction, lcs_len, target_tokens, prediction_tokens, score }) => view! {
                    <p class="eval-align-text"><span class="label">"Reference: "</span><span data-testid="lcs-target">{highlighted(target)}</span></p>
                    <p class="eval-align-text"><span class="label">"Hypothesis: "</span><span data-testid="lcs-prediction">{highlighted(prediction)}</span></p>
                    <p class="caption" data-testid="lcs-summary">{format!(
                        "LCS = {lcs_len} words; P = {lcs_len}/{prediction_tokens} = {:.4}, R = {lcs_len}/{target_tokens} = {:.4}, F = {:.4}",
                        score.precision, score.recall, score.fmeasure
                    )}</p>
                }.into_any(),
                _ => ().into_any(),
            }}
        </div>
    }
}

/// Colour of a token by its surprise in bits (0 = expected … ≥ 8 = very surprising).
fn surprise_colour(bits: f64) -> String {
    let t = (bits / 8.0).clamp(0.0, 1.0);
    // Light green (expected) to red (surprising).
    let hue = 120.0 * (1.0 - t);
    format!("hsl({hue:.0}, 75%, 82%)")
}

/// Perplexity of a text under the loaded model.
#[component]
fn PerplexitySection() -> impl IntoView {
    let eval = expect_context::<AppState>().evaluate;
    let model = expect_context::<RwSignal<ModelState>>();
    let job = Job::<PerplexityView>::new();
    let result = job.last_result();
    let run = move || {
        let (text, max_length, stride) =
            eval.with_untracked(|s| (s.ppl_text.clone(), s.ppl_max_length, s.ppl_stride));
        let request = Request::Evaluate(EvaluateRequest::Perplexity {
            text,
            max_length,
            stride,
        });
        job.start(request, "Tokenizing…", |answer| match answer {
            Response::Evaluate(EvaluateResponse::Perplexity {
                ppl,
                nll,
                tokens,
                bits_per_char,
                surprise,
                windows,
                max_length,
                stride,
                millis,
            }) => Answer::Done(PerplexityView {
                ppl,
                nll,
                tokens,
                bits_per_char,
                surprise,
                windows,
                max_length,
                stride,
                millis,
            }),
            _ => Answer::Continue,
        });
    };
    let loaded = move || matches!(model.get(), JobState::Done(_));
    view! {
        <section class="eval-ppl" data-testid="perplexity" aria-labelledby="ppl-title">
            <h3 id="ppl-title">"Perplexity"</h3>
            <p class="hint">"How surprised the loaded model is by a text: PPL = exp(mean negative log-likelihood per token). Long texts are scored in windows of at most the model's context, sliding by the stride (Hugging Face's method)."</p>
            <ModelPicker/>
            <TextField label="Text" testid="ppl-text" rows=4 bind=bind(eval, |s| s.ppl_text.clone(), |s, v| s.ppl_text = v)/>
            <div class="row">
                <NumberField label="Window (0 = model context)" testid="ppl-max-length" min=0.0 max=8192.0 step=1.0
                    bind=bind(eval, |s| f64::from(s.ppl_max_length), |s, v| s.ppl_max_length = v as u32)/>
                <NumberField label="Stride (0 = window)" testid="ppl-stride" min=0.0 max=8192.0 step=1.0
                    bind=bind(eval, |s| f64::from(s.ppl_stride), |s, v| s.ppl_stride = v as u32)/>
                <button class="primary" data-testid="ppl-run" disabled=move || job.is_running() || !loaded() on:click=move |_| run()>"Compute perplexity"</button>
            </div>
            <JobStatus job what="Perplexity" bar=true cancel_testid="ppl-cancel" error_testid="ppl-error"/>
            {move || result.get().map(|p| {
                let (ppl_text, ppl_exact) = exact(p.ppl, 3);
                view! {
                    <p class="eval-big">"PPL "<span data-testid="ppl-value" data-value=ppl_exact>{ppl_text}</span></p>
                    <p class="caption" data-testid="ppl-details" data-nll=p.nll.to_string() data-bpc=p.bits_per_char.to_string() data-tokens=p.tokens.to_string()>
                        {format!("mean NLL {:.4} nats over {} predicted tokens, {:.4} bits per character; {} window(s) of {} tokens, stride {}; {:.0} ms",
                            p.nll, p.tokens, p.bits_per_char, p.windows, p.max_length, p.stride, p.millis)}
                    </p>
                    <div class="eval-legend" data-testid="ppl-legend" aria-label="Colour legend">
                        <span>"Surprise (bits): "</span>
                        {[0.0, 2.0, 4.0, 6.0, 8.0].into_iter().map(|b| view! {
                            <span class="eval-tok" style:background=surprise_colour(b)>{if b >= 8.0 { "≥8".to_string() } else { format!("{b:.0}") }}</span>
                        }).collect_view()}
                        <span class="eval-tok eval-tok-none">"not predicted"</span>
                    </div>
                    <div class="eval-tokens" data-testid="ppl-tokens">
                        {p.surprise.into_iter().map(|t| {
                            let title = match t.bits { Some(b) => format!("{b:.2} bits"), None => "first token: nothing predicts it".to_string() };
                            let background = t.bits.map(surprise_colour).unwrap_or_default();
                            view! { <span class="eval-tok" class:eval-tok-none=t.bits.is_none() title=title style:background=background>{visible(&t.text)}</span> }
                        }).collect_view()}
                    </div>
                }
            })}
        </section>
    }
}

// Run by `cargo test --target wasm32-unknown-unknown -p llmlab-web` (the
// web crate only builds for the browser).
#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn reference_sets_split_on_dash_lines() {
        assert_eq!(reference_sets("a\nb\n---\nc\nd\n"), ["a\nb", "c\nd\n"]);
        assert_eq!(reference_sets("a"), ["a"]);
        assert_eq!(segment("x\ny\n", 1).as_deref(), Some("y"));
        assert_eq!(segment("x\ny\n", 2), None);
    }
}
