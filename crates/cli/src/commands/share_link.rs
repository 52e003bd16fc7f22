//! `llmlab share-link '#tab=gen&prompt=...'`: what a link restores, as JSON.
//! Useful to inspect a link someone sent before opening it.

use llmlab_core::share::ShareState;

/// Arguments of `llmlab share-link`.
#[derive(clap::Args)]
pub struct Args {
    /// The URL or just its hash part.
    link: String,
}

/// Print the restored state and any warnings.
pub fn run(args: Args) -> Result<(), String> {
    let hash = match args.link.split_once('#') {
        Some((_, h)) => h,
        None => args.link.as_str(),
    };
    let (state, warnings) = ShareState::from_hash(hash);
    let out = serde_json::json!({
        "tab": state.tab.key(),
        "model": state.model,
        "seed": state.seed,
        "prompt": state.generate.prompt,
        "strategy": state.generate.strategy.key(),
        "canonical": state.to_hash(),
        "warnings": warnings,
    });
    println!("{out}");
    Ok(())
}
