//! Knowledge-distillation parity with PyTorch (fixtures from
//! `scripts/fixtures/distillation.py`): for a tiny random student and a
//! larger teacher with the same vocabulary, the loss
//! `α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1−α)·CE` (both terms means over
//! the scored tokens, torch's `kl_div(..., reduction="batchmean")`) and the
//! gradient of every student parameter must match `loss.backward()` within
//! 1e-4 of the tensor's largest magnitude.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::{DistillationSettings, GradInput, Trainable};
use serde_json::Value;
use std::path::{Path, PathBuf};

const TOLERANCE: f32 = 1e-4;

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/distillation").join(case)
}

fn load(dir: &Path) -> Trainable {
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(dir).unwrap() else { panic!("not HF") };
    Trainable::load(&config_json, &store).unwrap()
}

fn rows<T>(v: &Value, f: impl Fn(i64) -> T) -> Vec<Vec<T>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| f(x.as_i64().unwrap())).collect()).collect()
}

fn check_case(case: &str) {
    let dir = fixture_dir(case);
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let (student, teacher) = (load(&dir.join("student")), load(&dir.join("teacher")));
    let input = GradInput {
        input_ids: rows(&expected["input_ids"], |x| x as u32),
        labels: Some(rows(&expected["labels"], |x| x)),
        attention_mask: Some(rows(&expected["attention_mask"], |x| x as u8)),
    };
    let settings = DistillationSettings {
        temperature: expected["temperature"].as_f64().unwrap() as f32,
        alpha: expected["alpha"].as_f64().unwrap() as f32,
    };
    let out = student.distillation_gradients(&teacher, &input, settings).unwrap();
    for (what, ours, key) in [("loss", out.grad.loss, "loss"), ("kl", out.kl, "kl"), ("ce", out.cross_entropy, "ce")] {
        let want = expected[key].as_f64().unwrap();
        println!("{case}: {what} {ours:.7} vs torch {want:.7} (diff {:.2e})", (ours - want).abs());
        assert!((ours - want).abs() <= 1e-4 * want.abs().max(1.0), "{case}: {what} {ours} vs {want}");
    }
    let names: Vec<&str> = expected["param_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert_eq!(out.grad.gradients.len(), names.len(), "{case}: one gradient per named parameter");
    let torch = WeightStore::from_safetensors(std::fs::read(dir.join("grads.safetensors")).unwrap()).unwrap();
    let mut worst = 0.0f32;
    for g in &out.grad.gradients {
        assert!(names.contains(&g.name.as_str()), "{case}: unexpected gradient {}", g.name);
        assert_eq!(torch.shape(&g.name).unwrap(), &g.shape[..], "{case}: shape of {}", g.name);
        let want = torch.to_f32(&g.name).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let maxdiff = g.data.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{case}: {} maxdiff {maxdiff:.2e} (largest {scale:.2e})", g.name);
        assert!(maxdiff <= TOLERANCE * scale.max(1e-6), "{case}: {} maxdiff {maxdiff} vs largest {scale}", g.name);
        worst = worst.max(maxdiff / scale.max(1e-6));
    }
    println!("{case}: worst relative gradient maxdiff {worst:.2e}");
}

#[test]
fn distillation_gpt2_student_gpt2_teacher_with_padding_matches_torch() {
    check_case("gpt2_from_gpt2_padded");
}

#[test]
fn distillation_llama_student_gpt2_teacher_matches_torch() {
    check_case("llama_from_gpt2");
}

#[test]
fn distillation_pure_kl_at_temperature_one_matches_torch() {
    check_case("gpt2_pure_kl_t1");
}

#[test]
fn distillation_rejects_bad_settings_and_vocabularies() {
    let dir = fixture_dir("gpt2_from_gpt2_padded");
    let (student, teacher) = (load(&dir.join("student")), load(&dir.join("teacher")));
    let input = GradInput { input_ids: vec![vec![1, 2, 3]], labels: None, attention_mask: None };
    for settings in [DistillationSettings { temperature: 0.0, alpha: 0.5 }, DistillationSettings { temperature: 2.0, alpha: 1.5 }] {
        assert!(student.distillation_gradients(&teacher, &input, settings).is_err());
    }
}
