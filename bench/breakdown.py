#!/usr/bin/python3
"""Categorises `perf report --no-children --sort dso,sym,srcfile --stdio` output
of bench/step into the per-step breakdown of docs/performance.md (called by
bench/breakdown.sh).

  breakdown.py NAME=REPORT.txt:STEPS [NAME=REPORT.txt:STEPS ...]

STEPS = the steps the profiled run made (warm-up included). Prints a markdown
table: % of the step's CPU samples (all threads) per category and CPU ms per
step (cpu-clock's event count is in ns), then the three heaviest symbols of
each category. Samples in bench/step's own work (input masking before each
step, building the queue and labels at start-up, the dynamic loader) are
counted apart as "harness" and left out of the percentages.

Attribution is by symbol and source file (the library is built with -g, so
code inlined from a header keeps that header as its file): dropout's mask
generation, inlined into forward_from from kernels/pcgfill.h, is "RNG /
masking", the rest of forward_from (bias, ReLU, dropout's multiply) is
"element-wise".
"""
import re
import sys

CATS = ["GEMMs (BLAS kernels)", "element-wise passes (bias/ReLU/dropout/BN/l2norm/softmax)", "loss row pass",
        "optimiser (AdamW)", "momentum update", "RNG / masking", "copies / zeroing (memcpy, memset, enqueue)",
        "synchronisation (fork-join waits incl. polling, futex, scheduler)", "finiteness checks (mlcl__vec_all_finite)", "other"]
HARNESS = "harness (bench/step outside the step)"

HARNESS_SYMS = {"mlcl_augment_mask", "gen_labels", "main", "mlcl_rng_normal", "mlcl__pcg_normal", "mlcl_labels_pack",
                "mlcl_rng_uniform", "mlcl_rng_u32", "mlcl_rng_create", "mlcl_l2norm_forward", "mlcl_softmax_forward",
                "__ieee754_log_fma", "__ieee754_log", "__log", "__cos_fma", "__sin_fma", "__cos", "__sin",
                "__sqrt_finite", "__ieee754_sqrt"}


def category(dso, sym, src):
    s = sym.lower()
    if sym in HARNESS_SYMS or dso.startswith("ld-linux"):
        return HARNESS
    if "openblas" in dso or "blas" in dso or "dnnl" in dso or dso.startswith("perf-") or dso.lower().startswith("[jit") \
            or re.search(r"gemm|brg|jit_|cblas_|_kernel_(prescott|skylakex|haswell|zen|cooperlake|sapphire)", s):
        return CATS[0]
    if dso.startswith("[kernel"):
        if re.search(r"sched|futex|clone|copy_process|task_|wake_up|do_exit|alloc_pid|rseq|switch|yield|mm_release|"
                     r"stack|thread|signal|idle|tlb", s):
            return CATS[7]
        return CATS[9]
    if re.search(r"pthread|futex|sched_yield|clone|start_thread|__gi___clone|par_for|par2|mlcl__par|spin_for", s):
        return CATS[7]
    if re.search(r"memcpy|memmove|memset|enqueue|copy", s):
        return CATS[6]
    if "momentum" in s:
        return CATS[4]
    if "all_finite" in s:
        return CATS[8]
    if re.search(r"optim|adam", s) or src == "optim.c":
        return CATS[3]
    if src == "pcgfill.h" or re.search(r"pcg|rng|dropout_mask|bernoulli", s):
        return CATS[5]
    if re.search(r"row_|loss|mask|lse|^exp|expf|logf|^__exp|^__log", s) or \
            src in ("loss_rows.c", "loss.c", "labels.h", "mask.c", "bce.c"):
        return CATS[2]
    if re.search(r"relu|dropout|bias|l2norm|softmax|bn_|forward|backward|mul_vec|encoder", s) or \
            src in ("encoder_pass.c", "functional.c", "encoder.c", "vec.c", "vec.h"):
        return CATS[1]
    return CATS[9]


LINE = re.compile(r"^\s*([0-9.]+)%\s+(.+?)\s+\[([.kgu])\]\s+(.*?)\s*$")  # dso may hold spaces ("[JIT] tid N")


def parse(path):
    """-> (event count in ns, [(pct, dso, sym, srcfile)])"""
    count, rows = None, []
    for line in open(path, errors="replace"):
        if line.startswith("#"):
            m = re.search(r"Event count \(approx\.\): (\d+)", line)
            if m:
                count = int(m.group(1))
            continue
        m = LINE.match(line)
        if not m:
            continue
        pct, dso, rest = float(m.group(1)), m.group(2), m.group(4)
        # the symbol, then (with --sort ...,srcfile) a file name column; symbols hold no double space
        parts = re.split(r"\s{2,}", rest)
        sym = parts[0].strip()
        src = parts[1].strip() if len(parts) > 1 else ""
        rows.append((pct, dso, sym, src))
    if count is None:
        sys.exit(f"breakdown: no event count in {path}")
    return count, rows


def main():
    runs = []
    for arg in sys.argv[1:]:
        name, rest = arg.split("=", 1)
        path, steps = rest.rsplit(":", 1)
        count, rows = parse(path)
        cat, top = {}, {}
        for pct, dso, sym, src in rows:
            c = category(dso, sym, src)
            cat[c] = cat.get(c, 0) + pct
            key = sym if not src or c not in (CATS[1], CATS[5]) else f"{sym} ({src})"
            top.setdefault(c, {})
            top[c][key] = top[c].get(key, 0) + pct
        runs.append((name, count, int(steps), cat, top))
    if not runs:
        sys.exit("usage: breakdown.py NAME=REPORT.txt:STEPS ...")
    hdr = "| category | " + " | ".join(f"{n} % | {n} CPU ms/step" for n, *_ in runs) + " |"
    L = [hdr, "|---|" + "---:|---:|" * len(runs)]
    for c in CATS:
        cells = []
        for name, count, steps, cat, top in runs:
            step_pct = 100.0 - cat.get(HARNESS, 0)
            p = cat.get(c, 0)
            cells.append(f"{100 * p / step_pct:.1f} | {p / 100 * count / 1e6 / steps:.2f}")
        L.append(f"| {c} | " + " | ".join(cells) + " |")
    cells = []
    for name, count, steps, cat, top in runs:
        step_pct = 100.0 - cat.get(HARNESS, 0)
        cells.append(f"100 | {step_pct / 100 * count / 1e6 / steps:.2f}")
    L.append("| **step total** | " + " | ".join(cells) + " |")
    L.append("| (" + HARNESS + ", not in the total) | " +
             " | ".join(f"({cat.get(HARNESS, 0):.1f} % of all samples) | " for _, _, _, cat, _ in runs) + " |")
    L.append("\nHeaviest symbols per category (% of all samples):\n")
    for name, count, steps, cat, top in runs:
        L.append(f"- **{name}**: " + "; ".join(
            f"{c.split(' (')[0]}: " + ", ".join(f"{s} {p:.1f}" for s, p in sorted(top[c].items(), key=lambda kv: -kv[1])[:3])
            for c in CATS + [HARNESS] if c in top and cat.get(c, 0) >= 0.5))
    print("\n".join(L))


if __name__ == "__main__":
    main()
