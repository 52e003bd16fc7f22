//! A closed stdout must end `llmlab` quietly, as it ends `cat`.
//!
//! Each JSON-printing subcommand runs with its stdout connected to a reader
//! that hangs up before anything is written (`llmlab … | head -c 0`). Before
//! the fix, `println!` panicked on the `BrokenPipe` error (exit 134, an abort,
//! with the release profile's `panic = "abort"`; exit 101 in test builds).
//! Now the process ends through the default SIGPIPE action, like `cat`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn default_model() -> String {
    repo()
        .join("web/models/default")
        .to_string_lossy()
        .into_owned()
}

fn default_tokenizer() -> String {
    repo()
        .join("web/models/default/tokenizer.json")
        .to_string_lossy()
        .into_owned()
}

/// A fresh scratch directory for the subcommands that read or write files.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-broken-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Runs `llmlab args` with its stdout closed by the reader before the
/// command prints, and returns a description of any crash.
fn crash_on_closed_stdout(args: &[&str], stdin: &str) -> Option<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmlab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away first; stdin is only written (and closed) after.
    drop(child.stdout.take());
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let aborted = {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            out.status.signal() == Some(6)
        }
        #[cfg(not(unix))]
        {
            false
        }
    };
    let crashed = aborted
        || matches!(out.status.code(), Some(101) | Some(134))
        || stderr.contains("panicked");
    crashed.then(|| format!("{args:?}: status {:?}, stderr: {stderr}", out.status))
}

#[test]
fn every_json_printing_subcommand_survives_a_closed_stdout() {
    let dir = scratch();
    let model = default_model();
    let tokenizer = default_tokenizer();
    let corpus = write(
        &dir,
        "corpus.txt",
        &"To be, or not to be, that is the question.\n".repeat(40),
    );
    let hyp = write(&dir, "hyp.txt", "the cat sat on the mat\n");
    let reference = write(&dir, "ref.txt", "the cat is on the mat\n");
    let rouge = write(
        &dir,
        "rouge.jsonl",
        "{\"target\": \"the cat sat\", \"prediction\": \"the cat sat down\"}\n",
    );
    let trained_tokenizer = dir.join("trained.json").to_string_lossy().into_owned();
    let trained_model = dir.join("trained-model").to_string_lossy().into_owned();
    let runs: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["tokenize", "--tokenizer", &tokenizer],
            "To be, or not to be",
        ),
        (
            vec!["decode", "--tokenizer", &tokenizer, "--ids", "1,2,3"],
            "",
        ),
        (vec!["share-link", "#tab=gen&beams=4&prompt=To%20be"], ""),
        (vec!["info", "--model", &model], ""),
        (vec!["logits", "--model", &model, "--ids", "1,2,3"], ""),
        (
            vec![
                "generate",
                "--model",
                &model,
                "--prompt",
                "To be",
                "--max-new-tokens",
                "3",
            ],
            "",
        ),
        (
            vec!["score", "bleu", "--hyp", &hyp, "--ref", &reference],
            "",
        ),
        (
            vec!["score", "chrf", "--hyp", &hyp, "--ref", &reference],
            "",
        ),
        (vec!["score", "rouge", "--jsonl", &rouge], ""),
        (
            vec!["score", "ppl", "--model", &model, "--text", &corpus],
            "",
        ),
        (
            vec![
                "train-tokenizer",
                "--model",
                "bpe",
                "--vocab-size",
                "80",
                "--output",
                &trained_tokenizer,
                &corpus,
            ],
            "",
        ),
        (
            vec![
                "bench-tokenize",
                "--tokenizer",
                &tokenizer,
                "--text",
                &corpus,
                "--repeat",
                "1",
            ],
            "",
        ),
        (
            vec![
                "bench-decode",
                "--prompt",
                "2",
                "--new-tokens",
                "2",
                "--layers",
                "1",
                "--width",
                "8",
                "--vocab",
                "16",
            ],
            "",
        ),
        (
            vec![
                "train",
                "--corpus",
                &corpus,
                "--out",
                &trained_model,
                "--layers",
                "1",
                "--heads",
                "1",
                "--width",
                "8",
                "--context",
                "8",
                "--batch",
                "2",
                "--steps",
                "2",
                "--warmup",
                "1",
                "--eval-every",
                "2",
                "--eval-tokens",
                "16",
            ],
            "",
        ),
    ];
    let crashes: Vec<String> = runs
        .iter()
        .filter_map(|(args, stdin)| crash_on_closed_stdout(args, stdin))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        crashes.is_empty(),
        "crashed on a closed stdout:\n{}",
        crashes.join("\n")
    );
}
