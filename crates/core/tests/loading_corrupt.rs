//! A table of corrupt checkpoints, in the spirit of llama.cpp's
//! `test-gguf`: every one must be rejected with the right error and none may
//! panic or allocate from an unchecked size.

use llmlab_core::loading::safetensors::{shard_files_from_index, WeightStore};
use llmlab_core::loading::LoadError;
use llmlab_core::models::{self, llama2c, ModelError};
use std::path::PathBuf;

/// `[u64 header length][header][data]`.
fn safetensors_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn with_len(len: u64, rest: &[u8]) -> Vec<u8> {
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(rest);
    out
}

#[derive(Debug)]
enum Expect {
    TooShort,
    HeaderTooLarge,
    Safetensors,
    UnsupportedDtype,
    Pickle,
    Ok,
}

fn matches(err: &Result<WeightStore, LoadError>, expect: &Expect) -> bool {
    matches!(
        (err, expect),
        (Err(LoadError::TooShort { .. }), Expect::TooShort)
            | (Err(LoadError::HeaderTooLarge { .. }), Expect::HeaderTooLarge)
            | (Err(LoadError::Safetensors(_)), Expect::Safetensors)
            | (Err(LoadError::UnsupportedDtype { .. }), Expect::UnsupportedDtype)
            | (Err(LoadError::PickleRefused), Expect::Pickle)
            | (Ok(_), Expect::Ok)
    )
}

#[test]
fn corrupt_safetensors_files_are_rejected() {
    let eight_floats = [0u8; 32];
    let good = r#"{"a":{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}}"#;
    let table: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("valid control case", safetensors_bytes(good, &eight_floats), Expect::Ok),
        ("empty file", vec![], Expect::TooShort),
        ("truncated length field", vec![1, 0, 0], Expect::TooShort),
        ("header length past end of file", with_len(1000, b"{}"), Expect::HeaderTooLarge),
        ("huge header length", with_len(u64::MAX, b"{}"), Expect::HeaderTooLarge),
        ("header length over the budget", with_len(200_000_000, &[b' '; 16]), Expect::HeaderTooLarge),
        ("truncated header", safetensors_bytes(good, &eight_floats)[..40].to_vec(), Expect::HeaderTooLarge),
        ("bad JSON", safetensors_bytes(r#"{"a":{"dtype":"F32","#, &[]), Expect::Safetensors),
        ("header not UTF-8", with_len(4, &[0xff, 0xfe, 0xfd, 0xfc]), Expect::Safetensors),
        ("header not an object", safetensors_bytes("[1,2,3]", &[]), Expect::Safetensors),
        ("truncated data", safetensors_bytes(good, &eight_floats[..20]), Expect::Safetensors),
        ("trailing bytes", safetensors_bytes(good, &[0u8; 40]), Expect::Safetensors),
        (
            "offsets past the data",
            safetensors_bytes(r#"{"a":{"dtype":"F32","shape":[2,4],"data_offsets":[0,64]}}"#, &eight_floats),
            Expect::Safetensors,
        ),
        (
            "overlapping tensors",
            safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#,
                &eight_floats,
            ),
            Expect::Safetensors,
        ),
        (
            "reversed offsets",
            safetensors_bytes(r#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[32,0]}}"#, &eight_floats),
            Expect::Safetensors,
        ),
        (
            "shape disagrees with byte length",
            safetensors_bytes(r#"{"a":{"dtype":"F32","shape":[3,4],"data_offsets":[0,32]}}"#, &eight_floats),
            Expect::Safetensors,
        ),
        (
            "shape product overflows",
            safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,32]}}"#,
                &eight_floats,
            ),
            Expect::Safetensors,
        ),
        (
            "unknown dtype name",
            safetensors_bytes(r#"{"a":{"dtype":"F31","shape":[8],"data_offsets":[0,32]}}"#, &eight_floats),
            Expect::Safetensors,
        ),
        (
            "integer dtype",
            safetensors_bytes(r#"{"a":{"dtype":"I64","shape":[4],"data_offsets":[0,32]}}"#, &eight_floats),
            Expect::UnsupportedDtype,
        ),
        ("zip archive (torch.save)", b"PK\x03\x04rest of a zip".to_vec(), Expect::Pickle),
        ("pickle stream (protocol 2)", b"\x80\x02\x8a\x0alegacy torch".to_vec(), Expect::Pickle),
    ];
    for (name, bytes, expect) in &table {
        let result = WeightStore::from_safetensors(bytes.clone());
        assert!(matches(&result, expect), "{name}: expected {expect:?}, got {:?}", result.as_ref().err());
        if let Err(e) = &result {
            assert!(!e.to_string().is_empty());
        }
    }
    // The budget is enforced before parsing, whatever the file holds.
    let mut store = WeightStore::new();
    let small_budget = store.add_safetensors(safetensors_bytes(good, &eight_floats), 10);
    assert!(matches!(small_budget, Err(LoadError::HeaderTooLarge { .. })));
    // The refusal message points to safetensors.
    assert!(LoadError::PickleRefused.to_string().contains("safetensors"));
}

#[test]
fn non_finite_values_are_rejected() {
    let mut data = Vec::new();
    for v in [1.0f32, f32::NAN, 2.0, 3.0] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    let store =
        WeightStore::from_safetensors(safetensors_bytes(r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, &data))
            .unwrap();
    assert_eq!(store.to_f32("a"), Err(LoadError::NonFinite("a".into())));
    // f16 infinity (0x7c00) too.
    let store = WeightStore::from_safetensors(safetensors_bytes(
        r#"{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
        &[0x00, 0x3c, 0x00, 0x7c],
    ))
    .unwrap();
    assert_eq!(store.to_f32("a"), Err(LoadError::NonFinite("a".into())));
    // The zero-copy path checks too: bf16 NaN (0x7fc0).
    let store = WeightStore::from_safetensors(safetensors_bytes(
        r#"{"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#,
        &[0x80, 0x3f, 0xc0, 0x7f],
    ))
    .unwrap();
    assert_eq!(store.storage("a").unwrap_err(), LoadError::NonFinite("a".into()));
}

#[test]
fn truncated_shared_checkpoint_files_are_errors() {
    // The same bytes the CLI would memory-map, cut short at several points:
    // every cut is an error from the header checks, before any view is made.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/gpt2_f16");
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let open_cut = |cut: usize| {
        let bytes = bytes[..cut].to_vec();
        move |_: &std::path::Path| -> Result<llmlab_core::nn::storage::SharedBytes, LoadError> {
            Ok(std::sync::Arc::new(bytes.clone()))
        }
    };
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let result = llmlab_core::loading::fs::load_checkpoint_with(&dir, &open_cut(cut));
        assert!(result.is_err(), "a file cut at {cut} of {} bytes loaded", bytes.len());
    }
    assert!(llmlab_core::loading::fs::load_checkpoint_with(&dir, &open_cut(bytes.len())).is_ok());
}

fn fixture(case: &str) -> (String, WeightStore) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models").join(case);
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let store = WeightStore::from_safetensors(std::fs::read(dir.join("model.safetensors")).unwrap()).unwrap();
    (config, store)
}

fn load_err(config: &str, store: &WeightStore) -> ModelError {
    match models::load(config, store) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn edit_config(config: &str, key: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(config).unwrap();
    v[key] = value;
    v.to_string()
}

#[test]
fn checkpoints_that_disagree_with_their_config_are_rejected() {
    let (config, store) = fixture("gpt2_tied_odd_heads");
    assert!(models::load(&config, &store).is_ok());

    // Shape mismatch: config says a wider model than the tensors hold.
    let wider = edit_config(&config, "n_embd", 27.into());
    assert!(matches!(load_err(&wider, &store), ModelError::Load(LoadError::ShapeMismatch { .. })));
    // More layers than the checkpoint has: a missing tensor.
    let deeper = edit_config(&config, "n_layer", 3.into());
    assert!(matches!(load_err(&deeper, &store), ModelError::Load(LoadError::MissingTensor(_))));
    // A tensor removed.
    let mut missing = store.clone();
    missing.tensors.remove("transformer.h.1.mlp.c_fc.bias");
    assert!(matches!(load_err(&config, &missing), ModelError::Load(LoadError::MissingTensor(_))));
    // A tensor replaced with a wrong shape.
    let mut reshaped = store.clone();
    reshaped.insert_f32("transformer.ln_f.weight", vec![25], vec![1.0; 25]);
    assert!(matches!(load_err(&config, &reshaped), ModelError::Load(LoadError::ShapeMismatch { .. })));

    // Invalid configs.
    for (key, value) in [
        ("n_head", serde_json::json!(0)),
        ("n_head", serde_json::json!(5)),
        ("vocab_size", serde_json::json!(1u64 << 40)),
        ("n_layer", serde_json::json!(-1)),
        ("layer_norm_epsilon", serde_json::json!(-1.0)),
        ("activation_function", serde_json::json!("mystery")),
    ] {
        let bad = edit_config(&config, key, value.clone());
        let err = load_err(&bad, &store);
        assert!(matches!(err, ModelError::Load(LoadError::Config(_)) | ModelError::Nn(_)), "{key}={value}: {err:?}");
    }
    assert!(matches!(load_err("{not json", &store), ModelError::Load(LoadError::Config(_))));
    assert!(matches!(load_err(r#"{"model_type":"mamba"}"#, &store), ModelError::Unsupported(_)));

    // Llama: kv heads must divide heads.
    let (llama_config, llama_store) = fixture("llama_gqa_untied");
    let bad = edit_config(&llama_config, "num_key_value_heads", 3.into());
    assert!(matches!(load_err(&bad, &llama_store), ModelError::Load(LoadError::Config(_))));
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (config, store) = fixture("gpt2_tied_odd_heads");
    let models::AnyModel::Causal(model) = models::load(&config, &store).unwrap() else { panic!() };
    assert!(matches!(model.forward(&[1, 999], None), Err(ModelError::Nn(_))));
    assert!(matches!(model.forward(&[], None), Err(ModelError::BadInput(_))));
    let long: Vec<u32> = vec![1; 40]; // n_positions is 32
    assert!(matches!(model.forward(&long, None), Err(ModelError::Nn(_))));
    assert!(model.forward_batch(&[vec![1, 2], vec![3]], None, None).is_err());
    let mut cache = model.new_cache();
    model.forward_batch(&[vec![1, 2], vec![3, 4]], None, Some(&mut cache)).unwrap();
    assert!(matches!(model.reorder_cache(&mut cache, &[2]), Err(ModelError::Cache(_))));
    assert!(matches!(model.forward(&[1], Some(&mut cache)), Err(ModelError::Cache(_))));
}

#[test]
fn sharded_index_and_duplicates() {
    assert_eq!(
        shard_files_from_index(r#"{"weight_map":{"a":"m-2.safetensors","b":"m-1.safetensors","c":"m-2.safetensors"}}"#).unwrap(),
        vec!["m-1.safetensors".to_string(), "m-2.safetensors".to_string()]
    );
    for bad in [r#"{"weight_map":{"a":"../../etc/passwd"}}"#, r#"{"weight_map":{}}"#, r#"{"metadata":{}}"#, "{", r#"{"weight_map":{"a":3}}"#] {
        assert!(matches!(shard_files_from_index(bad), Err(LoadError::Index(_))), "{bad}");
    }
    let shard = safetensors_bytes(r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, &[0, 0, 128, 63]);
    let mut store = WeightStore::new();
    store.add_safetensors(shard.clone(), 1 << 20).unwrap();
    assert!(matches!(store.add_safetensors(shard, 1 << 20), Err(LoadError::DuplicateTensor(_))));
}

/// 300,000 distinct shard names are refused with the limit named, after
/// reading at most `MAX_SHARDS + 1` of them (the old de-duplication accepted
/// them all, comparing each name with every earlier one: 4.5e10 string
/// comparisons). A limit's worth of names repeated over 300,000 entries is
/// accepted, sorted and unique.
#[test]
fn shard_index_with_too_many_files_is_refused_quickly() {
    use llmlab_core::loading::safetensors::MAX_SHARDS;
    use std::fmt::Write;
    let index = |entries: usize, distinct: usize| {
        let mut json = String::from(r#"{"weight_map":{"#);
        for i in 0..entries {
            let sep = if i == 0 { "" } else { "," };
            write!(json, r#"{sep}"t{i}":"s{}.safetensors""#, i % distinct).unwrap();
        }
        json.push_str("}}");
        json
    };
    let err = shard_files_from_index(&index(300_000, 300_000)).unwrap_err();
    assert_eq!(err, LoadError::TooManyShards { limit: MAX_SHARDS });
    assert!(err.to_string().contains(&MAX_SHARDS.to_string()), "{err}");
    let files = shard_files_from_index(&index(300_000, MAX_SHARDS)).unwrap();
    assert_eq!(files.len(), MAX_SHARDS);
    assert!(files.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
}

#[test]
fn corrupt_llama2c_files_are_rejected() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/llama2c/model.bin");
    let good = std::fs::read(path).unwrap();
    assert!(llama2c::load(&good).is_ok());
    let header = |fields: [i32; 7]| fields.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
    let mut truncated = good.clone();
    truncated.truncate(good.len() - 4);
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0; 4]);
    let mut nan = good.clone();
    nan[28..32].copy_from_slice(&f32::NAN.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("short header", good[..20].to_vec()),
        ("truncated weights", truncated),
        ("trailing bytes", trailing),
        ("zero dim", header([0, 8, 1, 2, 2, 10, 8])),
        ("negative layers", header([8, 8, -1, 2, 2, 10, 8])),
        ("heads do not divide dim", header([10, 8, 1, 3, 3, 10, 8])),
        ("kv heads do not divide heads", header([8, 8, 1, 4, 3, 10, 8])),
        ("absurd sizes", header([i32::MAX, i32::MAX, 1000, 1, 1, i32::MAX, i32::MAX])),
        ("i32::MIN vocab", header([8, 8, 1, 2, 2, i32::MIN, 8])),
        ("NaN weight", nan),
    ];
    for (name, bytes) in cases {
        assert!(llama2c::load(&bytes).is_err(), "{name} was accepted");
    }
}
