#!/usr/bin/python3
"""Side-by-side benchmark driver for `make bench` (called by bench/run.sh).

Runs every workload in libmlcl and in PyTorch (bench/torch/) in the same run,
interleaved, for several rounds, and reports medians and ratios:

  * loss forward+backward (MulSupCon, RLD, CLD) at the four (n, K, m, c)
    shapes: libmlcl bench/loss vs bench/torch/bench_loss.py;
  * one full pretraining step (CLD) at the four step shapes: bench/step vs
    bench/torch/bench_step.py, each side timing at least 0.6 s of steps per
    shape and round (and each loss shape at least 1.2 s, at most 64 calls);
  * the whole Yeast CLD protocol (400 + 100 epochs): bin/mlcl-train vs
    bench/torch/train.py, twice per side in the order libmlcl, torch, torch,
    libmlcl, each side's faster run counting (it takes minutes);
  * ResNet forward+backward images/s (ResNet-18 small stem 56x56 batch 64,
    ResNet-50 ImageNet stem 224x224 batch 8): bench/conv vs
    bench/torch/conv.py;
  * the peak RSS of every process (wait4's ru_maxrss);
  * OpenBLAS SGEMM GFLOP/s measured inside bench/loss in the same run, and
    each loss's GEMM GFLOP/s as a fraction of it;
  * the GEMM roofline of every step and loss workload (docs/perf/roofline.md):
    the workload runs once under build/bench/gemmtrace.so (LD_PRELOAD), which
    logs every BLAS call; bench/roofline replays those calls back to back in
    isolation with OpenBLAS (1 and 2 threads; again with OPENBLAS_CORETYPE set
    for the CPU when OpenBLAS fell back to a generic core), oneDNN's
    dnnl_sgemm and oneDNN's matmul primitive (1 and 2 threads). "GEMM floor" =
    the fastest of those; "step/GEMM" = step time / GEMM floor.

PyTorch runs with OMP_WAIT_POLICY=PASSIVE (its best setting on a 2-vCPU
machine; the ratios use it) and once with the default wait policy.

Writes bench/results.json and rewrites the block between the RESULTS markers
in docs/performance.md. Environment: BUILD (default build), BENCH_ROUNDS
(default 3), MLCL_TRAIN (default bin/mlcl-train), BENCH_QUICK=1 (short run for testing the harness: fewer reps,
a 4+2-epoch protocol, nothing written to docs/).

`bench/run.sh conv` (or BENCH_CONV_ONLY=1) runs only the ResNet rows
(BENCH_ROUNDS default 1 there, 2 timed iterations each) and prints them;
nothing is written. `bench/run.sh roofline` runs only the isolated-GEMM
replays (no PyTorch, no timed rounds) and prints their table; nothing is written.
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
CONV_ONLY = sys.argv[1:] == ["conv"] or os.environ.get("BENCH_CONV_ONLY", "") not in ("", "0")
ROOF_ONLY = sys.argv[1:] == ["roofline"]
if sys.argv[1:] not in ([], ["conv"], ["roofline"]):
    sys.exit("usage: bench/run.sh [conv|roofline]")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if CONV_ONLY else "3"))
STEP_WINDOW_S = "0.6"  # seconds of timed steps per shape and round, each side
PY = "/usr/bin/python3"
TMP = tempfile.mkdtemp(prefix="mlcl_bench_")
TRAIN_BIN = os.environ.get("MLCL_TRAIN", os.path.join(ROOT, "bin", "mlcl-train"))

LOSS_SHAPES = [(128, 256, 256, 14), (256, 1024, 256, 6), (128, 4096, 256, 983), (512, 8192, 256, 101)]
STEP_CONFIGS = ["yeast", "scene", "delicious-like", "mediamill-like"]
LOSS_NAMES = {"MulSupCon": "mulsupcon", "RLD": "rld", "CLD": "cld"}
CONV_CONFIGS = ["resnet18-small-56", "resnet50-imagenet-224"]
METHOD_ARG = {"mulsupcon": "MulSupCon", "rld": "RLD", "cld": "CLD"}  # bench/loss --method
# OpenBLAS cores that mean "CPU model not recognised" (0.3.21 falls back to
# Prescott on this Xeon, model 207): the roofline then also replays with
# OPENBLAS_CORETYPE set from the CPU's flags
GENERIC_CORES = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                 "Northwood", "Banias", "Barcelona", "Opteron", "Opteron_SSE3"}
ENGINE_NAMES = {"openblas_1t": "OpenBLAS 1t", "openblas_2t": "OpenBLAS 2t", "openblas_forced_1t": "OpenBLAS {core} 1t",
                "openblas_forced_2t": "OpenBLAS {core} 2t", "dnnl_sgemm_1t": "dnnl_sgemm 1t",
                "dnnl_sgemm_2t": "dnnl_sgemm 2t", "matmul_1t": "oneDNN matmul 1t", "matmul_2t": "oneDNN matmul 2t"}


def data_dir():
    for d in (os.environ.get("MLCL_DATA_DIR", ""), os.path.join(ROOT, "..", "shared", "data"),
              os.path.join(ROOT, "tests", "data", "mulan")):
        if d and os.path.exists(os.path.join(d, "yeast-train.arff.gz")):
            return os.path.abspath(d)
    sys.exit("bench: yeast-train.arff.gz not found (set MLCL_DATA_DIR)")


def run(cmd, env_extra=None, label=""):
    """Runs cmd, returns (seconds, peak RSS in kB of the process tree's largest child)."""
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if BLAS_SET and cmd[0] == PY:  # the PyTorch side (see BLAS_SET)
        env["OPENBLAS_CORETYPE"] = BLAS_SET
    if env_extra:
        env.update(env_extra)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    if status != 0:
        sys.stdout.write(out.decode(errors="replace"))
        sys.exit(f"bench: {label or cmd[0]} failed (status {status})")
    return dt, ru.ru_maxrss


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def c_loss(rnd, threads=None):
    js = os.path.join(TMP, f"c_loss_{rnd}_{threads}.json")
    cmd = [os.path.join(BUILD, "bench", "loss"), "--json", js] + (["--quick"] if QUICK or threads else [])
    _, rss = run(cmd, {"MLCL_NUM_THREADS": str(threads)} if threads else None, "bench/loss")
    res = json.load(open(js))["results"]
    out = {}
    for r in res:
        if r["method"] not in LOSS_NAMES:
            continue  # "RLD s=0.5" is libmlcl-only
        key = (r["n"], r["K"], r["m"], r["c"], LOSS_NAMES[r["method"]])
        out[key] = {"ms": r["median_ms"], "gemm_gflops": r["gemm_gflops"], "sgemm_gflops": r["sgemm_gflops"]}
    return out, rss


def torch_loss(rnd, policy):
    js = os.path.join(TMP, f"t_loss_{policy}_{rnd}.json")
    # (the same window rule as bench/loss: at least 3-4 calls and 1.2 s, at most 64)
    reps = ["--reps", "3", "--warmup", "1"] if QUICK or policy == "default" else ["--reps", "4", "--warmup", "1", "--min-time", "1.2"]
    env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
    _, rss = run([PY, "bench/torch/bench_loss.py", "--threads", "2", "--json", js] + reps, env, "bench_loss.py")
    out = {}
    for r in json.load(open(js))["results"]:
        out[(r["n"], r["K"], r["m"], r["c"], r["loss"])] = {"ms": r["median_s"] * 1e3}
    return out, rss


def c_step(rnd, threads=None):
    js = os.path.join(TMP, f"c_step_{rnd}_{threads}.json")
    # at least STEP_WINDOW_S of timed steps per shape (both sides): medians of a few
    # tens of milliseconds moved with every burst of the host's other work
    reps = ["--reps", "5", "--warmup", "1"] if QUICK or threads else ["--reps", "12", "--warmup", "2", "--min-time", STEP_WINDOW_S]
    _, rss = run([os.path.join(BUILD, "bench", "step"), "--json", js] + reps,
                 {"MLCL_NUM_THREADS": str(threads)} if threads else None, "bench/step")
    d = json.load(open(js))
    return {r["config"]: {"ms": r["median_s"] * 1e3} for r in d["results"]}, rss


def torch_step(rnd, policy):
    js = os.path.join(TMP, f"t_step_{policy}_{rnd}.json")
    reps = ["--reps", "3", "--warmup", "1"] if QUICK or policy == "default" else ["--reps", "7", "--warmup", "1", "--min-time", STEP_WINDOW_S]
    env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
    _, rss = run([PY, "bench/torch/bench_step.py", "--threads", "2", "--json", js] + reps, env, "bench_step.py")
    return {r["config"]: {"ms": r["median_s"] * 1e3} for r in json.load(open(js))["results"]}, rss


def conv_reps():
    return ["--reps", "2", "--warmup", "1"] if QUICK or CONV_ONLY else ["--reps", "3", "--warmup", "1"]


def cpu_openblas_core():
    """The OpenBLAS core this CPU's flags call for (AVX-512 -> SkylakeX, AVX2 -> Haswell)."""
    try:
        flags = set(next(l for l in open("/proc/cpuinfo") if l.startswith("flags")).split(":")[1].split())
    except (OSError, StopIteration):
        return None
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def native_openblas_core():
    """The core OpenBLAS picks by itself here (OPENBLAS_CORETYPE unset), asked in a child."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    code = ("import ctypes\nb = ctypes.CDLL('libopenblas.so.0')\n"
            "b.openblas_get_corename.restype = ctypes.c_char_p\nprint(b.openblas_get_corename().decode())")
    try:
        return subprocess.run([PY, "-S", "-c", code], env=env, capture_output=True, check=True,
                              timeout=60).stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


# Each side at its best: when OPENBLAS_CORETYPE is unset and OpenBLAS falls back
# to a generic core (Prescott on this Xeon, model 207), PyTorch (whose BLAS is
# Debian's OpenBLAS) runs with OPENBLAS_CORETYPE from the CPU flags; libmlcl
# needs nothing: it sees the fallback itself and runs its GEMMs on oneDNN's
# sgemm then (src/kernels/gemm.c). A set OPENBLAS_CORETYPE is kept for both.
BLAS_NATIVE = native_openblas_core()
BLAS_SET = None
if os.environ.get("OPENBLAS_CORETYPE") is None and BLAS_NATIVE in GENERIC_CORES and cpu_openblas_core():
    BLAS_SET = cpu_openblas_core()


def blas_note():
    if BLAS_SET:
        return (f"OpenBLAS alone picks its generic {BLAS_NATIVE} kernels on this CPU: PyTorch ran with "
                f"OPENBLAS_CORETYPE={BLAS_SET} (its best), libmlcl as it is (it then runs its GEMMs on "
                f"oneDNN's sgemm by itself).")
    if os.environ.get("OPENBLAS_CORETYPE"):
        return f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} from the environment, both sides."
    return f"OpenBLAS core: {BLAS_NATIVE} (its own choice), both sides."


def roofline(label, cmd, steps):
    """Traces cmd's BLAS calls (steps steps or loss calls) and replays them in isolation; returns
    {"engines": {name: ms per step}, "floor_ms", "floor_engine", "openblas_floor_ms", "core", ...},
    or None when the trace or the replay failed (reported; the rest of the bench goes on)."""
    try:
        return roofline_run(label, cmd, steps)
    except (SystemExit, OSError, ValueError, KeyError) as e:
        print(f"bench: roofline {label} failed ({e}); its GEMM floor is left out", flush=True)
        return None


def roofline_trace(label, cmd):
    """cmd's BLAS calls, logged by gemmtrace.so into TMP/trace_<label>.txt."""
    trace = os.path.join(TMP, f"trace_{label}.txt")
    if os.path.exists(trace):
        os.unlink(trace)
    run(cmd, {"GEMMTRACE": trace, "LD_PRELOAD": os.path.join(BUILD, "bench", "gemmtrace.so")}, f"trace {label}")
    return trace


def roofline_run(label, cmd, steps):
    return roofline_replay(label, roofline_trace(label, cmd), steps)


def roofline_replay(label, trace, steps, tag=""):
    opts = ["--min-time", "0.05", "--min-reps", "2"] if QUICK else ["--min-time", "0.2", "--min-reps", "3"]
    rl = [os.path.join(BUILD, "bench", "roofline"), "--trace", trace, "--steps", str(steps), "--label", label] + opts
    label = label + tag
    js = os.path.join(TMP, f"roof_{label}.json")
    run(rl + ["--json", js], None, f"roofline {label}")
    d = json.load(open(js))
    eng = {k: v["ms"] for k, v in d["engines"].items()}
    core, forced = d["openblas_core"], cpu_openblas_core()
    if core in GENERIC_CORES and forced:
        js2 = os.path.join(TMP, f"roof_{label}_forced.json")
        run(rl + ["--no-dnnl", "--json", js2], {"OPENBLAS_CORETYPE": forced}, f"roofline {label} ({forced})")
        d2 = json.load(open(js2))
        if d2["openblas_core"] == forced:
            eng["openblas_forced_1t"] = d2["engines"]["openblas_1t"]["ms"]
            eng["openblas_forced_2t"] = d2["engines"]["openblas_2t"]["ms"]
    best = min(eng, key=eng.get)
    return {"engines": eng, "floor_ms": eng[best], "floor_engine": best,
            "openblas_floor_ms": min(eng["openblas_1t"], eng["openblas_2t"]), "core": core,
            "forced_core": forced if "openblas_forced_1t" in eng else None,
            "gflop": d["gflop_per_step"], "calls": d["calls_per_step"], "matmul_impls": d.get("matmul_impls", "")}


def step_cmd(cfg):
    return [os.path.join(BUILD, "bench", "step"), "--only", cfg, "--warmup", "0", "--reps", "2"]


def step_floors_round(rnd, traces, acc):
    """The step shapes' GEMM floors replayed again in this round, right after
    the round's libmlcl steps: the ratio step / floor then compares two
    measurements taken under the same load of the host."""
    for cfg in STEP_CONFIGS:
        if not traces.get(cfg):
            continue
        try:
            rf = roofline_replay(f"step_{cfg}", traces[cfg], 2, tag=f"_r{rnd}")
        except (SystemExit, OSError, ValueError, KeyError) as e:
            print(f"bench: round {rnd + 1} floor of {cfg} failed ({e})", flush=True)
            continue
        acc.setdefault(cfg, {})[rnd] = rf["floor_ms"]


def rooflines():
    """The roofline of every step config and loss workload, once per run (outside the timed rounds)."""
    out = {"step": {}, "loss": {}}
    for cfg in STEP_CONFIGS:
        out["step"][cfg] = roofline(f"step_{cfg}", step_cmd(cfg), 2)
    for (n, K, m, c) in LOSS_SHAPES:
        for meth in ("mulsupcon", "rld", "cld"):
            out["loss"][(n, K, m, c, meth)] = roofline(
                f"loss_{n}_{K}_{m}_{c}_{meth}",
                [os.path.join(BUILD, "bench", "loss"), "--shape", f"{n},{K},{m},{c}", "--method", METHOD_ARG[meth],
                 "--reps", "1", "--no-sgemm", "--no-settle"], 2)  # the warm-up call + 1
    return out


def engine_label(e, roof):
    return ENGINE_NAMES.get(e, e).format(core=roof.get("forced_core") or "?")


def c_conv(rnd):
    js = os.path.join(TMP, f"c_conv_{rnd}.json")
    # oneDNN runs on OpenMP (libgomp) like PyTorch: both sides get PASSIVE, the
    # peer's best setting (the default spin-wait makes the barrier-heavy
    # BatchNorm primitives several times slower when the 2 cores are shared)
    _, rss = run([os.path.join(BUILD, "bench", "conv"), "--json", js] + conv_reps(),
                 {"OMP_WAIT_POLICY": "PASSIVE"}, "bench/conv")
    return {r["config"]: {k: r[k] for k in ("median_s", "min_s", "fwd_median_s", "bwd_median_s", "batch", "first_step_s")
                          if k in r}
            for r in json.load(open(js))["results"]}, rss


def torch_conv(rnd, policy):
    js = os.path.join(TMP, f"t_conv_{policy}_{rnd}.json")
    env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
    _, rss = run([PY, "bench/torch/conv.py", "--threads", "2", "--json", js] + conv_reps(), env, "conv.py")
    return {r["config"]: {k: r[k] for k in ("median_s", "min_s", "fwd_median_s", "bwd_median_s", "batch")}
            for r in json.load(open(js))["results"]}, rss


def conv_rows(convC, convT):
    rows = []
    for cfg in CONV_CONFIGS:
        c, t = convC[cfg], convT[cfg]
        batch = c["batch"][0]
        cm, tm = med(c["median_s"]), med(t["median_s"])
        rows.append({"config": cfg, "batch": batch, "mlcl_images_per_s": batch / cm,
                     "torch_passive_images_per_s": batch / tm, "ratio": tm / cm,
                     "mlcl_fwd_ms": 1e3 * med(c["fwd_median_s"]), "mlcl_bwd_ms": 1e3 * med(c["bwd_median_s"]),
                     "torch_fwd_ms": 1e3 * med(t["fwd_median_s"]), "torch_bwd_ms": 1e3 * med(t["bwd_median_s"]),
                     "mlcl_min_s": min(c["min_s"]), "torch_min_s": min(t["min_s"]), "rounds": len(c["median_s"])})
        if c.get("first_step_s"):
            rows[-1]["mlcl_first_step_s"] = med(c["first_step_s"])
    return rows


def conv_markdown(rows):
    L = ["### ResNet forward + backward, train mode (images/s)\n",
         "ResNet-18 small stem 3x56x56 batch 64 and ResNet-50 ImageNet stem 3x224x224 batch 8, base width 64; "
         "one iteration = zero_grad + forward + backward of sum(out * g) (bench/conv vs bench/torch/conv.py); "
         "both sides with OMP_WAIT_POLICY=PASSIVE (oneDNN uses OpenMP too).\n",
         "| config | batch | libmlcl img/s | torch PASSIVE img/s | ratio | target | libmlcl fwd / bwd ms | torch fwd / bwd ms |",
         "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        L.append(f"| {r['config']} | {r['batch']} | {r['mlcl_images_per_s']:.1f} | {r['torch_passive_images_per_s']:.1f} | "
                 f"{r['ratio']:.2f}x | 1.3x | {r['mlcl_fwd_ms']:.0f} / {r['mlcl_bwd_ms']:.0f} | "
                 f"{r['torch_fwd_ms']:.0f} / {r['torch_bwd_ms']:.0f} |")
    return "\n".join(L)


def conv_only():
    t_start = time.time()
    if not os.access(os.path.join(BUILD, "bench", "conv"), os.X_OK):
        sys.exit(f"bench: {BUILD}/bench/conv missing (make bench-build)")
    convC, convT, rss = {}, {}, {}
    for rnd in range(ROUNDS):
        for side in (["c", "t"] if rnd % 2 == 0 else ["t", "c"]):
            if side == "c":
                r, kb = c_conv(rnd); acc = convC; rss["conv_mlcl"] = max(rss.get("conv_mlcl", 0), kb)
            else:
                r, kb = torch_conv(rnd, "PASSIVE"); acc = convT; rss["conv_torch"] = max(rss.get("conv_torch", 0), kb)
            for k, v in r.items():
                for f, x in v.items():
                    acc.setdefault(k, {}).setdefault(f, []).append(x)
        print(f"round {rnd + 1}/{ROUNDS} done ({time.time() - t_start:.0f} s)", flush=True)
    rows = conv_rows(convC, convT)
    print(conv_markdown(rows))
    print(f"\nPeak RSS (MB): libmlcl {rss['conv_mlcl'] / 1024:.0f}, torch {rss['conv_torch'] / 1024:.0f}; "
          f"load average {open('/proc/loadavg').read().split()[:3]}; {time.time() - t_start:.0f} s. "
          f"(conv only: nothing written; raw JSON in {TMP})")


def protocol(dd):
    """The whole protocol, twice per side in the order libmlcl, torch, torch, libmlcl
    (once each with BENCH_QUICK); each side is represented by its faster run, the
    same rule for both (a run that met a burst of the host's other work is the
    slower one); every run's wall time is kept."""
    ep = ["4", "2"] if QUICK else ["400", "100"]
    tr, te = os.path.join(dd, "yeast-train.arff.gz"), os.path.join(dd, "yeast-test.arff.gz")
    runs = {"mlcl": [], "torch": []}

    def one(side, i):
        js = os.path.join(TMP, f"{side}_train_{i}.json")
        if side == "mlcl":
            cmd = [TRAIN_BIN, "--train", tr, "--test", te, "--preset", "yeast",
                   "--method", "cld", "--json", js, "--quiet"]
            if QUICK:
                cmd += ["--pretrain-epochs", ep[0], "--finetune-epochs", ep[1]]
            wall, rss = run(cmd, label="mlcl-train")
        else:
            wall, rss = run([PY, "bench/torch/train.py", "--train", tr, "--test", te, "--method", "cld",
                             "--pretrain-epochs", ep[0], "--finetune-epochs", ep[1], "--threads", "2", "--json", js],
                            {"OMP_WAIT_POLICY": "PASSIVE"}, "train.py")
        d = json.load(open(js))
        if "p_at_1" in d["metrics"]["paper"]:
            d["metrics"]["paper"]["p@1"] = d["metrics"]["paper"].pop("p_at_1")
        runs[side].append({"wall_s": wall, "pretrain_s": d["timing"]["pretrain_s"],
                           "finetune_s": d["timing"]["finetune_s"], "peak_rss_kb": rss,
                           "metrics_paper": d["metrics"]["paper"]})

    order = ["mlcl", "torch"] if QUICK else ["mlcl", "torch", "torch", "mlcl"]
    for i, side in enumerate(order):
        one(side, i)
    res = {}
    for side in ("mlcl", "torch"):
        best = min(runs[side], key=lambda r: r["wall_s"])
        res[side] = dict(best, walls_s=[r["wall_s"] for r in runs[side]],
                         peak_rss_kb=max(r["peak_rss_kb"] for r in runs[side]))
    res["epochs"] = ep
    res["order"] = order
    return res


def roofline_only():
    t_start = time.time()
    for b in ("loss", "step", "roofline", "gemmtrace.so"):
        if not os.path.exists(os.path.join(BUILD, "bench", b)):
            sys.exit(f"bench: {BUILD}/bench/{b} missing (make bench-build)")
    load0 = open("/proc/loadavg").read().split()[:3]
    roof = rooflines()
    R = {"step": [{"config": cfg, "roofline": roof["step"][cfg]} for cfg in STEP_CONFIGS],
         "loss": [{"n": k[0], "K": k[1], "m": k[2], "c": k[3], "loss": k[4], "roofline": v} for k, v in roof["loss"].items()]}
    print(roofline_markdown(R))
    print(f"\nOpenBLAS core as loaded: {next((r['roofline']['core'] for r in R['step'] if r['roofline']), '?')}; load average "
          f"{' '.join(load0)} before, {' '.join(open('/proc/loadavg').read().split()[:3])} after; "
          f"{time.time() - t_start:.0f} s. (roofline only: nothing written; raw JSON in {TMP})")


def main():
    if CONV_ONLY:
        return conv_only()
    if ROOF_ONLY:
        return roofline_only()
    t_start = time.time()
    dd = data_dir()
    for b in ("loss", "step", "conv", "roofline"):
        if not os.access(os.path.join(BUILD, "bench", b), os.X_OK):
            sys.exit(f"bench: {BUILD}/bench/{b} missing (make bench-build)")
    if not os.access(TRAIN_BIN, os.X_OK):
        sys.exit(f"bench: {TRAIN_BIN} missing (make)")
    lossC, lossT, lossTd, stepC, stepT, stepTd, lossC2, stepC2 = {}, {}, {}, {}, {}, {}, {}, {}
    convC, convT = {}, {}
    rss = {}

    def add(acc, res):
        for k, v in res.items():
            for f, x in v.items():
                acc.setdefault(k, {}).setdefault(f, []).append(x)

    def note_rss(name, kb):
        rss[name] = max(rss.get(name, 0), kb)

    # the step shapes' BLAS calls, traced once; replayed in every round (step_floors_round)
    traces, stepF = {}, {}
    for cfg in STEP_CONFIGS:
        try:
            traces[cfg] = roofline_trace(f"step_{cfg}", step_cmd(cfg))
        except (SystemExit, OSError) as e:
            print(f"bench: trace of step {cfg} failed ({e})", flush=True)
    for rnd in range(ROUNDS):
        # interleaved; the order flips every round so neither side always runs first
        order = ["c", "t"] if rnd % 2 == 0 else ["t", "c"]
        for side in order:
            if side == "c":
                r, kb = c_loss(rnd); add(lossC, r); note_rss("loss_mlcl", kb)
                r, kb = c_step(rnd); add(stepC, r); note_rss("step_mlcl", kb)
                step_floors_round(rnd, traces, stepF)
                r, kb = c_conv(rnd); add(convC, r); note_rss("conv_mlcl", kb)
            else:
                r, kb = torch_loss(rnd, "PASSIVE"); add(lossT, r); note_rss("loss_torch", kb)
                r, kb = torch_step(rnd, "PASSIVE"); add(stepT, r); note_rss("step_torch", kb)
                r, kb = torch_conv(rnd, "PASSIVE"); add(convT, r); note_rss("conv_torch", kb)
        print(f"round {rnd + 1}/{ROUNDS} done ({time.time() - t_start:.0f} s)", flush=True)
    # the default wait policy once (it is ~3x slower; reported, not used for ratios)
    r, _ = torch_loss(0, "default"); add(lossTd, r)
    r, _ = torch_step(0, "default"); add(stepTd, r)
    # libmlcl with MLCL_NUM_THREADS=1 once (the setting for a shared machine; reported, not used for ratios)
    r, _ = c_loss(0, 1); add(lossC2, r)
    r, _ = c_step(0, 1); add(stepC2, r)
    print(f"default-policy torch done ({time.time() - t_start:.0f} s)", flush=True)
    roof = rooflines()
    print(f"rooflines done ({time.time() - t_start:.0f} s)", flush=True)
    proto = protocol(dd)
    print(f"protocol done ({time.time() - t_start:.0f} s)", flush=True)

    loss_rows = []
    for (n, K, m, c) in LOSS_SHAPES:
        for meth in ("mulsupcon", "rld", "cld"):
            key = (n, K, m, c, meth)
            cm = med(lossC[key]["ms"]); tm = med(lossT[key]["ms"])
            td = med(lossTd.get(key, {}).get("ms", []))
            g = med(lossC[key]["gemm_gflops"]); sg = med(lossC[key]["sgemm_gflops"])
            c2 = med(lossC2.get(key, {}).get("ms", []))
            loss_rows.append({"n": n, "K": K, "m": m, "c": c, "loss": meth, "mlcl_ms": cm, "mlcl_2threads_ms": c2, "torch_passive_ms": tm,
                              "torch_default_ms": td, "speedup": tm / cm, "gemm_gflops": g, "sgemm_gflops": sg,
                              "gemm_fraction": g / sg, "rounds": len(lossC[key]["ms"])})
            loss_rows[-1].update(roof_fields(roof["loss"][key], cm))
    step_rows = []
    for cfg in STEP_CONFIGS:
        cm = med(stepC[cfg]["ms"]); tm = med(stepT[cfg]["ms"]); td = med(stepTd.get(cfg, {}).get("ms", []))
        c2 = med(stepC2.get(cfg, {}).get("ms", []))
        step_rows.append({"config": cfg, "mlcl_ms": cm, "mlcl_2threads_ms": c2, "torch_passive_ms": tm, "torch_default_ms": td,
                          "speedup": tm / cm, "rounds": len(stepC[cfg]["ms"])})
        step_rows[-1].update(roof_fields(roof["step"][cfg], cm))
        # step / floor: the median over the rounds of each round's step time over
        # the floor replayed right after it (the same minutes of the host's load)
        fl = stepF.get(cfg, {})
        pairs = [(stepC[cfg]["ms"][r], fl[r]) for r in sorted(fl) if r < len(stepC[cfg]["ms"])]
        if pairs:
            step_rows[-1].update({"gemm_floor_ms": med([f for _, f in pairs]),
                                  "over_gemm": med([c / f for c, f in pairs]),
                                  "floor_per_round_ms": [f for _, f in pairs],
                                  "step_per_round_ms": [c for c, _ in pairs]})
    sgemm_peak = max(r["sgemm_gflops"] for r in loss_rows)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = []
    results = {"date": now, "command": "make bench", "openblas_native_core": BLAS_NATIVE,
               "openblas_coretype_set": BLAS_SET, "rounds": ROUNDS, "quick": QUICK,
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_at_end": load},
               "sgemm_peak_gflops": sgemm_peak, "loss": loss_rows, "step": step_rows,
               "conv": conv_rows(convC, convT), "protocol": proto,
               "peak_rss_kb": rss, "elapsed_s": time.time() - t_start}
    results["targets"] = targets(results)
    md = markdown(results)
    print(md)
    if QUICK:
        print("(BENCH_QUICK: nothing written)")
        return
    with open(os.path.join(ROOT, "bench", "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    doc = os.path.join(ROOT, "docs", "performance.md")
    text = open(doc).read() if os.path.exists(doc) else "# Performance\n\n<!-- BEGIN RESULTS -->\n<!-- END RESULTS -->\n"
    a, b = "<!-- BEGIN RESULTS -->", "<!-- END RESULTS -->"
    if a in text and b in text:
        text = text[:text.index(a) + len(a)] + "\n" + md + "\n" + text[text.index(b):]
    else:
        text += "\n" + a + "\n" + md + "\n" + b + "\n"
    with open(doc, "w") as f:
        f.write(text)
    print(f"wrote bench/results.json and docs/performance.md ({time.time() - t_start:.0f} s)")


def roof_fields(rf, ms):
    if rf is None:
        nan = float("nan")
        return {"gemm_floor_ms": nan, "gemm_floor_engine": None, "over_gemm": nan, "openblas_floor_ms": nan,
                "over_openblas": nan, "roofline": None}
    return {"gemm_floor_ms": rf["floor_ms"], "gemm_floor_engine": rf["floor_engine"], "over_gemm": ms / rf["floor_ms"],
            "openblas_floor_ms": rf["openblas_floor_ms"], "over_openblas": ms / rf["openblas_floor_ms"],
            "roofline": rf}


def targets(R):
    """Issue 15's done-means (plus the peak-RSS target kept from issue 14)."""
    t = []
    p = R["protocol"]
    sp = p["torch"]["wall_s"] / p["mlcl"]["wall_s"]
    t.append({"target": "Yeast CLD protocol >= 4x torch", "value": sp, "need": 4.0, "met": sp >= 4.0})
    for r in R["step"]:
        if r["config"] == "yeast":
            t.append({"target": "step yeast <= 1.5x its GEMM floor", "value": r["over_gemm"], "need": 1.5,
                      "met": r["over_gemm"] <= 1.5})
    for r in R["step"]:
        t.append({"target": f"step {r['config']} >= 3x torch", "value": r["speedup"], "need": 3.0,
                  "met": r["speedup"] >= 3.0})
    for r in R["loss"]:
        t.append({"target": f"loss {r['loss']} ({r['n']},{r['K']},{r['m']},{r['c']}) >= 2.5x torch",
                  "value": r["speedup"], "need": 2.5, "met": r["speedup"] >= 2.5})
    for r in R.get("conv", []):
        t.append({"target": f"conv {r['config']} images/s >= 1.3x torch", "value": r["ratio"], "need": 1.3,
                  "met": r["ratio"] >= 1.3})
    for r in R.get("conv", []):
        if r["config"].startswith("resnet50") and "mlcl_first_step_s" in r:
            v = r["mlcl_first_step_s"]
            t.append({"target": f"conv {r['config']} first step (primitive creation) < 3 s", "value": v,
                      "need": 3.0, "met": v < 3.0})
    rr = p["mlcl"]["peak_rss_kb"] / p["torch"]["peak_rss_kb"]
    t.append({"target": "protocol peak RSS <= 0.5x torch", "value": rr, "need": 0.5, "met": rr <= 0.5})
    return t


def markdown(R):
    L = []
    L.append(f"Made by `make bench` (bench/run.sh -> bench/compare.py) on {R['date']}, "
             f"{R['machine']['cpus']} CPUs, {R['rounds']} interleaved rounds, medians of per-round medians; "
             f"load average at the end {' '.join(R['machine']['loadavg_at_end'])}. "
             f"PyTorch {torch_version()} with 2 threads; ratios use OMP_WAIT_POLICY=PASSIVE. "
             f"Raw numbers: `bench/results.json`. {blas_note()}\n")
    L.append("libmlcl runs with its default (both cores: MLCL_NUM_THREADS unset = 2); the column '1 thr' is one "
             "round with MLCL_NUM_THREADS=1, for reference, not used in the ratios.\n")
    L.append(f"OpenBLAS SGEMM measured in the same run (n x (n+K) x 256, default threads): "
             f"best {R['sgemm_peak_gflops']:.1f} GFLOP/s.\n")
    L.append("### Loss forward + backward (ms)\n")
    L.append("GEMM floor: the loss's own GEMMs (traced) replayed back to back in isolation, fastest engine "
             "(docs/perf/roofline.md); loss/GEMM = libmlcl / GEMM floor.\n")
    L.append("| (n, K, m, c) | loss | libmlcl | torch PASSIVE | torch default | speedup | target | GEMM floor ms | loss/GEMM | GEMM GF/s | SGEMM GF/s | fraction | libmlcl 1 thr |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in R["loss"]:
        L.append(f"| ({r['n']},{r['K']},{r['m']},{r['c']}) | {r['loss']} | {r['mlcl_ms']:.2f} | {r['torch_passive_ms']:.2f} | "
                 f"{r['torch_default_ms']:.2f} | {r['speedup']:.2f}x | 2.5x | {r['gemm_floor_ms']:.2f} | "
                 f"{r['over_gemm']:.2f} | {r['gemm_gflops']:.1f} | "
                 f"{r['sgemm_gflops']:.1f} | {100 * r['gemm_fraction']:.0f}% | {r['mlcl_2threads_ms']:.2f} |")
    L.append("\n### One pretraining step, CLD (ms)\n")
    L.append("| config | libmlcl | torch PASSIVE | torch default | speedup | target | GEMM floor ms | step/GEMM | "
             "OpenBLAS floor ms | step/OpenBLAS | libmlcl 1 thr |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in R["step"]:
        L.append(f"| {r['config']} | {r['mlcl_ms']:.1f} | {r['torch_passive_ms']:.1f} | {r['torch_default_ms']:.1f} | "
                 f"{r['speedup']:.2f}x | 3x | {r['gemm_floor_ms']:.2f} | {r['over_gemm']:.2f} | "
                 f"{r['openblas_floor_ms']:.2f} | {r['over_openblas']:.2f} | {r['mlcl_2threads_ms']:.1f} |")
    L.append("\n'GEMM floor' = the step's traced GEMMs replayed in isolation, fastest engine, in every round right "
             "after that round's libmlcl steps (median of the rounds); 'step/GEMM' = the median of the rounds' "
             "step time / that round's floor; 'OpenBLAS floor' = "
             "the faster of OpenBLAS 1 and 2 threads as the library loads it (core "
             f"{next((r['roofline']['core'] for r in R['step'] if r['roofline']), '?')}).\n")
    L.append(roofline_markdown(R))
    if R.get("conv"):
        L.append("\n" + conv_markdown(R["conv"]))
    p = R["protocol"]
    nr = len(p["mlcl"].get("walls_s", [0]))
    L.append(f"\n### Whole Yeast CLD protocol ({p['epochs'][0]} + {p['epochs'][1]} epochs, "
             + ("one run per side)\n" if nr == 1 else
                f"{nr} runs per side in the order {', '.join(p.get('order', []))}; each side's faster run)\n"))
    L.append("| | wall s | pretrain s | fine-tune s | peak RSS MB | HA | ebF1 | miF1 | maF1 | p@1 | mAP |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for side, name in (("mlcl", "libmlcl `bin/mlcl-train`"), ("torch", "PyTorch `train.py` (PASSIVE)")):
        s = p[side]
        m = s["metrics_paper"]
        L.append(f"| {name} | {s['wall_s']:.1f} | {s['pretrain_s']:.1f} | {s['finetune_s']:.1f} | "
                 f"{s['peak_rss_kb'] / 1024:.0f} | " + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in
                                                             ("HA", "ebF1", "miF1", "maF1", "p@1", "mAP")) + " |")

    if nr > 1:
        L.append("\nAll runs' wall times (s): libmlcl " + ", ".join(f"{w:.1f}" for w in p["mlcl"]["walls_s"])
                 + "; PyTorch " + ", ".join(f"{w:.1f}" for w in p["torch"]["walls_s"]) + ".")
    L.append(f"\nSpeedup {p['torch']['wall_s'] / p['mlcl']['wall_s']:.2f}x (target 4x); peak RSS ratio "
             f"{p['mlcl']['peak_rss_kb'] / p['torch']['peak_rss_kb']:.2f} (target <= 0.5).\n")
    rs = R["peak_rss_kb"]
    L.append(f"Peak RSS of the benchmark processes (MB): loss {rs.get('loss_mlcl', 0) / 1024:.0f} (libmlcl) vs "
             f"{rs.get('loss_torch', 0) / 1024:.0f} (torch); step {rs.get('step_mlcl', 0) / 1024:.0f} vs "
             f"{rs.get('step_torch', 0) / 1024:.0f}; ResNet {rs.get('conv_mlcl', 0) / 1024:.0f} vs "
             f"{rs.get('conv_torch', 0) / 1024:.0f}.\n")
    L.append("### Targets\n")
    L.append("| target | value | met |")
    L.append("|---|---:|:---:|")
    for t in R["targets"]:
        v = f"{t['value']:.2f}"
        L.append(f"| {t['target']} | {v} | {'yes' if t['met'] else '**no**'} |")
    met = sum(t["met"] for t in R["targets"])
    L.append(f"\n{met} of {len(R['targets'])} targets met in this run (total bench time {R['elapsed_s'] / 60:.1f} min).")
    return "\n".join(L)


def roofline_markdown(R):
    """The isolated-GEMM table: every engine for every workload (ms per step or loss call)."""
    rows = [(f"step {r['config']}", r["roofline"]) for r in R["step"] if r["roofline"]] + \
           [(f"loss {r['loss']} ({r['n']},{r['K']},{r['m']},{r['c']})", r["roofline"]) for r in R["loss"] if r["roofline"]]
    if not rows:
        return "### Isolated GEMMs\n\n(no roofline measured in this run)"
    engines = [e for e in ENGINE_NAMES if any(e in rf["engines"] for _, rf in rows)]
    L = ["### Isolated GEMMs: OpenBLAS vs oneDNN for each workload's shapes (ms per step / loss call)\n",
         "Each workload's BLAS calls, traced once (build/bench/gemmtrace.so) and replayed back to back by "
         "build/bench/roofline; median of passes. Fastest per row in bold.\n",
         "| workload | GFLOP | calls | " + " | ".join(engine_label(e, rows[0][1]) for e in engines) + " | fastest |",
         "|---|---:|---:|" + "---:|" * len(engines) + "---|"]
    for name, rf in rows:
        cells = []
        for e in engines:
            v = rf["engines"].get(e)
            cells.append("" if v is None else (f"**{v:.2f}**" if e == rf["floor_engine"] else f"{v:.2f}"))
        L.append(f"| {name} | {rf['gflop']:.3f} | {rf['calls']:.0f} | " + " | ".join(cells) +
                 f" | {engine_label(rf['floor_engine'], rf)} |")
    impls = sorted({i.strip() for _, rf in rows for i in rf.get("matmul_impls", "").split(",") if i.strip()})
    L.append(f"\noneDNN matmul implementations chosen: {', '.join(impls) or '-'}.")
    return "\n".join(L)


def torch_version():
    try:
        return subprocess.run([PY, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                              text=True, timeout=60).stdout.strip()
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
