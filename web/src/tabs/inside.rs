//! Inside the model: attention, positional encodings, parameter counts.

use crate::components::{NotLanded, NumberField};
use leptos::prelude::*;

/// The "Inside the model" tab.
#[component]
pub fn InsideTab() -> impl IntoView {
    view! {
        <section data-testid="panel-inside" aria-labelledby="tab-inside">
            <h2>"Inside the model"</h2>
            <NotLanded what="The transformer and its introspection" issue=4/>
            <div class="row">
                <NumberField label="Layer" testid="layer" min=0.0 max=127.0 step=1.0
                    get=|s| f64::from(s.layer) set=|s, v| s.layer = v as u32/>
                <NumberField label="Head" testid="head" min=0.0 max=127.0 step=1.0
                    get=|s| f64::from(s.head) set=|s, v| s.head = v as u32/>
            </div>
        </section>
    }
}
