#!/usr/bin/python3
"""Scaling curves of one MoCo pretraining step (CLD), libmlcl vs PyTorch.

One axis at a time grows from two base shapes,
    yeast      n 128, K 256,  c 14,  d 103, width 256
    mediamill  n 512, K 8192, c 101, d 120, width 256
over batch n, queue K, label count c and the MLP width W (backbone d-W-2W-W,
projection W-W-256, LD head W-c; the embedding m stays 256; see bench/step.c).

libmlcl: build/bench/step --n --K --c --d --width (MLCL_NUM_THREADS=2), one
process per run. PyTorch: bench/torch/bench_step.py's run() in this process
(the same code as `bench_step.py --n ...`, without paying torch's start-up at
every point), torch.set_num_threads(2), OMP_WAIT_POLICY=PASSIVE (set before
torch is imported, and passed to the libmlcl runs too). The two alternate
(C then torch, then torch then C, ...); each run does `warmup` untimed steps
and `reps` timed ones and reports their median; a point's time is the median
of its runs' medians. Cheap points get more rounds and reps, expensive ones
fewer (see plan_reps), so a full run stays under ~15 min on 2 cores.

Writes bench/scaling.json (raw numbers, fits, machine load) and draws
docs/perf/scaling-grid.png (2 x 4 log-log time plots) and
docs/perf/scaling-speedup.png (PyTorch / libmlcl per axis). The slope of each
curve is fitted (least squares in log-log) over the last FIT_POINTS points of
its axis and set beside the slope of the step's GEMM FLOP count (cost_model)
over the same points.

    /usr/bin/python3 bench/scaling.py            # full run (~10-15 min)
    /usr/bin/python3 bench/scaling.py --quick    # 3 points per axis, 1 run (~3 min), into build/
    /usr/bin/python3 bench/scaling.py --plot-only  # refit, redraw from bench/scaling.json
    /usr/bin/python3 bench/scaling.py --merge a.json b.json  # pool two runs into bench/scaling.json
    /usr/bin/python3 bench/scaling.py --coretype SkylakeX --json bench/scaling-skylakex.json \\
        --plots docs/perf/skylakex   # OpenBLAS's AVX-512 kernels forced on both sides
Needs `make all bench-build` (build/bench/step) and python3-matplotlib, torch.
"""
import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["OMP_WAIT_POLICY"] = "PASSIVE"   # before torch's OpenMP starts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREADS = 2
M_EMB = 256
FIT_POINTS = 3

BASES = {
    "yeast": {"n": 128, "K": 256, "c": 14, "d": 103, "width": 256},
    "mediamill": {"n": 512, "K": 8192, "c": 101, "d": 120, "width": 256},
}
AXES = {
    "n": [32, 64, 128, 256, 512, 1024],
    "K": [256, 1024, 4096, 8192, 16384, 65536],
    "c": [14, 101, 256, 1024, 4096],
    "width": [64, 128, 256, 512, 1024],
}
QUICK_AXES = {
    "n": [32, 256, 1024],
    "K": [256, 4096, 65536],
    "c": [14, 256, 4096],
    "width": [64, 256, 1024],
}
AXIS_LABEL = {"n": "batch n", "K": "queue K", "c": "labels c", "width": "MLP width W"}


def cost_model(n, K, c, d, width, m=M_EMB):
    """GEMM FLOPs of one step (libmlcl's GEMMs; PyTorch does these and more).
    MLP: backbone d-W-2W-W + projection W-W-m, query forward + backward
    (2 GEMMs per layer but the first, whose input gradient is not needed)
    and key forward; LD head W-c: forward + 2 backward GEMMs. Loss:
    S = q [k; queue]^T and its gradient (2 x n (n+K) m), D [D; queue_D]^T and
    the d gradients (2 x n (n+K) c + n n c)."""
    W, N = width, n + K
    layers = d * W + W * 2 * W + 2 * W * W + W * W + W * m
    mlp = 2.0 * n * (4 * layers - d * W)
    ld = 2.0 * n * W * c * 3
    loss = 2.0 * n * N * m * 2 + 2.0 * n * N * c * 2 + 2.0 * n * n * c
    return mlp + ld + loss


def plan_reps(t_est, quick):
    """(extra rounds, warmup, reps per run) from the first run's step time."""
    if quick:
        return 0, 1, 2
    if t_est < 0.05:
        return 2, 2, 10
    if t_est < 0.3:
        return 2, 1, 5
    if t_est < 1.5:
        return 2, 1, 2
    return 0, 0, 2       # the first run already has 2 timed steps


C_ENV_DROP = []  # variables the C runs do not inherit (--torch-coretype)


def c_run(step_bin, shape, warmup, reps):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        js = fh.name
    cmd = [step_bin, "--json", js, "--warmup", str(warmup), "--reps", str(reps)]
    for k in ("n", "K", "c", "d", "width"):
        cmd += ["--" + k, str(shape[k])]
    env = {k: v for k, v in os.environ.items() if k not in C_ENV_DROP}
    env["MLCL_NUM_THREADS"] = str(THREADS)
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: rc {p.returncode}: {p.stderr.strip()}")
        with open(js) as fh:
            r = json.load(fh)["results"][0]
        return r["median_s"], r["min_s"]
    finally:
        os.unlink(js)


def torch_run(bs, shape, warmup, reps):
    med, mn, _ = bs.run("custom", shape["d"], shape["c"], shape["n"], shape["K"], "cld",
                        reps, warmup, 0, None, shape["width"])
    gc.collect()
    return med, mn


def measure(bs, step_bin, shape, quick):
    runs = {"mlcl": [], "torch": []}
    mins = {"mlcl": [], "torch": []}

    def one(lib, warmup, reps):
        f = c_run if lib == "mlcl" else torch_run
        med, mn = f(step_bin if lib == "mlcl" else bs, shape, warmup, reps)
        runs[lib].append(med)
        mins[lib].append(mn)

    w0, r0 = (1, 2)
    one("mlcl", w0, r0)
    one("torch", w0, r0)
    extra, warmup, reps = plan_reps(max(runs["mlcl"][0], runs["torch"][0]), quick)
    for rnd in range(extra):
        order = ("torch", "mlcl") if rnd % 2 == 0 else ("mlcl", "torch")
        for lib in order:
            one(lib, warmup, reps)
    return {"mlcl_s": statistics.median(runs["mlcl"]), "torch_s": statistics.median(runs["torch"]),
            "mlcl_min_s": min(mins["mlcl"]), "torch_min_s": min(mins["torch"]),
            "mlcl_runs": runs["mlcl"], "torch_runs": runs["torch"],
            "runs": 1 + extra, "reps_first": r0, "reps_later": reps if extra else None}


def slope(xs, ys):
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    sxx = sum((a - mx) ** 2 for a in lx)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sxx if sxx > 0 else float("nan")


def fits(points):
    out = []
    for base in BASES:
        for axis in AXES:
            pts = sorted((p for p in points if p["base"] == base and p["axis"] == axis
                          and p.get("mlcl_s") and p.get("torch_s")), key=lambda p: p["value"])
            if len(pts) < 2:
                continue
            top = pts[-FIT_POINTS:]
            xs = [p["value"] for p in top]
            out.append({"base": base, "axis": axis, "from": xs[0], "to": xs[-1],
                        "mlcl_slope": slope(xs, [p["mlcl_s"] for p in top]),
                        "torch_slope": slope(xs, [p["torch_s"] for p in top]),
                        # the fastest step of the point: less hit by other jobs on a shared machine
                        "mlcl_min_slope": slope(xs, [p["mlcl_min_s"] for p in top]),
                        "torch_min_slope": slope(xs, [p["torch_min_s"] for p in top]),
                        "gemm_flops_slope": slope(xs, [cost_model(**p["shape"]) for p in top])})
    return out


def markdown(data):
    """The slope table and the raw times as Markdown (for docs/perf/scaling.md)."""
    out = ["| base | axis | fitted over | libmlcl slope | PyTorch slope | libmlcl slope (min) | "
           "PyTorch slope (min) | GEMM FLOP slope | PyTorch / libmlcl at the top |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for f in data["fits"]:
        top = [p for p in data["points"] if p["base"] == f["base"] and p["axis"] == f["axis"]
               and p["value"] == f["to"] and p.get("mlcl_s")]
        ratio = f"{top[0]['torch_s'] / top[0]['mlcl_s']:.2f}x" if top else ""
        out.append(f"| {f['base']} | {f['axis']} | {f['from']}..{f['to']} | {f['mlcl_slope']:.2f} | "
                   f"{f['torch_slope']:.2f} | {f['mlcl_min_slope']:.2f} | {f['torch_min_slope']:.2f} | "
                   f"{f['gemm_flops_slope']:.2f} | {ratio} |")
    out += ["", "| base | axis | value | libmlcl ms | PyTorch ms | PyTorch / libmlcl | runs |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for p in data["points"]:
        if p.get("mlcl_s"):
            out.append(f"| {p['base']} | {p['axis']} | {p['value']} | {p['mlcl_s'] * 1e3:.1f} | "
                       f"{p['torch_s'] * 1e3:.1f} | {p['torch_s'] / p['mlcl_s']:.2f}x | {p['runs']} |")
        else:
            out.append(f"| {p['base']} | {p['axis']} | {p['value']} | failed | | | |")
    return "\n".join(out)


def plot(data, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    pts, fit = data["points"], {(f["base"], f["axis"]): f for f in data["fits"]}
    fig, axs = plt.subplots(2, 4, figsize=(18, 8.5))
    for r, base in enumerate(BASES):
        for col, axis in enumerate(AXES):
            ax = axs[r][col]
            p = sorted((q for q in pts if q["base"] == base and q["axis"] == axis and q.get("mlcl_s")),
                       key=lambda q: q["value"])
            if not p:
                ax.set_visible(False)
                continue
            xs = [q["value"] for q in p]
            f = fit.get((base, axis), {})
            ax.loglog(xs, [q["mlcl_s"] * 1e3 for q in p], "o-", color="tab:blue",
                      label=f"libmlcl (slope {f.get('mlcl_slope', float('nan')):.2f})")
            ax.loglog(xs, [q["torch_s"] * 1e3 for q in p], "s-", color="tab:orange",
                      label=f"PyTorch (slope {f.get('torch_slope', float('nan')):.2f})")
            # the GEMM FLOP count, scaled to meet libmlcl's last point
            fl = [cost_model(**q["shape"]) for q in p]
            k = p[-1]["mlcl_s"] * 1e3 / fl[-1]
            ax.loglog(xs, [v * k for v in fl], "--", color="gray",
                      label=f"GEMM FLOPs, scaled (slope {f.get('gemm_flops_slope', float('nan')):.2f})")
            b = BASES[base][axis]
            ax.axvline(b, color="lightgray", lw=0.8, zorder=0)
            ax.set_xticks(xs)
            ax.set_xticklabels([str(x) for x in xs], fontsize=8)
            ax.minorticks_off()
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(AXIS_LABEL[axis])
            ax.set_ylabel("ms / step")
            others = ", ".join(f"{k2} {v}" for k2, v in BASES[base].items() if k2 != axis)
            ax.set_title(f"{base}: {AXIS_LABEL[axis]}\n({others})", fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7, loc="upper left")
    m = data["meta"]
    fig.suptitle(f"One CLD pretraining step, {THREADS} threads each, OMP_WAIT_POLICY=PASSIVE, "
                 + (f"PyTorch with OpenBLAS {m.get('openblas_corename') or '?'}, libmlcl's own GEMM engine "
                    if m.get("coretype_torch_only") else f"OpenBLAS kernels {m.get('openblas_corename') or '?'} ")
                 + (f"({len(m['merged'])} runs pooled, highest load average {m['loadavg_end'][0]:.1f}; "
                    if m.get("merged") else
                    f"(load average {m['loadavg_start'][0]:.1f} at start, {m['loadavg_end'][0]:.1f} at end; ") +
                 f"fit over the last {FIT_POINTS} points)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    os.makedirs(outdir, exist_ok=True)
    fig.savefig(os.path.join(outdir, "scaling-grid.png"), dpi=90)
    plt.close(fig)

    fig, axs = plt.subplots(1, 4, figsize=(18, 4.2))
    for col, axis in enumerate(AXES):
        ax = axs[col]
        for base, mk in zip(BASES, ("o-", "s-")):
            p = sorted((q for q in pts if q["base"] == base and q["axis"] == axis and q.get("mlcl_s")),
                       key=lambda q: q["value"])
            if p:
                ax.semilogx([q["value"] for q in p], [q["torch_s"] / q["mlcl_s"] for q in p], mk, label=base)
                ax.set_xticks(AXES[axis])
                ax.set_xticklabels([str(x) for x in AXES[axis]], fontsize=8)
                ax.minorticks_off()
        ax.axhline(1, color="gray", lw=0.8)
        ax.set_xlabel(AXIS_LABEL[axis])
        ax.set_ylabel("PyTorch time / libmlcl time")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if ax.get_lines()[1:]:
            ax.legend(fontsize=8)
    fig.suptitle("Speed-up of libmlcl over PyTorch along each axis (higher is better)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(os.path.join(outdir, "scaling-speedup.png"), dpi=90)
    plt.close(fig)


def merge(paths):
    """Several runs' JSON in one: a point's runs are pooled (its time is the
    median of all its runs' medians, its min the smallest), meta keeps each run's."""
    datas = []
    for path in paths:
        with open(path) as fh:
            datas.append(json.load(fh))
    pts = {}
    for d in datas:
        for p in d["points"]:
            key = (p["base"], p["axis"], p["value"])
            if not p.get("mlcl_s"):
                pts.setdefault(key, dict(p))
                continue
            q = pts.get(key)
            if q is None or not q.get("mlcl_s"):
                pts[key] = dict(p, mlcl_runs=list(p["mlcl_runs"]), torch_runs=list(p["torch_runs"]))
                continue
            q["mlcl_runs"] += p["mlcl_runs"]
            q["torch_runs"] += p["torch_runs"]
            q["runs"] += p["runs"]
            q["mlcl_min_s"] = min(q["mlcl_min_s"], p["mlcl_min_s"])
            q["torch_min_s"] = min(q["torch_min_s"], p["torch_min_s"])
    for q in pts.values():
        if q.get("mlcl_s"):
            q["mlcl_s"] = statistics.median(q["mlcl_runs"])
            q["torch_s"] = statistics.median(q["torch_runs"])
    m0 = datas[0]["meta"]
    meta = dict(m0, merged=[d["meta"] for d in datas],
                loadavg_start=max((d["meta"]["loadavg_start"] for d in datas), key=lambda v: v[0]),
                loadavg_end=max((d["meta"]["loadavg_end"] for d in datas), key=lambda v: v[0]))
    meta["openblas_corename"] = next((d["meta"]["openblas_corename"] for d in datas
                                      if d["meta"].get("openblas_corename")), None)
    points = list(pts.values())
    return {"meta": meta, "points": points, "fits": fits(points)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 points per axis, one run each")
    ap.add_argument("--plot-only", action="store_true", help="redraw the plots from --json")
    ap.add_argument("--json", help="default bench/scaling.json (--quick: build/scaling-quick.json)")
    ap.add_argument("--plots", help="PNG folder, default docs/perf (--quick: build/scaling-quick)")
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("--only", help="base[:axis], e.g. mediamill:K")
    ap.add_argument("--merge", nargs="+", metavar="JSON",
                    help="pool the runs of these result files into --json, then plot")
    ap.add_argument("--coretype", help="OPENBLAS_CORETYPE for both sides (e.g. SkylakeX; default: "
                    "OpenBLAS's own detection)")
    ap.add_argument("--torch-coretype", help="OPENBLAS_CORETYPE for the PyTorch side only (its best where "
                    "OpenBLAS falls back to a generic core; libmlcl then runs its GEMMs on dnnl_sgemm by itself)")
    a = ap.parse_args()
    if a.coretype:
        os.environ["OPENBLAS_CORETYPE"] = a.coretype   # read when OpenBLAS loads (torch, the C runs)
    elif a.torch_coretype:
        os.environ["OPENBLAS_CORETYPE"] = a.torch_coretype  # torch runs in this process
        C_ENV_DROP.append("OPENBLAS_CORETYPE")              # the C runs as a user would
    if a.json is None:
        a.json = os.path.join(ROOT, "build", "scaling-quick.json") if a.quick else \
            os.path.join(ROOT, "bench", "scaling.json")
    if a.plots is None:
        a.plots = os.path.join(ROOT, "build", "scaling-quick") if a.quick else os.path.join(ROOT, "docs", "perf")
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    if a.merge:
        data = merge(a.merge)
        with open(a.json, "w") as fh:
            json.dump(data, fh, indent=1)
        plot(data, a.plots)
        print(markdown(data))
        return
    if a.plot_only:
        with open(a.json) as fh:
            data = json.load(fh)
        data["fits"] = fits(data["points"])
        with open(a.json, "w") as fh:
            json.dump(data, fh, indent=1)
        plot(data, a.plots)
        print(markdown(data))
        return
    step_bin = os.path.join(ROOT, a.build, "bench", "step")
    if not os.access(step_bin, os.X_OK):
        sys.exit(f"{step_bin} missing: run `make all bench-build` first")
    sys.path.insert(0, os.path.join(ROOT, "bench", "torch"))
    import torch
    import bench_step as bs
    bs.mt.set_threads(THREADS)
    try:   # the kernels OpenBLAS picked (the same library serves torch and libmlcl)
        import ctypes
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        corename = ob.openblas_get_corename().decode()
    except (OSError, AttributeError):
        corename = None
    axes = QUICK_AXES if a.quick else AXES
    only_base, only_axis = (a.only.split(":") + [None])[:2] if a.only else (None, None)
    meta = {"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "host": platform.node(),
            "cpus": os.cpu_count(), "threads": THREADS, "omp_wait_policy": "PASSIVE",
            "torch": torch.__version__, "quick": a.quick, "method": "cld", "embedding_m": M_EMB,
            "loadavg_start": os.getloadavg(), "fit_points": FIT_POINTS,
            "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"), "openblas_corename": corename,
            "coretype_torch_only": bool(C_ENV_DROP),
            "command": " ".join(["/usr/bin/python3", "bench/scaling.py"] + sys.argv[1:])}
    points, t_start = [], time.time()
    print(f"{'base':>9} {'axis':>5} {'value':>6} {'mlcl ms':>9} {'torch ms':>9} {'ratio':>6} {'runs':>4} "
          f"{'elapsed':>8}", flush=True)
    for base, b in BASES.items():
        if only_base and base != only_base:
            continue
        for axis, values in axes.items():
            if only_axis and axis != only_axis:
                continue
            for v in values:
                shape = dict(b, **{axis: v})
                pt = {"base": base, "axis": axis, "value": v, "shape": shape}
                try:
                    pt.update(measure(bs, step_bin, shape, a.quick))
                    print(f"{base:>9} {axis:>5} {v:>6} {pt['mlcl_s'] * 1e3:>9.2f} {pt['torch_s'] * 1e3:>9.2f} "
                          f"{pt['torch_s'] / pt['mlcl_s']:>6.2f} {pt['runs']:>4} {time.time() - t_start:>7.0f}s",
                          flush=True)
                except (RuntimeError, MemoryError) as e:
                    pt["error"] = str(e)
                    print(f"{base:>9} {axis:>5} {v:>6} failed: {e}", flush=True)
                points.append(pt)
    meta["loadavg_end"] = os.getloadavg()
    meta["wall_s"] = time.time() - t_start
    data = {"meta": meta, "points": points, "fits": fits(points)}
    with open(a.json, "w") as fh:
        json.dump(data, fh, indent=1)
    print(f"wrote {a.json} ({meta['wall_s']:.0f} s, load average {meta['loadavg_start'][0]:.2f} -> "
          f"{meta['loadavg_end'][0]:.2f})")
    for f in data["fits"]:
        print(f"  {f['base']:>9} {f['axis']:>5} {f['from']}..{f['to']}: libmlcl {f['mlcl_slope']:.2f}  "
              f"PyTorch {f['torch_slope']:.2f}  GEMM FLOPs {f['gemm_flops_slope']:.2f}")
    plot(data, a.plots)
    print(markdown(data))
    print(f"plots in {a.plots}/scaling-grid.png, scaling-speedup.png")


if __name__ == "__main__":
    main()
