//! Fine-tune tab: LoRA on the loaded model (the default model if none is
//! loaded) with instruction data, in the worker, through the core's recipe
//! that `llmlab lora train --data/--builtin` runs too.
//!
//! The tab shows which tokens of a rendered example carry loss, how few
//! parameters LoRA trains (and the AdamW memory that saves against full
//! fine-tuning), the live loss, the held-out answers before and after side
//! by side, and exports the adapter as peft's two files. Settings live in
//! the share link; the pasted data does not (it can be large).

use crate::components::{bind, NumberField, SelectField};
use crate::job::{Answer, Job, JobState, JobStatus};
use crate::model_picker::{load_default, ModelState};
use crate::state::AppState;
use crate::tabs::train::{blob_urls, human_bytes, polyline};
use leptos::prelude::*;
use llmlab_wasm::protocol::finetune::{
    FinetuneData, FinetuneRequest, FinetuneResponse, FinetuneSettings, HeldOut, LossPoint,
};
use llmlab_wasm::protocol::{Request, Response};

const DATA_SOURCES: &[(&str, &str)] = &[
    ("builtin", "Built-in instruction set (repeat, first, last, upper)"),
    ("jsonl", "Your Alpaca or chat JSONL (paste)"),
];
const TARGETS: &[(&str, &str)] = &[
    ("default", "peft's default (c_attn / q_proj,v_proj)"),
    ("c_attn", "c_attn (GPT-2 attention in-projection)"),
    ("c_attn,c_proj", "c_attn, c_proj"),
    ("q_proj,v_proj", "q_proj, v_proj (Llama)"),
    ("all-linear", "all-linear"),
];
const METHODS: &[(&str, &str)] = &[("lora", "LoRA")];
const JSONL_PLACEHOLDER: &str = "{\"instruction\": \"upper: cat\", \"input\": \"\", \"output\": \"CAT\"}\n\
{\"messages\": [{\"role\": \"user\", \"content\": \"repeat: dog\"}, {\"role\": \"assistant\", \"content\": \"dog\"}]}";
/// Bytes of AdamW state per trainable fp32 parameter (the moments m and v).
const ADAMW_BYTES_PER_PARAM: f64 = 8.0;

/// The tokens of the preview and which carry loss.
#[derive(Clone, Debug, PartialEq)]
struct Preview {
    tokens: Vec<String>,
    loss: Vec<bool>,
    train_examples: u32,
    held_out_examples: u32,
}

/// What `Started` reported.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    trainable: u64,
    base: u64,
    total_steps: u32,
    held_out: Vec<HeldOut>,
}

/// The final result.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    held_out: Vec<HeldOut>,
    loss_before: f64,
    loss_after: f64,
    correct_before: u32,
    correct_after: u32,
}

fn data_of(source: &str, text: &str) -> FinetuneData {
    if source == "jsonl" {
        FinetuneData::Jsonl { text: text.to_string() }
    } else {
        FinetuneData::Builtin
    }
}

/// The Fine-tune tab.
#[component]
pub fn FinetuneTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let ft = state.finetune;
    let model = expect_context::<RwSignal<ModelState>>();
    let text = RwSignal::new(String::new());
    let preview: Job<Preview> = Job::new();
    let run: Job<Outcome> = Job::new();
    let plan = RwSignal::new(None::<Plan>);
    let losses = RwSignal::new(Vec::<LossPoint>::new());
    let downloads = RwSignal::new(Vec::<(String, String, usize)>::new());
    let export_error = RwSignal::new(None::<String>);
    // Start pressed before a model was loaded: start once the default is in.
    let start_when_loaded = RwSignal::new(false);
    let model_ready = move || model.with(|m| matches!(m, JobState::Done(_)));

    let request_preview = move || {
        if !model_ready() {
            return;
        }
        let (source, seed) = (ft.with_untracked(|s| s.ft_data.clone()), state.seed.get_untracked());
        let data = data_of(&source, &text.get_untracked());
        preview.start(Request::Finetune(FinetuneRequest::Preview { data, seed }), "Rendering…", |r| match r {
            Response::Finetune(FinetuneResponse::Preview { tokens, loss, train_examples, held_out_examples }) => {
                Answer::Done(Preview { tokens, loss, train_examples, held_out_examples })
            }
            other => Answer::Failed(format!("Unexpected answer: {other:?}")),
        });
    };
    // The preview follows the data source, the seed and the loaded model.
    Effect::new(move |_| {
        ft.with(|s| s.ft_data.clone());
        state.seed.track();
        if model_ready() {
            untrack(request_preview);
        }
    });

    let launch = move || {
        let s = ft.get_untracked();
        let settings = FinetuneSettings {
            data: data_of(&s.ft_data, &text.get_untracked()),
            r: s.ft_r,
            alpha: s.ft_alpha,
            targets: s.ft_targets.clone(),
            lr: s.ft_lr,
            steps: s.ft_steps,
            batch: s.ft_batch,
            seed: state.seed.get_untracked(),
        };
        plan.set(None);
        losses.set(Vec::new());
        downloads.set(Vec::new());
        export_error.set(None);
        run.start(Request::Finetune(FinetuneRequest::Start { settings }), "Starting…", move |r| match r {
            Response::Finetune(FinetuneResponse::Started { trainable, base, total_steps, held_out, .. }) => {
                plan.set(Some(Plan { trainable, base, total_steps, held_out }));
                Answer::Continue
            }
            Response::Finetune(FinetuneResponse::Steps { points }) => {
                losses.update(|l| l.extend(points));
                Answer::Continue
            }
            Response::Finetune(FinetuneResponse::Finished { held_out, loss_before, loss_after, correct_before, correct_after }) => {
                Answer::Done(Outcome { held_out, loss_before, loss_after, correct_before, correct_after })
            }
            other => Answer::Failed(format!("Unexpected answer: {other:?}")),
        });
    };
    let start = move || {
        if model_ready() {
            launch();
        } else if !model.with_untracked(JobState::is_running) {
            start_when_loaded.set(true);
            load_default(model);
        } else {
            start_when_loaded.set(true);
        }
    };
    Effect::new(move |_| {
        if model_ready() && start_when_loaded.get_untracked() {
            start_when_loaded.set(false);
            untrack(launch);
        }
    });
    let export = move || {
        export_error.set(None);
        crate::worker_client::request(Request::Finetune(FinetuneRequest::Export), move |r| match r {
            Response::Finetune(FinetuneResponse::Exported { files }) => {
                let links = blob_urls(&files);
                let _ = downloads.try_set(links.clone());
                // Download both files at once, as the button says.
                for (_, url, _) in &links {
                    if let Some(a) = document().query_selector(&format!("a[href=\"{url}\"]")).ok().flatten() {
                        if let Ok(a) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(a) {
                            a.click();
                        }
                    }
                }
            }
            Response::Error { message } => {
                let _ = export_error.try_set(Some(message));
            }
            _ => {}
        });
    };
    let running = move || run.is_running();
    let is_jsonl = move || ft.with(|s| s.ft_data == "jsonl");
    let finished = run.last_result();

    view! {
        <section class="finetune" data-testid="panel-ft" aria-labelledby="tab-ft">
            <h2>"Fine-tune"</h2>
            <p class="hint">"LoRA-tune the loaded model (the default model if none is) on instructions, with the loss on the answers only. \
                The worker runs the same recipe as "<code>"llmlab lora train --builtin"</code>" or "<code>"--data FILE.jsonl"</code>
                ", and the adapter it exports loads in peft."</p>
            <fieldset>
                <legend>"Method"</legend>
                <div class="row">
                    <SelectField label="Method" testid="ft-method" options=METHODS
                        bind=bind(ft, |_| "lora".to_string(), |_, _| {})/>
                    <NumberField label="Rank r" testid="ft-r" min=1.0 max=256.0 step=1.0
                        bind=bind(ft, |s| f64::from(s.ft_r), |s, v| s.ft_r = v as u32)/>
                    <NumberField label="Alpha" testid="ft-alpha" min=0.01 max=1024.0 step=1.0
                        bind=bind(ft, |s| s.ft_alpha, |s, v| s.ft_alpha = v)/>
                    <SelectField label="Target modules" testid="ft-targets" options=TARGETS
                        bind=bind(ft, |s| s.ft_targets.clone(), |s, v| s.ft_targets = v)/>
                </div>
                <div class="row">
                    <NumberField label="Learning rate" testid="ft-lr" min=0.000001 max=1.0 step=0.0001
                        bind=bind(ft, |s| s.ft_lr, |s, v| s.ft_lr = v)/>
                    <NumberField label="Steps" testid="ft-steps" min=1.0 max=100000.0 step=10.0
                        bind=bind(ft, |s| f64::from(s.ft_steps), |s, v| s.ft_steps = v as u32)/>
                    <NumberField label="Batch" testid="ft-batch" min=1.0 max=256.0 step=1.0
                        bind=bind(ft, |s| f64::from(s.ft_batch), |s, v| s.ft_batch = v as u32)/>
                    <NumberField label="Seed" testid="ft-seed" min=0.0 max=9007199254740991.0 step=1.0
                        bind=bind(state.seed, |s| *s as f64, |s, v| *s = v as u64)/>
                </div>
            </fieldset>
            <fieldset>
                <legend>"Data"</legend>
                <div class="row">
                    <SelectField label="Source" testid="ft-source" options=DATA_SOURCES
                        bind=bind(ft, |s| s.ft_data.clone(), |s, v| s.ft_data = v)/>
                    <button data-testid="ft-preview-button" on:click=move |_| request_preview()>"Preview the template"</button>
                </div>
                {move || is_jsonl().then(|| view! {
                    <label class="field">
                        <span class="label">"Alpaca JSON(L) or chat JSONL"</span>
                        <textarea data-testid="ft-text" rows=6 spellcheck="false" placeholder=JSONL_PLACEHOLDER
                            prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
                    </label>
                })}
                <p class="hint">"Template: "<code>"Instruction: …⏎ [Input: …⏎] Response: "</code>" then the answer and a newline. \
                    Highlighted tokens carry loss (labels); the others are labelled -100."</p>
                <JobStatus job=preview error_testid="ft-preview-error"/>
                {move || preview.result().map(|p| view! {
                    <p class="ft-preview" data-testid="ft-preview" data-loss-tokens=p.loss.iter().filter(|&&l| l).count().to_string()>
                        {p.tokens.iter().zip(&p.loss).map(|(t, &l)| {
                            let shown = t.replace('\n', "⏎");
                            view! { <span class=if l { "ft-tok ft-loss" } else { "ft-tok" } data-loss=if l { "1" } else { "0" }>{shown}</span> }
                        }).collect_view()}
                    </p>
                    <p class="hint">{format!("{} training examples, {} held out (never trained on).", p.train_examples, p.held_out_examples)}</p>
                })}
            </fieldset>
            <div class="row" role="group" aria-label="Fine-tuning controls">
                <button class="primary" data-testid="ft-start" disabled=running on:click=move |_| start()>"Start"</button>
                <button data-testid="ft-export" disabled=move || running() || finished.with(Option::is_none) on:click=move |_| export()>"Export adapter"</button>
            </div>
            <JobStatus job=run what="Fine-tuning" error_testid="ft-error" bar=true cancel_testid="ft-cancel"/>
            {move || export_error.get().map(|e| view! { <p class="error" role="alert" data-testid="ft-export-error">{e}</p> })}
            {move || plan.get().map(|p| view! { <Budget trainable=p.trainable base=p.base/> })}
            <FinetuneLossPlot losses=losses plan=plan/>
            <HeldOutTable plan=plan finished=finished/>
            {move || {
                let links = downloads.get();
                (!links.is_empty()).then(|| view! {
                    <ul class="train-downloads" data-testid="ft-downloads">
                        {links.into_iter().map(|(name, url, size)| view! {
                            <li><a href=url download=name.clone() data-testid=format!("ft-download-{name}")>{format!("{name} ({})", human_bytes(size))}</a></li>
                        }).collect_view()}
                    </ul>
                    <p class="hint">"Load with peft: PeftModel.from_pretrained(base_model, folder), or natively: llmlab logits --model DIR --adapter folder."</p>
                })
            }}
        </section>
    }
}

/// Trainable parameters and AdamW memory: LoRA against full fine-tuning.
#[component]
fn Budget(trainable: u64, base: u64) -> impl IntoView {
    let percent = 100.0 * trainable as f64 / base.max(1) as f64;
    let mem = |n: u64| human_bytes((n as f64 * ADAMW_BYTES_PER_PARAM) as usize);
    view! {
        <table class="ft-budget" data-testid="ft-budget" data-trainable=trainable.to_string() data-base=base.to_string()>
            <thead><tr><th></th><th>"Trainable parameters"</th><th>"AdamW state (m, v in fp32)"</th></tr></thead>
            <tbody>
                <tr><td>"LoRA"</td><td>{format!("{trainable} ({percent:.2}% of the model)")}</td><td>{mem(trainable)}</td></tr>
                <tr><td>"Full fine-tuning"</td><td>{base.to_string()}</td><td>{mem(base)}</td></tr>
            </tbody>
        </table>
    }
}

/// The training loss per step.
#[component]
fn FinetuneLossPlot(losses: RwSignal<Vec<LossPoint>>, plan: RwSignal<Option<Plan>>) -> impl IntoView {
    let (w, h) = (560.0, 160.0);
    move || {
        let points: Vec<(f64, f64)> =
            losses.with(|l| l.iter().filter(|p| p.loss.is_finite()).map(|p| (f64::from(p.step), p.loss)).collect());
        if points.is_empty() {
            return ().into_any();
        }
        let y_max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let y_min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min).max(0.0);
        let x_max = plan.with(|p| p.as_ref().map_or(points.len() as f64, |p| f64::from(p.total_steps)));
        let line = polyline(&points, x_max, y_min, y_max, w, h);
        let last = points[points.len() - 1];
        view! {
            <figure class="train-plot">
                <svg data-testid="ft-loss-plot" viewBox="-4 -4 568 168" width="568" height="168" role="img" aria-label="Training loss by step">
                    <line x1="0" y1="160" x2="560" y2="160" class="axis"/>
                    <polyline points=line class="train-line" fill="none" data-testid="ft-curve"/>
                </svg>
                <figcaption data-testid="ft-step" data-step=format!("{}", last.0)>
                    {format!("Answer-only training loss (nats/token) from {y_min:.2} to {y_max:.2}; step {} loss {:.4}.", last.0, last.1)}
                </figcaption>
            </figure>
        }
        .into_any()
    }
}

/// Held-out prompts with the answers before and after, side by side.
#[component]
fn HeldOutTable(plan: RwSignal<Option<Plan>>, finished: Memo<Option<Outcome>>) -> impl IntoView {
    move || {
        let outcome = finished.get();
        let rows = match &outcome {
            Some(o) => o.held_out.clone(),
            None => plan.with(|p| p.as_ref().map(|p| p.held_out.clone()).unwrap_or_default()),
        };
        if rows.is_empty() {
            return ().into_any();
        }
        let summary = outcome.as_ref().map(|o| view! {
            <p data-testid="ft-result" data-loss-before=format!("{:.6}", o.loss_before) data-loss-after=format!("{:.6}", o.loss_after)
                data-correct-before=o.correct_before.to_string() data-correct-after=o.correct_after.to_string()>
                {format!("Held-out answer loss {:.4} → {:.4} nats/token; exactly right {} → {} of {}.",
                    o.loss_before, o.loss_after, o.correct_before, o.correct_after, o.held_out.len())}
            </p>
        });
        view! {
            {summary}
            <table class="ft-heldout" data-testid="ft-heldout">
                <thead><tr><th>"Held-out prompt"</th><th>"Expected"</th><th>"Before"</th><th>"After"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let prompt = r.prompt.replace('\n', " ⏎ ");
                        view! {
                            <tr data-expected=r.expected.clone() data-before=r.before.clone() data-after=r.after.clone()>
                                <td><code>{prompt}</code></td><td><code>{r.expected.clone()}</code></td>
                                <td><code>{r.before.clone()}</code></td><td><code>{r.after.clone()}</code></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    }
}
