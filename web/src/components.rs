//! Small reusable controls. Each is bound to one field of the app state
//! through a getter and a setter, so every control is automatically part of
//! share links and restored by them.

use crate::state::AppState;
use leptos::prelude::*;
use llmlab_core::share::ShareState;

/// A labelled multi-line text box bound to a text field of the state.
/// Text is always rendered as text (`prop:value`), never as HTML.
#[component]
pub fn TextField(
    /// Visible label.
    label: &'static str,
    /// `data-testid` for end-to-end tests.
    testid: &'static str,
    /// Reads the field.
    get: fn(&ShareState) -> String,
    /// Writes the field.
    set: fn(&mut ShareState, String),
    /// Visible rows.
    #[prop(default = 4)]
    rows: u32,
    /// Placeholder text.
    #[prop(default = "")]
    placeholder: &'static str,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <label class="field">
            <span class="label">{label}</span>
            <textarea
                data-testid=testid
                rows=rows
                placeholder=placeholder
                spellcheck="false"
                prop:value=move || state.with(get)
                on:input=move |ev| {
                    let value = event_target_value(&ev);
                    state.update(|s| set(s, value));
                }
            ></textarea>
        </label>
    }
}

/// A labelled number input; the value is clamped to `[min, max]`, the same
/// ranges share links are clamped to.
#[component]
pub fn NumberField(
    /// Visible label.
    label: &'static str,
    /// `data-testid` for end-to-end tests.
    testid: &'static str,
    /// Smallest allowed value.
    min: f64,
    /// Largest allowed value.
    max: f64,
    /// Step of the arrows.
    step: f64,
    /// Reads the field.
    get: fn(&ShareState) -> f64,
    /// Writes the field.
    set: fn(&mut ShareState, f64),
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <label class="field number">
            <span class="label">{label}</span>
            <input
                type="number"
                data-testid=testid
                min=min
                max=max
                step=step
                prop:value=move || state.with(get).to_string()
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<f64>() {
                        if v.is_finite() {
                            state.update(|s| set(s, v.clamp(min, max)));
                        }
                    }
                }
            />
        </label>
    }
}

/// A labelled drop-down over fixed `(value, text)` options.
#[component]
pub fn SelectField(
    /// Visible label.
    label: &'static str,
    /// `data-testid` for end-to-end tests.
    testid: &'static str,
    /// `(value, visible text)` pairs.
    options: &'static [(&'static str, &'static str)],
    /// Reads the field (one of the option values).
    get: fn(&ShareState) -> String,
    /// Writes the field.
    set: fn(&mut ShareState, String),
) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <label class="field">
            <span class="label">{label}</span>
            <select
                data-testid=testid
                prop:value=move || state.with(get)
                on:change=move |ev| {
                    let value = event_target_value(&ev);
                    state.update(|s| set(s, value));
                }
            >
                {options
                    .iter()
                    .map(|(value, text)| view! { <option value=*value>{*text}</option> })
                    .collect_view()}
            </select>
        </label>
    }
}

/// A progress bar with a label; `fraction` in `[0, 1]`.
#[component]
pub fn ProgressBar(
    /// Done so far.
    fraction: Signal<f64>,
    /// What is happening.
    label: Signal<String>,
) -> impl IntoView {
    view! {
        <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"
            aria-valuenow=move || format!("{:.0}", fraction.get() * 100.0)>
            <div class="progress-fill" style:width=move || format!("{:.1}%", fraction.get().clamp(0.0, 1.0) * 100.0)></div>
            <span class="progress-label">{move || label.get()}</span>
        </div>
    }
}

/// Plain statement that a tab's engine has not landed yet, naming the issue.
#[component]
pub fn NotLanded(
    /// What is missing, e.g. "The tokenizers".
    what: &'static str,
    /// The issue that delivers it.
    issue: u32,
) -> impl IntoView {
    view! {
        <p class="not-landed" data-testid="not-landed" role="status">
            {what} " have not landed yet (issue #" {issue} "). "
            "The inputs below are kept in share links and will work unchanged when they do."
        </p>
    }
}
