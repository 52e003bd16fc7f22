"""Speed of `llmlab data filter` against datatrove 0.10.1's quality filters,
in one run, one thread, on the same documents.

The documents are those of tests/fixtures/data/quality.json (random,
adversarial and tinyshakespeare pages), repeated --repeat times. For each
filter (Gopher quality, Gopher repetition, C4, FineWeb) it times datatrove's
`filter(Document)` over all of them in this process, then our CLI (one
process per filter, including reading the JSONL and printing one JSON line per
document), checks that every decision and reason agree, and prints documents
per second and the ratio.

Usage: /work/venv-data/bin/python scripts/bench/data_quality.py --bin target/release/llmlab [--repeat 3]
"""
import argparse
import json
import os
import resource
import subprocess
import tempfile
import time

from datatrove.data import Document
from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with open(os.path.join(ROOT, "tests", "fixtures", "data", "quality.json"), encoding="utf-8") as f:
        texts = [d["text"] for d in json.load(f)["documents"]] * args.repeat
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")
        path = f.name
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    print(f"{len(texts)} documents, {megabytes:.1f} MB")
    filters = {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(),
    }
    # Load spaCy once outside the timings.
    filters["gopher_quality"].filter(Document(text="warm up", id="0"))
    for name, step in filters.items():
        t0 = time.process_time()
        ref = []
        for t in texts:
            r = step.filter(Document(text=t, id="0"))
            ref.append("keep" if r is True else r[1])
        py_cpu = time.process_time() - t0

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run([args.bin, "data", "filter", "--filters", name, "--in", path], capture_output=True, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rust_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        ours = [("keep" if d["keep"] else d["reason"]) for d in map(json.loads, out.stdout.splitlines())]
        agree = sum(a == b for a, b in zip(ref, ours))
        print(
            f"{name:18} datatrove {len(texts) / py_cpu:9.0f} docs/s   llmlab {len(texts) / rust_cpu:9.0f} docs/s   "
            f"ratio {py_cpu / rust_cpu:5.1f}x   decisions equal {agree}/{len(texts)}"
        )
    os.unlink(path)


if __name__ == "__main__":
    main()
