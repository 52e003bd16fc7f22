"""Load time and memory: `llmlab` vs PyTorch + HF transformers on the same checkpoints.

For each checkpoint directory (config.json + model.safetensors + tokenizer.json,
e.g. a GPT-2-small-shaped model saved with `save_pretrained`, once in f32 and
once in f16), in fresh processes:

- ours: `llmlab bench-load --model DIR` (load seconds, peak RSS = VmHWM, file
  size), and the whole process `llmlab generate --max-new-tokens 64` (greedy,
  load included) timed from outside, its peak RSS from `wait4`;
- PyTorch (one thread, like ours): `from_pretrained(DIR)` in its stored dtype
  (load seconds, peak RSS of the process minus its RSS after the imports),
  then `generate` of the same 64 tokens after the same prompt (f32 only: the
  CPU has no fast f16 path in PyTorch), timed alone.

Prints every figure and the ratios the targets are about:
load seconds, peak RSS / file size (f32) and peak RSS / f32 file size (f16),
and PyTorch's generate call / our whole process (> 1 means we are faster), by
wall clock and by CPU time (the machine may be shared: CPU time is the fairer figure).
`--baseline-bin` runs the same `generate` measurements with another binary
(e.g. main's, which has no `bench-load`) for before/after figures.

Make the checkpoints (no network needed; never commit them):

    /work/venv/bin/python - <<'EOF'
    import torch; from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0); m = GPT2LMHeadModel(GPT2Config()).eval()
    m.save_pretrained("/tmp/gpt2-rand-f32"); m.half().save_pretrained("/tmp/gpt2-rand-f16")
    EOF
    cp ../shared/data/gpt2/tokenizer.json /tmp/gpt2-rand-f32/; cp ../shared/data/gpt2/tokenizer.json /tmp/gpt2-rand-f16/

Usage: /work/venv/bin/python scripts/bench/load.py --bin target/release/llmlab \
           --model /tmp/gpt2-rand-f32 --model /tmp/gpt2-rand-f16 [--baseline-bin /tmp/llmlab-main] [--new 64]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

# Sibling scripts (e.g. a `tokenizers.py`) must not shadow the packages transformers imports.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]


def run_timed(cmd):
    """Runs `cmd`; returns (wall seconds, stdout)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return wall, proc.stdout


def run_peak_rss(cmd):
    """Runs `cmd` and returns (wall seconds, peak RSS bytes, CPU seconds) from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}")
    return wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def checkpoint_bytes(model_dir):
    return sum(os.path.getsize(os.path.join(model_dir, f)) for f in os.listdir(model_dir) if f.endswith(".safetensors"))


def torch_child(model_dir, prompt, new, do_generate):
    """Runs inside a fresh Python process: PyTorch load (+ generate); prints JSON."""
    import resource

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start, cpu_start = time.perf_counter(), time.process_time()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto").eval()
    load = time.perf_counter() - start
    load_cpu = time.process_time() - cpu_start
    peak_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"load_seconds": load, "load_cpu_seconds": load_cpu, "peak_rss_bytes": peak_load, "peak_rss_over_imports_bytes": peak_load - rss_after_import,
              "dtype": str(next(model.parameters()).dtype)}
    if do_generate:
        ids = torch.tensor([prompt])
        with torch.no_grad():
            start, cpu_start = time.perf_counter(), time.process_time()
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                                 do_sample=False, use_cache=True, pad_token_id=0)
            result["generate_seconds"] = time.perf_counter() - start
            result["generate_cpu_seconds"] = time.process_time() - cpu_start
        result["generated_ids"] = out[0, len(prompt):].tolist()
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/llmlab")
    parser.add_argument("--baseline-bin", default=None)
    parser.add_argument("--model", action="append", default=[])
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torch-child", nargs=4, metavar=("DIR", "PROMPT", "NEW", "GENERATE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_child:
        model_dir, prompt, new, gen = args.torch_child
        torch_child(model_dir, [int(t) for t in prompt.split(",")], int(new), gen == "1")
        return
    if not args.model:
        parser.error("pass at least one --model DIR")

    rng = random.Random(0)
    prompt = [rng.randrange(50257) for _ in range(args.prompt)]
    prompt_arg = ",".join(map(str, prompt))
    f32_bytes = None
    summary = []
    for model_dir in args.model:
        file_bytes = checkpoint_bytes(model_dir)
        config = json.load(open(os.path.join(model_dir, "config.json")))
        is_f32 = config.get("dtype", config.get("torch_dtype", "float32")) == "float32"
        if is_f32:
            f32_bytes = file_bytes
        print(f"== {model_dir}: {file_bytes / 1e6:.1f} MB ({'f32' if is_f32 else config.get('dtype', config.get('torch_dtype'))})")

        row = {"model": model_dir, "file_bytes": file_bytes}
        loads = [json.loads(run_timed([args.bin, "bench-load", "--model", model_dir])[1]) for _ in range(args.repeats)]
        best = min(loads, key=lambda r: r["load_seconds"])
        row["llmlab_load_seconds"] = best["load_seconds"]
        row["llmlab_peak_rss_bytes"] = max(r["peak_rss_bytes"] for r in loads)
        print(f"llmlab bench-load: {best['load_seconds']:.3f} s, peak RSS {row['llmlab_peak_rss_bytes'] / 1e6:.1f} MB "
              f"= {row['llmlab_peak_rss_bytes'] / file_bytes:.2f}x file")

        generate = [args.bin, "generate", "--model", model_dir, "--prompt-ids", prompt_arg, "--max-new-tokens", str(args.new),
                    "--min-new-tokens", str(args.new)]
        for name, binary in [("llmlab", args.bin)] + ([("baseline", args.baseline_bin)] if args.baseline_bin else []):
            cmd = [binary] + generate[1:]
            runs = [run_peak_rss(cmd) for _ in range(args.repeats)]
            wall = min(r[0] for r in runs)
            peak = max(r[1] for r in runs)
            cpu = min(r[2] for r in runs)
            one = [run_peak_rss(cmd[:-4] + ["--max-new-tokens", "1"]) for _ in range(args.repeats)]
            row[f"{name}_generate_{args.new}_process_seconds"] = wall
            row[f"{name}_generate_{args.new}_peak_rss_bytes"] = peak
            row[f"{name}_generate_{args.new}_process_cpu_seconds"] = cpu
            row[f"{name}_generate_1_process_seconds"] = min(r[0] for r in one)
            print(f"{name} generate: whole process {wall:.2f} s wall, {cpu:.2f} s CPU for {args.new} tokens "
                  f"({args.new / wall:.2f} tok/s incl. load), peak RSS {peak / 1e6:.1f} MB; "
                  f"1 token {row[f'{name}_generate_1_process_seconds']:.2f} s")

        out = subprocess.run([sys.executable, __file__, "--torch-child", model_dir, prompt_arg, str(args.new), "1" if is_f32 else "0"],
                             capture_output=True, text=True, check=True)
        torch_row = json.loads(out.stdout.strip().splitlines()[-1])
        row["pytorch_load_seconds"] = torch_row["load_seconds"]
        row["pytorch_peak_rss_bytes"] = torch_row["peak_rss_bytes"]
        row["pytorch_peak_rss_over_imports_bytes"] = torch_row["peak_rss_over_imports_bytes"]
        print(f"pytorch from_pretrained ({torch_row['dtype']}): {torch_row['load_seconds']:.3f} s, process peak RSS "
              f"{torch_row['peak_rss_bytes'] / 1e6:.1f} MB ({torch_row['peak_rss_over_imports_bytes'] / 1e6:.1f} MB over the imports)")
        if "generate_seconds" in torch_row:
            row["pytorch_generate_seconds"] = torch_row["generate_seconds"]
            row["pytorch_generate_cpu_seconds"] = torch_row["generate_cpu_seconds"]
            ours = row[f"llmlab_generate_{args.new}_process_seconds"]
            ours_cpu = row[f"llmlab_generate_{args.new}_process_cpu_seconds"]
            row["ratio_pytorch_generate_over_llmlab_process"] = torch_row["generate_seconds"] / ours
            row["ratio_pytorch_generate_over_llmlab_process_cpu"] = torch_row["generate_cpu_seconds"] / ours_cpu
            print(f"pytorch generate call alone: {torch_row['generate_seconds']:.2f} s wall, "
                  f"{torch_row['generate_cpu_seconds']:.2f} s CPU ({args.new / torch_row['generate_seconds']:.2f} tok/s); "
                  f"ratio pytorch generate / llmlab whole process = {row['ratio_pytorch_generate_over_llmlab_process']:.2f} wall, "
                  f"{row['ratio_pytorch_generate_over_llmlab_process_cpu']:.2f} CPU")
        row["ratio_pytorch_load_over_llmlab_load"] = torch_row["load_seconds"] / row["llmlab_load_seconds"]
        print(f"ratio pytorch load / llmlab load = {row['ratio_pytorch_load_over_llmlab_load']:.1f}")
        summary.append(row)

    for row in summary:
        row["llmlab_peak_rss_over_file"] = row["llmlab_peak_rss_bytes"] / row["file_bytes"]
        if f32_bytes:
            row["llmlab_peak_rss_over_f32_file"] = row["llmlab_peak_rss_bytes"] / f32_bytes
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
