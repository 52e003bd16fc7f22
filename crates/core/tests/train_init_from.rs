//! Training can start from a Hugging Face checkpoint (`llmlab train
//! --init-from DIR`): the checkpoint is loaded by the inference loader and
//! mapped into the trainer's parameters through the same name table the
//! gradients use. Exporting right away (`--steps 0`) must give back a model
//! whose logits equal the input's exactly, and options the trainer cannot
//! represent are refused by name.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::{self, AnyModel};
use llmlab_core::train::checkpoint::{config_to_json, model_from_checkpoint, model_to_safetensors};
use std::path::PathBuf;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn logits(config_json: &str, store: &WeightStore, ids: &[u32]) -> ndarray::Array2<f32> {
    match models::load(config_json, store).unwrap() {
        AnyModel::Causal(m) => m.forward(ids, None).unwrap(),
        _ => panic!("not a causal LM"),
    }
}

#[test]
fn init_from_then_export_gives_back_the_same_logits() {
    for dir in ["web/models/default", "tests/fixtures/models/llama_gqa_untied", "tests/fixtures/models/llama_for_llama2c"] {
        let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&repo(dir)).unwrap() else {
            panic!("{dir}: not a Hugging Face checkpoint");
        };
        let model = model_from_checkpoint(&config_json, &store).unwrap();
        let written = model_to_safetensors(&model).unwrap();
        let written_config = config_to_json(&model.config).to_string();
        let ids: Vec<u32> = (0..12).map(|i| (i * 7 + 3) % 30).collect();
        let before = logits(&config_json, &store, &ids);
        let after = logits(&written_config, &WeightStore::from_safetensors(written).unwrap(), &ids);
        let maxdiff = before.iter().zip(after.iter()).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{dir}: maxdiff {maxdiff}");
        assert_eq!(before, after, "{dir}: logits changed through the trainer");
    }
}

#[test]
fn init_from_refuses_options_the_trainer_cannot_represent() {
    let dir = repo("tests/fixtures/grads/llama_gqa_untied_bias_silu");
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&dir).unwrap() else {
        panic!("not a Hugging Face checkpoint");
    };
    let err = model_from_checkpoint(&config_json, &store).err().unwrap();
    assert!(format!("{err}").contains("attention_bias"), "{err}");
}
