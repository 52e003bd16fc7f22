//! Inside the model: attention maps per layer and head, hidden-state norms,
//! and where the parameters live.

use crate::components::NumberField;
use crate::model_picker::{ModelPicker, ModelState};
use crate::state::AppState;
use crate::worker_client;
use leptos::prelude::*;
use llmlab_wasm::protocol::model::{ModelRequest, ModelResponse};
use llmlab_wasm::protocol::{Request, Response};

/// A finished trace of one input.
#[derive(Clone, Debug, PartialEq)]
struct TraceView {
    tokens: Vec<String>,
    attentions: Vec<Vec<Vec<Vec<f32>>>>,
    hidden_norms: Vec<Vec<f32>>,
}

/// The "Inside the model" tab.
#[component]
pub fn InsideTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let model = expect_context::<RwSignal<ModelState>>();
    let trace = RwSignal::new(None::<TraceView>);
    let error = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let run = move || {
        let text = state.0.with_untracked(|s| if s.prompt.is_empty() { "To be, or not to be".to_string() } else { s.prompt.clone() });
        running.set(true);
        error.set(None);
        worker_client::request(Request::Model(ModelRequest::Trace { text }), move |r| {
            running.set(false);
            match r {
                Response::Model(ModelResponse::Trace { tokens, attentions, hidden_norms }) => {
                    trace.set(Some(TraceView { tokens, attentions, hidden_norms }))
                }
                Response::Error { message } => error.set(Some(message)),
                _ => {}
            }
        });
    };
    view! {
        <section data-testid="panel-inside" aria-labelledby="tab-inside">
            <h2>"Inside the model"</h2>
            <ModelPicker/>
            <ParamTable/>
            <p class="hint">"The input is the Generate tab's prompt."</p>
            <div class="row">
                <NumberField label="Layer" testid="layer" min=0.0 max=127.0 step=1.0
                    get=|s| f64::from(s.layer) set=|s, v| s.layer = v as u32/>
                <NumberField label="Head" testid="head" min=0.0 max=127.0 step=1.0
                    get=|s| f64::from(s.head) set=|s, v| s.head = v as u32/>
                <button class="primary" data-testid="run-trace"
                    disabled=move || running.get() || !matches!(model.get(), ModelState::Loaded(_))
                    on:click=move |_| run()>"Show attention"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="inside-error">{e}</p> })}
            {move || trace.get().map(|t| view! { <AttentionMap trace=t/> })}
        </section>
    }
}

/// Where the parameters are, from the loaded model's config.
#[component]
fn ParamTable() -> impl IntoView {
    let model = expect_context::<RwSignal<ModelState>>();
    move || match model.get() {
        ModelState::Loaded(s) => {
            let p = s.params.clone();
            let total = p.total.max(1) as f64;
            let rows = [("Embeddings", p.embeddings), ("Attention", p.attention), ("Feed-forward", p.ffn), ("Norms", p.norms), ("Output head (untied)", p.head)];
            view! {
                <table class="params" data-testid="param-table">
                    <thead><tr><th>"Part"</th><th>"Parameters"</th><th>"Share"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(name, n)| view! {
                            <tr><td>{name}</td><td class="num">{n.to_string()}</td>
                            <td><div class="bar" style:width=format!("{:.1}%", n as f64 / total * 100.0)></div></td></tr>
                        }).collect_view()}
                        <tr class="total"><td>"Total"</td><td class="num" data-testid="param-total">{p.total.to_string()}</td><td></td></tr>
                    </tbody>
                </table>
            }.into_any()
        }
        _ => ().into_any(),
    }
}

/// Heat map of one head's attention (rows: queries, columns: keys).
#[component]
fn AttentionMap(trace: TraceView) -> impl IntoView {
    let state = expect_context::<AppState>();
    let layers = trace.attentions.len();
    let tokens = trace.tokens.clone();
    let norms = trace.hidden_norms.clone();
    let grid = move || {
        let (layer, head) = state.with(|s| (s.layer as usize, s.head as usize));
        let layer = layer.min(layers.saturating_sub(1));
        let heads = trace.attentions.get(layer).map_or(0, Vec::len);
        let head = head.min(heads.saturating_sub(1));
        let matrix = trace.attentions.get(layer).and_then(|l| l.get(head)).cloned().unwrap_or_default();
        let tokens = trace.tokens.clone();
        let n = tokens.len();
        view! {
            <p class="caption">{format!("Layer {layer} of {layers}, head {head} of {heads}: row i shows where token i looks (causal models only look left).")}</p>
            <div class="attn" data-testid="attention-map" style:grid-template-columns=format!("8rem repeat({n}, 1.6rem)")>
                <div></div>
                {tokens.iter().map(|t| view! { <div class="attn-col">{visible(t)}</div> }).collect_view()}
                {matrix.into_iter().enumerate().map(|(i, row)| {
                    let label = visible(tokens.get(i).map(String::as_str).unwrap_or(""));
                    view! {
                        <div class="attn-row">{label}</div>
                        {row.into_iter().map(|w| view! {
                            <div class="attn-cell" title=format!("{w:.3}") style:background=format!("rgba(59,91,219,{:.3})", w.clamp(0.0, 1.0))></div>
                        }).collect_view()}
                    }
                }).collect_view()}
            </div>
        }
    };
    view! {
        {grid}
        <h3>"Hidden-state norm per layer"</h3>
        <table class="norms" data-testid="hidden-norms">
            <thead><tr><th>"Layer"</th>{tokens.iter().map(|t| view! { <th>{visible(t)}</th> }).collect_view()}</tr></thead>
            <tbody>{norms.into_iter().enumerate().map(|(l, row)| view! {
                <tr><td>{if l == 0 { "embeddings".to_string() } else { format!("{l}") }}</td>
                {row.into_iter().map(|x| view! { <td class="num">{format!("{x:.2}")}</td> }).collect_view()}</tr>
            }).collect_view()}</tbody>
        </table>
    }
}

/// Make whitespace in a token visible.
pub fn visible(token: &str) -> String {
    token.replace(' ', "␣").replace('\n', "↵").replace('\t', "⇥")
}
