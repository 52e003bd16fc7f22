//! `llmlab logits --adapter` and `llmlab grad --adapter` on adapters other
//! than LoRA: peft's prefix tuning (tests/fixtures/prefix_tuning, from
//! scripts/fixtures/prefix_tuning.py) and bottleneck adapters
//! (tests/fixtures/bottleneck, from scripts/fixtures/bottleneck.py). The
//! adapter type is read from `adapter_config.json`; the logits are the
//! reference's and the gradients carry the saved names and torch's loss.

use std::path::PathBuf;
mod common;
use common::{llmlab, ok_json, repo};

use llmlab_core::loading::WeightStore;
use serde_json::Value;

fn rows(v: &Value) -> String {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    rows.iter().map(|r| r.iter().map(i64::to_string).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join(";")
}

fn expected(case: &PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap()
}

#[test]
fn logits_with_a_prefix_adapter_equal_peft_model() {
    for (case, base) in [("gpt2_p4", "gpt2"), ("llama_gqa_p6_projection", "llama_gqa")] {
        let dir = repo("tests/fixtures/prefix_tuning").join(case);
        let want = expected(&dir);
        let ids: Vec<Vec<i64>> = serde_json::from_value(want["ids"].clone()).unwrap();
        let ids = ids[0].iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let base = repo("tests/fixtures/prefix_tuning/bases").join(base);
        let adapter = dir.join("adapter");
        let ours = ok_json(&[
            "logits",
            "--model",
            base.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--ids",
            &ids,
            "--all-positions",
        ]);
        let ours: Vec<Vec<f32>> = serde_json::from_value(ours["logits"].clone()).unwrap();
        let theirs: Vec<Vec<Vec<f32>>> = serde_json::from_value(want["logits"].clone()).unwrap();
        let diff = ours.iter().flatten().zip(theirs[0].iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert_eq!(ours.len(), theirs[0].len());
        assert!(diff < 1e-4, "{case}: logits maxdiff {diff}");
    }
}

#[test]
fn grad_with_a_prefix_adapter_writes_only_its_gradients_under_peft_names() {
    for (case, base) in [("llama_gqa_p2", "llama_gqa"), ("gpt2_p3_projection", "gpt2")] {
        let dir = repo("tests/fixtures/prefix_tuning").join(case);
        let want = expected(&dir);
        let out = std::env::temp_dir().join(format!("llmlab-prefix-grad-{case}-{}.safetensors", std::process::id()));
        let base = repo("tests/fixtures/prefix_tuning/bases").join(base);
        let adapter = dir.join("adapter");
        let (ids, labels, mask) = (rows(&want["ids"]), rows(&want["labels"]), rows(&want["attention_mask"]));
        let result = ok_json(&[
            "grad",
            "--model",
            base.to_str().unwrap(),
            "--adapter",
            adapter.to_str().unwrap(),
            "--ids",
            &ids,
            "--labels",
            &labels,
            "--attention-mask",
            &mask,
            "--out",
            out.to_str().unwrap(),
        ]);
        let (loss, torch_loss) = (result["loss"].as_f64().unwrap(), want["loss"].as_f64().unwrap());
        assert!((loss - torch_loss).abs() < 1e-4, "{case}: loss {loss} vs torch {torch_loss}");
        let ours = WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
        let theirs = WeightStore::from_safetensors(std::fs::read(dir.join("adapter_grads.safetensors")).unwrap()).unwrap();
        assert_eq!(ours.names(), theirs.names(), "{case}");
        for name in theirs.names() {
            let (a, b) = (ours.to_f32(&name).unwrap(), theirs.to_f32(&name).unwrap());
            let scale = b.iter().fold(f32::MIN_POSITIVE, |m, x| m.max(x.abs()));
            let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale;
            assert!(diff < 1e-4, "{case} {name}: relative maxdiff {diff}");
        }
        let _ = std::fs::remove_file(out);
    }
}

#[test]
fn an_unknown_peft_type_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("llmlab-prefix-ia3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("adapter_config.json"), r#"{"peft_type":"IA3"}"#).unwrap();
    std::fs::write(dir.join("adapter_model.safetensors"), b"").unwrap();
    let base = repo("tests/fixtures/prefix_tuning/bases/gpt2");
    let out = llmlab(&["logits", "--model", base.to_str().unwrap(), "--adapter", dir.to_str().unwrap(), "--ids", "1,2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("IA3"), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bottleneck_adapters_work_through_logits_and_grad() {
    let dir = repo("tests/fixtures/bottleneck/llama_gelu_r3");
    let want = expected(&dir);
    let base = repo("tests/fixtures/prefix_tuning/bases/llama");
    let adapter = dir.join("adapter");
    let ids: Vec<Vec<i64>> = serde_json::from_value(want["ids"].clone()).unwrap();
    let first = ids[0].iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let ours =
        ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", adapter.to_str().unwrap(), "--ids", &first, "--all-positions"]);
    let ours: Vec<Vec<f32>> = serde_json::from_value(ours["logits"].clone()).unwrap();
    let theirs: Vec<Vec<Vec<f32>>> = serde_json::from_value(want["logits"].clone()).unwrap();
    let diff = ours.iter().flatten().zip(theirs[0].iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-4, "logits maxdiff {diff}");
    let out = std::env::temp_dir().join(format!("llmlab-bottleneck-grad-{}.safetensors", std::process::id()));
    let result = ok_json(&[
        "grad",
        "--model",
        base.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--ids",
        &rows(&want["ids"]),
        "--labels",
        &rows(&want["labels"]),
        "--attention-mask",
        &rows(&want["attention_mask"]),
        "--out",
        out.to_str().unwrap(),
    ]);
    let (loss, torch_loss) = (result["loss"].as_f64().unwrap(), want["loss"].as_f64().unwrap());
    assert!((loss - torch_loss).abs() < 1e-4, "loss {loss} vs torch {torch_loss}");
    let ours = WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
    let theirs = WeightStore::from_safetensors(std::fs::read(dir.join("adapter_grads.safetensors")).unwrap()).unwrap();
    assert_eq!(ours.names(), theirs.names());
    let _ = std::fs::remove_file(out);
}

#[test]
fn lora_train_with_method_prefix_or_bottleneck_lowers_the_validation_loss() {
    let base = repo("web/models/default");
    let corpus = std::env::temp_dir().join(format!("llmlab-method-corpus-{}.txt", std::process::id()));
    std::fs::write(&corpus, "the cat sat on the mat. ".repeat(200)).unwrap();
    for method in [
        &["prefix", "--num-virtual-tokens", "4"][..],
        &["prefix", "--num-virtual-tokens", "3", "--prefix-projection"],
        &["bottleneck", "--bottleneck-size", "8"],
    ] {
        let out = std::env::temp_dir().join(format!("llmlab-method-{}-{}", method.len(), std::process::id()));
        let mut args = vec![
            "lora",
            "train",
            "--model",
            base.to_str().unwrap(),
            "--corpus",
            corpus.to_str().unwrap(),
            "--steps",
            "15",
            "--lr",
            "1e-2",
            "--context",
            "32",
            "--out",
            out.to_str().unwrap(),
            "--method",
        ];
        args.extend_from_slice(method);
        let report = ok_json(&args);
        let (before, after) = (report["val_loss_before"].as_f64().unwrap(), report["val_loss_after"].as_f64().unwrap());
        assert!(after < 0.8 * before, "{method:?}: validation loss {before} -> {after}");
        let ids = "1,2,3";
        let adapted = ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", out.to_str().unwrap(), "--ids", ids]);
        let plain = ok_json(&["logits", "--model", base.to_str().unwrap(), "--ids", ids]);
        assert_ne!(adapted, plain, "{method:?}: the trained adapter changes the model");
        let _ = std::fs::remove_dir_all(out);
    }
    let _ = std::fs::remove_file(corpus);
}

#[test]
fn the_instruction_recipe_trains_a_bottleneck_adapter_with_method() {
    let base = repo("web/models/default");
    let out = std::env::temp_dir().join(format!("llmlab-method-builtin-{}", std::process::id()));
    let report = ok_json(&[
        "lora",
        "train",
        "--model",
        base.to_str().unwrap(),
        "--builtin",
        "--steps",
        "4",
        "--method",
        "bottleneck",
        "--bottleneck-size",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(report["held_out"].as_array().is_some_and(|a| !a.is_empty()), "{report}");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(config["peft_type"], "BOTTLENECK");
    let adapted = ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", out.to_str().unwrap(), "--ids", "1,2,3"]);
    assert!(adapted["logits"].is_array());
    let _ = std::fs::remove_dir_all(out);
}
