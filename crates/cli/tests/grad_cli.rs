//! `llmlab grad` and `llmlab train --init-from` end to end: the gradient
//! command reproduces PyTorch's loss on a committed fixture and writes one
//! tensor per parameter, ragged batches are a clear error, and a fine-tune of
//! zero steps writes back a model with the input's logits.

mod common;
use common::{llmlab, ok_json, repo};

use serde_json::Value;

fn rows(v: &Value) -> String {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join(";")
}

#[test]
fn grad_prints_torch_loss_and_writes_every_parameter() {
    let dir = repo("tests/fixtures/grads/gpt2_tied_gelu_new_padded");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let out = std::env::temp_dir().join(format!("llmlab-grad-{}.safetensors", std::process::id()));
    let (ids, labels, mask) = (rows(&expected["input_ids"]), rows(&expected["labels"]), rows(&expected["attention_mask"]));
    let args = [
        "grad", "--model", dir.to_str().unwrap(), "--ids", &ids, "--labels", &labels, "--attention-mask", &mask, "--out",
        out.to_str().unwrap(),
    ];
    let result = ok_json(&args);
    let (loss, want) = (result["loss"].as_f64().unwrap(), expected["loss"].as_f64().unwrap());
    assert!((loss - want).abs() < 1e-4, "loss {loss} vs torch {want}");
    let store = llmlab_core::loading::WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(store.tensors.len(), expected["param_names"].as_array().unwrap().len());
    let _ = std::fs::remove_file(out);
}

#[test]
fn grad_rejects_ragged_rows_by_name() {
    let dir = repo("tests/fixtures/grads/gpt2_untied_relu");
    let out = llmlab(&["grad", "--model", dir.to_str().unwrap(), "--ids", "1,2,3;4,5", "--out", "/dev/null"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("row 2 has 2 values but row 1 has 3"), "{err}");
}

#[test]
fn init_from_with_zero_steps_writes_back_the_same_logits() {
    let model = repo("web/models/default");
    let tmp = std::env::temp_dir().join(format!("llmlab-init-from-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let corpus = tmp.join("corpus.txt");
    std::fs::write(&corpus, "Second Sailor:\nBefore we travel any further, hear my story.\n".repeat(40)).unwrap();
    let out = tmp.join("out");
    ok_json(&[
        "train", "--corpus", corpus.to_str().unwrap(), "--out", out.to_str().unwrap(), "--init-from",
        model.to_str().unwrap(), "--steps", "0",
    ]);
    let ids = "1,2,3,4,5,20,30,40";
    let before = ok_json(&["logits", "--model", model.to_str().unwrap(), "--ids", ids, "--all-positions"]);
    let after = ok_json(&["logits", "--model", out.to_str().unwrap(), "--ids", ids, "--all-positions"]);
    assert_eq!(before, after);
    let _ = std::fs::remove_dir_all(tmp);
}

#[test]
fn grad_on_t5_takes_labels_as_a_target_of_their_own_length() {
    let dir = repo("tests/fixtures/grads_encoders/t5_relu_encoder_padded");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let out = std::env::temp_dir().join(format!("llmlab-grad-t5-{}.safetensors", std::process::id()));
    let (ids, labels, mask) = (rows(&expected["input_ids"]), rows(&expected["labels"]), rows(&expected["attention_mask"]));
    assert_ne!(expected["input_ids"][0].as_array().unwrap().len(), expected["labels"][0].as_array().unwrap().len());
    let args = [
        "grad", "--model", dir.to_str().unwrap(), "--ids", &ids, "--labels", &labels, "--attention-mask", &mask, "--out",
        out.to_str().unwrap(),
    ];
    let result = ok_json(&args);
    let (loss, want) = (result["loss"].as_f64().unwrap(), expected["loss"].as_f64().unwrap());
    assert!((loss - want).abs() < 1e-4, "loss {loss} vs torch {want}");
    let store = llmlab_core::loading::WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(store.tensors.len(), expected["param_names"].as_array().unwrap().len());
    let _ = std::fs::remove_file(out);
    let missing = llmlab(&["grad", "--model", dir.to_str().unwrap(), "--ids", &ids, "--out", "/dev/null"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("t5 needs --labels"));
}
