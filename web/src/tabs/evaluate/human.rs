//! Human evaluation, as in the curriculum: rate outputs 1–5 on five
//! criteria, compare two systems blind (pairs in a seeded random order, the
//! sides hidden until revealed), and rank several outputs. Results live in
//! `localStorage` and export as JSON or CSV downloads.

use crate::components::{bind, download, TextField};
use crate::state::AppState;
use crate::storage;
use leptos::prelude::*;
use llmlab_core::rng::Rng;
use serde::{Deserialize, Serialize};

/// What each output is rated on.
pub const CRITERIA: [&str; 5] = ["fluency", "coherence", "relevance", "accuracy", "safety"];
/// Most outputs shown per task (the page stays small and usable).
const MAX_ITEMS: usize = 50;
/// `localStorage` key of the results.
const STORAGE_KEY: &str = "human_eval";

/// One output's ratings (0: not rated yet).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// Line of the output (0-based).
    pub item: usize,
    /// The output text rated (ratings of an edited line are not reused).
    pub output: String,
    /// Fluency, coherence, relevance, accuracy, safety in 1..=5, 0 = unrated.
    pub scores: [u8; 5],
}

/// A blind A/B judgement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Pair (line) index, 0-based.
    pub item: usize,
    /// `A`, `B` or `tie`.
    pub winner: String,
}

/// Everything the evaluator did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanResults {
    /// Ratings of system A's outputs.
    pub ratings: Vec<Rating>,
    /// Pairwise judgements.
    pub pairwise: Vec<Judgement>,
    /// Outputs in ranked order, best first.
    pub ranking: Vec<String>,
}

impl HumanResults {
    fn load() -> Self {
        storage::load(STORAGE_KEY)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }

    fn save(&self) {
        if let Ok(json) = serde_json::to_string(self) {
            storage::save(STORAGE_KEY, &json);
        }
    }

    fn rating(&self, item: usize, output: &str) -> [u8; 5] {
        self.ratings
            .iter()
            .find(|r| r.item == item && r.output == output)
            .map_or([0; 5], |r| r.scores)
    }

    fn set_rating(&mut self, item: usize, output: &str, criterion: usize, value: u8) {
        let position = self.ratings.iter().position(|r| r.item == item);
        let rating = match position {
            Some(p) => &mut self.ratings[p],
            None => {
                self.ratings.push(Rating {
                    item,
                    output: output.to_string(),
                    scores: [0; 5],
                });
                self.ratings.sort_by_key(|r| r.item);
                let p = self
                    .ratings
                    .iter()
                    .position(|r| r.item == item)
                    .unwrap_or(0);
                &mut self.ratings[p]
            }
        };
        if rating.output != output {
            *rating = Rating {
                item,
                output: output.to_string(),
                scores: [0; 5],
            };
        }
        if let Some(slot) = rating.scores.get_mut(criterion) {
            *slot = value.min(5);
        }
    }

    fn winner(&self, item: usize) -> Option<&str> {
        self.pairwise
            .iter()
            .find(|j| j.item == item)
            .map(|j| j.winner.as_str())
    }

    fn set_winner(&mut self, item: usize, winner: &str) {
        self.pairwise.retain(|j| j.item != item);
        self.pairwise.push(Judgement {
            item,
            winner: winner.to_string(),
        });
        self.pairwise.sort_by_key(|j| j.item);
    }

    /// The ranking restricted to `outputs`, new outputs appended in order.
    fn ranked(&self, outputs: &[String]) -> Vec<String> {
        let mut order: Vec<String> = self
            .ranking
            .iter()
            .filter(|o| outputs.contains(o))
            .cloned()
            .collect();
        order.dedup();
        for o in outputs {
            if !order.contains(o) {
                order.push(o.clone());
            }
        }
        order
    }

    /// CSV with one row per judgement: `task,item,system,criterion,value,output`.
    pub fn to_csv(&self, ranking: &[String]) -> String {
        let mut out = String::from("task,item,system,criterion,value,output\n");
        for r in &self.ratings {
            for (criterion, &v) in CRITERIA.iter().zip(&r.scores) {
                if v > 0 {
                    out.push_str(&format!(
                        "rating,{},A,{criterion},{v},{}\n",
                        r.item + 1,
                        csv_cell(&r.output)
                    ));
                }
            }
        }
        for j in &self.pairwise {
            out.push_str(&format!(
                "pairwise,{},A vs B,winner,{},\n",
                j.item + 1,
                csv_cell(&j.winner)
            ));
        }
        for (position, output) in ranking.iter().enumerate() {
            out.push_str(&format!(
                "ranking,{},,rank,{},{}\n",
                position + 1,
                position + 1,
                csv_cell(output)
            ));
        }
        out
    }
}

/// One CSV field (RFC 4180 quoting). A leading `=`, `+`, `-` or `@` gets a
/// `'` so spreadsheets do not run the text as a formula.
pub fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The non-empty lines of a text, at most [`MAX_ITEMS`].
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .take(MAX_ITEMS)
        .map(String::from)
        .collect()
}

/// The order pairs are shown in and whether A is on the left, from `seed`.
pub fn blind_order(pairs: usize, seed: u64) -> Vec<(usize, bool)> {
    let mut rng = Rng::new(seed ^ 0x4142_5f74_6573_74);
    let mut order: Vec<usize> = (0..pairs).collect();
    for i in (1..order.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
        .into_iter()
        .map(|i| (i, rng.next_u32() & 1 == 0))
        .collect()
}

/// The human evaluation section.
#[component]
pub fn HumanEval() -> impl IntoView {
    let state = expect_context::<AppState>();
    let eval = state.evaluate;
    let results = RwSignal::new(HumanResults::load());
    let revealed = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let update = move |f: &dyn Fn(&mut HumanResults)| {
        results.update(|r| {
            f(r);
            r.save();
        });
    };
    let outputs_a = Memo::new(move |_| eval.with(|s| lines(&s.hyp)));
    let outputs_b = Memo::new(move |_| eval.with(|s| lines(&s.hyp_b)));
    let to_rank = Memo::new(move |_| eval.with(|s| lines(&s.rank_outputs)));
    let ranking = Memo::new(move |_| results.with(|r| r.ranked(&to_rank.get())));
    let order = Memo::new(move |_| {
        let pairs = outputs_a.with(Vec::len).min(outputs_b.with(Vec::len));
        blind_order(pairs, state.seed.get())
    });

    let ratings = move || {
        outputs_a.get().into_iter().enumerate().map(|(item, output)| {
            let shown = output.clone();
            view! {
                <tr>
                    <td class="num">{item + 1}</td>
                    <td class="eval-output">{shown}</td>
                    {CRITERIA.iter().enumerate().map(|(c, name)| {
                        let output = output.clone();
                        let current = {
                            let output = output.clone();
                            move || results.with(|r| r.rating(item, &output)[c]).to_string()
                        };
                        view! {
                            <td>
                                <select data-testid=format!("rate-{item}-{name}") aria-label=format!("{name} of output {}", item + 1)
                                    prop:value=current
                                    on:change=move |ev| {
                                        let v: u8 = event_target_value(&ev).parse().unwrap_or(0);
                                        update(&|r| r.set_rating(item, &output, c, v));
                                    }>
                                    <option value="0">"–"</option>
                                    {(1..=5).map(|v| view! { <option value=v.to_string()>{v}</option> }).collect_view()}
                                </select>
                            </td>
                        }
                    }).collect_view()}
                </tr>
            }
        }).collect_view()
    };

    let pairs = move || {
        let a = outputs_a.get();
        let b = outputs_b.get();
        order.get().into_iter().enumerate().map(|(shown, (item, a_left))| {
            let text_a = a.get(item).cloned().unwrap_or_default();
            let text_b = b.get(item).cloned().unwrap_or_default();
            let (left, right) = if a_left { (text_a, text_b) } else { (text_b, text_a) };
            let (left_system, right_system) = if a_left { ("A", "B") } else { ("B", "A") };
            let choose = move |winner: &'static str| update(&|r| r.set_winner(item, winner));
            let picked = move |winner: &'static str| results.with(|r| r.winner(item) == Some(winner));
            view! {
                <div class="eval-pair" data-testid=format!("pair-{shown}")>
                    <p class="caption">{format!("Pair {} of {}", shown + 1, a.len().min(b.len()))}</p>
                    <div class="eval-pair-sides">
                        <div class="eval-side">
                            <span class="eval-side-label" data-testid=format!("pair-{shown}-left-label")>
                                {move || if revealed.get() { format!("Left: system {left_system}") } else { "Left".to_string() }}
                            </span>
                            <p class="eval-output" data-testid=format!("pair-{shown}-left")>{left}</p>
                        </div>
                        <div class="eval-side">
                            <span class="eval-side-label" data-testid=format!("pair-{shown}-right-label")>
                                {move || if revealed.get() { format!("Right: system {right_system}") } else { "Right".to_string() }}
                            </span>
                            <p class="eval-output" data-testid=format!("pair-{shown}-right")>{right}</p>
                        </div>
                    </div>
                    <div class="row" role="group" aria-label="Which is better?">
                        <button data-testid=format!("pair-{shown}-pick-left") aria-pressed=move || picked(left_system).to_string()
                            on:click=move |_| choose(left_system)>"Left is better"</button>
                        <button data-testid=format!("pair-{shown}-pick-tie") aria-pressed=move || picked("tie").to_string()
                            on:click=move |_| choose("tie")>"Tie"</button>
                        <button data-testid=format!("pair-{shown}-pick-right") aria-pressed=move || picked(right_system).to_string()
                            on:click=move |_| choose(right_system)>"Right is better"</button>
                    </div>
                </div>
            }
        }).collect_view()
    };
    let tally = move || {
        results.with(|r| {
            let count = |w: &str| r.pairwise.iter().filter(|j| j.winner == w).count();
            format!(
                "System A preferred {} times, system B {} times, {} ties.",
                count("A"),
                count("B"),
                count("tie")
            )
        })
    };

    let move_item = move |from: usize, to: usize| {
        let mut order = ranking.get_untracked();
        if from < order.len() && to < order.len() {
            order.swap(from, to);
            update(&|r| r.ranking = order.clone());
        }
    };
    let ranks = move || {
        let order = ranking.get();
        let n = order.len();
        order.into_iter().enumerate().map(|(position, output)| view! {
            <li data-testid=format!("rank-item-{position}")>
                <span class="eval-output">{output}</span>
                <button data-testid=format!("rank-up-{position}") aria-label=format!("Move item {} up", position + 1)
                    disabled=position == 0 on:click=move |_| move_item(position, position.saturating_sub(1))>"↑"</button>
                <button data-testid=format!("rank-down-{position}") aria-label=format!("Move item {} down", position + 1)
                    disabled={position + 1 >= n} on:click=move |_| move_item(position, position + 1)>"↓"</button>
            </li>
        }).collect_view()
    };

    let export_json = move |_| {
        let r = results.get_untracked();
        let export = serde_json::json!({
            "criteria": CRITERIA,
            "ratings": r.ratings,
            "pairwise": r.pairwise,
            "ranking": ranking.get_untracked(),
        });
        let text = serde_json::to_string_pretty(&export).unwrap_or_default();
        error.set(download("human-eval.json", "application/json", &text).err());
    };
    let export_csv = move |_| {
        let text = results.with_untracked(|r| r.to_csv(&ranking.get_untracked()));
        error.set(download("human-eval.csv", "text/csv", &text).err());
    };
    let clear = move |_| {
        update(&|r| *r = HumanResults::default());
        revealed.set(false);
    };

    view! {
        <section class="eval-human" data-testid="human-eval" aria-labelledby="human-eval-title">
            <h3 id="human-eval-title">"Human evaluation"</h3>
            <p class="hint">"Automatic metrics only count overlaps with references. People judge what they miss: is the text fluent, coherent, relevant, accurate and safe? Results stay in this browser and export as JSON or CSV."</p>

            <h4>"1. Rate each output (system A = the hypotheses above), 1 = poor … 5 = excellent"</h4>
            <table class="eval-ratings" data-testid="ratings">
                <thead><tr><th>"#"</th><th>"Output"</th>{CRITERIA.iter().map(|c| view! { <th>{*c}</th> }).collect_view()}</tr></thead>
                <tbody>{ratings}</tbody>
            </table>

            <h4>"2. Blind A/B comparison"</h4>
            <TextField label="System B outputs (one per line, paired with the hypotheses)" testid="hyp-b" rows=3
                bind=bind(eval, |s| s.hyp_b.clone(), |s, v| s.hyp_b = v)/>
            <p class="hint">"Pairs appear in a random order (from the seed), each side randomly left or right, so you cannot tell which system wrote which until you reveal it."</p>
            <div data-testid="pairs">{pairs}</div>
            <div class="row">
                <button data-testid="reveal" on:click=move |_| revealed.update(|r| *r = !*r)>
                    {move || if revealed.get() { "Hide systems" } else { "Reveal systems" }}
                </button>
                {move || revealed.get().then(|| view! { <span data-testid="pair-tally">{tally}</span> })}
            </div>

            <h4>"3. Rank several outputs (best first)"</h4>
            <TextField label="Outputs to rank (one per line)" testid="rank-outputs" rows=3
                bind=bind(eval, |s| s.rank_outputs.clone(), |s, v| s.rank_outputs = v)/>
            <ol class="eval-rank" data-testid="ranking">{ranks}</ol>

            <div class="row">
                <button data-testid="export-json" on:click=export_json>"Export JSON"</button>
                <button data-testid="export-csv" on:click=export_csv>"Export CSV"</button>
                <button data-testid="clear-human" on:click=clear>"Clear results"</button>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

// Run by `cargo test --target wasm32-unknown-unknown -p llmlab-web` (the
// web crate only builds for the browser).
#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn csv_quotes_and_guards_cells() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a, \"b\""), "\"a, \"\"b\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn blind_order_is_a_seeded_permutation() {
        let order = blind_order(10, 42);
        let mut items: Vec<usize> = order.iter().map(|&(i, _)| i).collect();
        assert_eq!(order, blind_order(10, 42));
        assert_ne!(order, blind_order(10, 43));
        items.sort_unstable();
        assert_eq!(items, (0..10).collect::<Vec<_>>());
    }
}
