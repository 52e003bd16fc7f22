//! Reading an adapter directory of any supported method for `llmlab logits
//! --adapter` and `llmlab grad --adapter`: the method is `adapter_config.json`'s
//! `peft_type` (see `llmlab_core::adapters::AdapterKind`).

use llmlab_core::adapters::bottleneck::BottleneckAdapter;
use llmlab_core::adapters::lora::{LoraAdapter, CONFIG_FILE, WEIGHTS_FILE};
use llmlab_core::adapters::prefix_tuning::{PrefixTuningAdapter, ENCODER_FILE};
use llmlab_core::adapters::AdapterKind;
use std::fs;
use std::path::Path;

/// An adapter read from its directory.
pub enum Adapter {
    /// peft LoRA.
    Lora(LoraAdapter),
    /// peft prefix tuning (with its `PrefixEncoder` when the directory has `prefix_encoder.safetensors`).
    PrefixTuning(PrefixTuningAdapter),
    /// Bottleneck adapters (this project's format, `peft_type` `BOTTLENECK`).
    Bottleneck(BottleneckAdapter),
}

/// Reads the adapter in `dir`, whichever method it is.
pub fn read(dir: &Path) -> Result<Adapter, String> {
    let config_path = dir.join(CONFIG_FILE);
    let config = fs::read_to_string(&config_path).map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let weights = fs::read(&weights_path).map_err(|e| format!("cannot read {}: {e}", weights_path.display()))?;
    match AdapterKind::from_config(&config).map_err(|e| e.to_string())? {
        AdapterKind::Lora => LoraAdapter::from_files(&config, weights).map(Adapter::Lora).map_err(|e| e.to_string()),
        AdapterKind::PrefixTuning => {
            let encoder = fs::read(dir.join(ENCODER_FILE)).ok();
            PrefixTuningAdapter::from_files(&config, weights, encoder).map(Adapter::PrefixTuning).map_err(|e| e.to_string())
        }
        AdapterKind::Bottleneck => BottleneckAdapter::from_files(&config, weights).map(Adapter::Bottleneck).map_err(|e| e.to_string()),
    }
}
