//! The number detectors (`llmlab_core::data::pii_numbers`) measured on the
//! labelled synthetic sets of `tests/fixtures/data/` (made by
//! `scripts/fixtures/data_pii_synthetic.py`): precision and recall per
//! kind, a detection counting only when kind, start and end are all exact.
//! The rules were tuned on `pii_synthetic.json`; `pii_synthetic_heldout.json`
//! (another seed) was only measured.

use std::collections::BTreeMap;
use std::path::PathBuf;

use llmlab_core::data::pii_numbers::{find_numbers, NumberKind, NumberSpan};

/// kind -> (true positives, predicted, labelled)
fn measure(name: &str) -> BTreeMap<NumberKind, (usize, usize, usize)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/data").join(name);
    let fx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut counts = BTreeMap::new();
    for case in fx["texts"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let truth: Vec<NumberSpan> = serde_json::from_value(case["spans"].clone()).unwrap();
        for s in find_numbers(text) {
            let c = counts.entry(s.kind).or_insert((0, 0, 0));
            c.1 += 1;
            c.0 += usize::from(truth.contains(&s));
        }
        for s in &truth {
            counts.entry(s.kind).or_insert((0, 0, 0)).2 += 1;
        }
    }
    counts
}

#[test]
fn detectors_keep_precision_and_recall_on_the_labelled_sets() {
    let mut below = Vec::new();
    for name in ["pii_synthetic.json", "pii_synthetic_heldout.json"] {
        let counts = measure(name);
        for kind in [NumberKind::Card, NumberKind::Iban, NumberKind::Phone] {
            let (tp, predicted, labelled) = counts.get(&kind).copied().unwrap_or_default();
            let (precision, recall) = (tp as f64 / predicted.max(1) as f64, tp as f64 / labelled.max(1) as f64);
            println!("{name}: {kind:?}: precision {precision:.3} ({tp}/{predicted}), recall {recall:.3} ({tp}/{labelled})");
            // floors a little under the committed figures, so a regression fails
            let floor = if kind == NumberKind::Phone { 0.93 } else { 0.95 };
            if precision < floor || recall < floor {
                below.push((name, kind, precision, recall));
            }
        }
    }
    assert!(below.is_empty(), "below the floors: {below:?}");
}
