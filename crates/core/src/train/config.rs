//! Model shape: which architecture and how big.

use alloc::string::String;

/// The two decoder-only families the engine trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// GPT-2: learned positions, LayerNorm with bias, GELU(tanh) MLP, biases
    /// everywhere, `Conv1D` weights stored (in, out), tied LM head.
    Gpt2,
    /// Llama: RoPE, RMSNorm, SwiGLU MLP, no biases, `nn.Linear` weights
    /// stored (out, in), optional grouped-query attention.
    Llama,
}

impl Arch {
    /// Parses `gpt2` or `llama`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gpt2" => Some(Self::Gpt2),
            "llama" => Some(Self::Llama),
            _ => None,
        }
    }
    /// The name [`Arch::parse`] accepts.
    pub fn key(self) -> &'static str {
        match self {
            Self::Gpt2 => "gpt2",
            Self::Llama => "llama",
        }
    }
}

/// Hyper-parameters of a trainable model (HF names in the comments).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Architecture family (`model_type`).
    pub arch: Arch,
    /// vocab_size
    pub vocab_size: usize,
    /// n_positions aka max_position_embeddings: longest sequence.
    pub context: usize,
    /// n_layer aka num_hidden_layers
    pub layers: usize,
    /// n_head aka num_attention_heads
    pub heads: usize,
    /// num_key_value_heads (Llama GQA; equals `heads` for GPT-2)
    pub kv_heads: usize,
    /// n_embd aka hidden_size
    pub width: usize,
    /// n_inner (4·width for GPT-2) aka intermediate_size
    pub ffn_width: usize,
    /// layer_norm_epsilon aka rms_norm_eps
    pub norm_eps: f32,
    /// rope_theta (Llama only)
    pub rope_theta: f64,
    /// tie_word_embeddings: the LM head reuses the token embedding matrix.
    pub tie_embeddings: bool,
}

impl Config {
    /// A GPT-2 shaped config (HF defaults: eps 1e-5, 4× MLP, tied head).
    pub fn gpt2(vocab_size: usize, context: usize, layers: usize, heads: usize, width: usize) -> Self {
        Self {
            arch: Arch::Gpt2,
            vocab_size,
            context,
            layers,
            heads,
            kv_heads: heads,
            width,
            ffn_width: 4 * width,
            norm_eps: 1e-5,
            rope_theta: 10000.0,
            tie_embeddings: true,
        }
    }

    /// A Llama shaped config (eps 1e-6, SwiGLU width ≈ 8/3·C rounded up to
    /// a multiple of 32, untied head, no GQA).
    pub fn llama(vocab_size: usize, context: usize, layers: usize, heads: usize, width: usize) -> Self {
        Self {
            arch: Arch::Llama,
            vocab_size,
            context,
            layers,
            heads,
            kv_heads: heads,
            width,
            ffn_width: (8 * width / 3).div_ceil(32) * 32,
            norm_eps: 1e-6,
            rope_theta: 10000.0,
            tie_embeddings: false,
        }
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.width / self.heads.max(1)
    }

    /// Number of trainable parameters (a tied LM head counts once).
    pub fn num_params(&self) -> usize {
        let (v, c, i, t, l) = (self.vocab_size, self.width, self.ffn_width, self.context, self.layers);
        let (hd, kvd) = (self.heads * self.head_dim(), self.kv_heads * self.head_dim());
        let head = if self.tie_embeddings { 0 } else { v.saturating_mul(c) };
        let (embeddings, per_layer, final_norm) = match self.arch {
            // wte + wpe; ln_1, c_attn, c_proj, ln_2, c_fc, c_proj (with biases); ln_f
            Arch::Gpt2 => ((v + t).saturating_mul(c), 4 * c + 3 * c * c + 3 * c + c * c + c + 2 * c * i + i + c, 2 * c),
            // embed_tokens; two norms, q, k, v, o, gate, up, down; norm
            Arch::Llama => (v.saturating_mul(c), 2 * c + 2 * hd * c + 2 * kvd * c + 3 * i * c, c),
        };
        embeddings.saturating_add(l.saturating_mul(per_layer)).saturating_add(final_norm).saturating_add(head)
    }

    /// Checks the shape is usable, with a message saying what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        use alloc::format;
        if self.vocab_size == 0 || self.context == 0 || self.layers == 0 || self.width == 0 || self.ffn_width == 0 {
            return Err(String::from("vocab, context, layers, width and FFN width must all be positive"));
        }
        if self.heads == 0 || self.width % self.heads != 0 {
            return Err(format!("width {} is not a multiple of heads {}", self.width, self.heads));
        }
        if self.kv_heads == 0 || self.heads % self.kv_heads != 0 {
            return Err(format!("heads {} is not a multiple of key/value heads {}", self.heads, self.kv_heads));
        }
        if self.arch == Arch::Llama && self.head_dim() % 2 != 0 {
            return Err(String::from("RoPE needs an even head width"));
        }
        if self.arch == Arch::Gpt2 && self.kv_heads != self.heads {
            return Err(String::from("GPT-2 has no grouped-query attention"));
        }
        // Keep sizes sane so a hostile config cannot request absurd allocations.
        let params = self.vocab_size.saturating_mul(self.width)
            + self.layers.saturating_mul(self.width.saturating_mul(4 * self.width + 3 * self.ffn_width));
        if params > 2_000_000_000 {
            return Err(String::from("model too large"));
        }
        Ok(())
    }
}
