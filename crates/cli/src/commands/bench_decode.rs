//! `llmlab bench-decode`: single-thread greedy decoding speed with the KV
//! cache on a randomly initialised GPT-2-small-shaped model (12 layers,
//! width 768, 12 heads, vocabulary 50257), plus the machine's memory
//! bandwidth ceiling: decoding one token must stream every weight from
//! memory once, so `bandwidth / weight bytes` bounds tokens per second.
//! `scripts/bench/decode.py` runs the same shape in PyTorch for comparison.
//!
//! `--batch N` decodes N prompts of different lengths together (left-padded,
//! with an attention mask and a per-row KV cache): every step then reads the
//! weights once for N tokens, which is where batching's throughput comes from.
//!
//! `--formats f32,q8_0,q4_0` instead compares weight formats in one run: the
//! same random model with its matrices (and the tied embedding / LM head)
//! block-quantized and kept quantized, each decoding `--new-tokens` tokens
//! per round, the formats interleaved for `--rounds` rounds (the best round
//! of each counts, by thread CPU time), and prints tokens/s per format and
//! its ratio to f32. `--activations q8|f32` picks the quantized kernel.

use llmlab_core::loading::WeightStore;
use llmlab_core::nn::linear::Activations;
use llmlab_core::quantization::{quantize, GgmlType};
use llmlab_core::models::gpt2::Gpt2;
use llmlab_core::models::CausalLm;
use llmlab_core::rng::Rng;
use std::time::Instant;

/// Arguments of `llmlab bench-decode`.
#[derive(clap::Args)]
pub struct Args {
    /// Prompt length (tokens processed in one forward pass before decoding).
    #[arg(long, default_value_t = 16)]
    prompt: usize,
    /// Tokens to generate one at a time.
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    /// Layers (12 for GPT-2 small).
    #[arg(long, default_value_t = 12)]
    layers: usize,
    /// Width (768 for GPT-2 small).
    #[arg(long, default_value_t = 768)]
    width: usize,
    /// Vocabulary size.
    #[arg(long, default_value_t = 50257)]
    vocab: usize,
    /// Seed of the random weights and prompt.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Prompts decoded together; row i's prompt is `prompt - (i % 4)` tokens
    /// long (at least 1), left-padded to the longest.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Compare these weight formats in one run (comma-separated: f32, q8_0, q4_0, q4_1, q5_0, q5_1, q6_k).
    #[arg(long)]
    formats: Option<String>,
    /// Activations of the quantized kernel (with --formats): q8 or f32.
    #[arg(long, default_value = "q8")]
    activations: String,
    /// Interleaved rounds per format (with --formats); the best counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn random_values(rng: &mut Rng, n: usize, std: f32) -> Vec<f32> {
    // Uniform with the requested standard deviation: cheap and bounded.
    let half_width = std * 3f32.sqrt();
    (0..n).map(|_| (rng.uniform_f32() * 2.0 - 1.0) * half_width).collect()
}

/// A GPT-2 checkpoint with random weights, in the Hugging Face layout.
fn random_gpt2(args: &Args, rng: &mut Rng) -> Result<Gpt2, String> {
    let (config, store) = random_gpt2_store(args, rng);
    Gpt2::load(&config, &store).map_err(|e| e.to_string())
}

/// `config.json` text and random weights of a GPT-2 in the Hugging Face layout.
fn random_gpt2_store(args: &Args, rng: &mut Rng) -> (String, WeightStore) {
    let (c, v, p) = (args.width, args.vocab, 1024usize);
    let heads = (c / 64).max(1);
    let config = serde_json::json!({
        "model_type": "gpt2", "vocab_size": v, "n_positions": p, "n_embd": c,
        "n_layer": args.layers, "n_head": heads,
    })
    .to_string();
    let mut store = WeightStore::new();
    let put = |store: &mut WeightStore, name: String, shape: Vec<usize>, std: f32, rng: &mut Rng| {
        let n = shape.iter().product();
        let values = if std == 0.0 { vec![1.0; n] } else { random_values(rng, n, std) };
        store.insert_f32(&name, shape, values);
    };
    put(&mut store, "wte.weight".into(), vec![v, c], 0.02, rng);
    put(&mut store, "wpe.weight".into(), vec![p, c], 0.01, rng);
    for l in 0..args.layers {
        let h = format!("h.{l}");
        for (name, shape, std) in [
            ("ln_1.weight", vec![c], 0.0),
            ("ln_1.bias", vec![c], 0.01),
            ("attn.c_attn.weight", vec![c, 3 * c], 0.02),
            ("attn.c_attn.bias", vec![3 * c], 0.01),
            ("attn.c_proj.weight", vec![c, c], 0.02),
            ("attn.c_proj.bias", vec![c], 0.01),
            ("ln_2.weight", vec![c], 0.0),
            ("ln_2.bias", vec![c], 0.01),
            ("mlp.c_fc.weight", vec![c, 4 * c], 0.02),
            ("mlp.c_fc.bias", vec![4 * c], 0.01),
            ("mlp.c_proj.weight", vec![4 * c, c], 0.02),
            ("mlp.c_proj.bias", vec![c], 0.01),
        ] {
            put(&mut store, format!("{h}.{name}"), shape, std, rng);
        }
    }
    put(&mut store, "ln_f.weight".into(), vec![c], 0.0, rng);
    put(&mut store, "ln_f.bias".into(), vec![c], 0.01, rng);
    (config, store)
}

/// `store` with every matrix but the position table quantized to `ty` as a
/// GGUF file holds it (Conv1D weights as `(out, in)` rows of blocks, read
/// transposed), kept quantized and run with `activations`.
fn quantized_store(store: &WeightStore, ty: GgmlType, activations: Activations) -> Result<WeightStore, String> {
    let mut out = WeightStore::new();
    out.activations = activations;
    for name in store.names() {
        let shape = store.shape(&name).unwrap_or(&[]).to_vec();
        let values = store.to_f32(&name).map_err(|e| e.to_string())?;
        let &[rows, cols] = shape.as_slice() else {
            out.insert_f32(&name, shape, values);
            continue;
        };
        if name == "wpe.weight" {
            out.insert_f32(&name, shape, values);
            continue;
        }
        let conv1d = name.starts_with("h.");
        let stored = if conv1d { ndarray::Array2::from_shape_vec((rows, cols), values).map_err(|e| e.to_string())?.t().iter().copied().collect() } else { values };
        let bytes = quantize(&stored, ty).map_err(|e| format!("{name}: {e}"))?;
        let len = bytes.len();
        let file = out.add_file(std::sync::Arc::new(bytes));
        out.insert_quantized(&name, shape, file, 0..len, ty, conv1d);
    }
    Ok(out)
}

/// Decodes `new_tokens` greedy tokens after `prompt` and returns the thread CPU (or wall) seconds of the decode.
fn time_decode(model: &Gpt2, prompt: &[u32], new_tokens: usize) -> Result<f64, String> {
    let mut cache = model.new_cache();
    let logits = model.forward_batch(&[prompt.to_vec()], None, Some(&mut cache)).map_err(|e| e.to_string())?; // (1, T, V)
    let mut next = argmax(logits.slice(ndarray::s![0, prompt.len() - 1, ..]));
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    for _ in 0..new_tokens {
        let logits = model.forward_batch(&[vec![next]], None, Some(&mut cache)).map_err(|e| e.to_string())?; // (1, 1, V)
        next = argmax(logits.slice(ndarray::s![0, 0, ..]));
    }
    Ok(match (cpu_start, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => start.elapsed().as_secs_f64(),
    })
}

/// `--formats`: decode speed of each weight format, interleaved, with ratios to f32.
fn compare_formats(args: &Args, formats: &str) -> Result<(), String> {
    let activations = Activations::from_name(&args.activations).ok_or_else(|| format!("unknown --activations '{}'", args.activations))?;
    let mut rng = Rng::new(args.seed);
    eprintln!("building a random {}-layer width-{} GPT-2...", args.layers, args.width);
    let (config, store) = random_gpt2_store(args, &mut rng);
    let prompt: Vec<u32> = (0..args.prompt).map(|_| rng.below(args.vocab as u64) as u32).collect();
    let mut models = Vec::new();
    for name in formats.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let ty = GgmlType::from_name(name).ok_or_else(|| format!("unknown format '{name}'"))?;
        let model_store = match ty {
            GgmlType::F32 => store.clone(),
            _ => quantized_store(&store, ty, activations)?,
        };
        let weight_bytes: usize = model_store
            .names()
            .iter()
            .filter(|n| n.as_str() != "wpe.weight")
            .filter_map(|n| model_store.storage(n).ok())
            .map(|s| s.byte_len())
            .sum();
        models.push((ty, weight_bytes, Gpt2::load(&config, &model_store).map_err(|e| e.to_string())?));
    }
    let mut best = vec![f64::MAX; models.len()];
    for round in 0..args.rounds.max(1) {
        for ((ty, _, model), best) in models.iter().zip(best.iter_mut()) {
            let seconds = time_decode(model, &prompt, args.new_tokens)?;
            eprintln!("round {round}: {} {:.1} tok/s", ty.name(), args.new_tokens as f64 / seconds);
            *best = best.min(seconds);
        }
    }
    let f32_rate = models.iter().zip(&best).find(|((ty, ..), _)| *ty == GgmlType::F32).map(|(_, s)| args.new_tokens as f64 / s);
    let rows: Vec<serde_json::Value> = models
        .iter()
        .zip(&best)
        .map(|((ty, bytes, _), seconds)| {
            let rate = args.new_tokens as f64 / seconds;
            serde_json::json!({
                "format": ty.name(),
                "weight_bytes": bytes,
                "decode_tokens_per_cpu_second": rate,
                "ratio_to_f32": f32_rate.map(|f| rate / f),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "model": format!("random GPT-2 shape: {} layers, width {}, vocab {}", args.layers, args.width, args.vocab),
            "threads": 1,
            "activations": activations.name(),
            "prompt_tokens": args.prompt,
            "new_tokens": args.new_tokens,
            "rounds": args.rounds,
            "formats": rows,
        })
    );
    Ok(())
}

/// Read bandwidth in bytes/s: summing a buffer much larger than the caches
/// (timed by this thread's CPU time when available, like the decode).
fn memory_bandwidth() -> f64 {
    let len = 256 << 20; // 1 GiB of f32
    let buffer: Vec<f32> = (0..len).map(|i| (i & 7) as f32).collect();
    let mut best = f64::MAX;
    let mut checksum = 0.0f32;
    for _ in 0..3 {
        let start = Instant::now();
        let cpu_start = thread_cpu_seconds();
        let mut acc = [0.0f32; 16];
        for chunk in buffer.chunks_exact(16) {
            for lane in 0..16 {
                acc[lane] += chunk[lane];
            }
        }
        checksum += acc.iter().sum::<f32>();
        let seconds = match (cpu_start, thread_cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => start.elapsed().as_secs_f64(),
        };
        best = best.min(seconds);
    }
    std::hint::black_box(checksum);
    (len * 4) as f64 / best
}

/// CPU time of this thread in seconds (Linux `/proc/thread-self/schedstat`),
/// so a busy shared machine does not distort the comparison; `None` elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanos / 1e9)
}

fn argmax(row: ndarray::ArrayView1<f32>) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Runs the benchmark and prints JSON.
pub fn run(args: Args) -> Result<(), String> {
    if args.prompt == 0 || args.new_tokens == 0 || args.prompt + args.new_tokens > 1024 {
        return Err("need 1 <= prompt, 1 <= new-tokens and prompt + new-tokens <= 1024".into());
    }
    if let Some(formats) = &args.formats {
        return compare_formats(&args, formats);
    }
    if args.batch == 0 || args.batch > llmlab_core::decoding::limits::MAX_ROWS {
        return Err(format!("--batch must be between 1 and {}", llmlab_core::decoding::limits::MAX_ROWS));
    }
    let mut rng = Rng::new(args.seed);
    eprintln!("building a random {}-layer width-{} GPT-2...", args.layers, args.width);
    let model = random_gpt2(&args, &mut rng)?;
    let prompt: Vec<u32> = (0..args.prompt).map(|_| rng.below(args.vocab as u64) as u32).collect();
    // Row i: the last `prompt - (i % 4)` tokens, left-padded with token 0.
    let lengths: Vec<usize> = (0..args.batch).map(|i| args.prompt.saturating_sub(i % 4).max(1)).collect();
    let batch_ids: Vec<Vec<u32>> =
        lengths.iter().map(|&n| core::iter::repeat_n(0, args.prompt - n).chain(prompt[args.prompt - n..].iter().copied()).collect()).collect();
    let batch_mask: Vec<Vec<u8>> =
        lengths.iter().map(|&n| core::iter::repeat_n(0u8, args.prompt - n).chain(core::iter::repeat_n(1u8, n)).collect()).collect();
    let params: usize = {
        let b = llmlab_core::models::params::gpt2(&model.config);
        b.total() as usize
    };

    // Warm-up (page in the weights), then the timed run.
    let run_prefill = |cache: &mut llmlab_core::models::KvCache| {
        model.forward_batch(&batch_ids, Some(&batch_mask), Some(cache)).map_err(|e| e.to_string())
    };
    let mut cache = model.new_cache();
    run_prefill(&mut cache)?;

    let mut cache = model.new_cache();
    let start = Instant::now();
    let logits = run_prefill(&mut cache)?; // (B, T, V)
    let prefill = start.elapsed().as_secs_f64();
    let last = args.prompt - 1;
    let mut next: Vec<u32> = (0..args.batch).map(|b| argmax(logits.slice(ndarray::s![b, last, ..]))).collect();
    let start = Instant::now();
    let cpu_start = thread_cpu_seconds();
    for _ in 0..args.new_tokens {
        let step: Vec<Vec<u32>> = next.iter().map(|&t| vec![t]).collect();
        let logits = model.forward_batch(&step, None, Some(&mut cache)).map_err(|e| e.to_string())?; // (B, 1, V)
        next = (0..args.batch).map(|b| argmax(logits.slice(ndarray::s![b, 0, ..]))).collect();
    }
    let decode = start.elapsed().as_secs_f64();
    let decode_cpu = match (cpu_start, thread_cpu_seconds()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let generated = (args.new_tokens * args.batch) as f64;
    let tokens_per_s = generated / decode;

    eprintln!("measuring memory bandwidth...");
    let bandwidth = memory_bandwidth();
    // Per token every weight is read once (the tied LM head is the
    // embedding table, read once; position table rows are negligible).
    let bytes_per_token = ((params - 1024 * args.width) * 4) as f64;
    let ceiling = bandwidth / bytes_per_token;
    let best_rate = decode_cpu.map_or(tokens_per_s, |c| args.new_tokens as f64 / c); // steps per second
    println!(
        "{}",
        serde_json::json!({
            "model": format!("random GPT-2 shape: {} layers, width {}, vocab {}", args.layers, args.width, args.vocab),
            "parameters": params,
            "threads": 1,
            "prompt_tokens": args.prompt,
            "batch": args.batch,
            "new_tokens": args.new_tokens,
            "prefill_seconds": prefill,
            "decode_seconds": decode,
            "decode_tokens_per_second": tokens_per_s,
            "decode_cpu_seconds": decode_cpu,
            "decode_tokens_per_cpu_second": decode_cpu.map(|c| generated / c),
            "memory_bandwidth_gb_per_s": bandwidth / 1e9,
            "weight_bytes_per_token": bytes_per_token,
            "bandwidth_ceiling_tokens_per_second": ceiling,
            "fraction_of_ceiling": best_rate / ceiling,
            "last_token": next.first(),
        })
    );
    Ok(())
}
