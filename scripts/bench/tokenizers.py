"""Tokenizer encode throughput: our `llmlab` (release) vs HF `tokenizers` (Python,
one thread) vs `tiktoken`, on GPT-2's vocabulary and the same text, plus the
growth curve of our encoder on adversarial input (no spaces, one repeated char).

Usage: python scripts/bench/tokenizers.py [--llmlab target/release/llmlab] [--text FILE]
Requires ../shared/data/gpt2/{tokenizer.json,vocab.bpe,encoder.json}.
"""
import os as _os
import sys as _sys

_sys.path = [p for p in _sys.path if _os.path.abspath(p or ".") != _os.path.dirname(_os.path.abspath(__file__))]
_os.environ["RAYON_NUM_THREADS"] = "1"
_os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse
import json
import os
import random
import subprocess
import tempfile
import time

import tiktoken
import tiktoken.load
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GPT2 = os.path.join(os.path.dirname(ROOT), "shared", "data", "gpt2")


def best_time(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def ours(llmlab, tok_path, text_path, whole):
    cmd = [llmlab, "bench-tokenize", "--tokenizer", tok_path, "--text", text_path, "--repeat", "3"]
    if whole:
        cmd.append("--whole")
    out = subprocess.run(cmd, capture_output=True, check=True, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llmlab", default=os.path.join(ROOT, "target", "release", "llmlab"))
    ap.add_argument("--text", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "tinyshakespeare.txt"))
    args = ap.parse_args()

    tok_path = os.path.join(GPT2, "tokenizer.json")
    text = open(args.text, encoding="utf-8").read()
    lines = text.splitlines(keepends=True)
    mb = len(text.encode("utf-8")) / 1e6

    hf = Tokenizer.from_file(tok_path)
    hf_s = best_time(lambda: [hf.encode(l, add_special_tokens=False) for l in lines])
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(os.path.join(GPT2, "vocab.bpe"), os.path.join(GPT2, "encoder.json"))
    enc = tiktoken.Encoding("gpt2", pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
                            mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
    tt_s = best_time(lambda: [enc.encode_ordinary(l) for l in lines])
    o = ours(args.llmlab, tok_path, args.text, whole=False)
    res = {
        "text_mb": round(mb, 3),
        "hf_tokenizers_mb_s": round(mb / hf_s, 2),
        "tiktoken_mb_s": round(mb / tt_s, 2),
        "llmlab_mb_s": round(o["mb_per_s"], 2),
    }
    res["llmlab_vs_hf"] = round(res["llmlab_mb_s"] / res["hf_tokenizers_mb_s"], 2)
    res["llmlab_vs_tiktoken"] = round(res["llmlab_mb_s"] / res["tiktoken_mb_s"], 2)
    print(json.dumps(res))

    # Adversarial growth: one long "word" (no spaces) of random letters, and one repeated char.
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as d:
        for kind in ["random_letters", "repeated_a"]:
            for n in [10_000, 30_000, 100_000, 300_000, 1_000_000]:
                s = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)) if kind == "random_letters" else "a" * n
                p = os.path.join(d, f"{kind}_{n}.txt")
                open(p, "w").write(s)
                r = ours(args.llmlab, tok_path, p, whole=True)
                row = {"input": kind, "bytes": n, "llmlab_s": round(r["seconds"], 4),
                       "llmlab_us_per_byte": round(r["seconds"] / n * 1e6, 3)}
                if n <= 100_000:
                    row["hf_s"] = round(best_time(lambda: hf.encode(s, add_special_tokens=False), 1), 4)
                    row["tiktoken_s"] = round(best_time(lambda: enc.encode_ordinary(s), 1), 4)
                print(json.dumps(row))


if __name__ == "__main__":
    main()
