//! Train tab: a small GPT trained in the browser.

use crate::components::{NotLanded, NumberField, SelectField};
use leptos::prelude::*;
use llmlab_core::share::Precision;

const PRECISIONS: &[(&str, &str)] = &[("fp32", "fp32"), ("bf16", "bf16 + fp32 master"), ("fp16", "fp16 + loss scaling")];

/// The Train tab.
#[component]
pub fn TrainTab() -> impl IntoView {
    view! {
        <section data-testid="panel-train" aria-labelledby="tab-train">
            <h2>"Train"</h2>
            <NotLanded what="The training engine" issue=7/>
            <div class="row">
                <NumberField label="Layers" testid="train-layers" min=1.0 max=12.0 step=1.0
                    get=|s| f64::from(s.train_layers) set=|s, v| s.train_layers = v as u32/>
                <NumberField label="Heads" testid="train-heads" min=1.0 max=16.0 step=1.0
                    get=|s| f64::from(s.train_heads) set=|s, v| s.train_heads = v as u32/>
                <NumberField label="Width" testid="train-width" min=8.0 max=768.0 step=8.0
                    get=|s| f64::from(s.train_width) set=|s, v| s.train_width = v as u32/>
                <NumberField label="Context" testid="train-context" min=4.0 max=1024.0 step=4.0
                    get=|s| f64::from(s.train_context) set=|s, v| s.train_context = v as u32/>
                <NumberField label="Batch" testid="train-batch" min=1.0 max=128.0 step=1.0
                    get=|s| f64::from(s.train_batch) set=|s, v| s.train_batch = v as u32/>
            </div>
            <div class="row">
                <NumberField label="Steps" testid="train-steps" min=1.0 max=100000.0 step=100.0
                    get=|s| f64::from(s.train_steps) set=|s, v| s.train_steps = v as u32/>
                <NumberField label="Peak learning rate" testid="train-lr" min=0.000001 max=1.0 step=0.0001
                    get=|s| s.train_lr set=|s, v| s.train_lr = v/>
                <NumberField label="Warmup steps" testid="train-warmup" min=0.0 max=100000.0 step=10.0
                    get=|s| f64::from(s.train_warmup) set=|s, v| s.train_warmup = v as u32/>
                <NumberField label="Gradient accumulation" testid="train-accum" min=1.0 max=64.0 step=1.0
                    get=|s| f64::from(s.train_accum) set=|s, v| s.train_accum = v as u32/>
                <SelectField label="Precision" testid="train-precision" options=PRECISIONS
                    get=|s| s.train_precision.key().to_string()
                    set=|s, v| s.train_precision = match v.as_str() { "bf16" => Precision::Bf16, "fp16" => Precision::F16, _ => Precision::F32 }/>
            </div>
        </section>
    }
}
