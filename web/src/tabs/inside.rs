//! Inside the model: attention maps per layer and head (click a token to see
//! where it attends), hidden-state norms, positional encodings (sinusoidal,
//! learned, RoPE) and where the parameters live, beside the classic models.

use crate::components::{bind, visible, NumberField};
use crate::job::{Answer, Job, JobState, JobStatus};
use crate::model_picker::{ModelPicker, ModelState};
use crate::state::AppState;
use leptos::prelude::*;
use llmlab_wasm::protocol::model::{
    ClassicModel, ModelRequest, ModelResponse, Params, PositionalMatrix, RoutingLayer,
};
use llmlab_wasm::protocol::{Request, Response};

/// A finished trace of one input.
#[derive(Clone, Debug, PartialEq)]
struct TraceView {
    tokens: Vec<String>,
    attentions: Vec<Vec<Vec<Vec<f32>>>>,
    hidden_norms: Vec<Vec<f32>>,
    routing: Vec<RoutingLayer>,
}

/// The "Inside the model" tab.
#[component]
pub fn InsideTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let model = expect_context::<RwSignal<ModelState>>();
    let trace = Job::<TraceView>::new();
    let run = move || {
        let text = state.generate.with_untracked(|s| {
            if s.prompt.is_empty() {
                "To be, or not to be".to_string()
            } else {
                s.prompt.clone()
            }
        });
        trace.start(
            Request::Model(ModelRequest::Trace { text }),
            "Tracing…",
            |r| match r {
                Response::Model(ModelResponse::Trace {
                    tokens,
                    attentions,
                    hidden_norms,
                    routing,
                }) => Answer::Done(TraceView {
                    tokens,
                    attentions,
                    hidden_norms,
                    routing,
                }),
                _ => Answer::Continue,
            },
        );
    };
    view! {
        <section data-testid="panel-inside" aria-labelledby="tab-inside">
            <h2>"Inside the model"</h2>
            <ModelPicker/>
            <div class="inside-params">
                <ParamTable/>
                <ClassicTable/>
            </div>
            <p class="hint">"The input is the Generate tab's prompt."</p>
            <div class="row">
                <NumberField label="Layer" testid="layer" min=0.0 max=127.0 step=1.0
                    bind=bind(state.inside, |s| f64::from(s.layer), |s, v| s.layer = v as u32)/>
                <NumberField label="Head" testid="head" min=0.0 max=127.0 step=1.0
                    bind=bind(state.inside, |s| f64::from(s.head), |s, v| s.head = v as u32)/>
                <button class="primary" data-testid="run-trace"
                    disabled=move || trace.is_running() || !matches!(model.get(), JobState::Done(_))
                    on:click=move |_| run()>"Show attention"</button>
            </div>
            <JobStatus job=trace error_testid="inside-error"/>
            {move || trace.result().map(|t| {
                let routing = (!t.routing.is_empty()).then(|| view! { <ExpertRouting tokens=t.tokens.clone() layers=t.routing.clone()/> });
                view! { <AttentionMap trace=t/> {routing} }
            })}
            <PositionalView/>
        </section>
    }
}

/// Where the parameters are, from the loaded model's config.
#[component]
fn ParamTable() -> impl IntoView {
    let model = expect_context::<RwSignal<ModelState>>();
    move || match model.get() {
        JobState::Done(s) => {
            let p = s.params.clone();
            let total = p.total.max(1) as f64;
            let rows = [
                ("Embeddings", p.embeddings),
                ("Attention", p.attention),
                ("Feed-forward", p.ffn),
                ("Norms", p.norms),
                ("Output head (untied)", p.head),
            ];
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

/// Heat map of one head's attention (rows: queries, columns: keys). Each row
/// label is a button: clicking it (or Enter/Space on it) shows that token's
/// attention row as bars over the input tokens.
#[component]
fn AttentionMap(trace: TraceView) -> impl IntoView {
    let state = expect_context::<AppState>();
    let focus = RwSignal::new(None::<usize>);
    let layers = trace.attentions.len();
    let tokens = trace.tokens.clone();
    let norms = trace.hidden_norms.clone();
    let attentions = trace.attentions.clone();
    // The selected head's matrix, clamped to what the model has.
    let selected = move || {
        let (layer, head) = state.inside.with(|s| (s.layer as usize, s.head as usize));
        let layer = layer.min(layers.saturating_sub(1));
        let heads = attentions.get(layer).map_or(0, Vec::len);
        let head = head.min(heads.saturating_sub(1));
        let matrix = attentions
            .get(layer)
            .and_then(|l| l.get(head))
            .cloned()
            .unwrap_or_default();
        (layer, head, heads, matrix)
    };
    let selected_for_focus = selected.clone();
    let grid_tokens = trace.tokens.clone();
    let grid = move || {
        let (layer, head, heads, matrix) = selected();
        let tokens = grid_tokens.clone();
        let n = tokens.len();
        view! {
            <p class="caption">{format!("Layer {layer} of {layers}, head {head} of {heads}: row i shows where token i looks (causal models only look left). Click a token on the left to see its row as bars.")}</p>
            <div class="attn" data-testid="attention-map" data-layer=layer data-head=head
                style:grid-template-columns=format!("8rem repeat({n}, 1.6rem)")>
                <div></div>
                {tokens.iter().map(|t| view! { <div class="attn-col">{visible(t)}</div> }).collect_view()}
                {matrix.into_iter().enumerate().map(|(i, row)| {
                    let label = visible(tokens.get(i).map(String::as_str).unwrap_or(""));
                    let is_focus = move || focus.get() == Some(i);
                    view! {
                        <button class="attn-row" data-testid="attn-token" data-query=i
                            class:focused=is_focus aria-pressed=move || is_focus().to_string()
                            title=format!("Where token {i} attends")
                            on:click=move |_| focus.set(Some(i))>{label}</button>
                        {row.into_iter().enumerate().map(|(j, w)| view! {
                            <div class="attn-cell" data-testid="attn-cell" data-query=i data-key=j data-weight=w.to_string()
                                class:focused=is_focus
                                title=format!("{w:.3}") style:background=format!("rgba(59,91,219,{:.3})", w.clamp(0.0, 1.0))></div>
                        }).collect_view()}
                    }
                }).collect_view()}
            </div>
        }
    };
    let focus_tokens = trace.tokens.clone();
    let focus_view = move || {
        let query = focus.get()?;
        let (layer, head, _, matrix) = selected_for_focus();
        let row = matrix.get(query)?.clone();
        let tokens = focus_tokens.clone();
        let query_token = visible(tokens.get(query).map(String::as_str).unwrap_or(""));
        let best = row.iter().copied().fold(0.0f32, f32::max).max(1e-9);
        Some(view! {
            <div class="inside-focus" data-testid="attn-focus" data-query=query>
                <h3>{format!("Where token {query} «{query_token}» attends (layer {layer}, head {head})")}</h3>
                {row.into_iter().enumerate().map(|(j, w)| {
                    let token = visible(tokens.get(j).map(String::as_str).unwrap_or(""));
                    let is_best = w >= best;
                    view! {
                        <div class="focus-row" data-testid="attn-focus-bar" data-key=j data-weight=w.to_string()>
                            <span class="focus-token">{format!("{j}: {token}")}</span>
                            <span class="focus-track"><span class="focus-bar" class:best=is_best
                                style:width=format!("{:.1}%", (w / best).clamp(0.0, 1.0) * 100.0)></span></span>
                            <span class="num">{format!("{:.1}%", w * 100.0)}</span>
                        </div>
                    }
                }).collect_view()}
            </div>
        })
    };
    view! {
        {grid}
        {focus_view}
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

/// A mixture of experts' routing of the traced input, one table per sparse
/// layer: the router's probability of every expert for every token (shaded),
/// the chosen experts outlined with their weights, and each expert's load.
#[component]
fn ExpertRouting(tokens: Vec<String>, layers: Vec<RoutingLayer>) -> impl IntoView {
    view! {
        <h3>"Expert routing"</h3>
        <p class="hint">"Each row is a token; the router's probability of each expert is shaded, and the experts that \
            process the token are outlined with their weight. The last row counts the tokens each expert received."</p>
        {layers.into_iter().map(|layer| {
            let experts = layer.probs.first().map_or(0, Vec::len);
            let mut load = vec![0usize; experts];
            for chosen in &layer.experts {
                for &e in chosen {
                    if let Some(n) = load.get_mut(e as usize) {
                        *n += 1;
                    }
                }
            }
            let rows = layer.probs.iter().zip(&layer.experts).zip(&layer.weights).zip(&tokens).enumerate().map(|(pos, (((probs, chosen), weights), token))| {
                view! {
                    <tr>
                        <th>{visible(token)}</th>
                        {probs.iter().enumerate().map(|(e, &p)| {
                            let slot = chosen.iter().position(|&c| c as usize == e);
                            let weight = slot.and_then(|k| weights.get(k)).copied();
                            view! {
                                <td class="route-cell" class:chosen=slot.is_some() data-testid="route-cell"
                                    data-pos=pos data-expert=e data-prob=p.to_string() data-chosen=slot.is_some().to_string()
                                    style:background=format!("rgba(37, 99, 235, {:.3})", p.clamp(0.0, 1.0))
                                    title=format!("p = {p:.3}")>
                                    {weight.map(|w| format!("{w:.2}"))}
                                </td>
                            }
                        }).collect_view()}
                    </tr>
                }
            }).collect_view();
            view! {
                <table class="routing" data-testid="routing-layer" data-layer=layer.layer>
                    <caption>{format!("Layer {}", layer.layer)}</caption>
                    <thead><tr><th>"Token"</th>{(0..experts).map(|e| view! { <th>{format!("E{e}")}</th> }).collect_view()}</tr></thead>
                    <tbody>{rows}</tbody>
                    <tfoot><tr><th>"Tokens"</th>{load.into_iter().map(|n| view! { <td class="num" data-testid="expert-load">{n}</td> }).collect_view()}</tr></tfoot>
                </table>
            }
        }).collect_view()}
    }
}

/// `n` in the papers' style: 117M, 1.56B, 175B.
pub fn human_count(n: u64) -> String {
    let x = n as f64;
    let (value, unit) = if x >= 1e9 {
        (x / 1e9, "B")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "K")
    } else {
        return n.to_string();
    };
    if value >= 100.0 {
        format!("{value:.0}{unit}")
    } else if value >= 10.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.2}{unit}")
    }
}

/// The classic models of the curriculum's table (counted from their configs
/// by the worker) and the loaded model, with each part's share.
#[component]
fn ClassicTable() -> impl IntoView {
    let model = expect_context::<RwSignal<ModelState>>();
    let classics = Job::<Vec<ClassicModel>>::new();
    classics.start(
        Request::Model(ModelRequest::ClassicParams),
        "Counting…",
        |r| match r {
            Response::Model(ModelResponse::ClassicParams { models }) => Answer::Done(models),
            _ => Answer::Continue,
        },
    );
    let share =
        |part: u64, p: &Params| format!("{:.1}%", part as f64 / p.total.max(1) as f64 * 100.0);
    let row = move |name: String, paper: String, p: Params, loaded: bool| {
        let data_name = name.clone();
        view! {
            <tr class:loaded=loaded data-testid="classic-row" data-name=data_name>
                <td>{name}</td>
                <td class="num">{paper}</td>
                <td class="num" data-testid="classic-count" title=p.total.to_string()>{human_count(p.total)}</td>
                <td class="num">{share(p.embeddings, &p)}</td>
                <td class="num">{share(p.attention, &p)}</td>
                <td class="num">{share(p.ffn, &p)}</td>
                <td class="num">{share(p.norms, &p)}</td>
                <td class="num">{share(p.head, &p)}</td>
            </tr>
        }
    };
    view! {
        <div class="inside-classic">
            <table class="params" data-testid="classic-table">
                <caption>"Classic models, counted from their configs"</caption>
                <thead><tr><th>"Model"</th><th>"Paper"</th><th>"Counted"</th><th>"Embed."</th><th>"Attention"</th>
                    <th>"FFN"</th><th>"Norms"</th><th>"Head"</th></tr></thead>
                <tbody>
                    {move || match model.get() {
                        JobState::Done(s) => Some(row(format!("Loaded: {}", s.label), "".into(), s.params.clone(), true)),
                        _ => None,
                    }}
                    {move || classics.result().unwrap_or_default().into_iter().map(|m| row(m.name, m.paper, m.params, false)).collect_view()}
                </tbody>
            </table>
            <JobStatus job=classics error_testid="classic-error"/>
            <p class="hint">"Small models with big vocabularies keep much of their weight in the embeddings (GPT-1: over a quarter); large ones in the feed-forward layers (GPT-3: two thirds). Paper figures are rounded; BERT-Large counts 335M, quoted as 340M."</p>
        </div>
    }
}

/// Positions and features requested for the heatmaps.
const PE_POSITIONS: u32 = 64;
const PE_DIMS: u32 = 64;

/// What each encoding is, in two sentences.
fn pe_caption(kind: &str) -> &'static str {
    match kind {
        "sinusoidal" => "Sinusoidal (\"Attention Is All You Need\"): feature 2i is sin(p / 10000^(2i/d)) and 2i+1 its cos. Left columns oscillate fast, right ones slowly, so every position gets a unique pattern, and shifting by k positions is a fixed rotation of each (sin, cos) pair.",
        "learned" => "Learned (GPT-2, BERT): one trained vector per position, like a word embedding (wpe). Nothing forces a pattern, and no position beyond the table (n_positions) exists.",
        "rope" => "Rotary (RoPE, Llama): nothing is added to the embeddings; each query/key feature pair (i, i + D/2) is rotated by the angle p·θ_i with θ_i = base^(-2i/D). Shown: cos (left half) and sin (right half) of those angles. Both q and k rotate, so q·k depends only on their distance.",
        _ => "",
    }
}

fn pe_title(kind: &str) -> &'static str {
    match kind {
        "sinusoidal" => "Sinusoidal",
        "learned" => "Learned",
        "rope" => "RoPE",
        _ => "Other",
    }
}

/// Heatmaps of the positional encodings (rows: positions, columns:
/// features), one kind at a time, and how similar two positions'
/// encodings are as a function of their distance.
#[component]
fn PositionalView() -> impl IntoView {
    let model = expect_context::<RwSignal<ModelState>>();
    let job = Job::<Vec<PositionalMatrix>>::new();
    // The last encodings stay shown while a newly loaded model's are computed.
    let encodings = Memo::new(move |prev: Option<&Vec<PositionalMatrix>>| {
        job.with(|s| match s {
            JobState::Done(e) => e.clone(),
            _ => prev.cloned().unwrap_or_default(),
        })
    });
    let chosen = RwSignal::new(String::from("sinusoidal"));
    // Ask again whenever a different model is loaded (its learned table or
    // RoPE base changes); sinusoidal and RoPE need no model. The effect's
    // previous value is the model it last asked for, so load progress
    // updates do not resend the request.
    Effect::new(move |asked_for: Option<Option<String>>| {
        let key = model.with(|m| match m {
            JobState::Done(s) => Some(format!("{}:{}:{}", s.label, s.bytes, s.model_type)),
            _ => None,
        });
        if asked_for.as_ref() == Some(&key) {
            return key;
        }
        let request = Request::Model(ModelRequest::Positions {
            positions: PE_POSITIONS,
            dims: PE_DIMS,
        });
        job.start(request, "Computing…", |r| match r {
            Response::Model(ModelResponse::Positions { encodings }) => Answer::Done(encodings),
            _ => Answer::Continue,
        });
        key
    });
    let current = move || {
        let kind = chosen.get();
        encodings.with(|e| {
            e.iter()
                .find(|m| m.kind == kind)
                .or_else(|| e.first())
                .cloned()
        })
    };
    view! {
        <div class="inside-pe">
            <h3>"Positional encodings"</h3>
            <div class="row" role="group" aria-label="Positional encoding">
                {move || encodings.get().into_iter().map(|m| {
                    let kind = m.kind.clone();
                    let pressed = { let kind = kind.clone(); move || (chosen.get() == kind).to_string() };
                    let is_chosen = { let kind = kind.clone(); move || chosen.get() == kind };
                    view! {
                        <button data-testid=format!("pe-{kind}") aria-pressed=pressed
                            class:primary=is_chosen
                            on:click={ let kind = kind.clone(); move |_| chosen.set(kind.clone()) }>{pe_title(&kind)}</button>
                    }
                }).collect_view()}
            </div>
            <JobStatus job error_testid="positions-error"/>
            {move || current().map(|m| view! { <PeHeatmap matrix=m/> })}
        </div>
    }
}

/// One encoding as an SVG heatmap (red positive, blue negative, scaled by
/// the largest magnitude) and its similarity-by-distance curve.
#[component]
fn PeHeatmap(matrix: PositionalMatrix) -> impl IntoView {
    let (rows, cols) = (matrix.rows as usize, matrix.cols as usize);
    let scale = matrix
        .values
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-9);
    let cells = matrix.values.iter().enumerate().map(|(k, &v)| {
        let (p, j) = (k / cols.max(1), k % cols.max(1));
        let a = (v / scale).clamp(-1.0, 1.0);
        let fill = if a >= 0.0 { format!("rgba(220,38,38,{:.3})", a) } else { format!("rgba(37,99,235,{:.3})", -a) };
        view! { <rect x=j y=p width="1" height="1" fill=fill><title>{format!("position {p}, feature {j}: {v:.3}")}</title></rect> }
    }).collect_view();
    let sim = matrix.similarity.clone();
    let n = sim.len().max(2);
    let points: String = sim
        .iter()
        .enumerate()
        .map(|(d, s)| {
            format!(
                "{:.2},{:.2} ",
                d as f32 * 100.0 / (n - 1) as f32,
                50.0 - s.clamp(-1.0, 1.0) * 45.0
            )
        })
        .collect();
    let sim_values = sim
        .iter()
        .take(8)
        .map(|s| format!("{s:.4}"))
        .collect::<Vec<_>>()
        .join(" ");
    view! {
        <p class="caption" data-testid="pe-caption">{pe_caption(&matrix.kind)}</p>
        <p class="hint">{format!("{rows} positions (down) × {cols} features (across); {}. Red positive, blue negative (max |value| {scale:.3}).", matrix.source)}</p>
        <svg class="pe-heatmap" data-testid="pe-heatmap" data-kind=matrix.kind.clone() data-rows=rows data-cols=cols
            viewBox=format!("0 0 {cols} {rows}") preserveAspectRatio="none" shape-rendering="crispEdges"
            role="img" aria-label=format!("{} positional encoding heatmap", pe_title(&matrix.kind))>
            {cells}
        </svg>
        <h4>"Similarity of two positions by distance"</h4>
        <svg class="pe-similarity" data-testid="pe-similarity" data-values=sim_values viewBox="0 0 100 100"
            preserveAspectRatio="none" role="img" aria-label="Mean cosine similarity against distance">
            <line x1="0" y1="50" x2="100" y2="50" class="axis"/>
            <polyline points=points fill="none" class="curve"/>
        </svg>
        <p class="hint">{format!("Mean cosine similarity of the encodings of positions d apart, d = 0 … {} (top 1, middle 0, bottom -1).", sim.len().saturating_sub(1))}</p>
    }
}
