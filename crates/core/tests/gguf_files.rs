//! GGUF reading and writing.
//!
//! - A file written by Python's `gguf.GGUFWriter` (`tests/fixtures/quantization/python_writer.gguf`,
//!   made by `scripts/fixtures/quantization.py`) is read exactly as
//!   `gguf.GGUFReader` reads it (every metadata type, arrays, alignment 64,
//!   nine tensor types), and writing what we read gives the same bytes back.
//! - A table of hostile files (huge counts and lengths, overflowing
//!   dimensions, unknown types, misaligned, out-of-range and overlapping
//!   tensors) is refused with the expected error, without allocating.

use llmlab_core::quantization::gguf::{GgufArray, GgufError, GgufFile, GgufValue, GgufWriter};
use llmlab_core::quantization::GgmlType;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quantization").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json_matches(value: &GgufValue, ty: &str, expected: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (value, ty) {
        (GgufValue::U8(v), "UINT8") => expected.as_u64() == Some(u64::from(*v)),
        (GgufValue::I8(v), "INT8") => expected.as_i64() == Some(i64::from(*v)),
        (GgufValue::U16(v), "UINT16") => expected.as_u64() == Some(u64::from(*v)),
        (GgufValue::I16(v), "INT16") => expected.as_i64() == Some(i64::from(*v)),
        (GgufValue::U32(v), "UINT32") => expected.as_u64() == Some(u64::from(*v)),
        (GgufValue::I32(v), "INT32") => expected.as_i64() == Some(i64::from(*v)),
        (GgufValue::U64(v), "UINT64") => expected.as_u64() == Some(*v),
        (GgufValue::I64(v), "INT64") => expected.as_i64() == Some(*v),
        (GgufValue::F32(v), "FLOAT32") => expected.as_f64() == Some(f64::from(*v)),
        (GgufValue::F64(v), "FLOAT64") => expected.as_f64() == Some(*v),
        (GgufValue::Bool(v), "BOOL") => expected.as_bool() == Some(*v),
        (GgufValue::String(v), "STRING") => expected.as_str() == Some(v.as_str()),
        (GgufValue::Array(a), "array") => {
            let J::Array(items) = expected else { return a.element_type() == llmlab_core::quantization::gguf::ValueType::Array };
            let as_values: Vec<(GgufValue, &str)> = match a {
                GgufArray::I32(v) => v.iter().map(|&x| (GgufValue::I32(x), "INT32")).collect(),
                GgufArray::F32(v) => v.iter().map(|&x| (GgufValue::F32(x), "FLOAT32")).collect(),
                GgufArray::U64(v) => v.iter().map(|&x| (GgufValue::U64(x), "UINT64")).collect(),
                GgufArray::Bool(v) => v.iter().map(|&x| (GgufValue::Bool(x), "BOOL")).collect(),
                GgufArray::String(v) => v.iter().map(|x| (GgufValue::String(x.clone()), "STRING")).collect(),
                _ => return false,
            };
            as_values.len() == items.len() && as_values.iter().zip(items).all(|((v, t), e)| json_matches(v, t, e))
        }
        _ => false,
    }
}

#[test]
fn python_written_gguf_reads_as_gguf_reader_reads_it() {
    let bytes = fixture("python_writer.gguf");
    let expected: serde_json::Value = serde_json::from_slice(&fixture("python_writer.gguf.json")).unwrap();
    let file = GgufFile::parse(&bytes).unwrap();
    assert_eq!(file.version, 3);
    assert_eq!(file.alignment as u64, expected["alignment"].as_u64().unwrap());
    let metadata = expected["metadata"].as_array().unwrap();
    assert_eq!(file.metadata.len(), metadata.len());
    for ((key, value), e) in file.metadata.iter().zip(metadata) {
        assert_eq!(key, e["key"].as_str().unwrap());
        assert!(json_matches(value, e["type"].as_str().unwrap(), &e["value"]), "{key}: {value:?} vs {e}");
    }
    assert_eq!(
        file.get("test.array_nested"),
        Some(&GgufValue::Array(GgufArray::Array(vec![GgufArray::I32(vec![1, 2]), GgufArray::I32(vec![3])])))
    );
    let tensors = expected["tensors"].as_array().unwrap();
    assert_eq!(file.tensors.len(), tensors.len());
    for (t, e) in file.tensors.iter().zip(tensors) {
        assert_eq!(t.name, e["name"].as_str().unwrap());
        assert_eq!(t.ty.name(), e["type"].as_str().unwrap());
        let ne: Vec<u64> = e["ne"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(t.dims, ne, "{}", t.name);
        assert_eq!(file.data_start as u64 + t.offset, e["offset"].as_u64().unwrap(), "{}", t.name);
        let data = file.tensor_bytes(&bytes, &t.name).unwrap();
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, e["bytes_hex"].as_str().unwrap(), "{}", t.name);
        let bits: Vec<u32> = file.tensor_f32(&bytes, &t.name).unwrap().iter().map(|v| v.to_bits()).collect();
        let expected_bits: Vec<u32> = e["dequant_bits"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u32).collect();
        assert_eq!(bits, expected_bits, "{}", t.name);
    }
    println!("python_writer.gguf: {} keys, {} tensors read exactly", file.metadata.len(), file.tensors.len());
}

#[test]
fn writing_what_was_read_gives_gguf_writers_bytes_back() {
    let bytes = fixture("python_writer.gguf");
    let file = GgufFile::parse(&bytes).unwrap();
    let mut writer = GgufWriter::new();
    for (key, value) in &file.metadata {
        writer.add_metadata(key, value.clone());
    }
    for t in &file.tensors {
        writer.add_tensor(&t.name, &t.shape(), t.ty, file.tensor_bytes(&bytes, &t.name).unwrap().to_vec()).unwrap();
    }
    let ours = writer.to_bytes();
    assert_eq!(ours.len(), bytes.len());
    assert!(ours == bytes, "first difference at byte {:?}", ours.iter().zip(&bytes).position(|(a, b)| a != b));
}

#[test]
fn every_value_type_round_trips_including_empty_arrays() {
    let values = vec![
        ("u8", GgufValue::U8(7)),
        ("i8", GgufValue::I8(-7)),
        ("u16", GgufValue::U16(700)),
        ("i16", GgufValue::I16(-700)),
        ("u32", GgufValue::U32(70000)),
        ("i32", GgufValue::I32(-70000)),
        ("f32", GgufValue::F32(-0.0)),
        ("bool", GgufValue::Bool(false)),
        ("string", GgufValue::String(String::new())),
        ("u64", GgufValue::U64(u64::MAX)),
        ("i64", GgufValue::I64(i64::MIN)),
        ("f64", GgufValue::F64(f64::MIN_POSITIVE)),
        ("empty", GgufValue::Array(GgufArray::U8(vec![]))),
        ("empty_strings", GgufValue::Array(GgufArray::String(vec![]))),
        ("i8s", GgufValue::Array(GgufArray::I8(vec![-1, 1]))),
        ("u16s", GgufValue::Array(GgufArray::U16(vec![1, 2]))),
        ("i16s", GgufValue::Array(GgufArray::I16(vec![-1, 2]))),
        ("u32s", GgufValue::Array(GgufArray::U32(vec![1]))),
        ("i64s", GgufValue::Array(GgufArray::I64(vec![-1]))),
        ("f64s", GgufValue::Array(GgufArray::F64(vec![0.25]))),
        ("nested", GgufValue::Array(GgufArray::Array(vec![GgufArray::Array(vec![GgufArray::Bool(vec![true])])]))),
    ];
    let mut writer = GgufWriter::new();
    for (k, v) in &values {
        writer.add_metadata(k, v.clone());
    }
    let q = llmlab_core::quantization::quantize(&[0.5; 64], GgmlType::Q8_0).unwrap();
    writer.add_tensor("t", &[2, 32], GgmlType::Q8_0, q.clone()).unwrap();
    writer.add_tensor("empty", &[0, 4], GgmlType::F32, vec![]).unwrap();
    let bytes = writer.to_bytes();
    let file = GgufFile::parse(&bytes).unwrap();
    let read: Vec<(String, GgufValue)> = file.metadata.clone();
    let written: Vec<(String, GgufValue)> = values.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    assert_eq!(read, written);
    assert_eq!(file.tensor_bytes(&bytes, "t").unwrap(), q.as_slice());
    assert_eq!(file.tensor("t").unwrap().shape(), [2, 32]);
    assert_eq!(file.tensor_bytes(&bytes, "empty").unwrap(), &[] as &[u8]);
}

#[test]
fn writer_refuses_bytes_that_do_not_match_the_shape() {
    let mut w = GgufWriter::new();
    assert!(matches!(w.add_tensor("a", &[2, 3], GgmlType::F32, vec![0; 20]), Err(GgufError::TensorSizeMismatch { .. })));
    assert!(matches!(w.add_tensor("b", &[31], GgmlType::Q8_0, vec![0; 34]), Err(GgufError::TensorSizeMismatch { expected: None, .. })));
    w.add_tensor("c", &[1], GgmlType::F32, vec![0; 4]).unwrap();
    assert_eq!(w.add_tensor("c", &[1], GgmlType::F32, vec![0; 4]), Err(GgufError::DuplicateTensor("c".into())));
}

// ---- hostile files ----

fn header(version: u32, tensors: u64, kvs: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend(tensors.to_le_bytes());
    b.extend(kvs.to_le_bytes());
    b
}

fn string(b: &mut Vec<u8>, s: &[u8]) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s);
}

fn kv_u32(b: &mut Vec<u8>, key: &str, v: u32) {
    string(b, key.as_bytes());
    b.extend(4u32.to_le_bytes());
    b.extend(v.to_le_bytes());
}

fn tensor_info(b: &mut Vec<u8>, name: &str, dims: &[u64], ty: u32, offset: u64) {
    string(b, name.as_bytes());
    b.extend((dims.len() as u32).to_le_bytes());
    dims.iter().for_each(|d| b.extend(d.to_le_bytes()));
    b.extend(ty.to_le_bytes());
    b.extend(offset.to_le_bytes());
}

/// A file with the given tensor infos (no metadata), padded to 32, then `data_len` zero bytes.
fn tensors_file(infos: &[(&str, &[u64], u32, u64)], data_len: usize) -> Vec<u8> {
    let mut b = header(3, infos.len() as u64, 0);
    for (name, dims, ty, offset) in infos {
        tensor_info(&mut b, name, dims, *ty, *offset);
    }
    b.resize(b.len().next_multiple_of(32) + data_len, 0);
    b
}

fn kv_file(build: impl Fn(&mut Vec<u8>), kvs: u64) -> Vec<u8> {
    let mut b = header(3, 0, kvs);
    build(&mut b);
    b
}

type Check = fn(&GgufError) -> bool;

#[test]
fn hostile_files_are_refused_with_the_expected_error() {
    let valid = tensors_file(&[("a", &[4], 0, 0)], 16);
    assert!(GgufFile::parse(&valid).is_ok());
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty file", vec![], |e| matches!(e, GgufError::UnexpectedEnd { .. })),
        ("bad magic", b"GGML\x03\0\0\0".to_vec(), |e| matches!(e, GgufError::BadMagic(_))),
        ("version 1", header(1, 0, 0), |e| *e == GgufError::UnsupportedVersion(1)),
        ("version 4", header(4, 0, 0), |e| *e == GgufError::UnsupportedVersion(4)),
        ("header cut short", header(3, 0, 0)[..20].to_vec(), |e| matches!(e, GgufError::UnexpectedEnd { .. })),
        ("kv count u64::MAX", header(3, 0, u64::MAX), |e| matches!(e, GgufError::CountTooLarge { what: "metadata entry", .. })),
        ("kv count 2^60 (overflows × entry size)", header(3, 0, 1 << 60), |e| matches!(e, GgufError::CountTooLarge { .. })),
        ("tensor count u64::MAX", header(3, u64::MAX, 0), |e| matches!(e, GgufError::CountTooLarge { what: "tensor", .. })),
        (
            "tensor count one more than fits",
            tensors_file(&[("a", &[4], 0, 0)], 0).into_iter().enumerate().map(|(i, b)| if i == 8 { 2 } else { b }).collect(),
            |e| matches!(e, GgufError::CountTooLarge { .. } | GgufError::UnexpectedEnd { .. }),
        ),
        ("key length u64::MAX", kv_file(|b| b.extend(u64::MAX.to_le_bytes()), 1).into_iter().chain([0u8; 16]).collect(), |e| {
            matches!(e, GgufError::StringTooLong { .. })
        }),
        (
            "key length one past the end",
            kv_file(
                |b| {
                    b.extend(14u64.to_le_bytes());
                    b.extend([b'k'; 13]);
                },
                1,
            ),
            |e| matches!(e, GgufError::StringTooLong { .. }),
        ),
        (
            "key not UTF-8",
            kv_file(
                |b| {
                    string(b, &[0xff, 0xfe]);
                    b.extend(0u32.to_le_bytes());
                    b.push(0);
                },
                1,
            ),
            |e| matches!(e, GgufError::InvalidUtf8 { .. }),
        ),
        (
            "value type 13",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(13u32.to_le_bytes());
                    b.push(0);
                },
                1,
            ),
            |e| *e == GgufError::UnknownValueType(13),
        ),
        (
            "string value length u64::MAX",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(8u32.to_le_bytes());
                    b.extend(u64::MAX.to_le_bytes());
                },
                1,
            ),
            |e| matches!(e, GgufError::StringTooLong { .. }),
        ),
        (
            "u8 array count u64::MAX",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(9u32.to_le_bytes());
                    b.extend(0u32.to_le_bytes());
                    b.extend(u64::MAX.to_le_bytes());
                },
                1,
            ),
            |e| matches!(e, GgufError::CountTooLarge { what: "array element", .. }),
        ),
        (
            "u64 array count 2^61 (× 8 overflows)",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(9u32.to_le_bytes());
                    b.extend(10u32.to_le_bytes());
                    b.extend((1u64 << 61).to_le_bytes());
                },
                1,
            ),
            |e| matches!(e, GgufError::CountTooLarge { .. }),
        ),
        (
            "string array count larger than the file",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(9u32.to_le_bytes());
                    b.extend(8u32.to_le_bytes());
                    b.extend(3u64.to_le_bytes());
                    b.extend([0u8; 16]);
                },
                1,
            ),
            |e| matches!(e, GgufError::CountTooLarge { .. }),
        ),
        (
            "array element type 99",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(9u32.to_le_bytes());
                    b.extend(99u32.to_le_bytes());
                    b.extend(0u64.to_le_bytes());
                },
                1,
            ),
            |e| *e == GgufError::UnknownValueType(99),
        ),
        (
            "arrays nested 5 deep",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(9u32.to_le_bytes());
                    for _ in 0..5 {
                        b.extend(9u32.to_le_bytes());
                        b.extend(1u64.to_le_bytes());
                    }
                    b.extend(0u32.to_le_bytes());
                    b.extend(0u64.to_le_bytes());
                },
                1,
            ),
            |e| *e == GgufError::ArrayTooDeep,
        ),
        (
            "duplicate key",
            kv_file(
                |b| {
                    kv_u32(b, "k", 1);
                    kv_u32(b, "k", 2);
                },
                2,
            ),
            |e| *e == GgufError::DuplicateKey("k".into()),
        ),
        (
            "bool value 2",
            kv_file(
                |b| {
                    string(b, b"k");
                    b.extend(7u32.to_le_bytes());
                    b.push(2);
                },
                1,
            ),
            |e| matches!(e, GgufError::InvalidBool { .. }),
        ),
        ("alignment 0", kv_file(|b| kv_u32(b, "general.alignment", 0), 1), |e| *e == GgufError::BadAlignment),
        ("alignment 48", kv_file(|b| kv_u32(b, "general.alignment", 48), 1), |e| *e == GgufError::BadAlignment),
        (
            "alignment as a string",
            kv_file(
                |b| {
                    string(b, b"general.alignment");
                    b.extend(8u32.to_le_bytes());
                    string(b, b"32");
                },
                1,
            ),
            |e| *e == GgufError::BadAlignment,
        ),
        ("5 dimensions", tensors_file(&[("a", &[1, 1, 1, 1, 1], 0, 0)], 32), |e| matches!(e, GgufError::TooManyDims { n_dims: 5, .. })),
        (
            "n_dims u32::MAX",
            {
                let mut b = header(3, 1, 0);
                string(&mut b, b"a");
                b.extend(u32::MAX.to_le_bytes());
                b.extend([0u8; 64]);
                b
            },
            |e| matches!(e, GgufError::TooManyDims { .. }),
        ),
        ("element count overflows u64", tensors_file(&[("a", &[1 << 32, 1 << 32, 1 << 32, 1], 0, 0)], 32), |e| {
            matches!(e, GgufError::DimensionOverflow { .. })
        }),
        ("dimension above i64::MAX", tensors_file(&[("a", &[1 << 63], 0, 0)], 32), |e| matches!(e, GgufError::DimensionOverflow { .. })),
        ("element count above i64::MAX", tensors_file(&[("a", &[1 << 62, 4], 0, 0)], 32), |e| {
            matches!(e, GgufError::DimensionOverflow { .. })
        }),
        ("byte size overflows u64", tensors_file(&[("a", &[1 << 62], 0, 0)], 32), |e| matches!(e, GgufError::DimensionOverflow { .. })),
        ("huge tensor in a small file", tensors_file(&[("a", &[1 << 20, 1 << 20], 0, 0)], 32), |e| {
            matches!(e, GgufError::TensorOutOfRange { .. })
        }),
        ("unknown ggml type 200", tensors_file(&[("a", &[4], 200, 0)], 32), |e| matches!(e, GgufError::UnknownTensorType { id: 200, .. })),
        ("Q2_K refused by name", tensors_file(&[("a", &[256], 10, 0)], 128), |e| {
            matches!(e, GgufError::UnsupportedTensorType { type_name: "Q2_K", .. })
        }),
        ("row not a whole number of Q8_0 blocks", tensors_file(&[("a", &[31], 8, 0)], 64), |e| {
            matches!(e, GgufError::PartialBlockRow { row: 31, block: 32, .. })
        }),
        ("misaligned offset", tensors_file(&[("a", &[4], 0, 8)], 64), |e| matches!(e, GgufError::MisalignedOffset { offset: 8, .. })),
        ("offset past the end", tensors_file(&[("a", &[4], 0, 64)], 64), |e| matches!(e, GgufError::TensorOutOfRange { .. })),
        ("offset + size overflows", tensors_file(&[("a", &[64], 0, u64::MAX - 31)], 64), |e| {
            matches!(e, GgufError::TensorOutOfRange { .. })
        }),
        ("data cut short", tensors_file(&[("a", &[8], 0, 0)], 31), |e| matches!(e, GgufError::TensorOutOfRange { .. })),
        ("overlapping tensors", tensors_file(&[("a", &[16], 0, 0), ("b", &[8], 0, 32)], 96), |e| {
            matches!(e, GgufError::OverlappingTensors { .. })
        }),
        ("duplicate tensor name", tensors_file(&[("a", &[4], 0, 0), ("a", &[4], 0, 32)], 64), |e| {
            *e == GgufError::DuplicateTensor("a".into())
        }),
        ("tensor infos cut short", tensors_file(&[("a", &[4], 0, 0)], 0)[..44].to_vec(), |e| {
            matches!(e, GgufError::UnexpectedEnd { .. } | GgufError::CountTooLarge { .. })
        }),
    ];
    let mut failures = Vec::new();
    for (name, bytes, check) in &cases {
        match GgufFile::parse(bytes) {
            Err(e) if check(&e) => {}
            other => failures.push(format!("{name}: got {other:?}")),
        }
    }
    println!("{} hostile files refused", cases.len() - failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
