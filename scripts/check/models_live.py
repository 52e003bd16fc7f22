"""Live parity check: fresh random configs of every family, built and saved
by Hugging Face transformers (`save_pretrained`, safetensors), run through
PyTorch and through our `llmlab logits` CLI; prints the max abs diff per
case and fails if any exceeds the tolerance.

Usage: /work/venv/bin/python scripts/check/models_live.py [--seed N] [--rounds K] [--bin PATH]
"""

import argparse
import json
import os
import sys

# Sibling scripts (e.g. a `tokenizers.py`) must not shadow the packages transformers imports.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import os
import random
import subprocess
import sys
import tempfile

import torch
from transformers import (BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                          T5Config, T5ForConditionalGeneration)

TOLERANCE = 1e-4


def randomise(model, rng, std):
    g = torch.Generator().manual_seed(rng.randrange(1 << 30))
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if ("norm" in name.lower() or "ln_" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias") and p.dim() == 1 and "relative_attention_bias" not in name:
                p.copy_(0.1 * noise)
            else:
                p.copy_(std * noise)
    model.tie_weights()
    return model.eval()


def heads_and_width(rng, max_heads=6):
    heads = rng.randint(1, max_heads)
    head_dim = rng.choice([2, 4, 6, 8, 10, 16])
    return heads, head_dim


def make_gpt2(rng):
    h, d = heads_and_width(rng)
    cfg = GPT2Config(vocab_size=rng.randint(20, 300), n_positions=rng.randint(16, 64), n_embd=h * d,
                     n_layer=rng.randint(1, 4), n_head=h, n_inner=rng.choice([None, rng.randint(8, 80)]),
                     activation_function=rng.choice(["gelu_new", "gelu", "relu", "gelu_pytorch_tanh"]),
                     tie_word_embeddings=rng.random() < 0.6,
                     scale_attn_by_inverse_layer_idx=rng.random() < 0.3,
                     layer_norm_epsilon=rng.choice([1e-5, 1e-6]))
    return GPT2LMHeadModel(cfg)


def make_llama(rng):
    kv = rng.randint(1, 4)
    h = kv * rng.randint(1, 3)
    d = rng.choice([2, 4, 8, 12, 16])
    rope = {"rope_type": "default", "rope_theta": rng.choice([10000.0, 500.0, 1e6])}
    if rng.random() < 0.3:
        rope = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": rng.choice([8, 16, 64])}
    cfg = LlamaConfig(vocab_size=rng.randint(20, 300), hidden_size=h * d + (0 if rng.random() < 0.7 else 0),
                      intermediate_size=rng.randint(8, 80), num_hidden_layers=rng.randint(1, 4),
                      num_attention_heads=h, num_key_value_heads=kv, max_position_embeddings=128,
                      rope_parameters=rope, rms_norm_eps=rng.choice([1e-5, 1e-6]),
                      attention_bias=rng.random() < 0.3, mlp_bias=rng.random() < 0.3,
                      tie_word_embeddings=rng.random() < 0.5)
    return LlamaForCausalLM(cfg)


def make_bert(rng):
    h, d = heads_and_width(rng)
    cfg = BertConfig(vocab_size=rng.randint(20, 300), hidden_size=h * d, num_hidden_layers=rng.randint(1, 4),
                     num_attention_heads=h, intermediate_size=rng.randint(8, 80), max_position_embeddings=64,
                     type_vocab_size=rng.randint(1, 3), hidden_act=rng.choice(["gelu", "gelu_new", "relu"]))
    return BertForMaskedLM(cfg)


def make_t5(rng):
    h, d = heads_and_width(rng)
    cfg = T5Config(vocab_size=rng.randint(20, 300), d_model=rng.randint(2, 24) * 2, d_kv=d, num_heads=h,
                   d_ff=rng.randint(8, 80), num_layers=rng.randint(1, 3), num_decoder_layers=rng.randint(1, 3),
                   relative_attention_num_buckets=rng.choice([8, 16, 32]),
                   relative_attention_max_distance=rng.choice([16, 20, 128]),
                   feed_forward_proj=rng.choice(["relu", "gated-gelu", "gated-silu"]),
                   tie_word_embeddings=rng.random() < 0.5, decoder_start_token_id=0, pad_token_id=0)
    return T5ForConditionalGeneration(cfg)


def run_cli(binary, model_dir, ids, decoder_ids=None):
    cmd = [binary, "logits", "--model", model_dir, "--ids", ",".join(map(str, ids)), "--all-positions"]
    if decoder_ids is not None:
        cmd += ["--decoder-ids", ",".join(map(str, decoder_ids))]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr}")
    return torch.tensor(json.loads(out.stdout)["logits"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "llmlab"))
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    torch.set_num_threads(1)
    worst = 0.0
    failures = 0
    for round_ in range(args.rounds):
        for family, make in [("gpt2", make_gpt2), ("llama", make_llama), ("bert", make_bert), ("t5", make_t5)]:
            model = randomise(make(rng), rng, std=rng.choice([0.02, 0.1, 0.3]))
            vocab = model.config.vocab_size
            n = rng.randint(1, 12)
            ids = [rng.randrange(vocab) for _ in range(n)]
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp, safe_serialization=True)
                with torch.no_grad():
                    if family == "t5":
                        dec = [0] + [rng.randrange(vocab) for _ in range(rng.randint(0, 6))]
                        want = model(input_ids=torch.tensor([ids]), decoder_input_ids=torch.tensor([dec])).logits[0]
                        got = run_cli(args.bin, tmp, ids, dec)
                    else:
                        want = model(input_ids=torch.tensor([ids])).logits[0]
                        got = run_cli(args.bin, tmp, ids)
            diff = (got - want).abs().max().item()
            scale = want.abs().max().item()
            worst = max(worst, diff)
            ok = diff <= TOLERANCE
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} round {round_} {family:5s} maxdiff {diff:.2e} (|logits| up to {scale:.2f})")
    print(f"worst maxdiff {worst:.2e}, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
