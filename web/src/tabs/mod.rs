//! One module per tab. Every control is bound to its tab's part of the
//! shared state, so it is part of share links.

mod data;
mod evaluate;
mod finetune;
pub(crate) mod generate;
mod inside;
mod tokenize;
pub(crate) mod train;

use crate::state::AppState;
use leptos::prelude::*;
use llmlab_core::share::Tab;

/// Whether `tab` runs its jobs in the lab worker (loaded on first use), not
/// in the essentials worker that starts with the page.
pub fn needs_lab(tab: Tab) -> bool {
    match tab {
        Tab::Tokenize | Tab::Generate | Tab::Inside => false,
        Tab::Data | Tab::Train | Tab::Finetune | Tab::Evaluate => true,
    }
}

/// The open tab's content.
#[component]
pub fn TabPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    // A memo, so the open tab is rebuilt only when the tab changes, not
    // when its button is clicked again (which would reset the tab's local
    // state and the focus).
    let tab = Memo::new(move |_| state.tab.get());
    // Opening a lab tab brings up the lab worker before the first click.
    Effect::new(move |_| {
        if needs_lab(tab.get()) {
            crate::worker_client::use_lab();
        }
    });
    move || match tab.get() {
        Tab::Tokenize => view! { <tokenize::TokenizeTab/> }.into_any(),
        Tab::Generate => view! { <generate::GenerateTab/> }.into_any(),
        Tab::Inside => view! { <inside::InsideTab/> }.into_any(),
        Tab::Data => view! { <data::DataTab/> }.into_any(),
        Tab::Train => view! { <train::TrainTab/> }.into_any(),
        Tab::Finetune => view! { <finetune::FinetuneTab/> }.into_any(),
        Tab::Evaluate => view! { <evaluate::EvaluateTab/> }.into_any(),
    }
}
