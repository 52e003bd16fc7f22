"""Decode speed: our `llmlab bench-decode` vs PyTorch + HF transformers.

Both run a randomly initialised GPT-2-small-shaped model (12 layers, width
768, 12 heads, vocabulary 50257) on ONE thread, greedy, with the KV cache:
PyTorch through `model.generate(..., use_cache=True)` with
`torch.set_num_threads(1)`, ours through the release binary. Decode speed
excludes the prompt: PyTorch's is (T(new) - T(1)) over new-1 tokens. Both
wall-clock and CPU time are reported (the machine may be shared).
Prints the ratios (ours / PyTorch; > 1 means we are faster) and our speed
as a fraction of the memory-bandwidth ceiling measured by the binary.

With `--batches 1,2,4,8,16` it also measures batched decoding: B prompts
of different lengths (row i is `prompt - i % 4` tokens, left-padded, with an
attention mask), generated together; throughput is new tokens of all rows
per second, for both engines, with the ratio per batch size.

Usage: /work/venv/bin/python scripts/bench/decode.py --bin target/release/llmlab [--prompt 16] [--new 64] [--batches 1,2,4,8,16]
"""
import argparse
import json
import os
import sys

# Sibling scripts (e.g. a `tokenizers.py`) must not shadow the packages transformers imports.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import subprocess
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def timed_generate(model, prompt, new, mask=None):
    w0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt) if mask is None else mask, max_new_tokens=new,
                             min_new_tokens=new, do_sample=False, use_cache=True, pad_token_id=0)
    assert out.shape[1] == prompt.shape[1] + new
    return time.perf_counter() - w0, time.process_time() - c0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/llmlab")
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", default="", help="comma-separated batch sizes for the batched sweep")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()  # 12 layers, 768 wide, vocab 50257
    prompt = torch.randint(0, 50257, (1, args.prompt))
    timed_generate(model, prompt, 2)  # warm-up
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(args.repeats):
        one_w, one_c = timed_generate(model, prompt, 1)
        full_w, full_c = timed_generate(model, prompt, args.new)
        best_wall = min(best_wall, full_w - one_w)
        best_cpu = min(best_cpu, full_c - one_c)
    torch_wall = (args.new - 1) / best_wall
    torch_cpu = (args.new - 1) / best_cpu
    print(f"pytorch {torch.__version__}, 1 thread: {torch_wall:.2f} tok/s wall, {torch_cpu:.2f} tok/s CPU")

    runs = []
    for _ in range(args.repeats):
        out = subprocess.run([args.bin, "bench-decode", "--prompt", str(args.prompt), "--new-tokens", str(args.new)],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    ours = max(runs, key=lambda r: r["decode_tokens_per_second"])
    ours_cpu = max(r["decode_tokens_per_cpu_second"] or 0 for r in runs)
    print(f"llmlab, 1 thread: {ours['decode_tokens_per_second']:.2f} tok/s wall, {ours_cpu:.2f} tok/s CPU")
    print(f"memory bandwidth {ours['memory_bandwidth_gb_per_s']:.1f} GB/s -> ceiling "
          f"{ours['bandwidth_ceiling_tokens_per_second']:.1f} tok/s; ours is {100 * ours['fraction_of_ceiling']:.0f}% of it")
    print(json.dumps({
        "pytorch_tokens_per_second": torch_wall, "pytorch_tokens_per_cpu_second": torch_cpu,
        "llmlab_tokens_per_second": ours["decode_tokens_per_second"], "llmlab_tokens_per_cpu_second": ours_cpu,
        "ratio_wall": ours["decode_tokens_per_second"] / torch_wall, "ratio_cpu": ours_cpu / torch_cpu,
        "memory_bandwidth_gb_per_s": ours["memory_bandwidth_gb_per_s"],
        "fraction_of_bandwidth_ceiling": ours["fraction_of_ceiling"],
    }))
    if args.batches:
        batch_sweep(model, prompt, args)


def batch_sweep(model, prompt, args):
    """Throughput (new tokens of all rows per second) against batch size."""
    rows = []
    for b in [int(x) for x in args.batches.split(",")]:
        lengths = [max(1, args.prompt - i % 4) for i in range(b)]
        ids = torch.stack([torch.cat([torch.zeros(args.prompt - n, dtype=torch.long), prompt[0, args.prompt - n:]]) for n in lengths])
        mask = torch.stack([torch.tensor([0] * (args.prompt - n) + [1] * n) for n in lengths])
        best = float("inf")
        for _ in range(args.repeats):
            one_w, _ = timed_generate(model, ids, 1, mask)
            full_w, _ = timed_generate(model, ids, args.new, mask)
            best = min(best, full_w - one_w)
        torch_rate = b * (args.new - 1) / best
        runs = [json.loads(subprocess.run([args.bin, "bench-decode", "--prompt", str(args.prompt), "--new-tokens", str(args.new),
                                           "--batch", str(b)], capture_output=True, text=True, check=True).stdout)
                for _ in range(args.repeats)]
        ours = max(r["decode_tokens_per_second"] for r in runs)
        rows.append({"batch": b, "pytorch_tokens_per_second": torch_rate, "llmlab_tokens_per_second": ours, "ratio": ours / torch_rate})
        print(f"batch {b:3d}: pytorch {torch_rate:8.1f} tok/s, llmlab {ours:8.1f} tok/s, ratio {ours / torch_rate:.2f}")
    print(json.dumps({"batched": rows}))


if __name__ == "__main__":
    main()
