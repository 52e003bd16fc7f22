//! Evaluate tab: BLEU, chrF, ROUGE, perplexity and human evaluation.

use crate::components::{NotLanded, TextField};
use leptos::prelude::*;

/// The Evaluate tab.
#[component]
pub fn EvaluateTab() -> impl IntoView {
    view! {
        <section data-testid="panel-eval" aria-labelledby="tab-eval">
            <h2>"Evaluate"</h2>
            <NotLanded what="The metrics" issue=6/>
            <TextField label="Hypotheses (one segment per line)" testid="hyp" rows=6
                get=|s| s.hyp.clone() set=|s, v| s.hyp = v/>
            <TextField label="References (one per line; separate extra reference sets with a line ---)" testid="refs" rows=6
                get=|s| s.refs.clone() set=|s, v| s.refs = v/>
        </section>
    }
}
