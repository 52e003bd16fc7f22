//! Small reusable controls. Each is bound to one setting of a tab's state
//! through a [`Bind`] (a `create_slice` of the tab's signal), so every
//! control is automatically part of share links and restored by them.

use leptos::prelude::*;

/// A control's two-way binding to one setting: its value, read reactively,
/// and a setter.
pub type Bind<V> = (Signal<V>, SignalSetter<V>);

/// Binds a control to one field of a tab's settings. A slice only wakes its
/// control when that field changes, not on every edit of the tab's state.
pub fn bind<T, V>(settings: RwSignal<T>, get: fn(&T) -> V, set: fn(&mut T, V)) -> Bind<V>
where
    T: Send + Sync + 'static,
    V: PartialEq + Clone + Send + Sync + 'static,
{
    create_slice(settings, get, set)
}

/// A labelled multi-line text box bound to a text setting.
/// Text is always rendered as text (`prop:value`), never as HTML.
#[component]
pub fn TextField(
    /// Visible label.
    label: &'static str,
    /// `data-testid` for end-to-end tests.
    testid: &'static str,
    /// The setting.
    bind: Bind<String>,
    /// Visible rows.
    #[prop(default = 4)]
    rows: u32,
    /// Placeholder text.
    #[prop(default = "")]
    placeholder: &'static str,
) -> impl IntoView {
    let (value, set) = bind;
    view! {
        <label class="field">
            <span class="label">{label}</span>
            <textarea
                data-testid=testid
                rows=rows
                placeholder=placeholder
                spellcheck="false"
                prop:value=move || value.get()
                on:input=move |ev| set.set(event_target_value(&ev))
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
    /// The setting, as a number.
    bind: Bind<f64>,
) -> impl IntoView {
    let (value, set) = bind;
    view! {
        <label class="field number">
            <span class="label">{label}</span>
            <input
                type="number"
                data-testid=testid
                min=min
                max=max
                step=step
                prop:value=move || value.get().to_string()
                on:change=move |ev| {
                    if let Ok(v) = event_target_value(&ev).trim().parse::<f64>() {
                        if v.is_finite() {
                            set.set(v.clamp(min, max));
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
    /// The setting, as one of the option values.
    bind: Bind<String>,
) -> impl IntoView {
    let (value, set) = bind;
    view! {
        <label class="field">
            <span class="label">{label}</span>
            <select
                data-testid=testid
                prop:value=move || value.get()
                on:change=move |ev| set.set(event_target_value(&ev))
            >
                {options
                    .iter()
                    .map(|(value, text)| view! { <option value=*value>{*text}</option> })
                    .collect_view()}
            </select>
        </label>
    }
}

/// A checkbox bound to a switch setting.
#[component]
pub fn CheckField(
    /// Visible label, after the box.
    label: &'static str,
    /// `data-testid` for end-to-end tests.
    testid: &'static str,
    /// The setting.
    bind: Bind<bool>,
    /// CSS class of the label.
    #[prop(default = "check")]
    class: &'static str,
    /// Tooltip.
    #[prop(default = "")]
    title: &'static str,
) -> impl IntoView {
    let (value, set) = bind;
    view! {
        <label class=class title=title>
            <input type="checkbox" data-testid=testid
                prop:checked=move || value.get()
                on:change=move |ev| set.set(event_target_checked(&ev))/>
            {label}
        </label>
    }
}

/// Make whitespace in a token visible.
pub fn visible(token: &str) -> String {
    token
        .replace(' ', "␣")
        .replace('\n', "↵")
        .replace('\t', "⇥")
        .replace('\r', "␍")
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

/// Starts a browser download of `text` as `name`.
pub fn download(name: &str, mime: &str, text: &str) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|_| "Could not create the file.")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|_| "Could not create a download link.")?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("No document.")?;
    let anchor = document
        .create_element("a")
        .map_err(|_| "Could not create a link.")?;
    let _ = anchor.set_attribute("href", &url);
    let _ = anchor.set_attribute("download", name);
    let anchor: web_sys::HtmlElement = anchor.dyn_into().map_err(|_| "Could not create a link.")?;
    if let Some(body) = document.body() {
        let _ = body.append_child(&anchor);
    }
    anchor.click();
    anchor.remove();
    // Revoke later: the download reads the URL after this handler returns.
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        std::time::Duration::from_secs(30),
    );
    Ok(())
}
