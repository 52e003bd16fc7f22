"""Live parity check of `llmlab score` against sacrebleu and rouge-score.

Simulates the independent checker: fresh random corpora (new seed each run
unless --seed), written to files, scored by the reference Python packages and
by our CLI; every unrounded value must agree within 1e-9.

Usage: /work/venv/bin/python scripts/check/metrics_live.py --bin target/release/llmlab [--rounds 20] [--seed N]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU, CHRF

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import metrics_textgen as gen  # noqa: E402

TOL = 1e-9


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="") as f:
        for line in lines:
            f.write(line + "\n")


def run(bin_path, args):
    r = subprocess.run([bin_path, "score", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"llmlab score {' '.join(args)} failed: {r.stderr}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


class Tally:
    def __init__(self):
        self.values = 0
        self.max_diff = 0.0
        self.mismatches = []

    def check(self, expected, actual, ctx):
        self.values += 1
        d = abs(float(expected) - float(actual))
        self.max_diff = max(self.max_diff, d)
        if not d <= TOL:
            self.mismatches.append(f"{ctx}: expected {expected!r} got {actual!r}")


def bleu_fields(s):
    return {"score": s.score, "counts": s.counts, "totals": s.totals, "precisions": s.precisions, "bp": s.bp,
            "ratio": s.ratio, "hyp_len": s.sys_len, "ref_len": s.ref_len}


def compare_bleu(t, expected, got, ctx):
    for k, v in expected.items():
        if isinstance(v, list):
            for i, (a, b) in enumerate(zip(v, got[k])):
                t.check(a, b, f"{ctx} {k}[{i}]")
        else:
            t.check(v, got[k], f"{ctx} {k}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--wild", type=float, default=0.0, help="share of tokens made of random code points")
    args = ap.parse_args()
    gen.WILD = args.wild
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    print(f"seed {seed}")
    rng = random.Random(seed)
    t = Tally()
    with tempfile.TemporaryDirectory() as d:
        for rnd in range(args.rounds):
            hyps, refs = gen.corpus(rng, rng.randrange(1, 60), rng.choice([1, 2, 3, 4]), long_rate=0.03)
            hp = os.path.join(d, "hyp.txt")
            write_lines(hp, hyps)
            ref_args = []
            for k, r in enumerate(refs):
                p = os.path.join(d, f"ref{k}.txt")
                write_lines(p, r)
                ref_args += ["--ref", p]
            tok = rng.choice(["13a", "none", "intl", "char", "zh"])
            method = rng.choice(["exp", "floor", "add-k", "none"])
            value = rng.choice([None, None, round(rng.uniform(0.01, 2), 3)]) if method in ("floor", "add-k") else None
            lc = rng.random() < 0.5
            cli = ["--hyp", hp, *ref_args, "--tokenize", tok, "--smooth-method", method]
            if value is not None:
                cli += ["--smooth-value", str(value)]
            if lc:
                cli += ["--lowercase"]
            ctx = f"round {rnd} bleu tok={tok} smooth={method}/{value} lc={lc}"
            exp = bleu_fields(BLEU(tokenize=tok, smooth_method=method, smooth_value=value, lowercase=lc)
                              .corpus_score(hyps, refs))
            compare_bleu(t, exp, run(args.bin, ["bleu", *cli])[0], ctx)
            got = run(args.bin, ["bleu", *cli, "--sentence"])
            assert len(got) == len(hyps), ctx
            for i, h in enumerate(hyps):
                s = sacrebleu.sentence_bleu(h, [r[i] for r in refs], tokenize=tok, smooth_method=method,
                                            smooth_value=value, lowercase=lc)
                compare_bleu(t, bleu_fields(s), got[i], f"{ctx} sentence {i}")
            for wo in (0, 2):
                cli = ["--hyp", hp, *ref_args, "--word-order", str(wo)] + (["--lowercase"] if lc else [])
                exp = CHRF(word_order=wo, lowercase=lc).corpus_score(hyps, refs).score
                t.check(exp, run(args.bin, ["chrf", *cli])[0]["score"], f"round {rnd} chrf wo={wo} lc={lc}")
            # ROUGE
            pairs = [gen.rouge_pair(rng) for _ in range(rng.randrange(1, 40))]
            jp = os.path.join(d, "pairs.jsonl")
            with open(jp, "w", encoding="utf-8") as f:
                for tg, pr in pairs:
                    f.write(json.dumps({"target": tg, "prediction": pr}) + "\n")
            types = rng.sample(["rouge1", "rouge2", "rouge3", "rouge4", "rouge5", "rouge9", "rougeL", "rougeLsum"],
                               rng.randrange(1, 5))
            stem = rng.random() < 0.5
            got = run(args.bin, ["rouge", "--jsonl", jp, "--types", ",".join(types)] + (["--stem"] if stem else []))[0]
            scorer = rouge_scorer.RougeScorer(types, use_stemmer=stem)
            sums = {k: [0.0, 0.0, 0.0] for k in types}
            for i, (tg, pr) in enumerate(pairs):
                s = scorer.score(tg, pr)
                for k in types:
                    for j, f in enumerate(("precision", "recall", "fmeasure")):
                        t.check(getattr(s[k], f), got["per_line"][i][k][f], f"round {rnd} rouge {k} stem={stem} pair {i} {f}")
                        sums[k][j] += getattr(s[k], f)
            for k in types:
                for j, f in enumerate(("precision", "recall", "fmeasure")):
                    t.check(sums[k][j] / len(pairs), got["mean"][k][f], f"round {rnd} rouge mean {k} {f}")
    print(f"{t.values} values compared, max |diff| = {t.max_diff:.3e}, mismatches = {len(t.mismatches)}")
    for m in t.mismatches[:20]:
        print("  " + m)
    sys.exit(1 if t.mismatches else 0)


if __name__ == "__main__":
    main()
