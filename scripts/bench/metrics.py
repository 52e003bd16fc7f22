"""Speed of `llmlab score` against sacrebleu and rouge-score, in one run.

Makes N (default 100k) random hypothesis/reference pairs (the ROUGE input as
UTF-8 JSON Lines), times sacrebleu's corpus BLEU and chrF and rouge-score's
rouge1/rouge2/rougeL over them, then times our CLI (release build, one
thread, including reading the files and printing JSON) on the same data,
checks the results agree and prints the speed-up ratios.

Usage: /work/venv/bin/python scripts/bench/metrics.py --bin target/release/llmlab [--pairs 100000]
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import sacrebleu
from rouge_score import rouge_scorer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import metrics_textgen as gen  # noqa: E402


def timed(fn):
    """(wall seconds, CPU seconds of this process, result)."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def cli(bin_path, args):
    """(wall seconds, CPU seconds of the child, stdout) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    r = subprocess.run([bin_path, "score", *args], capture_output=True, text=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


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
                f.write(json.dumps({"target": r, "prediction": h}, ensure_ascii=False) + "\n")
        print(f"{args.pairs} segment pairs, {sum(map(len, hyps)) + sum(map(len, refs))} characters")

        types = ["rouge1", "rouge2", "rougeL"]
        scorer = rouge_scorer.RougeScorer(types)
        bleu_w, bleu_c, bleu = timed(lambda: sacrebleu.corpus_bleu(hyps, [refs]))
        chrf_w, chrf_c, chrf = timed(lambda: sacrebleu.corpus_chrf(hyps, [refs]))
        rouge_w, rouge_c, rouge = timed(lambda: [scorer.score(r, h) for h, r in zip(hyps, refs)])

        ob_w, ob_c, out_bleu = cli(args.bin, ["bleu", "--hyp", hp, "--ref", rp])
        oc_w, oc_c, out_chrf = cli(args.bin, ["chrf", "--hyp", hp, "--ref", rp])
        or_w, or_c, out_rouge = cli(args.bin, ["rouge", "--jsonl", jp, "--types", ",".join(types)])

    assert json.loads(out_bleu)["score"] == bleu.score, (json.loads(out_bleu), bleu)
    assert json.loads(out_chrf)["score"] == chrf.score
    per_line = json.loads(out_rouge)["per_line"]
    assert all(per_line[i][k]["fmeasure"] == rouge[i][k].fmeasure for i in range(len(rouge)) for k in types)
    print("results identical")
    print("wall = elapsed seconds; cpu = CPU seconds of the process (robust when the machine is shared)")
    print(f"{'metric':<28}{'ref wall':>9}{'ours wall':>10}{'ratio':>8}{'ref cpu':>9}{'ours cpu':>9}{'ratio':>8}")
    rows = (("BLEU (sacrebleu)", bleu_w, ob_w, bleu_c, ob_c), ("chrF (sacrebleu)", chrf_w, oc_w, chrf_c, oc_c),
            ("ROUGE 1/2/L (rouge-score)", rouge_w, or_w, rouge_c, or_c))
    for name, rw, ow, rc, oc in rows:
        print(f"{name:<28}{rw:>9.2f}{ow:>10.3f}{rw / ow:>7.1f}x{rc:>9.2f}{oc:>9.3f}{rc / oc:>7.1f}x")


if __name__ == "__main__":
    main()
