//! BERT (`BertForMaskedLM`): token + learned position + segment embeddings,
//! LayerNorm, post-LN encoder layers (the curriculum's `EncoderLayer`), and
//! the MLM head `decoder(LayerNorm(act(dense(h))))` whose decoder is tied to
//! the word embeddings. Attention is bidirectional; padding keys are masked.

use super::{batch_shape, flatten_ids, make_trace, row_norms, special_tokens_from_json, to_batched, MaskedLm, ModelError, SpecialTokens, Trace};
use crate::loading::config::{check_divides, check_positive_float, check_size, parse_json, MAX_HEADS, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore, Weights};
use crate::nn::activation::Activation;
use super::gradients::NamedTensor;
use crate::nn::attention::{AttentionGrad, AttentionMask, AttentionRecord, MultiHeadAttention};
use crate::nn::blocks::{PostNormActivations, PostNormBlock, PreNormGrad, StepContext};
use crate::nn::embedding::Embedding;
use crate::nn::ffn::FeedForward;
use crate::nn::kv_cache::LayerKv;
use crate::nn::linear::{matmul_weight, Linear, LinearGrad};
use crate::nn::norm::{LayerNorm, Norm, NormGrad};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use crate::nn::gemm::{gemm, matmul};
use ndarray::{Array1, Array2, Array3, ArrayView2, Axis};
use serde::Deserialize;

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_true() -> bool {
    true
}
fn default_position_type() -> String {
    "absolute".into()
}
fn default_pad() -> Option<u32> {
    Some(0)
}

/// `config.json` of a BERT checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// vocab_size.
    pub vocab_size: usize,
    /// hidden_size `C`.
    pub hidden_size: usize,
    /// num_hidden_layers.
    pub num_hidden_layers: usize,
    /// num_attention_heads `H`.
    pub num_attention_heads: usize,
    /// intermediate_size: FFN width.
    pub intermediate_size: usize,
    /// hidden_act of the FFN and of the MLM transform (`gelu` = exact).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// max_position_embeddings: rows of the learned position table.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// type_vocab_size: number of segments (token_type_ids).
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// layer_norm_eps.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// position_embedding_type: only `absolute` is implemented.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// tie_word_embeddings: the MLM decoder reuses the word embeddings.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// pad_token_id (0 unless the config says otherwise; `null` for none):
    /// the word embeddings' `padding_idx`, whose row gets no gradient from
    /// the lookup.
    #[serde(default = "default_pad")]
    pub pad_token_id: Option<u32>,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        let cfg: Config = parse_json(text)?;
        check_size("vocab_size", cfg.vocab_size, MAX_VOCAB)?;
        check_size("hidden_size", cfg.hidden_size, MAX_WIDTH)?;
        check_size("num_hidden_layers", cfg.num_hidden_layers, MAX_LAYERS)?;
        check_size("num_attention_heads", cfg.num_attention_heads, MAX_HEADS)?;
        check_size("intermediate_size", cfg.intermediate_size, MAX_WIDTH)?;
        check_size("max_position_embeddings", cfg.max_position_embeddings, MAX_POSITIONS)?;
        check_size("type_vocab_size", cfg.type_vocab_size, MAX_VOCAB)?;
        check_divides("hidden_size", cfg.hidden_size, "num_attention_heads", cfg.num_attention_heads)?;
        check_positive_float("layer_norm_eps", cfg.layer_norm_eps)?;
        if cfg.position_embedding_type != "absolute" {
            return Err(LoadError::Config(format!(
                "position_embedding_type '{}' is not supported (only 'absolute')",
                cfg.position_embedding_type
            )));
        }
        Ok(cfg)
    }
}

/// A BERT masked language model.
#[derive(Clone, Debug)]
pub struct Bert {
    /// The parsed config.
    pub config: Config,
    /// Token embeddings `(V, C)`.
    pub word_embeddings: Embedding,
    /// Learned positions `(P, C)`.
    pub position_embeddings: Embedding,
    /// Segment embeddings `(types, C)`.
    pub token_type_embeddings: Embedding,
    /// LayerNorm after summing the three embeddings.
    pub embeddings_norm: Norm,
    /// The encoder layers.
    pub layers: Vec<PostNormBlock>,
    /// MLM head transform `(C) -> (C)`, followed by the activation.
    pub transform: Linear,
    /// LayerNorm after the transform.
    pub transform_norm: Norm,
    /// MLM decoder `(V, C)` if not tied to the word embeddings.
    pub decoder: Option<Linear>,
    /// MLM output bias `(V)`.
    pub decoder_bias: Array1<f32>,
    act: Activation,
    special: SpecialTokens,
}

fn linear(w: &Weights, in_f: usize, out_f: usize) -> Result<Linear, LoadError> {
    Ok(Linear::from_matrix(w.matrix("weight", (out_f, in_f))?, Some(w.get1("bias", out_f)?)))
}

/// LayerNorm; checkpoints converted from the original TensorFlow BERT name
/// its parameters `gamma`/`beta` instead of `weight`/`bias`.
fn layer_norm(w: &Weights, c: usize, eps: f64) -> Result<Norm, LoadError> {
    let (weight, bias) = if !w.contains("weight") && w.contains("gamma") { ("gamma", "beta") } else { ("weight", "bias") };
    Ok(Norm::Layer(LayerNorm { weight: w.get1(weight, c)?, bias: w.get1(bias, c)?, eps: eps as f32 }))
}

impl Bert {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        Self::load_with(config_json, store, false)
    }

    /// [`load`](Self::load) that also refuses a checkpoint tensor the model
    /// does not read (naming it), as the gradient path must report exactly
    /// the parameters it trains. Accepted and skipped, as `BertForMaskedLM`
    /// does: the `position_ids` buffer, the tied decoder's duplicates, and
    /// the pooler and next-sentence head of `BertForPreTraining` checkpoints.
    pub fn load_checked(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        Self::load_with(config_json, store, true)
    }

    fn load_with(config_json: &str, store: &WeightStore, check_all_used: bool) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        let act = Activation::from_hf_name(&cfg.hidden_act)?;
        let root = Weights::new(store);
        let (c, h, f) = (cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size);
        let e = root.pp("bert").pp("embeddings");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| -> Result<PostNormBlock, ModelError> {
                let l = root.pp("bert.encoder.layer").pp(i);
                let a = l.pp("attention");
                Ok(PostNormBlock {
                    attn: MultiHeadAttention {
                        q_proj: linear(&a.pp("self.query"), c, c)?,
                        k_proj: linear(&a.pp("self.key"), c, c)?,
                        v_proj: linear(&a.pp("self.value"), c, c)?,
                        o_proj: linear(&a.pp("output.dense"), c, c)?,
                        num_heads: h,
                        num_kv_heads: h,
                        head_dim: c / h,
                        scale: 1.0 / libm::sqrtf((c / h) as f32),
                        rope: None,
                    },
                    norm1: layer_norm(&a.pp("output.LayerNorm"), c, cfg.layer_norm_eps)?,
                    ffn: FeedForward::Plain {
                        up: linear(&l.pp("intermediate.dense"), c, f)?,
                        down: linear(&l.pp("output.dense"), f, c)?,
                        act,
                    },
                    norm2: layer_norm(&l.pp("output.LayerNorm"), c, cfg.layer_norm_eps)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let p = root.pp("cls.predictions");
        let decoder = if p.contains("decoder.weight") {
            Some(Linear::from_matrix(p.matrix("decoder.weight", (cfg.vocab_size, c))?, None))
        } else {
            None
        };
        let decoder_bias = match p.get1_opt("bias", cfg.vocab_size)? {
            Some(b) => b,
            None => p.get1("decoder.bias", cfg.vocab_size)?,
        };
        let model = Self {
            word_embeddings: Embedding::from_matrix(e.matrix("word_embeddings.weight", (cfg.vocab_size, c))?),
            position_embeddings: Embedding::from_matrix(e.matrix("position_embeddings.weight", (cfg.max_position_embeddings, c))?),
            token_type_embeddings: Embedding::from_matrix(e.matrix("token_type_embeddings.weight", (cfg.type_vocab_size, c))?),
            embeddings_norm: layer_norm(&e.pp("LayerNorm"), c, cfg.layer_norm_eps)?,
            layers,
            transform: linear(&p.pp("transform.dense"), c, c)?,
            transform_norm: layer_norm(&p.pp("transform.LayerNorm"), c, cfg.layer_norm_eps)?,
            decoder,
            decoder_bias,
            act,
            special: special_tokens_from_json(config_json),
            config: cfg,
        };
        if check_all_used {
            root.check_all_used(|name| {
                name == "bert.embeddings.position_ids"
                    || name == "cls.predictions.decoder.bias"
                    || name.starts_with("bert.pooler.")
                    || name.starts_with("cls.seq_relationship.")
            })?;
        }
        Ok(model)
    }

    fn run(
        &self,
        input_ids: &[Vec<u32>],
        token_type_ids: Option<&[Vec<u32>]>,
        attention_mask: Option<&[Vec<u8>]>,
        mut record: Option<&mut AttentionRecord>,
        mut norms: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<Array3<f32>, ModelError> {
        let (batch, t, mask) = batch_shape(input_ids, attention_mask)?;
        let types = match token_type_ids {
            Some(tt) => {
                if tt.len() != batch || tt.iter().any(|r| r.len() != t) {
                    return Err(ModelError::BadInput("token_type_ids must have the shape of input_ids".into()));
                }
                flatten_ids(tt)
            }
            None => vec![0u32; batch * t],
        };
        // BERT's positions are 0..T whatever the padding (right padding).
        let positions: Vec<usize> = (0..batch).flat_map(|_| 0..t).collect();
        let mut h = self.word_embeddings.forward(&flatten_ids(input_ids))?; // (B*T, C)
        h += &self.position_embeddings.forward_positions(&positions)?;
        h += &self.token_type_embeddings.forward(&types)?;
        self.embeddings_norm.forward_inplace(&mut h);
        if let Some(n) = norms.as_deref_mut() {
            n.push(row_norms(&h, t));
        }
        let position_rows = vec![vec![0usize; t]; batch];
        let ctx = StepContext { batch, positions: &position_rows, mask: AttentionMask { key_mask: &mask, causal: false } };
        for layer in &self.layers {
            let mut kv = LayerKv::default();
            h = layer.forward(&h, &ctx, &mut kv, record.as_deref_mut());
            if let Some(n) = norms.as_deref_mut() {
                n.push(row_norms(&h, t));
            }
        }
        // MLM head: (B*T, C) -> (B*T, V).
        let mut x = self.transform.forward(h.view());
        self.act.apply_inplace(&mut x);
        self.transform_norm.forward_inplace(&mut x);
        let mut logits: Array2<f32> = match &self.decoder {
            Some(d) => d.forward(x.view()),
            None => matmul_weight(x.view(), &self.word_embeddings.weight),
        };
        logits += &self.decoder_bias;
        to_batched(logits, batch, t)
    }
}

impl MaskedLm for Bert {
    fn model_type(&self) -> &str {
        "bert"
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn special_tokens(&self) -> SpecialTokens {
        self.special.clone()
    }
    fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        token_type_ids: Option<&[Vec<u32>]>,
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<Array3<f32>, ModelError> {
        self.run(input_ids, token_type_ids, attention_mask, None, None)
    }
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        let mut record = Vec::new();
        let mut norms = Vec::new();
        self.run(&[input_ids.to_vec()], None, None, Some(&mut record), Some(&mut norms))?;
        make_trace(record, norms)
    }
}

/// What [`Bert::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct BertActivations {
    /// Token ids, `(B*T)`.
    pub ids: Vec<usize>,
    /// Position ids, `(B*T)`.
    pub positions: Vec<usize>,
    /// Segment ids (all 0), `(B*T)`.
    pub types: Vec<usize>,
    /// Sum of the three embeddings, the input of the embedding LayerNorm, `(B*T, C)`.
    pub embed_sum: Array2<f32>,
    /// Per layer.
    pub layers: Vec<PostNormActivations>,
    /// The encoder's output, input of the MLM transform, `(B*T, C)`.
    pub encoder_out: Array2<f32>,
    /// The transform's output before the activation, `(B*T, C)`.
    pub transform_pre: Array2<f32>,
    /// After the activation, input of the transform's LayerNorm, `(B*T, C)`.
    pub transform_act: Array2<f32>,
    /// Input of the decoder, `(B*T, C)`.
    pub head_in: Array2<f32>,
}

/// Gradients of every parameter of a [`Bert`], in its structure.
#[derive(Clone, Debug, PartialEq)]
pub struct BertGrad {
    /// Word embeddings `(V, C)` (including the tied decoder's share).
    pub word_embeddings: Array2<f32>,
    /// Learned positions `(P, C)`.
    pub position_embeddings: Array2<f32>,
    /// Segment embeddings `(types, C)`.
    pub token_type_embeddings: Array2<f32>,
    /// Embedding LayerNorm.
    pub embeddings_norm: NormGrad,
    /// Per layer (`norm1` is `attention.output.LayerNorm`, `norm2` `output.LayerNorm`).
    pub layers: Vec<PreNormGrad>,
    /// MLM transform.
    pub transform: LinearGrad,
    /// MLM transform LayerNorm.
    pub transform_norm: NormGrad,
    /// Untied decoder `(V, C)`.
    pub decoder: Option<LinearGrad>,
    /// MLM output bias `(V)`.
    pub decoder_bias: Array1<f32>,
}

impl Bert {
    /// Whole sequences for training, as `BertForMaskedLM(input_ids,
    /// attention_mask, token_type_ids=zeros)` in eval mode: `input_ids,
    /// attention_mask: (B, T)` -> logits `(B*T, V)` and the activations
    /// [`backward`](Self::backward) needs.
    pub fn forward_train(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<(Array2<f32>, BertActivations), ModelError> {
        let (batch, t, mask) = batch_shape(input_ids, attention_mask)?;
        let flat = flatten_ids(input_ids);
        let positions: Vec<usize> = (0..batch).flat_map(|_| 0..t).collect(); // (B*T)
        let types = vec![0usize; batch * t];
        let mut embed_sum = self.word_embeddings.forward(&flat)?; // (B*T, C)
        embed_sum += &self.position_embeddings.forward_positions(&positions)?;
        embed_sum += &self.token_type_embeddings.forward_positions(&types)?;
        let mut h = self.embeddings_norm.forward(&embed_sum);
        let attention = AttentionMask { key_mask: &mask, causal: false };
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (out, acts) = layer.forward_train(&h, batch, &attention);
            layers.push(acts);
            h = out;
        }
        let transform_pre = self.transform.forward(h.view()); // (B*T, C)
        let mut transform_act = transform_pre.clone();
        self.act.apply_inplace(&mut transform_act);
        let head_in = self.transform_norm.forward(&transform_act);
        let mut logits = match &self.decoder {
            Some(d) => d.forward(head_in.view()),
            None => matmul_weight(head_in.view(), &self.word_embeddings.weight),
        }; // (B*T, V)
        logits += &self.decoder_bias;
        let ids = flat.into_iter().map(|id| id as usize).collect();
        let acts = BertActivations { ids, positions, types, embed_sum, layers, encoder_out: h, transform_pre, transform_act, head_in };
        Ok((logits, acts))
    }

    /// Backward from `d_logits: (B*T, V)` through the head, the layers and
    /// the embeddings.
    pub fn backward(&self, acts: &BertActivations, d_logits: ArrayView2<f32>) -> Result<BertGrad, ModelError> {
        let mut grad = self.zero_grad();
        grad.decoder_bias += &d_logits.sum_axis(Axis(0));
        let d_head_in = match (&self.decoder, grad.decoder.as_mut()) {
            (Some(d), Some(g)) => d.backward(acts.head_in.view(), d_logits, g),
            _ => {
                // Tied: logits = x·Eᵀ, so dE += dlogitsᵀ·x and dx = dlogits·E.
                gemm(1.0, d_logits.t(), acts.head_in.view(), 1.0, grad.word_embeddings.view_mut());
                matmul(d_logits, self.word_embeddings.weight.view())
            }
        };
        let d_act = self.transform_norm.backward(acts.transform_act.view(), d_head_in.view(), &mut grad.transform_norm);
        let d_pre = self.act.backward(acts.transform_pre.view(), d_act.view());
        let mut dh = self.transform.backward(acts.encoder_out.view(), d_pre.view(), &mut grad.transform);
        for ((layer, layer_acts), layer_grad) in self.layers.iter().zip(&acts.layers).zip(grad.layers.iter_mut()).rev() {
            dh = layer.backward(layer_acts, dh.view(), layer_grad);
        }
        let d_sum = self.embeddings_norm.backward(acts.embed_sum.view(), dh.view(), &mut grad.embeddings_norm);
        // `nn.Embedding(padding_idx=pad_token_id)`: the pad row gets nothing from the lookup.
        let mut d_words = d_sum.clone();
        if let Some(pad) = self.config.pad_token_id {
            for (&id, mut row) in acts.ids.iter().zip(d_words.axis_iter_mut(Axis(0))) {
                if id == pad as usize {
                    row.fill(0.0);
                }
            }
        }
        self.word_embeddings.backward(&acts.ids, d_words.view(), &mut grad.word_embeddings)?;
        self.position_embeddings.backward(&acts.positions, d_sum.view(), &mut grad.position_embeddings)?;
        self.token_type_embeddings.backward(&acts.types, d_sum.view(), &mut grad.token_type_embeddings)?;
        Ok(grad)
    }

    /// Zero gradients shaped like the model.
    pub fn zero_grad(&self) -> BertGrad {
        BertGrad {
            word_embeddings: Array2::zeros(self.word_embeddings.weight.dim()),
            position_embeddings: Array2::zeros(self.position_embeddings.weight.dim()),
            token_type_embeddings: Array2::zeros(self.token_type_embeddings.weight.dim()),
            embeddings_norm: self.embeddings_norm.zero_grad(),
            layers: self.layers.iter().map(PostNormBlock::zero_grad).collect(),
            transform: LinearGrad::zeros(&self.transform),
            transform_norm: self.transform_norm.zero_grad(),
            decoder: self.decoder.as_ref().map(LinearGrad::zeros),
            decoder_bias: Array1::zeros(self.decoder_bias.len()),
        }
    }

    /// A copy of every parameter, laid out like the gradients, so that
    /// [`named_tensors`](Self::named_tensors) names weights and gradients alike.
    pub fn parameters(&self) -> BertGrad {
        BertGrad {
            word_embeddings: self.word_embeddings.weight.view().to_owned(),
            position_embeddings: self.position_embeddings.weight.view().to_owned(),
            token_type_embeddings: self.token_type_embeddings.weight.view().to_owned(),
            embeddings_norm: self.embeddings_norm.parameters(),
            layers: self
                .layers
                .iter()
                .map(|l| PreNormGrad {
                    norm1: l.norm1.parameters(),
                    attn: AttentionGrad::of(&l.attn),
                    norm2: l.norm2.parameters(),
                    ffn: l.ffn.parameters().into(),
                    adapters: None,
                })
                .collect(),
            transform: LinearGrad::of(&self.transform),
            transform_norm: self.transform_norm.parameters(),
            decoder: self.decoder.as_ref().map(LinearGrad::of),
            decoder_bias: self.decoder_bias.clone(),
        }
    }

    /// Lays out `t` under `BertForMaskedLM`'s `named_parameters()` names. A
    /// tied decoder is reported once, under the word embeddings' name, and
    /// its bias as `cls.predictions.bias` (what torch calls the shared
    /// parameter); an untied decoder owns `cls.predictions.decoder.*`.
    pub fn named_tensors(&self, t: &BertGrad) -> Vec<NamedTensor> {
        let linear = |out: &mut Vec<NamedTensor>, prefix: &str, g: &LinearGrad| {
            out.push(NamedTensor::new(format!("{prefix}.weight"), &g.weight));
            if let Some(b) = &g.bias {
                out.push(NamedTensor::new(format!("{prefix}.bias"), b));
            }
        };
        let norm = |out: &mut Vec<NamedTensor>, prefix: &str, g: &NormGrad| {
            out.push(NamedTensor::new(format!("{prefix}.weight"), &g.weight));
            if let Some(b) = &g.bias {
                out.push(NamedTensor::new(format!("{prefix}.bias"), b));
            }
        };
        let e = "bert.embeddings";
        let mut out = vec![
            NamedTensor::new(format!("{e}.word_embeddings.weight"), &t.word_embeddings),
            NamedTensor::new(format!("{e}.position_embeddings.weight"), &t.position_embeddings),
            NamedTensor::new(format!("{e}.token_type_embeddings.weight"), &t.token_type_embeddings),
        ];
        norm(&mut out, &format!("{e}.LayerNorm"), &t.embeddings_norm);
        for (i, l) in t.layers.iter().enumerate() {
            let p = format!("bert.encoder.layer.{i}");
            linear(&mut out, &format!("{p}.attention.self.query"), &l.attn.q_proj);
            linear(&mut out, &format!("{p}.attention.self.key"), &l.attn.k_proj);
            linear(&mut out, &format!("{p}.attention.self.value"), &l.attn.v_proj);
            linear(&mut out, &format!("{p}.attention.output.dense"), &l.attn.o_proj);
            norm(&mut out, &format!("{p}.attention.output.LayerNorm"), &l.norm1);
            if let Some(ffn) = l.ffn.dense() {
                linear(&mut out, &format!("{p}.intermediate.dense"), &ffn.up);
                linear(&mut out, &format!("{p}.output.dense"), &ffn.down);
            }
            norm(&mut out, &format!("{p}.output.LayerNorm"), &l.norm2);
        }
        linear(&mut out, "cls.predictions.transform.dense", &t.transform);
        norm(&mut out, "cls.predictions.transform.LayerNorm", &t.transform_norm);
        match &t.decoder {
            Some(d) => {
                out.push(NamedTensor::new("cls.predictions.decoder.weight", &d.weight));
                out.push(NamedTensor::new("cls.predictions.decoder.bias", &t.decoder_bias));
            }
            None => out.push(NamedTensor::new("cls.predictions.bias", &t.decoder_bias)),
        }
        out
    }
}
