//! Generate tab: decoding strategies, step by step.

use crate::components::{NotLanded, NumberField, SelectField, TextField};
use leptos::prelude::*;
use llmlab_core::share::{EarlyStopping, Strategy};

const STRATEGIES: &[(&str, &str)] = &[("greedy", "Greedy"), ("beam", "Beam search"), ("sample", "Sampling")];
const EARLY_STOPPING: &[(&str, &str)] = &[("false", "false (heuristic)"), ("true", "true"), ("never", "never")];

/// The Generate tab.
#[component]
pub fn GenerateTab() -> impl IntoView {
    view! {
        <section data-testid="panel-gen" aria-labelledby="tab-gen">
            <h2>"Generate"</h2>
            <NotLanded what="Text generation and the model" issue=5/>
            <TextField label="Prompt" testid="prompt" rows=5 placeholder="Once upon a time"
                get=|s| s.prompt.clone() set=|s, v| s.prompt = v/>
            <div class="row">
                <SelectField label="Strategy" testid="strategy" options=STRATEGIES
                    get=|s| s.strategy.key().to_string()
                    set=|s, v| s.strategy = match v.as_str() { "beam" => Strategy::Beam, "sample" => Strategy::Sample, _ => Strategy::Greedy }/>
                <NumberField label="Max new tokens" testid="max-new-tokens" min=1.0 max=1024.0 step=1.0
                    get=|s| f64::from(s.max_new_tokens) set=|s, v| s.max_new_tokens = v as u32/>
                <NumberField label="Min new tokens" testid="min-new-tokens" min=0.0 max=1024.0 step=1.0
                    get=|s| f64::from(s.min_new_tokens) set=|s, v| s.min_new_tokens = v as u32/>
                <NumberField label="Seed" testid="seed" min=0.0 max=9007199254740991.0 step=1.0
                    get=|s| s.seed as f64 set=|s, v| s.seed = v as u64/>
            </div>
            <fieldset class="row">
                <legend>"Beam search"</legend>
                <NumberField label="Beams" testid="num-beams" min=1.0 max=8.0 step=1.0
                    get=|s| f64::from(s.num_beams) set=|s, v| s.num_beams = v as u32/>
                <NumberField label="Length penalty" testid="length-penalty" min=-5.0 max=5.0 step=0.1
                    get=|s| s.length_penalty set=|s, v| s.length_penalty = v/>
                <SelectField label="Early stopping" testid="early-stopping" options=EARLY_STOPPING
                    get=|s| s.early_stopping.key().to_string()
                    set=|s, v| s.early_stopping = match v.as_str() { "true" => EarlyStopping::True, "never" => EarlyStopping::Never, _ => EarlyStopping::False }/>
                <NumberField label="Return sequences" testid="num-return" min=1.0 max=8.0 step=1.0
                    get=|s| f64::from(s.num_return_sequences) set=|s, v| s.num_return_sequences = v as u32/>
                <NumberField label="No-repeat n-gram" testid="no-repeat-ngram" min=0.0 max=10.0 step=1.0
                    get=|s| f64::from(s.no_repeat_ngram) set=|s, v| s.no_repeat_ngram = v as u32/>
            </fieldset>
            <fieldset class="row">
                <legend>"Sampling"</legend>
                <NumberField label="Temperature" testid="temperature" min=0.0 max=5.0 step=0.05
                    get=|s| s.temperature set=|s, v| s.temperature = v/>
                <NumberField label="Top-k (0 = off)" testid="top-k" min=0.0 max=1000.0 step=1.0
                    get=|s| f64::from(s.top_k) set=|s, v| s.top_k = v as u32/>
                <NumberField label="Top-p (1 = off)" testid="top-p" min=0.0 max=1.0 step=0.01
                    get=|s| s.top_p set=|s, v| s.top_p = v/>
                <NumberField label="Min-p (0 = off)" testid="min-p" min=0.0 max=1.0 step=0.01
                    get=|s| s.min_p set=|s, v| s.min_p = v/>
                <NumberField label="Typical-p (1 = off)" testid="typical-p" min=0.0 max=1.0 step=0.01
                    get=|s| s.typical_p set=|s, v| s.typical_p = v/>
                <NumberField label="Repetition penalty" testid="repetition-penalty" min=0.5 max=3.0 step=0.05
                    get=|s| s.repetition_penalty set=|s, v| s.repetition_penalty = v/>
            </fieldset>
        </section>
    }
}
