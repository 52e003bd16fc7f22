//! The data pipeline against its references, from `tests/fixtures/data/`
//! (made by `scripts/fixtures/data.py`): Unicode normal forms equal Python
//! 3.11's `unicodedata.normalize` on every character both Unicode versions
//! assign; MinHash signatures, permutations and LSH `(b, r)` and candidate
//! pairs equal `datasketch` 2.0.0's.

use std::path::PathBuf;

use llmlab_core::data::lsh::{candidate_pairs, clusters, false_negative_probability, false_positive_probability, lsh_params, LshParams};
use llmlab_core::data::minhash::{sha1_hash32, signature, word_shingles, Permutations, Scheme};
use llmlab_core::data::normalize::{repair_mojibake, to_mojibake, unicode_normalize, NormalForm, REFERENCE_UNICODE_VERSION};
use llmlab_core::data::pii::PiiFormatter;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u64s(v: &Value) -> Vec<u64> {
    serde_json::from_value(v.clone()).unwrap()
}

fn scheme(v: &Value) -> Scheme {
    Scheme::from_name(v.as_str().unwrap()).unwrap()
}

#[test]
fn normal_forms_equal_python_unicodedata_on_characters_both_versions_assign() {
    let fx = fixture("normalize.json");
    let v = REFERENCE_UNICODE_VERSION;
    assert_eq!(fx["unidata_version"].as_str().unwrap(), format!("{}.{}.{}", v.0, v.1, v.2));
    let unassigned: Vec<(u32, u32)> = serde_json::from_value(fx["unassigned_ranges"].clone()).unwrap();
    let is_unassigned = |c: char| unassigned.iter().any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
    let forms = [("nfc", NormalForm::Nfc), ("nfkc", NormalForm::Nfkc), ("nfd", NormalForm::Nfd), ("nfkd", NormalForm::Nfkd)];
    let (mut compared, mut excluded, mut excluded_differing) = (0, 0, 0);
    for case in fx["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let newer = text.chars().any(is_unassigned);
        for (name, form) in forms {
            let ours = unicode_normalize(text, form);
            let theirs = case[name].as_str().unwrap();
            if newer {
                excluded += 1;
                excluded_differing += usize::from(ours != theirs);
            } else {
                assert_eq!(ours, theirs, "{name} of {text:?}");
                compared += 1;
            }
        }
    }
    // The excluded code points the crate's newer tables do normalize: the
    // only place the two versions can differ.
    let newly_active: usize = unassigned
        .iter()
        .flat_map(|&(lo, hi)| lo..=hi)
        .filter_map(char::from_u32)
        .filter(|&c| {
            let s = c.to_string();
            unicode_normalize(&s, NormalForm::Nfkd) != s || unicode_normalization::char::canonical_combining_class(c) != 0
        })
        .count();
    assert!(compared > 1500, "{compared}");
    println!(
        "normal forms: {compared} (string, form) cases identical, 0 mismatches; {excluded} excluded for code points unassigned in \
         Unicode 14 ({excluded_differing} of them differ); {newly_active} such code points decompose or combine in the crate's Unicode"
    );
}

#[test]
fn mojibake_is_the_cp1252_misreading_and_repair_undoes_it() {
    let fx = fixture("normalize.json");
    let cases = fx["mojibake"].as_array().unwrap();
    for case in cases {
        let (text, broken) = (case["text"].as_str().unwrap(), case["broken"].as_str().unwrap());
        assert_eq!(to_mojibake(text), broken);
        assert_eq!(repair_mojibake(broken), text, "{broken:?}");
    }
    println!("mojibake: {} texts broken as Python's cp1252 does and repaired", cases.len());
}

#[test]
fn minhash_signatures_equal_datasketch() {
    let fx = fixture("minhash.json");
    let docs = fx["docs"].as_array().unwrap();
    let shingles: Vec<Vec<String>> = serde_json::from_value(fx["shingles"].clone()).unwrap();
    for (doc, sh) in docs.iter().zip(&shingles) {
        assert_eq!(&word_shingles(doc.as_str().unwrap(), 3), sh, "{doc}");
    }
    for pair in fx["sha1_hash32"].as_array().unwrap() {
        assert_eq!(u64::from(sha1_hash32(pair[0].as_str().unwrap().as_bytes())), pair[1].as_u64().unwrap());
    }
    let bytes = |sh: &Vec<String>| sh.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let (mut sigs, mut values, mut perms_checked) = (0, 0, 0);
    for config in fx["configs"].as_array().unwrap() {
        let num_perm = config["num_perm"].as_u64().unwrap() as usize;
        let seed = config["seed"].as_u64().unwrap() as u32;
        let perms = Permutations::from_seed(scheme(&config["scheme"]), num_perm, seed).unwrap();
        assert_eq!(perms.a, u64s(&config["a"]), "a of {config:?}", config = (&config["scheme"], num_perm, seed));
        assert_eq!(perms.b, u64s(&config["b"]));
        perms_checked += num_perm;
        for (i, (sh, expected)) in shingles.iter().zip(config["signatures"].as_array().unwrap()).enumerate() {
            let b = bytes(sh);
            assert_eq!(signature(&perms, b.iter().map(Vec::as_slice)), u64s(expected), "doc {i}, {:?} {num_perm} {seed}", config["scheme"]);
            sigs += 1;
            values += num_perm;
        }
    }
    for case in fx["injected"].as_array().unwrap() {
        let perms = Permutations::from_arrays(scheme(&case["scheme"]), u64s(&case["a"]), u64s(&case["b"])).unwrap();
        for (sh, expected) in shingles.iter().zip(case["signatures"].as_array().unwrap()) {
            let b = bytes(sh);
            assert_eq!(signature(&perms, b.iter().map(Vec::as_slice)), u64s(expected));
            sigs += 1;
            values += perms.len();
        }
    }
    println!("minhash: {sigs} signatures ({values} values) and {perms_checked} drawn permutations identical to datasketch, 0 mismatches");
}

#[test]
fn lsh_params_and_candidate_pairs_equal_datasketch() {
    let fx = fixture("lsh.json");
    let params = fx["params"].as_array().unwrap();
    let (mut smallest_gap, mut ties) = (f64::INFINITY, 0);
    for p in params {
        let (t, n) = (p["threshold"].as_f64().unwrap(), p["num_perm"].as_u64().unwrap() as usize);
        let (b, r) = (p["b"].as_u64().unwrap() as usize, p["r"].as_u64().unwrap() as usize);
        let ours = llmlab_core::data::lsh::optimal_params(t, n, 0.5, 0.5).unwrap();
        assert_eq!(ours, LshParams { bands: b, rows: r }, "threshold {t}, num_perm {n}");
        let (fp, fn_) = (false_positive_probability(t, b, r), false_negative_probability(t, b, r));
        assert!((fp - p["fp"].as_f64().unwrap()).abs() <= 1e-10, "fp {fp} vs {}", p["fp"]);
        assert!((fn_ - p["fn"].as_f64().unwrap()).abs() <= 1e-10, "fn {fn_} vs {}", p["fn"]);
        match p["relative_gap"].as_f64() {
            Some(g) if g > 0.0 => smallest_gap = smallest_gap.min(g),
            _ => ties += 1, // an exact tie (or zero error): the first (b, r) wins in both
        }
    }
    let shingles: Vec<Vec<String>> = serde_json::from_value(fixture("minhash.json")["shingles"].clone()).unwrap();
    let cases = fx["pairs"].as_array().unwrap();
    let mut pairs_compared = 0;
    for case in cases {
        let (t, n) = (case["threshold"].as_f64().unwrap(), case["num_perm"].as_u64().unwrap() as usize);
        let params = lsh_params(t, n).unwrap();
        assert_eq!((params.bands as u64, params.rows as u64), (case["b"].as_u64().unwrap(), case["r"].as_u64().unwrap()));
        let perms = Permutations::from_seed(scheme(&case["scheme"]), n, case["seed"].as_u64().unwrap() as u32).unwrap();
        let sigs: Vec<Vec<u64>> = shingles.iter().map(|sh| signature(&perms, sh.iter().map(|s| s.as_bytes()))).collect();
        let ours = candidate_pairs(&sigs, params).unwrap();
        let theirs: Vec<(usize, usize)> = serde_json::from_value(case["pairs"].clone()).unwrap();
        assert_eq!(ours, theirs, "{case}");
        pairs_compared += theirs.len();
        // every cluster keeps exactly its smallest member
        let cluster = clusters(sigs.len(), &ours).unwrap();
        assert!(cluster.iter().enumerate().all(|(i, &c)| c <= i && cluster[c] == c));
    }
    println!(
        "lsh: {} (threshold, num_perm) -> (b, r) identical (smallest non-zero relative gap to the runner-up {smallest_gap:.2e}, {ties} exact ties); \
         {} candidate-pair sets with {pairs_compared} pairs identical, 0 mismatches",
        params.len(),
        cases.len()
    );
}

#[test]
fn pii_replacements_equal_datatrove_pii_formatter() {
    let fx = fixture("pii.json");
    let mut compared = 0;
    for (key, only_public) in [("cases", true), ("all_ips", false)] {
        // One formatter over all texts, as the fixture: the replacement cycle carries over.
        let mut formatter = PiiFormatter::default();
        formatter.only_public_ips = only_public;
        for case in fx[key].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            assert_eq!(formatter.format(text), case["formatted"].as_str().unwrap(), "{key}: {text:?}");
            compared += 1;
        }
    }
    println!("pii: {compared} texts formatted identically to datatrove's PIIFormatter, 0 mismatches");
}
