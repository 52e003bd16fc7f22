//! `llmlab dequantize --in FILE.gguf --tensor NAME`: one tensor of a GGUF
//! file decoded to f32 (as `gguf.quants.dequantize` does), printed as
//! `{"name", "shape", "type", "values"}` with `shape` outermost first.
//! The file is parsed by the defensive reader in `llmlab_core::quantization::gguf`.

use llmlab_core::quantization::gguf::GgufFile;

/// Arguments of `llmlab dequantize`.
#[derive(clap::Args)]
pub struct Args {
    /// The GGUF file.
    #[arg(long = "in")]
    input: String,
    /// The tensor's name (e.g. `blk.0.attn_qkv.weight`).
    #[arg(long)]
    tensor: String,
}

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    let bytes = std::fs::read(&args.input).map_err(|e| format!("cannot read {}: {e}", args.input))?;
    let file = GgufFile::parse(&bytes).map_err(|e| format!("{}: {e}", args.input))?;
    let info = file.tensor(&args.tensor).ok_or_else(|| format!("{} has no tensor '{}'", args.input, args.tensor))?;
    let values = file.tensor_f32(&bytes, &args.tensor).map_err(|e| e.to_string())?;
    println!("{}", serde_json::json!({ "name": info.name, "shape": info.shape(), "type": info.ty.name(), "values": values }));
    Ok(())
}
