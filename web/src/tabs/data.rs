//! The Data tab: a corpus through the data pipeline, stage by stage.
//!
//! The user pastes text or picks files (text or JSONL, several at once),
//! switches stages on and off and sets their thresholds (the settings are
//! part of share links; the corpus never is), and runs the worker's `data`
//! job, the same `llmlab_core::data::pipeline` as `llmlab data run`. Files
//! are handed to the worker as `blob:` URLs, so it streams them in chunks.
//! The result shows the funnel (documents and words after each stage), the
//! removed documents with the rule that removed them, near-duplicate
//! clusters side by side with the words that differ highlighted, and the
//! PII found before it was replaced. The cleaned corpus can be downloaded
//! as JSONL or sent to the Train tab. Every text is rendered as text.

use crate::components::{bind, download, CheckField, NumberField, SelectField};
use crate::job::{Answer, Job, JobStatus};
use crate::state::AppState;
use leptos::prelude::*;
use llmlab_core::data::normalize::{NormalForm, NormalizeConfig};
use llmlab_core::data::pipeline::{
    ExactStage, NearDedupStage, NormalizeStage, PiiKind, PiiStage, PipelineConfig, PipelineOutput, QualityStage, Replacement, Stage,
    TextSplit,
};
use llmlab_core::share::{DataSettings, Tab};
use llmlab_wasm::protocol::data::{DataRequest, DataResponse, DataSource};
use llmlab_wasm::protocol::{Request, Response};
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

const SPLITS: &[(&str, &str)] = &[
    ("paragraph", "Text: documents separated by blank lines"),
    ("line", "Text: one document per line"),
    ("whole", "Text: one document"),
    ("jsonl", "JSONL: one {\"text\": …} per line"),
];
const FORMS: &[(&str, &str)] = &[("nfc", "NFC"), ("nfkc", "NFKC"), ("nfd", "NFD"), ("nfkd", "NFKD"), ("none", "none")];
const REPLACEMENTS: &[(&str, &str)] = &[
    ("tag", "Tag: <EMAIL>"),
    ("pseudonym", "Pseudonym: <EMAIL_1> per value"),
    ("mask", "Mask: ****"),
    ("datatrove", "datatrove's example values"),
];
/// Characters of a removed document shown in its list item.
const SHOWN_CHARS: usize = 300;

/// A finished run.
#[derive(Clone, Debug, PartialEq)]
struct Finished {
    output: PipelineOutput,
    bytes: f64,
    millis: f64,
}

/// What the tab keeps while it is closed: the pasted text, the picked
/// files and the last result (the corpus is never in the link).
#[derive(Default)]
struct Kept {
    text: String,
    files: Vec<web_sys::File>,
    result: Option<Arc<Finished>>,
}

thread_local! {
    static KEPT: RefCell<Kept> = RefCell::new(Kept::default());
}

/// The pipeline config the settings describe.
fn pipeline_config(s: &DataSettings) -> PipelineConfig {
    let text_split = match s.data_split.as_str() {
        "line" => TextSplit::Line,
        "whole" => TextSplit::Whole,
        _ => TextSplit::Paragraph,
    };
    let kinds = [
        (s.data_pii_email, PiiKind::Email),
        (s.data_pii_ip, PiiKind::Ip),
        (s.data_pii_card, PiiKind::Card),
        (s.data_pii_iban, PiiKind::Iban),
        (s.data_pii_phone, PiiKind::Phone),
    ];
    let replacement = match s.data_replacement.as_str() {
        "pseudonym" => Replacement::Pseudonym,
        "mask" => Replacement::Mask,
        "datatrove" => Replacement::Datatrove,
        _ => Replacement::Tag,
    };
    let quality_filters: Vec<String> = [(s.data_quality_gopher, "gopher"), (s.data_quality_c4, "c4"), (s.data_quality_fineweb, "fineweb")]
        .into_iter()
        .filter_map(|(on, name)| on.then(|| name.to_string()))
        .collect();
    PipelineConfig {
        text_split,
        normalize: NormalizeStage {
            enabled: s.data_normalize,
            options: NormalizeConfig {
                repair_mojibake: s.data_mojibake,
                form: NormalForm::from_name(&s.data_form),
                ..NormalizeConfig::default()
            },
        },
        exact: ExactStage { documents: s.data_exact_documents, lines: s.data_exact_lines },
        quality: QualityStage { enabled: !quality_filters.is_empty(), filters: quality_filters },
        near_dedup: NearDedupStage {
            enabled: s.data_near,
            num_perm: s.data_num_perm as usize,
            seed: s.data_seed,
            threshold: s.data_threshold,
            shingle_words: s.data_shingle_words as usize,
            ..NearDedupStage::default()
        },
        pii: PiiStage {
            enabled: s.data_pii,
            kinds: kinds.iter().filter(|(on, _)| *on).map(|&(_, k)| k).collect(),
            replacement,
            all_ips: false,
        },
        max_examples: 50,
    }
}

fn stage_label(stage: Stage) -> &'static str {
    match stage {
        Stage::Input => "input",
        Stage::Normalize => "normalized",
        Stage::ExactDocuments => "exact duplicates removed",
        Stage::ExactLines => "repeated lines removed",
        Stage::Quality => "quality filtered",
        Stage::NearDuplicates => "near duplicates removed",
        Stage::Pii => "PII replaced",
    }
}

fn stage_key(stage: Stage) -> &'static str {
    match stage {
        Stage::Input => "input",
        Stage::Normalize => "normalize",
        Stage::ExactDocuments => "exact_documents",
        Stage::ExactLines => "exact_lines",
        Stage::Quality => "quality",
        Stage::NearDuplicates => "near_duplicates",
        Stage::Pii => "pii",
    }
}

fn rule_label(rule: &str) -> String {
    match rule {
        "exact_duplicate" => "exact duplicate".into(),
        "near_duplicate" => "near duplicate (MinHash LSH)".into(),
        "only_repeated_lines" => "only lines already seen in earlier documents".into(),
        "empty_after_normalization" => "empty after normalization".into(),
        other => other.into(),
    }
}

fn pii_key(kind: PiiKind) -> &'static str {
    match kind {
        PiiKind::Email => "email",
        PiiKind::Ip => "ip",
        PiiKind::Card => "card",
        PiiKind::Iban => "iban",
        PiiKind::Phone => "phone",
    }
}

fn shorten(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn human_bytes(bytes: f64) -> String {
    if bytes >= 1e6 {
        format!("{:.1} MB", bytes / 1e6)
    } else {
        format!("{:.1} KB", bytes / 1e3)
    }
}

/// The Data tab.
#[component]
pub fn DataTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let ds = state.data;
    let text = RwSignal::new(KEPT.with(|k| k.borrow().text.clone()));
    let file_names = RwSignal::new(KEPT.with(|k| k.borrow().files.iter().map(|f| (f.name(), f.size())).collect::<Vec<_>>()));
    let job = Job::<Arc<Finished>>::new();
    let last = Memo::new(move |_| job.result().or_else(|| KEPT.with(|k| k.borrow().result.clone())));
    let error = RwSignal::new(None::<String>);

    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(list) = input.files() else { return };
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        file_names.set(files.iter().map(|f| (f.name(), f.size())).collect());
        KEPT.with(|k| k.borrow_mut().files = files);
    };
    let run = move || {
        let settings = ds.get_untracked();
        let pasted = text.get_untracked();
        let mut sources = Vec::new();
        if !pasted.trim().is_empty() {
            sources.push(DataSource::Text { name: "pasted text".into(), jsonl: settings.data_split == "jsonl", text: pasted });
        }
        let mut urls = Vec::new();
        for file in KEPT.with(|k| k.borrow().files.clone()) {
            match web_sys::Url::create_object_url_with_blob(&file) {
                Ok(url) => {
                    urls.push(url.clone());
                    sources.push(DataSource::Blob { name: file.name(), url, bytes: file.size() });
                }
                Err(_) => {
                    error.set(Some(format!("{} could not be opened.", file.name())));
                    return;
                }
            }
        }
        if sources.is_empty() {
            error.set(Some("Paste some text or pick files first.".into()));
            return;
        }
        error.set(None);
        let request = Request::Data(DataRequest::Run { config: pipeline_config(&settings), sources });
        job.start(request, "Starting the pipeline…", move |r| {
            for url in &urls {
                let _ = web_sys::Url::revoke_object_url(url);
            }
            match r {
                Response::Data(DataResponse::Finished { output, bytes, millis }) => {
                    let finished = Arc::new(Finished { output, bytes, millis });
                    KEPT.with(|k| k.borrow_mut().result = Some(finished.clone()));
                    Answer::Done(finished)
                }
                other => Answer::Failed(format!("Unexpected answer: {other:?}")),
            }
        });
    };
    let export = move || {
        if let Some(result) = last.get_untracked() {
            error.set(download("cleaned.jsonl", "application/x-ndjson", &result.output.to_jsonl()).err());
        }
    };
    let train_on_this = move || {
        if let Some(result) = last.get_untracked() {
            let corpus: Vec<&str> = result.output.documents.iter().map(|d| d.text.as_str()).collect();
            let name = format!("cleaned corpus ({} documents)", corpus.len());
            crate::tabs::train::use_text(state, corpus.join("\n\n"), name);
            state.tab.set(Tab::Train);
        }
    };
    let on = |get: fn(&DataSettings) -> bool, set: fn(&mut DataSettings, bool)| bind(ds, get, set);

    view! {
        <section class="data" data-testid="panel-data" aria-labelledby="tab-data">
            <h2>"Data"</h2>
            <p class="hint">"A corpus through the pipeline that pre-training sets (FineWeb, Dolma) are built with: normalization, exact and near-duplicate removal, PII replacement. The worker runs the same code as "
                <code>"llmlab data run"</code>"; files are streamed in chunks."</p>
            <fieldset>
                <legend>"Corpus"</legend>
                <label class="field">
                    <span class="label">"Paste text"</span>
                    <textarea data-testid="data-text" rows=6 spellcheck="false" placeholder="Documents separated by blank lines, or JSONL"
                        prop:value=move || text.get()
                        on:input=move |ev| {
                            let value = event_target_value(&ev);
                            KEPT.with(|k| k.borrow_mut().text = value.clone());
                            text.set(value);
                        }></textarea>
                </label>
                <div class="row">
                    <SelectField label="Pasted text and .txt files are" testid="data-split" options=SPLITS
                        bind=bind(ds, |s| s.data_split.clone(), |s, v| s.data_split = v)/>
                    <label class="field">
                        <span class="label">"Or upload files (.txt, .jsonl; several at once)"</span>
                        <input type="file" multiple accept=".txt,.jsonl,.ndjson,text/plain" data-testid="data-upload" on:change=on_files/>
                    </label>
                </div>
                <ul class="hint" data-testid="data-files">
                    {move || file_names.get().into_iter().map(|(name, size)| view! { <li>{format!("{name} ({})", human_bytes(size))}</li> }).collect_view()}
                </ul>
            </fieldset>
            <fieldset>
                <legend>"Stages"</legend>
                <div class="row">
                    <CheckField label="1. Normalize" testid="data-normalize" bind=on(|s| s.data_normalize, |s, v| s.data_normalize = v)/>
                    <SelectField label="Unicode form" testid="data-form" options=FORMS bind=bind(ds, |s| s.data_form.clone(), |s, v| s.data_form = v)/>
                    <CheckField label="repair mojibake" testid="data-mojibake" bind=on(|s| s.data_mojibake, |s, v| s.data_mojibake = v)/>
                </div>
                <div class="row">
                    <CheckField label="2. Exact duplicate documents" testid="data-exact-docs" bind=on(|s| s.data_exact_documents, |s, v| s.data_exact_documents = v)/>
                    <CheckField label="3. Lines seen in earlier documents" testid="data-exact-lines" bind=on(|s| s.data_exact_lines, |s, v| s.data_exact_lines = v)/>
                </div>
                <div class="row" role="group" aria-label="Quality filters">
                    <span class="label">"4. Quality filters (datatrove's rules and thresholds)"</span>
                    <CheckField label="Gopher (quality + repetition)" testid="data-quality-gopher" bind=on(|s| s.data_quality_gopher, |s, v| s.data_quality_gopher = v)/>
                    <CheckField label="C4" testid="data-quality-c4" bind=on(|s| s.data_quality_c4, |s, v| s.data_quality_c4 = v)/>
                    <CheckField label="FineWeb" testid="data-quality-fineweb" bind=on(|s| s.data_quality_fineweb, |s, v| s.data_quality_fineweb = v)/>
                </div>
                <div class="row">
                    <CheckField label="5. Near duplicates (MinHash LSH)" testid="data-near" bind=on(|s| s.data_near, |s, v| s.data_near = v)/>
                    <NumberField label="Jaccard threshold" testid="data-threshold" min=0.05 max=0.95 step=0.05
                        bind=bind(ds, |s| s.data_threshold, |s, v| s.data_threshold = v)/>
                    <NumberField label="Permutations" testid="data-num-perm" min=16.0 max=512.0 step=16.0
                        bind=bind(ds, |s| f64::from(s.data_num_perm), |s, v| s.data_num_perm = v as u32)/>
                    <NumberField label="Words per shingle" testid="data-shingle" min=1.0 max=10.0 step=1.0
                        bind=bind(ds, |s| f64::from(s.data_shingle_words), |s, v| s.data_shingle_words = v as u32)/>
                    <NumberField label="Seed" testid="data-seed" min=0.0 max=1000000.0 step=1.0
                        bind=bind(ds, |s| f64::from(s.data_seed), |s, v| s.data_seed = v as u32)/>
                </div>
                <div class="row">
                    <CheckField label="6. PII" testid="data-pii" bind=on(|s| s.data_pii, |s, v| s.data_pii = v)/>
                    <CheckField label="e-mail" testid="data-pii-email" bind=on(|s| s.data_pii_email, |s, v| s.data_pii_email = v)/>
                    <CheckField label="IP" testid="data-pii-ip" bind=on(|s| s.data_pii_ip, |s, v| s.data_pii_ip = v)/>
                    <CheckField label="card" testid="data-pii-card" bind=on(|s| s.data_pii_card, |s, v| s.data_pii_card = v)/>
                    <CheckField label="IBAN" testid="data-pii-iban" bind=on(|s| s.data_pii_iban, |s, v| s.data_pii_iban = v)/>
                    <CheckField label="phone" testid="data-pii-phone" bind=on(|s| s.data_pii_phone, |s, v| s.data_pii_phone = v)/>
                    <SelectField label="Replace with" testid="data-replacement" options=REPLACEMENTS
                        bind=bind(ds, |s| s.data_replacement.clone(), |s, v| s.data_replacement = v)/>
                </div>
            </fieldset>
            <div class="row">
                <button class="primary" data-testid="data-run" disabled=move || job.is_running() on:click=move |_| run()>"Run the pipeline"</button>
                <button data-testid="data-export" disabled=move || last.with(Option::is_none) on:click=move |_| export()>"Export cleaned JSONL"</button>
                <button data-testid="data-train" disabled=move || last.with(Option::is_none) on:click=move |_| train_on_this()>"Train on this"</button>
            </div>
            <JobStatus job=job what="The pipeline" error_testid="data-error" bar=true cancel_testid="data-cancel"/>
            {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="data-input-error">{e}</p> })}
            {move || last.get().map(|result| view! { <DataReport result=result/> })}
        </section>
    }
}

/// Everything a finished run shows.
#[component]
fn DataReport(result: Arc<Finished>) -> impl IntoView {
    let report = &result.output.report;
    let seconds = result.millis / 1000.0;
    let summary = format!(
        "{} of {} documents kept; {} read in {:.2} s ({:.1} MB/s).",
        result.output.documents.len(),
        report.stages.first().map_or(0, |s| s.documents),
        human_bytes(result.bytes),
        seconds,
        result.bytes / 1e6 / seconds.max(1e-9)
    );
    let removed = report.removed.clone();
    let counts = report.removed_counts.clone();
    let lines = report.removed_lines.clone();
    let clusters = report.clusters.clone();
    let pii = report.pii.clone();
    let pii_counts = report.pii_counts.clone();
    view! {
        <p data-testid="data-summary" data-kept=result.output.documents.len()>{summary}</p>
        <h3>"Funnel"</h3>
        <Funnel stages=report.stages.clone()/>
        <h3>"Removed"</h3>
        <ul data-testid="data-removed-counts">
            {counts.into_iter().map(|c| view! { <li>{format!("{}: {} documents", rule_label(&c.rule), c.documents)}</li> }).collect_view()}
        </ul>
        <ol class="data-removed" data-testid="data-removed">
            {removed.into_iter().map(|r| {
                let what = match r.kept {
                    Some(k) => format!("Document #{}: {} of #{k}", r.document, rule_label(&r.rule)),
                    None => format!("Document #{}: {}", r.document, rule_label(&r.rule)),
                };
                view! {
                    <li data-testid="data-removed-item" data-rule=r.rule.clone() data-document=r.document data-kept=r.kept.map(|k| k.to_string()).unwrap_or_default()>
                        <strong>{what}</strong>
                        <blockquote>{shorten(&r.text, SHOWN_CHARS)}</blockquote>
                    </li>
                }
            }).collect_view()}
        </ol>
        {(report.removed_line_count > 0).then(|| view! {
            <h4>{format!("{} repeated lines removed", report.removed_line_count)}</h4>
            <ul data-testid="data-removed-lines">
                {lines.into_iter().map(|l| view! { <li>{format!("#{} (first in #{}): ", l.document, l.first_document)}<code>{l.line}</code></li> }).collect_view()}
            </ul>
        })}
        <h3>{format!("Near-duplicate clusters ({})", report.cluster_count)}</h3>
        {report.lsh.map(|p| view! { <p class="hint">{format!("LSH: {} bands of {} rows; highlighted words are missing from the other document.", p.bands, p.rows)}</p> })}
        <div data-testid="data-clusters">
            {clusters.into_iter().map(|c| {
                let kept_text = c.kept_text.clone();
                let kept = c.kept;
                c.members.into_iter().map(move |m| view! {
                    <div class="data-pair" data-testid="data-cluster" data-kept=kept data-document=m.document
                        data-estimated=format!("{:.4}", m.estimated_jaccard) data-true=format!("{:.4}", m.true_jaccard)>
                        <p>{format!("#{} (kept) and #{} (removed): estimated Jaccard {:.2} (MinHash), true Jaccard {:.2} (shingle sets)", kept, m.document, m.estimated_jaccard, m.true_jaccard)}</p>
                        <div class="data-side-by-side">
                            <Differing text=kept_text.clone() other=m.text.clone()/>
                            <Differing text=m.text.clone() other=kept_text.clone()/>
                        </div>
                    </div>
                }).collect_view()
            }).collect_view()}
        </div>
        <h3>"PII"</h3>
        <ul data-testid="data-pii-counts">
            {pii_counts.into_iter().map(|c| view! { <li>{format!("{}: {}", pii_key(c.kind), c.found)}</li> }).collect_view()}
        </ul>
        <div data-testid="data-pii">
            {pii.into_iter().map(|example| view! {
                <p class="data-pii-doc" data-document=example.document>
                    <strong>{format!("#{}: ", example.document)}</strong>
                    <PiiText text=example.text spans=example.spans/>
                </p>
            }).collect_view()}
        </div>
    }
}

/// Bars of documents (and, thinner, words) left after each stage.
#[component]
fn Funnel(stages: Vec<llmlab_core::data::pipeline::StageCount>) -> impl IntoView {
    const ROW: f64 = 30.0;
    const BAR: f64 = 260.0;
    let first = stages.first().map_or((1, 1), |s| (s.documents.max(1), s.tokens.max(1)));
    let height = ROW * stages.len() as f64;
    view! {
        <svg data-testid="data-funnel" viewBox=format!("0 0 640 {height}") width="640" height=height role="img" aria-label="Documents and words after each stage">
            {stages.into_iter().enumerate().map(|(i, s)| {
                let y = i as f64 * ROW;
                let docs = BAR * s.documents as f64 / first.0 as f64;
                let words = BAR * s.tokens as f64 / first.1 as f64;
                view! {
                    <g data-testid=format!("funnel-{}", stage_key(s.stage)) data-documents=s.documents data-tokens=s.tokens>
                        <rect x=(BAR - docs) / 2.0 y=y + 2.0 width=docs height="16" class="funnel-docs" fill="#4c78a8"/>
                        <rect x=(BAR - words) / 2.0 y=y + 20.0 width=words height="5" class="funnel-words" fill="#f58518"/>
                        <text x=BAR + 12.0 y=y + 16.0 font-size="13">{format!("{}: {} documents, {} words", stage_label(s.stage), s.documents, s.tokens)}</text>
                    </g>
                }
            }).collect_view()}
        </svg>
    }
}

/// `text` word by word, the words absent from `other` marked.
#[component]
fn Differing(text: String, other: String) -> impl IntoView {
    let theirs: HashSet<&str> = other.split_whitespace().collect();
    let words: Vec<(String, bool)> = text.split_whitespace().map(|w| (w.to_string(), !theirs.contains(w))).collect();
    view! {
        <blockquote class="data-doc">
            {words.into_iter().map(|(w, differs)| if differs {
                view! { <mark data-testid="data-diff-word">{w}</mark>" " }.into_any()
            } else {
                view! { {w}" " }.into_any()
            }).collect_view()}
        </blockquote>
    }
}

/// `text` with its PII spans marked, each followed by its replacement.
#[component]
fn PiiText(text: String, spans: Vec<llmlab_core::data::pipeline::PiiSpan>) -> impl IntoView {
    let mut pieces = Vec::new();
    let mut pos = 0;
    for span in spans {
        if span.start < pos || span.end > text.len() {
            continue;
        }
        pieces.push(view! { {text.get(pos..span.start).unwrap_or_default().to_string()} }.into_any());
        let value = text.get(span.start..span.end).unwrap_or_default().to_string();
        pieces.push(
            view! {
                <mark class="pii" data-testid="data-pii-span" data-kind=pii_key(span.kind) data-replacement=span.replacement.clone()>{value}</mark>
                <small>{format!(" → {}", span.replacement)}</small>
            }
            .into_any(),
        );
        pos = span.end;
    }
    pieces.push(view! { {text.get(pos..).unwrap_or_default().to_string()} }.into_any());
    pieces.into_iter().collect_view()
}
