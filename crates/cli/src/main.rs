//! `llmlab`: the playground's Rust core on the command line.
//!
//! Every subcommand prints JSON on stdout (and progress on stderr), so the
//! parity scripts and users' pipelines can read it. Each subcommand lives in
//! its own file under `commands/`.

mod commands;
mod mmap;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "llmlab", version, about = "LLM Lab: tokenizers, transformers, decoding, metrics and training")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode a share link's hash and print the state it restores.
    ShareLink(commands::share_link::Args),
    /// Benchmark single-thread decoding with a KV cache (random GPT-2-small-shaped model).
    BenchDecode(commands::bench_decode::Args),
    /// Benchmark opening a checkpoint: load time, peak resident memory and file size.
    BenchLoad(commands::bench_load::Args),
    /// Print a checkpoint's config and parameter counts as JSON.
    Info(commands::info::Args),
    /// Run a checkpoint once and print its logits as JSON.
    Logits(commands::logits::Args),
    /// Evaluation metrics: BLEU, chrF (sacrebleu parity) and ROUGE (rouge-score parity).
    Score(commands::score::Args),
    /// Encode stdin with a tokenizer.json: ids, tokens and char offsets.
    Tokenize(commands::tokenize::Args),
    /// Decode comma-separated ids with a tokenizer.json.
    Decode(commands::decode::Args),
    /// Train a BPE, WordPiece or Unigram tokenizer and save tokenizer.json.
    #[command(alias = "tokenize-train")]
    TrainTokenizer(commands::train_tokenizer::Args),
    /// Measure encode throughput (MB/s) of a tokenizer.json on a text file.
    BenchTokenize(commands::bench_tokenize::Args),
    /// Generate text: greedy, beam search or sampling with HF `generate` parity.
    Generate(commands::generate::Args),
    /// Train a small GPT-2/Llama on a text file and export it in HF layout.
    Train(commands::train::Args),
    /// Loss and the gradient of every parameter (HF names) as safetensors.
    Grad(commands::grad::Args),
    /// One masked-LM batch (BERT), as transformers' DataCollatorForLanguageModeling builds it.
    MlmMask(commands::objectives::MlmArgs),
    /// Data pipeline: normalize text, MinHash signatures, LSH near-duplicates (datasketch parity).
    Data(commands::data::Args),
    /// One span-corruption batch (T5), as run_t5_mlm_flax.py builds it.
    SpanCorrupt(commands::objectives::SpanArgs),
    /// LoRA adapters in peft's format: create one, or merge one into a checkpoint.
    Lora(commands::lora::Args),
    /// Render a conversation with a checkpoint's chat template (transformers' apply_chat_template).
    ChatTemplate(commands::chat_template::Args),
    /// Convert a GPT-2/Llama checkpoint to a GGUF file (f16, bf16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K).
    Quantize(commands::quantize::Args),
    /// Decode one tensor of a GGUF file to f32 and print it as JSON.
    Dequantize(commands::dequantize::Args),
    /// Prune a GPT-2/Llama checkpoint (torch.nn.utils.prune masks, or whole heads / FFN neurons removed).
    Prune(commands::prune::Args),
    // Further subcommands are added here, one line each, with their module in
    // commands/.
}

/// Gives SIGPIPE back its default action (terminate quietly).
///
/// Rust's runtime ignores SIGPIPE, so writing to a closed pipe
/// (`llmlab tokenize … | head -c 10`) returns `BrokenPipe`, which `println!`
/// turns into a panic (an abort, exit 134, under the release profile's
/// `panic = "abort"`). With the default action the process simply ends when
/// the reader goes away, like `cat`, whatever subcommand was writing.
#[cfg(unix)]
fn restore_default_sigpipe() {
    // SAFETY: called first thing in `main`, before any other thread exists;
    // `SIG_DFL` is a valid disposition for SIGPIPE and no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Lets glibc's malloc keep freed memory instead of handing it back to the
/// kernel after every free.
///
/// A training step allocates and frees the same activation buffers (a few
/// MB each) every step. With glibc's defaults each free above 128 KB trims
/// the heap or unmaps the block, and the next step faults the pages back in
/// zeroed: profiling showed the kernel's page clearing at about a tenth of a
/// step. Blocks below 32 MB now come from the heap, which is trimmed only
/// when 1 GB lies free at its top. Peak memory is unchanged (the pages are
/// reused, not added).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_pages() {
    // SAFETY: called first thing in `main`, before any other thread exists
    // or allocates; both are documented mallopt parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() -> ExitCode {
    #[cfg(unix)]
    restore_default_sigpipe();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_freed_pages();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ShareLink(args) => commands::share_link::run(args),
        Command::Train(args) => commands::train::run(args),
        Command::Grad(args) => commands::grad::run(args),
        Command::MlmMask(args) => commands::objectives::run_mlm(args),
        Command::Data(args) => commands::data::run(args),
        Command::SpanCorrupt(args) => commands::objectives::run_span(args),
        Command::Lora(args) => commands::lora::run(args),
        Command::ChatTemplate(args) => commands::chat_template::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::BenchTokenize(args) => commands::bench_tokenize::run(args),
        Command::TrainTokenizer(args) => commands::train_tokenizer::run(args),
        Command::Decode(args) => commands::decode::run(args),
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::BenchDecode(args) => commands::bench_decode::run(args),
        Command::BenchLoad(args) => commands::bench_load::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Logits(args) => commands::logits::run(args),
        Command::Score(args) => commands::score::run(args),
        Command::Quantize(args) => commands::quantize::run(args),
        Command::Dequantize(args) => commands::dequantize::run(args),
        Command::Prune(args) => commands::prune::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
