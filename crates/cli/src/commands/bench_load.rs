//! `llmlab bench-load --model DIR`: how long a checkpoint takes to open and
//! what it costs in memory. Prints load time (wall and CPU), the process's
//! peak resident memory (`VmHWM` of `/proc/self/status`, Linux) and the
//! checkpoint's size on disk, and the ratio of the two.
//!
//! Run it on a fresh process per measurement: the peak is the process's.
//! Resident memory counts the mapped file's pages once they are touched
//! (loading touches every weight once to reject NaN and infinities), so a
//! zero-copy load peaks near the file size. `scripts/bench/load.py` compares
//! this with PyTorch + transformers in the same run.

use super::logits::load_model;
use std::path::Path;
use std::time::Instant;

/// Arguments of `llmlab bench-load`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (config.json + safetensors) or llama2.c .bin file.
    #[arg(long)]
    model: String,
}

/// A `kB` field of `/proc/self/status` in bytes (Linux); `None` elsewhere.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.trim_start_matches(field).trim_start_matches(':').split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time of this process in seconds (Linux `/proc/self/stat`, user + system
/// clock ticks at the usual 100 Hz); `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Bytes of the checkpoint files: every `*.safetensors` in a directory, or the file itself.
fn checkpoint_bytes(path: &Path) -> Result<u64, String> {
    if path.is_file() {
        return std::fs::metadata(path).map(|m| m.len()).map_err(|e| format!("{}: {e}", path.display()));
    }
    let entries = std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut total = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
        if entry.path().extension().is_some_and(|x| x == "safetensors") {
            total += entry.metadata().map_err(|e| format!("{}: {e}", entry.path().display()))?.len();
        }
    }
    Ok(total)
}

/// Runs the benchmark and prints JSON.
pub fn run(args: Args) -> Result<(), String> {
    let path = Path::new(&args.model);
    let file_bytes = checkpoint_bytes(path)?;
    let rss_before = status_bytes("VmRSS");
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    let model = load_model(path)?;
    let load_seconds = start.elapsed().as_secs_f64();
    let load_cpu_seconds = match (cpu_start, process_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let peak = status_bytes("VmHWM");
    println!(
        "{}",
        serde_json::json!({
            "model": args.model,
            "model_type": model.model_type(),
            "file_bytes": file_bytes,
            "load_seconds": load_seconds,
            "load_cpu_seconds": load_cpu_seconds,
            "rss_before_load_bytes": rss_before,
            "rss_after_load_bytes": status_bytes("VmRSS"),
            "peak_rss_bytes": peak,
            "peak_rss_over_file": peak.map(|p| p as f64 / file_bytes.max(1) as f64),
        })
    );
    Ok(())
}
