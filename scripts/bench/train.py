"""Training throughput: PyTorch (CPU, 1 thread) vs `llmlab train` (1 thread).

nanoGPT's CPU configuration for shakespeare_char: 4 layers, 4 heads, width
128, context 64, batch 12, char-level vocabulary (65), no dropout, AdamW.
PyTorch runs HF `GPT2LMHeadModel` (the same architecture our engine
trains) with torch.set_num_threads(1); ours is the release `llmlab` binary,
whose GEMMs (matrixmultiply) are single-threaded. Both count training tokens
(forward + backward + optimiser step) per second, excluding evaluation.

Usage (from the repository root, after `cargo build --release -p llmlab-cli`):
    /work/venv/bin/python scripts/bench/train.py [--steps 60] [--binary target/release/llmlab]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

LAYERS, HEADS, WIDTH, CONTEXT, BATCH = 4, 4, 128, 64, 12


def torch_tokens_per_second(ids, steps, warmup=5):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vocab = int(ids.max()) + 1
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=vocab, n_positions=CONTEXT, n_embd=WIDTH, n_layer=LAYERS, n_head=HEADS,
        activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    ))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    g = torch.Generator().manual_seed(0)

    def step():
        starts = torch.randint(0, len(ids) - CONTEXT - 1, (BATCH,), generator=g)
        x = torch.stack([ids[s:s + CONTEXT] for s in starts])
        y = torch.stack([ids[s + 1:s + CONTEXT + 1] for s in starts])
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH * CONTEXT / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--binary", default="target/release/llmlab")
    ap.add_argument("--corpus", default="../shared/data/tinyshakespeare.txt")
    args = ap.parse_args()
    text = open(args.corpus, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text[: int(len(text) * 0.9)]], dtype=torch.long)

    ours_out = tempfile.mkdtemp(prefix="llmlab-bench-")
    env = dict(os.environ, MATMUL_NUM_THREADS="1", RAYON_NUM_THREADS="1")
    res = subprocess.run(
        [args.binary, "train", "--corpus", args.corpus, "--out", ours_out,
         "--layers", str(LAYERS), "--heads", str(HEADS), "--width", str(WIDTH),
         "--context", str(CONTEXT), "--batch", str(BATCH), "--steps", str(args.steps + 5),
         "--warmup", "5", "--eval-every", str(10 ** 9), "--eval-tokens", "1000"],
        check=True, capture_output=True, text=True, env=env)
    ours = json.loads(res.stdout)["tokens_per_second"]
    theirs = torch_tokens_per_second(ids, args.steps)
    print(json.dumps({
        "config": {"layers": LAYERS, "heads": HEADS, "width": WIDTH, "context": CONTEXT, "batch": BATCH},
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "pytorch_tokens_per_second": round(theirs, 1),
        "llmlab_tokens_per_second": round(ours, 1),
        "ratio_llmlab_over_pytorch": round(ours / theirs, 3),
    }, indent=1))


if __name__ == "__main__":
    main()
