"""Speed of `llmlab score` against sacrebleu and rouge-score, in one run.

Makes N (default 100k) random hypothesis/reference pairs, times sacrebleu's
corpus BLEU and chrF and rouge-score's rouge1/rouge2/rougeL over them, then
times our CLI (release build, one thread, including reading the files and
printing JSON) on the same data, checks the results agree and prints the
speed-up ratios.

Usage: /work/venv/bin/python scripts/bench/metrics.py --bin target/release/llmlab [--pairs 100000]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import sacrebleu
from rouge_score import rouge_scorer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import metrics_textgen as gen  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def cli(bin_path, args):
    def go():
        r = subprocess.run([bin_path, "score", *args], capture_output=True, text=True, env={**os.environ, "RAYON_NUM_THREADS": "1"})
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return r.stdout
    return timed(go)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    hyps, refs = gen.corpus(rng, args.pairs, 1, long_rate=0.0)
    refs = refs[0]
    with tempfile.TemporaryDirectory() as d:
        hp, rp, jp = (os.path.join(d, n) for n in ("hyp.txt", "ref.txt", "pairs.jsonl"))
        for path, lines in ((hp, hyps), (rp, refs)):
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.writelines(line + "\n" for line in lines)
        with open(jp, "w", encoding="utf-8") as f:
            for h, r in zip(hyps, refs):
                f.write(json.dumps({"target": r, "prediction": h}) + "\n")
        print(f"{args.pairs} segment pairs, {sum(map(len, hyps)) + sum(map(len, refs))} characters")

        t_bleu, bleu = timed(lambda: sacrebleu.corpus_bleu(hyps, [refs]))
        t_chrf, chrf = timed(lambda: sacrebleu.corpus_chrf(hyps, [refs]))
        types = ["rouge1", "rouge2", "rougeL"]
        scorer = rouge_scorer.RougeScorer(types)
        t_rouge, rouge = timed(lambda: [scorer.score(r, h) for h, r in zip(hyps, refs)])

        o_bleu, out_bleu = cli(args.bin, ["bleu", "--hyp", hp, "--ref", rp])
        o_chrf, out_chrf = cli(args.bin, ["chrf", "--hyp", hp, "--ref", rp])
        o_rouge, out_rouge = cli(args.bin, ["rouge", "--jsonl", jp, "--types", ",".join(types)])

    assert json.loads(out_bleu)["score"] == bleu.score, (json.loads(out_bleu), bleu)
    assert json.loads(out_chrf)["score"] == chrf.score
    per_line = json.loads(out_rouge)["per_line"]
    assert all(per_line[i][k]["fmeasure"] == rouge[i][k].fmeasure for i in range(len(rouge)) for k in types)
    print("results identical")
    print(f"{'metric':<22}{'reference s':>12}{'llmlab s':>10}{'ratio':>9}")
    for name, ref_t, ours_t in (("BLEU (sacrebleu)", t_bleu, o_bleu), ("chrF (sacrebleu)", t_chrf, o_chrf),
                                ("ROUGE 1/2/L (rouge-score)", t_rouge, o_rouge)):
        print(f"{name:<22}{ref_t:>12.2f}{ours_t:>10.3f}{ref_t / ours_t:>8.1f}x")


if __name__ == "__main__":
    main()
