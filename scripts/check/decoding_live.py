"""Live decoding checker: fresh random models and prompts through HF
`generate` and through `llmlab generate`, compared token for token.

    python scripts/check/decoding_live.py [--cases N] [--seed S] [--bin PATH] [--families gpt2,llama,t5]

Each case builds a new tiny random checkpoint (random sizes, large init std,
EOS chosen among the likely tokens so beams finish at varied lengths), picks
a random prompt and random greedy / beam-search settings (1-8 beams, length
penalty, every early_stopping mode, num_return_sequences, no_repeat_ngram,
min_new_tokens, repetition_penalty), and checks that `sequences` are
identical and `sequences_scores` agree within 1e-4 (or 1e-5 relative). Sampling cases check
that a seed reproduces its output and that every sequence is well formed.
Needs torch + transformers (scripts/fixtures/requirements-decoding.txt).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

_here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _here]
sys.path.insert(0, os.path.join(_here, "..", "fixtures"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from decoding import hf_generate, pick_eos  # noqa: E402


def random_model(rng, family, root):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, T5Config, T5ForConditionalGeneration

    vocab = int(rng.integers(40, 300))
    heads = int(rng.choice([1, 2, 4]))
    head_dim = int(rng.choice([4, 8, 16]))
    hidden = heads * head_dim
    layers = int(rng.integers(1, 4))
    std = float(rng.choice([0.1, 0.3, 0.6]))
    if family == "gpt2":
        cfg = GPT2Config(vocab_size=vocab, n_positions=128, n_embd=hidden, n_layer=layers, n_head=heads,
                         initializer_range=std, bos_token_id=1, eos_token_id=3)
        cls = GPT2LMHeadModel
    elif family == "llama":
        kv = int(rng.choice([h for h in (1, 2, 4) if heads % h == 0]))
        cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=int(rng.choice([16, 48, 96])),
                          num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                          max_position_embeddings=256, initializer_range=std, bos_token_id=1, eos_token_id=2,
                          tie_word_embeddings=bool(rng.integers(2)), rope_theta=float(rng.choice([10000.0, 500.0])))
        cls = LlamaForCausalLM
    else:
        cfg = T5Config(vocab_size=vocab, d_model=hidden, d_kv=head_dim, d_ff=int(rng.choice([16, 64])), num_layers=layers,
                       num_decoder_layers=int(rng.integers(1, 4)), num_heads=heads, relative_attention_num_buckets=8,
                       relative_attention_max_distance=20, eos_token_id=1, pad_token_id=0, decoder_start_token_id=0,
                       initializer_factor=std * 8, feed_forward_proj=str(rng.choice(["relu", "gated-gelu"])),
                       tie_word_embeddings=bool(rng.integers(2)))
        cls = T5ForConditionalGeneration
    torch.manual_seed(int(rng.integers(1 << 30)))
    model = cls(cfg).eval()
    pick_eos(model, family, vocab)
    path = os.path.join(root, family)
    model.save_pretrained(path, safe_serialization=True)
    return model, path, vocab


def random_params(rng, kind):
    params = dict(max_new_tokens=int(rng.integers(1, 21)), num_beams=1, num_return_sequences=1)
    if kind == "beam":
        params["num_beams"] = int(rng.integers(1, 9))
        params["num_return_sequences"] = int(rng.integers(1, params["num_beams"] + 1))
        params["length_penalty"] = float(rng.choice([1.0, 0.0, 2.0, -1.0, 0.5, 1.5]))
        params["early_stopping"] = [True, False, "never"][int(rng.integers(3))]
    if rng.random() < 0.35:
        params["no_repeat_ngram_size"] = int(rng.choice([1, 2, 3, 4]))
    if rng.random() < 0.25:
        params["min_new_tokens"] = int(rng.integers(1, params["max_new_tokens"] + 1))
    if rng.random() < 0.25:
        params["repetition_penalty"] = float(rng.choice([1.2, 0.9, 1.8]))
    return params


def cli(binary, path, ids, params, strategy, decoder_start=None, extra=()):
    cmd = [binary, "generate", "--model", path, "--prompt-ids", ",".join(map(str, ids)),
           "--strategy", strategy, "--max-new-tokens", str(params["max_new_tokens"])]
    flags = dict(num_beams="--num-beams", length_penalty="--length-penalty", early_stopping="--early-stopping",
                 num_return_sequences="--num-return-sequences", no_repeat_ngram_size="--no-repeat-ngram-size",
                 min_new_tokens="--min-new-tokens", repetition_penalty="--repetition-penalty")
    for key, flag in flags.items():
        if key in params:
            value = params[key]
            cmd += [flag, str(value).lower() if isinstance(value, bool) else str(value)]
    if decoder_start:
        cmd += ["--decoder-start-ids", ",".join(map(str, decoder_start))]
    cmd += list(extra)
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{out.stderr}")
    return json.loads(out.stdout)


def text_cases(binary, root, rng):
    """`--prompt TEXT`, `--stop` and the `text` field against HF's tokenizer
    path (`tokenizer(prompt)`, `stop_strings=`, `decode(skip_special_tokens=True)`)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    corpus = ["the quick brown fox jumps over the lazy dog. stop here and there. " * 20,
              "hello world, this is a test of stopping strings"] * 50
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        special_tokens=["<eos>"]))
    path = os.path.join(root, "text")
    os.makedirs(path, exist_ok=True)
    tok.save(os.path.join(path, "tokenizer.json"))
    torch.manual_seed(int(rng.integers(1 << 30)))
    vocab = tok.get_vocab_size()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=128, n_embd=32, n_layer=2, n_head=4,
                                       bos_token_id=0, eos_token_id=0, initializer_range=0.3)).eval()
    model.save_pretrained(path, safe_serialization=True)
    hf_tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(path, "tokenizer.json"), eos_token="<eos>")
    passed = failed = 0
    for prompt in ["the quick", "hello world", "stop", "the lazy dog jumps", "fox"]:
        for stop in [None, "e", "th", " the", "o", "ing"]:
            enc = hf_tok(prompt, return_tensors="pt")
            kwargs = dict(do_sample=False, max_new_tokens=int(rng.integers(1, 16)))
            if stop:
                kwargs.update(stop_strings=[stop], tokenizer=hf_tok)
            with torch.no_grad():
                want = model.generate(**enc, **kwargs)[0].tolist()
            want_text = hf_tok.decode(want[enc["input_ids"].shape[1]:], skip_special_tokens=True)
            cmd = [binary, "generate", "--model", path, "--prompt", prompt, "--strategy", "greedy",
                   "--max-new-tokens", str(kwargs["max_new_tokens"])] + (["--stop", stop] if stop else [])
            out = subprocess.run(cmd, capture_output=True, text=True)
            got = json.loads(out.stdout)["sequences"][0] if out.returncode == 0 else {"error": out.stderr}
            if got.get("ids") == want and got.get("text") == want_text:
                passed += 1
            else:
                failed += 1
                print(f"MISMATCH text prompt={prompt!r} stop={stop!r}: got {got} want {want} {want_text!r}")
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=60)
    ap.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "little"))
    ap.add_argument("--bin", default=os.environ.get("LLMLAB", "target/release/llmlab"))
    ap.add_argument("--families", default="gpt2,llama,t5")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    families = args.families.split(",")
    passed = failed = 0
    with tempfile.TemporaryDirectory() as root:
        for i in range(args.cases):
            family = families[i % len(families)]
            model, path, vocab = random_model(rng, family, root)
            eos = model.generation_config.eos_token_id
            ids = [int(v) for v in rng.integers(2, vocab, size=int(rng.integers(1, 13)))]
            decoder_start = None
            if family == "t5":
                ids.append(eos)
                if rng.random() < 0.2:
                    decoder_start = [0] + [int(v) for v in rng.integers(2, vocab, size=int(rng.integers(1, 3)))]
            kind = ["greedy", "beam", "sample"][i % 3]
            params = random_params(rng, "beam" if kind == "beam" else "greedy")
            try:
                if kind == "sample":
                    extra = ["--seed", str(int(rng.integers(1 << 20))), "--temperature", "0.9", "--top-k", "20", "--top-p", "0.95"]
                    a = cli(args.bin, path, ids, params, "sample", decoder_start, extra)
                    b = cli(args.bin, path, ids, params, "sample", decoder_start, extra)
                    prefix = decoder_start or ([0] if family == "t5" else ids)
                    seq = a["sequences"][0]["ids"]
                    ok = a == b and seq[: len(prefix)] == prefix and len(seq) <= len(prefix) + params["max_new_tokens"]
                    ok = ok and all(0 <= t < vocab for t in seq)
                    detail = "" if ok else f"sampling not reproducible or malformed: {a} vs {b}"
                else:
                    expected = hf_generate(model, family, ids, params, decoder_start)
                    got = cli(args.bin, path, ids, params, "beam" if kind == "beam" else "greedy", decoder_start)
                    got_ids = [s["ids"] for s in got["sequences"]]
                    want_scores = expected.get("sequences_scores", [expected.get("logprob_sum")])
                    got_scores = [s["score"] for s in got["sequences"]]
                    # 1e-4 absolute, or 1e-5 relative for large scores (a negative length
                    # penalty multiplies the summed log-probs, and their float32 noise, by the length)
                    score_ok = all(abs(g - w) <= max(1e-4, 1e-5 * abs(w)) for g, w in zip(got_scores, want_scores))
                    ok = got_ids == expected["sequences"] and score_ok
                    detail = "" if ok else f"got {got_ids} {got_scores}\n   want {expected['sequences']} {want_scores}"
            except Exception as e:  # report and continue
                ok, detail = False, str(e)
            if ok:
                passed += 1
            else:
                failed += 1
                print(f"MISMATCH case {i} {family} {kind} {params} prompt={ids} start={decoder_start}\n   {detail}")
        p, f = text_cases(args.bin, root, rng)
        passed += p
        failed += f
    print(f"decoding live check (seed {args.seed}): {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
