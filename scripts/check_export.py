"""Check that a model exported by `llmlab train` loads in Hugging Face.

1. `tokenizers.Tokenizer.from_file(DIR/tokenizer.json)` must encode the text
   one token per character with nanoGPT's mapping (id = rank of the character
   in the sorted set of the corpus's characters).
2. `transformers.AutoModelForCausalLM.from_pretrained(DIR)` must load the
   weights (no missing or unexpected keys) and give logits within 1e-4 of the
   training engine's (`llmlab train --logits-only`), on several windows of the
   corpus and on random character sequences.

Usage (from the repository root):
    /work/venv/bin/python scripts/check_export.py DIR CORPUS [LLMLAB_BINARY]
Prints a JSON report; exits non-zero if a check fails.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def main():
    directory, corpus = sys.argv[1], sys.argv[2]
    binary = sys.argv[3] if len(sys.argv) > 3 else "target/release/llmlab"
    text = open(corpus, encoding="utf-8").read()
    report = {"dir": directory}

    # 1. tokenizer
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    tok = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    ids = tok.encode(text).ids
    report["tokenizer_vocab"] = tok.get_vocab_size()
    report["tokenizer_matches_char_mapping"] = ids == [stoi[c] for c in text]
    report["tokenizer_decode_roundtrip"] = tok.decode(ids[:2000]) == text[:2000]

    # 2. model
    model, info = AutoModelForCausalLM.from_pretrained(directory, output_loading_info=True)
    model.eval()
    report["architecture"] = type(model).__name__
    report["missing_keys"] = list(info["missing_keys"])
    report["unexpected_keys"] = list(info["unexpected_keys"])
    context = model.config.max_position_embeddings if hasattr(model.config, "max_position_embeddings") else model.config.n_positions
    rng = random.Random(0)
    samples = [text[s:s + context] for s in (0, len(text) // 2, len(text) - context - 1)]
    samples.append("".join(rng.choice(chars) for _ in range(context)))
    samples.append(text[1000:1000 + context // 3])
    worst = 0.0
    for sample in samples:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
            f.write(sample)
        try:
            out = subprocess.run([binary, "train", "--corpus", f.name, "--out", directory, "--logits-only"],
                                 check=True, capture_output=True, text=True).stdout
        finally:
            os.unlink(f.name)
        ours = json.loads(out)
        assert ours["ids"] == [stoi[c] for c in sample], "the engine tokenized differently"
        ours_logits = np.array(ours["logits"], dtype=np.float64)
        with torch.no_grad():
            theirs = model(torch.tensor([ours["ids"]])).logits[0].double().numpy()
        worst = max(worst, float(np.abs(ours_logits - theirs).max()))
    report["logits_samples"] = len(samples)
    report["logits_max_abs_diff"] = worst
    ok = (report["tokenizer_matches_char_mapping"] and report["tokenizer_decode_roundtrip"]
          and not report["missing_keys"] and not report["unexpected_keys"] and worst < 1e-4)
    report["ok"] = ok
    print(json.dumps(report, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
