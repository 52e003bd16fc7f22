//! GGUF models run with their weights kept quantized, end to end: a GPT-2
//! (tied head, Conv1D weights) and a Llama (GQA, untied head, permuted q/k
//! rows, an F16 fallback matrix) written by `llmlab quantize` as Q8_0 and Q4_0.
//!
//! - With f32 activations, the logits equal those of the same file loaded
//!   with every weight dequantized to f32 (which `quantize_cli.rs` checks
//!   against the HF model on the dequantized weights) within 1e-4, for the
//!   prompt and for token-by-token decoding with the KV cache.
//! - With the default Q8 activations, the KL divergence from the f32 path's
//!   next-token distribution is printed and must be small.
//! - `llmlab logits --activations f32|q8` prints those logits.

use llmlab_core::loading::fs::{load_checkpoint_with_options, read_shared, Checkpoint, LoadOptions};
use llmlab_core::models::{self, AnyModel, CausalLm};
use llmlab_core::nn::linear::Activations;
use ndarray::{concatenate, Array2, Axis};
use std::path::Path;
mod common;
use common::{llmlab, ok_json, repo};

fn temp(name: &str) -> String {
    std::env::temp_dir().join(format!("llmlab-{}-{name}", std::process::id())).to_string_lossy().into_owned()
}

fn causal(path: &Path, options: LoadOptions) -> Box<dyn CausalLm> {
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint_with_options(path, &read_shared, options).unwrap() else {
        panic!("not a HF checkpoint")
    };
    match models::load(&config_json, &store).unwrap() {
        AnyModel::Causal(m) => m,
        _ => panic!("not a causal LM"),
    }
}

/// Logits `(T, V)` of the whole prompt in one pass, and of the same ids fed one at a time with the KV cache.
fn prompt_and_decode(model: &dyn CausalLm, ids: &[u32]) -> (Array2<f32>, Array2<f32>) {
    let prompt = model.forward(ids, None).unwrap();
    let mut cache = model.new_cache();
    let steps: Vec<Array2<f32>> = ids.iter().map(|&id| model.forward(&[id], Some(&mut cache)).unwrap()).collect();
    let views: Vec<_> = steps.iter().map(|s| s.view()).collect();
    (prompt, concatenate(Axis(0), &views).unwrap())
}

fn max_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// Mean over rows of KL(softmax(p) ‖ softmax(q)).
fn mean_kl(p: &Array2<f32>, q: &Array2<f32>) -> f64 {
    let log_softmax = |row: ndarray::ArrayView1<f32>| -> Vec<f64> {
        let max = row.iter().fold(f64::MIN, |m, &v| m.max(f64::from(v)));
        let log_sum = row.iter().map(|&v| (f64::from(v) - max).exp()).sum::<f64>().ln() + max;
        row.iter().map(|&v| f64::from(v) - log_sum).collect()
    };
    let total: f64 = p
        .axis_iter(Axis(0))
        .zip(q.axis_iter(Axis(0)))
        .map(|(a, b)| {
            let (la, lb) = (log_softmax(a), log_softmax(b));
            la.iter().zip(&lb).map(|(x, y)| x.exp() * (x - y)).sum::<f64>()
        })
        .sum();
    total / p.nrows() as f64
}

#[test]
fn quantized_gguf_logits_equal_the_dequantized_model_and_q8_activations_stay_close() {
    let ids = [1u32, 5, 9, 2, 7, 3, 11, 4, 8, 6, 10, 12];
    for dir in ["web/models/default", "tests/fixtures/models/llama_gqa_untied"] {
        for format in ["q8_0", "q4_0"] {
            let gguf = temp(&format!("quantized-{}-{format}.gguf", dir.replace('/', "_")));
            let info = ok_json(&["quantize", "--model", repo(dir).to_str().unwrap(), "--format", format, "--out", &gguf]);
            assert!(info["types"][format.to_uppercase()].as_u64().unwrap() > 0, "{info}");
            let path = Path::new(&gguf);
            let dequantized = causal(path, LoadOptions::default());
            let exact = causal(path, LoadOptions::quantized(Activations::F32));
            let fast = causal(path, LoadOptions::quantized(Activations::Q8));
            let (want_prompt, want_steps) = prompt_and_decode(dequantized.as_ref(), &ids);
            let (prompt, steps) = prompt_and_decode(exact.as_ref(), &ids);
            let (diff_prompt, diff_steps) = (max_diff(&prompt, &want_prompt), max_diff(&steps, &want_steps));
            println!("{dir} {format}, f32 activations: max |Δlogit| prompt {diff_prompt:.2e}, decode {diff_steps:.2e}");
            assert!(diff_prompt <= 1e-4 && diff_steps <= 1e-4, "{dir} {format}");
            let (_, q8_steps) = prompt_and_decode(fast.as_ref(), &ids);
            let kl = mean_kl(&steps, &q8_steps);
            println!("{dir} {format}, q8 activations: mean KL to the f32 path {kl:.3e}, max |Δlogit| {:.2e}", max_diff(&steps, &q8_steps));
            assert!(kl < if format == "q8_0" { 1e-2 } else { 2e-2 }, "{dir} {format}: KL {kl}");
            assert!(kl > 0.0, "{dir} {format}: the Q8 kernel was not used");

            // The CLI prints the same logits (last position) for each --activations; five
            // positions go through the decode kernel (up to 8 rows), so q8 differs from f32.
            let short = &ids[..5];
            let text = short.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            for (activations, model) in [("f32", &exact), ("q8", &fast)] {
                let expected = model.forward(short, None).unwrap();
                let out = ok_json(&["logits", "--model", &gguf, "--ids", &text, "--activations", activations]);
                let printed: Vec<f32> = out["logits"][0].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                let last = expected.row(short.len() - 1);
                let diff = printed.iter().zip(last.iter()).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(printed.len() == last.len() && diff <= 1e-5, "{dir} {format} --activations {activations}: {diff}");
            }
            std::fs::remove_file(&gguf).ok();
        }
    }
    let out = llmlab(&["logits", "--model", repo("web/models/default").to_str().unwrap(), "--ids", "1", "--activations", "q4"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --activations"));
}
