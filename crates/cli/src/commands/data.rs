//! `llmlab data <stage>`: the data pipeline's stages on files, JSON on stdout.
//!
//! ```text
//! llmlab data normalize [--form nfc|nfkc|nfd|nfkd|none] [--repair-mojibake] [--keep-invisible] [--keep-whitespace] < text
//! llmlab data minhash --num-perm N --seed S --shingles FILE.json [--permutations FILE.json] [--scheme affine32|legacy]
//! llmlab data lsh --threshold T --num-perm N --seed S --shingles FILE.json [--scheme affine32|legacy]
//! llmlab data dedup --in FILE.jsonl [--lines]
//! llmlab data pii --in FILE.jsonl [--all-ips]
//! llmlab data filter [--filters gopher,c4,fineweb] --in FILE.jsonl
//! llmlab data run [--config pipeline.json] --in DIR|FILE [--out FILE.jsonl]
//! ```
//!
//! `filter` runs datatrove 0.10.1's quality filters in the order given, as a
//! datatrove pipeline would (a later filter sees the text C4 kept), and prints
//! one JSON line per document: `{"index", "keep", "filter", "reason"}`, with the
//! filter and rule that dropped it, or nulls when kept. `gopher` is the Gopher
//! quality filter followed by the Gopher repetition filter.
//!
//! `data run` is the whole pipeline of `llmlab_core::data::pipeline` (the
//! one the Data tab runs): the config is that module's `PipelineConfig` as
//! JSON (missing fields take their defaults, so `{}` or no `--config` is the
//! default pipeline); the input is one file or every file of a directory
//! (sorted by name; `.jsonl`/`.ndjson` read as JSONL, others as text), read
//! in chunks with a progress bar on stderr; the kept documents go to
//! `--out` as JSONL and the report is printed on stdout.
//!
//! A `.jsonl` file has one JSON object with a `"text"` field per line
//! (datatrove's and most crawls' layout); empty lines are skipped.
//!
//! A shingles file is a JSON array with one array of strings per document
//! (e.g. word 3-grams, as `llmlab_core::data::minhash::word_shingles` makes
//! them); each string is hashed by its UTF-8 bytes, as
//! `MinHash.update_batch([s.encode("utf-8") for s in shingles])`. A
//! permutations file is `{"a": [..], "b": [..]}`, datasketch's
//! `permutations=(a, b)`. The scheme defaults to datasketch 2.0's
//! `affine32`; `legacy` is the `(a*h + b) mod (2^61 - 1)` scheme of
//! datasketch before 2.0. The logic lives in `llmlab_core::data`.

use std::io::{IsTerminal, Read, Write};

use llmlab_core::data::lsh::{candidate_pairs, clusters, lsh_params};
use llmlab_core::data::minhash::{signature, Permutations, Scheme};
use llmlab_core::data::normalize::{normalize, NormalForm, NormalizeConfig};
use llmlab_core::data::pipeline::{PipelineConfig, PipelineRunner, SourceFormat};

/// Arguments of `llmlab data`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    stage: Stage,
}

/// The pipeline stages `llmlab data` runs.
#[derive(clap::Subcommand)]
enum Stage {
    /// Normalize stdin: Unicode form, invisible characters, line endings, whitespace.
    Normalize(NormalizeArgs),
    /// MinHash signatures of shingle sets, exactly as datasketch 2.0.0.
    Minhash(MinhashArgs),
    /// MinHash LSH candidate pairs and clusters, exactly as datasketch's MinHashLSH.
    Lsh(LshArgs),
    /// Exact dedup of whole documents (normalized text), or of lines repeated across documents.
    Dedup(DedupArgs),
    /// Replace e-mails and public IPs (datatrove's PIIFormatter) and list card, IBAN and phone numbers.
    Pii(PiiArgs),
    /// Keep or drop each document with datatrove's quality filters (Gopher, C4, FineWeb), with the rule that dropped it.
    Filter(FilterArgs),
    /// The whole pipeline (normalize, exact and near dedup, quality, PII) with a report.
    Run(RunArgs),
}

/// Arguments of `llmlab data filter`.
#[derive(clap::Args)]
struct FilterArgs {
    /// Comma-separated filters, run in this order: gopher (quality then repetition), gopher_quality, gopher_repetition, c4, fineweb.
    #[arg(long, default_value = "gopher,c4,fineweb")]
    filters: String,
    /// JSONL file, one {"text": ...} per line.
    #[arg(long = "in")]
    input: String,
}

/// Arguments of `llmlab data run`.
#[derive(clap::Args)]
struct RunArgs {
    /// JSON pipeline config (stages on/off and their settings); defaults when omitted.
    #[arg(long)]
    config: Option<String>,
    /// A file, or a directory whose files are all read (sorted by name).
    #[arg(long = "in")]
    input: String,
    /// Where to write the kept documents as JSONL ({"id", "text"} per line).
    #[arg(long)]
    out: Option<String>,
}

/// Arguments of `llmlab data dedup`.
#[derive(clap::Args)]
struct DedupArgs {
    /// JSONL file, one {"text": ...} per line.
    #[arg(long = "in")]
    input: String,
    /// Remove lines already seen in earlier documents instead of whole duplicate documents.
    #[arg(long)]
    lines: bool,
}

/// Arguments of `llmlab data pii`.
#[derive(clap::Args)]
struct PiiArgs {
    /// JSONL file, one {"text": ...} per line.
    #[arg(long = "in")]
    input: String,
    /// Replace private IP addresses too (datatrove's only_remove_public_ips=False).
    #[arg(long)]
    all_ips: bool,
}

/// Arguments of `llmlab data normalize`.
#[derive(clap::Args)]
struct NormalizeArgs {
    /// Unicode normal form: nfc, nfkc, nfd, nfkd or none.
    #[arg(long, default_value = "nfc")]
    form: String,
    /// Repair UTF-8 that was decoded as Latin-1 / Windows-1252.
    #[arg(long)]
    repair_mojibake: bool,
    /// Keep control and invisible characters.
    #[arg(long)]
    keep_invisible: bool,
    /// Keep whitespace and line endings as they are.
    #[arg(long)]
    keep_whitespace: bool,
}

/// Arguments of `llmlab data minhash`.
#[derive(clap::Args)]
struct MinhashArgs {
    /// Number of permutations (signature length).
    #[arg(long, default_value_t = 128)]
    num_perm: usize,
    /// Seed of numpy's RandomState drawing the permutations (0 ≤ S < 2^32).
    #[arg(long, default_value_t = 1)]
    seed: u32,
    /// JSON file: one array of shingle strings per document.
    #[arg(long)]
    shingles: String,
    /// JSON file {"a": [..], "b": [..]} with the permutations to use instead of drawing them.
    #[arg(long)]
    permutations: Option<String>,
    /// Permutation scheme: affine32 (datasketch 2.0's default) or legacy.
    #[arg(long, default_value = "affine32")]
    scheme: String,
}

/// Arguments of `llmlab data lsh`.
#[derive(clap::Args)]
struct LshArgs {
    /// Jaccard similarity threshold the (bands, rows) are optimised for.
    #[arg(long, default_value_t = 0.9)]
    threshold: f64,
    /// Number of permutations (signature length).
    #[arg(long, default_value_t = 128)]
    num_perm: usize,
    /// Seed of numpy's RandomState drawing the permutations (0 ≤ S < 2^32).
    #[arg(long, default_value_t = 1)]
    seed: u32,
    /// JSON file: one array of shingle strings per document.
    #[arg(long)]
    shingles: String,
    /// Permutation scheme: affine32 (datasketch 2.0's default) or legacy.
    #[arg(long, default_value = "affine32")]
    scheme: String,
}

/// Runs the chosen stage.
pub fn run(args: Args) -> Result<(), String> {
    match args.stage {
        Stage::Normalize(args) => run_normalize(args),
        Stage::Minhash(args) => run_minhash(args),
        Stage::Lsh(args) => run_lsh(args),
        Stage::Dedup(args) => run_dedup(args),
        Stage::Pii(args) => run_pii(args),
        Stage::Filter(args) => run_filter(args),
        Stage::Run(args) => run_pipeline(args),
    }
}

fn run_filter(args: FilterArgs) -> Result<(), String> {
    use std::io::Write;
    let filters = llmlab_core::data::quality::QualityFilter::from_names(&args.filters).map_err(|e| e.to_string())?;
    if filters.is_empty() {
        return Err("--filters names no filter".into());
    }
    let texts = read_jsonl_texts(&args.input)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (index, text) in texts.into_iter().enumerate() {
        let mut current = text;
        let mut dropped = None;
        for filter in &filters {
            match filter.apply(&current) {
                Ok(kept) => current = kept,
                Err(reason) => {
                    dropped = Some((filter.name(), reason.0));
                    break;
                }
            }
        }
        let line = match dropped {
            Some((filter, reason)) => serde_json::json!({"index": index, "keep": false, "filter": filter, "reason": reason}),
            None => serde_json::json!({"index": index, "keep": true, "filter": null, "reason": null}),
        };
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// The files of `--in`: the file itself, or a directory's files sorted by name.
fn input_files(input: &str) -> Result<Vec<std::path::PathBuf>, String> {
    let path = std::path::PathBuf::from(input);
    if !path.is_dir() {
        return Ok(vec![path]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&path).map_err(|e| format!("{input}: {e}"))? {
        let entry = entry.map_err(|e| format!("{input}: {e}"))?;
        if entry.file_type().map_err(|e| format!("{input}: {e}"))?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Bytes read per chunk.
const CHUNK_BYTES: usize = 1 << 20;

fn run_pipeline(args: RunArgs) -> Result<(), String> {
    let config: PipelineConfig = match &args.config {
        Some(file) => read_json(file)?,
        None => PipelineConfig::default(),
    };
    let files = input_files(&args.input)?;
    let total: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let mut runner = PipelineRunner::new(config).map_err(|e| e.to_string())?;
    let tty = std::io::stderr().is_terminal();
    let mut stderr = std::io::stderr();
    let started = std::time::Instant::now();
    let mut done: u64 = 0;
    let mut last_line = 0usize;
    let mut buffer = vec![0u8; CHUNK_BYTES];
    for file in &files {
        let name = file.to_string_lossy();
        let mut reader = std::fs::File::open(file).map_err(|e| format!("{name}: {e}"))?;
        runner.begin_source(&name, SourceFormat::from_name(&name)).map_err(|e| e.to_string())?;
        loop {
            let n = reader.read(&mut buffer).map_err(|e| format!("{name}: {e}"))?;
            if n == 0 {
                break;
            }
            runner.feed(buffer.get(..n).unwrap_or_default()).map_err(|e| e.to_string())?;
            done += n as u64;
            let fraction = done as f64 / total.max(1) as f64;
            let filled = ((fraction * 30.0) as usize).min(30);
            let mb = done as f64 / 1e6;
            let line = format!(
                "[{}{}] {mb:.1}/{:.1} MB, {} documents, {:.1} MB/s",
                "#".repeat(filled),
                ".".repeat(30 - filled),
                total as f64 / 1e6,
                runner.documents_read(),
                mb / started.elapsed().as_secs_f64().max(1e-9)
            );
            // Without a terminal, one line per 10% so logs stay short.
            if tty {
                let _ = write!(stderr, "\r{line}");
            } else if (fraction * 10.0) as usize > last_line || done == total {
                last_line = (fraction * 10.0) as usize;
                let _ = writeln!(stderr, "{line}");
            }
        }
        runner.end_source().map_err(|e| e.to_string())?;
    }
    if tty {
        let _ = writeln!(stderr);
    }
    let mut finishing = runner.finish().map_err(|e| e.to_string())?;
    while !finishing.step(4096) {}
    let output = finishing.into_output();
    let seconds = started.elapsed().as_secs_f64();
    let _ = writeln!(
        stderr,
        "{} of {} documents kept in {seconds:.2} s ({:.1} MB/s)",
        output.documents.len(),
        output.report.stages.first().map_or(0, |s| s.documents),
        done as f64 / 1e6 / seconds.max(1e-9)
    );
    if let Some(out) = &args.out {
        std::fs::write(out, output.to_jsonl()).map_err(|e| format!("{out}: {e}"))?;
    }
    let mut report = serde_json::to_value(&output.report).map_err(|e| e.to_string())?;
    if let Some(obj) = report.as_object_mut() {
        obj.insert("seconds".into(), serde_json::json!(seconds));
        obj.insert("kept".into(), serde_json::json!(output.documents.len()));
    }
    println!("{report}");
    Ok(())
}

fn read_jsonl_texts(path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
            v.get("text").and_then(|t| t.as_str()).map(String::from).ok_or(format!("{path}:{}: no \"text\" string", i + 1))
        })
        .collect()
}

fn run_dedup(args: DedupArgs) -> Result<(), String> {
    let texts = read_jsonl_texts(&args.input)?;
    let config = NormalizeConfig::default();
    let out = if args.lines {
        serde_json::to_string(&llmlab_core::data::exact_dedup::dedup_lines(&texts, &config))
    } else {
        serde_json::to_string(&llmlab_core::data::exact_dedup::dedup_documents(&texts, &config))
    };
    println!("{}", out.map_err(|e| e.to_string())?);
    Ok(())
}

fn run_pii(args: PiiArgs) -> Result<(), String> {
    let texts = read_jsonl_texts(&args.input)?;
    let mut formatter = llmlab_core::data::pii::PiiFormatter::default();
    formatter.only_public_ips = !args.all_ips;
    let formatted: Vec<String> = texts.iter().map(|t| formatter.format(t)).collect();
    let numbers: Vec<_> = formatted.iter().map(|t| llmlab_core::data::pii_numbers::find_numbers(t)).collect();
    println!("{}", serde_json::json!({ "texts": formatted, "numbers": numbers }));
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn scheme(name: &str) -> Result<Scheme, String> {
    Scheme::from_name(name).ok_or(format!("--scheme: {name:?} is not affine32 or legacy"))
}

fn signatures(perms: &Permutations, shingles: &[Vec<String>]) -> Vec<Vec<u64>> {
    shingles.iter().map(|doc| signature(perms, doc.iter().map(|s| s.as_bytes()))).collect()
}

fn run_normalize(args: NormalizeArgs) -> Result<(), String> {
    let form = match args.form.as_str() {
        "none" => None,
        name => Some(NormalForm::from_name(name).ok_or(format!("--form: {name:?} is not nfc, nfkc, nfd, nfkd or none"))?),
    };
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
    let config = NormalizeConfig {
        repair_mojibake: args.repair_mojibake,
        unify_line_endings: !args.keep_whitespace,
        remove_invisible: !args.keep_invisible,
        form,
        collapse_whitespace: !args.keep_whitespace,
    };
    let out = serde_json::json!({ "text": normalize(&text, &config) });
    println!("{out}");
    Ok(())
}

fn run_minhash(args: MinhashArgs) -> Result<(), String> {
    let scheme = scheme(&args.scheme)?;
    let shingles: Vec<Vec<String>> = read_json(&args.shingles)?;
    let perms = match &args.permutations {
        Some(file) => {
            #[derive(serde::Deserialize)]
            struct Injected {
                a: Vec<u64>,
                b: Vec<u64>,
            }
            let injected: Injected = read_json(file)?;
            let perms = Permutations::from_arrays(scheme, injected.a, injected.b).map_err(|e| format!("{file}: {e}"))?;
            if perms.len() != args.num_perm {
                return Err(format!("{file}: {} permutations but --num-perm {}", perms.len(), args.num_perm));
            }
            perms
        }
        None => Permutations::from_seed(scheme, args.num_perm, args.seed).map_err(|e| e.to_string())?,
    };
    let out = serde_json::json!({
        "scheme": scheme,
        "num_perm": perms.len(),
        "seed": args.seed,
        "signatures": signatures(&perms, &shingles),
    });
    println!("{out}");
    Ok(())
}

fn run_lsh(args: LshArgs) -> Result<(), String> {
    let scheme = scheme(&args.scheme)?;
    let shingles: Vec<Vec<String>> = read_json(&args.shingles)?;
    let params = lsh_params(args.threshold, args.num_perm).map_err(|e| e.to_string())?;
    let perms = Permutations::from_seed(scheme, args.num_perm, args.seed).map_err(|e| e.to_string())?;
    let sigs = signatures(&perms, &shingles);
    let pairs = candidate_pairs(&sigs, params).map_err(|e| e.to_string())?;
    let cluster = clusters(sigs.len(), &pairs).map_err(|e| e.to_string())?;
    let kept: Vec<usize> = cluster.iter().enumerate().filter(|&(i, &c)| i == c).map(|(i, _)| i).collect();
    let out = serde_json::json!({
        "b": params.bands,
        "r": params.rows,
        "pairs": pairs,
        "cluster": cluster,
        "kept": kept,
    });
    println!("{out}");
    Ok(())
}
