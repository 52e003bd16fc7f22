//! Browser decode benchmark (issues #4 and #5): greedy decoding speed of a
//! GPT-2-small-shaped model (12 layers, width 768, 12 heads, vocabulary
//! 50257, random weights) in headless Chromium, with and without the KV
//! cache, and the wasm SIMD128 dot-product kernel checked against the
//! scalar one.
//!
//! Run alone (the numbers are printed to the console log):
//! `wasm-pack test --headless --chrome crates/wasm --test decode_bench`
//! (add `--release` for optimised code; `scripts/test.sh` runs the dev
//! profile). The native counterpart is `llmlab bench-decode`.
#![cfg(target_arch = "wasm32")]

use llmlab_core::loading::WeightStore;
use llmlab_core::models::gpt2::Gpt2;
use llmlab_core::models::CausalLm;
use llmlab_core::nn::linear;
use llmlab_core::rng::Rng;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const LAYERS: usize = 12;
const WIDTH: usize = 768;
const VOCAB: usize = 50257;
const POSITIONS: usize = 1024;
const PROMPT_TOKENS: usize = 8;
const NEW_TOKENS: usize = 8;

/// Uniform values with standard deviation `std` (as `llmlab bench-decode`).
fn random_values(rng: &mut Rng, n: usize, std: f32) -> Vec<f32> {
    let half_width = std * 3f32.sqrt();
    (0..n).map(|_| (rng.uniform_f32() * 2.0 - 1.0) * half_width).collect()
}

/// The same random checkpoint layout as `llmlab bench-decode`.
fn random_gpt2(rng: &mut Rng) -> Gpt2 {
    let (c, v, p) = (WIDTH, VOCAB, POSITIONS);
    let config = format!(
        r#"{{"model_type":"gpt2","vocab_size":{v},"n_positions":{p},"n_embd":{c},"n_layer":{LAYERS},"n_head":{}}}"#,
        c / 64
    );
    let mut store = WeightStore::new();
    let mut put = |name: String, shape: Vec<usize>, std: f32| {
        let n = shape.iter().product();
        let values = if std == 0.0 { vec![1.0; n] } else { random_values(rng, n, std) };
        store.insert_f32(&name, shape, values);
    };
    put("wte.weight".into(), vec![v, c], 0.02);
    put("wpe.weight".into(), vec![p, c], 0.01);
    for l in 0..LAYERS {
        for (name, shape, std) in [
            ("ln_1.weight", vec![c], 0.0),
            ("ln_1.bias", vec![c], 0.01),
            ("attn.c_attn.weight", vec![c, 3 * c], 0.02),
            ("attn.c_attn.bias", vec![3 * c], 0.01),
            ("attn.c_proj.weight", vec![c, c], 0.02),
            ("attn.c_proj.bias", vec![c], 0.01),
            ("ln_2.weight", vec![c], 0.0),
            ("ln_2.bias", vec![c], 0.01),
            ("mlp.c_fc.weight", vec![c, 4 * c], 0.02),
            ("mlp.c_fc.bias", vec![4 * c], 0.01),
            ("mlp.c_proj.weight", vec![4 * c, c], 0.02),
            ("mlp.c_proj.bias", vec![c], 0.01),
        ] {
            put(format!("h.{l}.{name}"), shape, std);
        }
    }
    put("ln_f.weight".into(), vec![c], 0.0);
    put("ln_f.bias".into(), vec![c], 0.01);
    Gpt2::load(&config, &store).unwrap()
}

/// Index of the first largest value.
fn argmax<'a>(row: impl IntoIterator<Item = &'a f32>) -> u32 {
    let (mut best, mut best_value) = (0, f32::NEG_INFINITY);
    for (i, &v) in row.into_iter().enumerate() {
        if v > best_value {
            (best, best_value) = (i, v);
        }
    }
    best as u32
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
fn simd_dot_kernel_equals_the_scalar_kernel() {
    let mut rng = Rng::new(7);
    for len in [0usize, 1, 15, 16, 17, 64, 100, 768, 3073] {
        let a = random_values(&mut rng, len, 1.0);
        let b = random_values(&mut rng, len, 1.0);
        let scalar = linear::dot_scalar(&a, &b);
        assert_eq!(linear::dot(&a, &b).to_bits(), scalar.to_bits(), "len {len}");
        #[cfg(target_feature = "simd128")]
        assert_eq!(linear::dot_simd128(&a, &b).to_bits(), scalar.to_bits(), "len {len}");
        let exact: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
        assert!((f64::from(scalar) - exact).abs() <= 1e-4 * (1.0 + exact.abs()), "len {len}: {scalar} vs {exact}");
    }
}

#[wasm_bindgen_test]
fn gpt2_small_decode_with_and_without_kv_cache() {
    let simd = cfg!(target_feature = "simd128");
    let start = now_ms();
    let mut rng = Rng::new(0);
    let model = random_gpt2(&mut rng);
    let prompt: Vec<u32> = (0..PROMPT_TOKENS).map(|_| rng.below(VOCAB as u64) as u32).collect();
    let build_ms = now_ms() - start;

    // With the KV cache: one prefill pass, then one token per step.
    let mut cache = model.new_cache();
    let logits = model.forward(&prompt, Some(&mut cache)).unwrap();
    let mut next = argmax(logits.row(logits.nrows() - 1));
    let mut cached_ids = prompt.clone();
    let mut last_cached_logits = Vec::new();
    let t0 = now_ms();
    for _ in 0..NEW_TOKENS {
        cached_ids.push(next);
        let logits = model.forward(&[next], Some(&mut cache)).unwrap();
        last_cached_logits = logits.row(0).to_vec();
        next = argmax(logits.row(0));
    }
    let cached_ms = now_ms() - t0;

    // Without a cache: every step runs the whole sequence again.
    let mut full_ids = prompt.clone();
    let logits = model.forward(&full_ids, None).unwrap();
    let mut next_full = argmax(logits.row(logits.nrows() - 1));
    let mut last_full_logits = Vec::new();
    let t0 = now_ms();
    for _ in 0..NEW_TOKENS {
        full_ids.push(next_full);
        let logits = model.forward(&full_ids, None).unwrap();
        last_full_logits = logits.row(logits.nrows() - 1).to_vec();
        next_full = argmax(logits.row(logits.nrows() - 1));
    }
    let full_ms = now_ms() - t0;

    assert_eq!(cached_ids, full_ids, "greedy tokens differ with and without the cache");
    assert_eq!(next, next_full);
    let max_diff = last_cached_logits.iter().zip(&last_full_logits).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = last_full_logits.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    assert!(max_diff <= 1e-4 * (1.0 + scale), "KV-cached logits differ from full-forward logits by {max_diff} (scale {scale})");

    let cached_rate = NEW_TOKENS as f64 / (cached_ms / 1000.0);
    let full_rate = NEW_TOKENS as f64 / (full_ms / 1000.0);
    let report = format!(
        "decode_bench: GPT-2-small shape ({LAYERS} layers, width {WIDTH}, vocab {VOCAB}), simd128={simd}, \
         prompt {PROMPT_TOKENS}, {NEW_TOKENS} new tokens: with KV cache {cached_rate:.2} tok/s ({cached_ms:.0} ms), \
         without {full_rate:.2} tok/s ({full_ms:.0} ms), speed-up {:.2}x; max |logit diff| {max_diff:.2e}; model built in {build_ms:.0} ms",
        cached_rate / full_rate
    );
    console_log!("{report}");
    assert!(cached_rate > full_rate, "{report}");
}
