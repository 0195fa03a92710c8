#!/usr/bin/python3
"""Side-by-side benchmark driver for `make bench` (called by bench/run.sh).

Runs every workload in libmlcl and in PyTorch (bench/torch/) in the same run,
interleaved, for several rounds, and reports medians and ratios:

  * loss forward+backward (MulSupCon, RLD, CLD) at the four (n, K, m, c)
    shapes: libmlcl bench/loss vs bench/torch/bench_loss.py;
  * one full pretraining step (CLD) at the four step shapes: bench/step vs
    bench/torch/bench_step.py;
  * the whole Yeast CLD protocol (400 + 100 epochs): bin/mlcl-train vs
    bench/torch/train.py, once per side (it takes minutes);
  * ResNet forward+backward images/s (ResNet-18 small stem 56x56 batch 64,
    ResNet-50 ImageNet stem 224x224 batch 8): bench/conv vs
    bench/torch/conv.py;
  * the peak RSS of every process (wait4's ru_maxrss);
  * OpenBLAS SGEMM GFLOP/s measured inside bench/loss in the same run, and
    each loss's GEMM GFLOP/s as a fraction of it.

PyTorch runs with OMP_WAIT_POLICY=PASSIVE (its best setting on a 2-vCPU
machine; the ratios use it) and once with the default wait policy.

Writes bench/results.json and rewrites the block between the RESULTS markers
in docs/performance.md. Environment: BUILD (default build), BENCH_ROUNDS
(default 3), MLCL_TRAIN (default bin/mlcl-train), BENCH_QUICK=1 (short run for testing the harness: fewer reps,
a 4+2-epoch protocol, nothing written to docs/).

`bench/run.sh conv` (or BENCH_CONV_ONLY=1) runs only the ResNet rows
(BENCH_ROUNDS default 1 there, 2 timed iterations each) and prints them;
nothing is written.
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
if sys.argv[1:] not in ([], ["conv"]):
    sys.exit("usage: bench/run.sh [conv]")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "1" if CONV_ONLY else "3"))
PY = "/usr/bin/python3"
TMP = tempfile.mkdtemp(prefix="mlcl_bench_")
TRAIN_BIN = os.environ.get("MLCL_TRAIN", os.path.join(ROOT, "bin", "mlcl-train"))

LOSS_SHAPES = [(128, 256, 256, 14), (256, 1024, 256, 6), (128, 4096, 256, 983), (512, 8192, 256, 101)]
STEP_CONFIGS = ["yeast", "scene", "delicious-like", "mediamill-like"]
LOSS_NAMES = {"MulSupCon": "mulsupcon", "RLD": "rld", "CLD": "cld"}
CONV_CONFIGS = ["resnet18-small-56", "resnet50-imagenet-224"]


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
    reps = ["--reps", "3", "--warmup", "1"] if QUICK or policy == "default" else ["--reps", "4", "--warmup", "1"]
    env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
    _, rss = run([PY, "bench/torch/bench_loss.py", "--threads", "2", "--json", js] + reps, env, "bench_loss.py")
    out = {}
    for r in json.load(open(js))["results"]:
        out[(r["n"], r["K"], r["m"], r["c"], r["loss"])] = {"ms": r["median_s"] * 1e3}
    return out, rss


def c_step(rnd, threads=None):
    js = os.path.join(TMP, f"c_step_{rnd}_{threads}.json")
    reps = ["--reps", "5", "--warmup", "1"] if QUICK or threads else ["--reps", "12", "--warmup", "2"]
    _, rss = run([os.path.join(BUILD, "bench", "step"), "--json", js] + reps,
                 {"MLCL_NUM_THREADS": str(threads)} if threads else None, "bench/step")
    d = json.load(open(js))
    return {r["config"]: {"ms": r["median_s"] * 1e3} for r in d["results"]}, rss


def torch_step(rnd, policy):
    js = os.path.join(TMP, f"t_step_{policy}_{rnd}.json")
    reps = ["--reps", "3", "--warmup", "1"] if QUICK or policy == "default" else ["--reps", "7", "--warmup", "1"]
    env = {"OMP_WAIT_POLICY": policy} if policy != "default" else {}
    _, rss = run([PY, "bench/torch/bench_step.py", "--threads", "2", "--json", js] + reps, env, "bench_step.py")
    return {r["config"]: {"ms": r["median_s"] * 1e3} for r in json.load(open(js))["results"]}, rss


def conv_reps():
    return ["--reps", "2", "--warmup", "1"] if QUICK or CONV_ONLY else ["--reps", "3", "--warmup", "1"]


def c_conv(rnd):
    js = os.path.join(TMP, f"c_conv_{rnd}.json")
    # oneDNN runs on OpenMP (libgomp) like PyTorch: both sides get PASSIVE, the
    # peer's best setting (the default spin-wait makes the barrier-heavy
    # BatchNorm primitives several times slower when the 2 cores are shared)
    _, rss = run([os.path.join(BUILD, "bench", "conv"), "--json", js] + conv_reps(),
                 {"OMP_WAIT_POLICY": "PASSIVE"}, "bench/conv")
    return {r["config"]: {k: r[k] for k in ("median_s", "min_s", "fwd_median_s", "bwd_median_s", "batch")}
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
                 f"{r['ratio']:.2f}x | 1x | {r['mlcl_fwd_ms']:.0f} / {r['mlcl_bwd_ms']:.0f} | "
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
    ep = ["4", "2"] if QUICK else ["400", "100"]
    tr, te = os.path.join(dd, "yeast-train.arff.gz"), os.path.join(dd, "yeast-test.arff.gz")
    res = {}
    js = os.path.join(TMP, "c_train.json")
    cmd = [TRAIN_BIN, "--train", tr, "--test", te, "--preset", "yeast",
           "--method", "cld", "--json", js, "--quiet"]
    if QUICK:
        cmd += ["--pretrain-epochs", ep[0], "--finetune-epochs", ep[1]]
    wall, rss = run(cmd, label="mlcl-train")
    d = json.load(open(js))
    d["metrics"]["paper"]["p@1"] = d["metrics"]["paper"].pop("p_at_1", float("nan"))
    res["mlcl"] = {"wall_s": wall, "pretrain_s": d["timing"]["pretrain_s"], "finetune_s": d["timing"]["finetune_s"],
                   "peak_rss_kb": rss, "metrics_paper": d["metrics"]["paper"]}
    js = os.path.join(TMP, "t_train.json")
    wall, rss = run([PY, "bench/torch/train.py", "--train", tr, "--test", te, "--method", "cld",
                     "--pretrain-epochs", ep[0], "--finetune-epochs", ep[1], "--threads", "2", "--json", js],
                    {"OMP_WAIT_POLICY": "PASSIVE"}, "train.py")
    d = json.load(open(js))
    res["torch"] = {"wall_s": wall, "pretrain_s": d["timing"]["pretrain_s"], "finetune_s": d["timing"]["finetune_s"],
                    "peak_rss_kb": rss, "metrics_paper": d["metrics"]["paper"]}
    res["epochs"] = ep
    return res


def main():
    if CONV_ONLY:
        return conv_only()
    t_start = time.time()
    dd = data_dir()
    for b in ("loss", "step", "conv"):
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

    for rnd in range(ROUNDS):
        # interleaved; the order flips every round so neither side always runs first
        order = ["c", "t"] if rnd % 2 == 0 else ["t", "c"]
        for side in order:
            if side == "c":
                r, kb = c_loss(rnd); add(lossC, r); note_rss("loss_mlcl", kb)
                r, kb = c_step(rnd); add(stepC, r); note_rss("step_mlcl", kb)
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
    step_rows = []
    for cfg in STEP_CONFIGS:
        cm = med(stepC[cfg]["ms"]); tm = med(stepT[cfg]["ms"]); td = med(stepTd.get(cfg, {}).get("ms", []))
        c2 = med(stepC2.get(cfg, {}).get("ms", []))
        step_rows.append({"config": cfg, "mlcl_ms": cm, "mlcl_2threads_ms": c2, "torch_passive_ms": tm, "torch_default_ms": td,
                          "speedup": tm / cm, "rounds": len(stepC[cfg]["ms"])})
    sgemm_peak = max(r["sgemm_gflops"] for r in loss_rows)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = []
    results = {"date": now, "command": "make bench", "rounds": ROUNDS, "quick": QUICK,
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


def targets(R):
    t = []
    small = [(128, 256, 256, 14), (256, 1024, 256, 6)]
    for r in R["loss"]:
        need = 3.0 if (r["n"], r["K"], r["m"], r["c"]) in small else 2.0
        t.append({"target": f"loss {r['loss']} ({r['n']},{r['K']},{r['m']},{r['c']}) >= {need:g}x torch",
                  "value": r["speedup"], "need": need, "met": r["speedup"] >= need})
    for r in R["step"]:
        t.append({"target": f"step {r['config']} >= 2x torch", "value": r["speedup"], "need": 2.0,
                  "met": r["speedup"] >= 2.0})
    for r in R.get("conv", []):
        t.append({"target": f"conv {r['config']} images/s >= 1x torch", "value": r["ratio"], "need": 1.0,
                  "met": r["ratio"] >= 1.0})
    p = R["protocol"]
    sp = p["torch"]["wall_s"] / p["mlcl"]["wall_s"]
    t.append({"target": "Yeast CLD protocol >= 2.5x torch", "value": sp, "need": 2.5, "met": sp >= 2.5})
    rr = p["mlcl"]["peak_rss_kb"] / p["torch"]["peak_rss_kb"]
    t.append({"target": "protocol peak RSS <= 0.5x torch", "value": rr, "need": 0.5, "met": rr <= 0.5})
    for r in R["loss"]:
        if (r["n"], r["K"]) in ((128, 4096), (512, 8192)):
            t.append({"target": f"loss {r['loss']} ({r['n']},{r['K']},{r['m']},{r['c']}) GEMMs >= 60% of SGEMM",
                      "value": r["gemm_fraction"], "need": 0.6, "met": r["gemm_fraction"] >= 0.6})
    return t


def markdown(R):
    L = []
    L.append(f"Made by `make bench` (bench/run.sh -> bench/compare.py) on {R['date']}, "
             f"{R['machine']['cpus']} CPUs, {R['rounds']} interleaved rounds, medians of per-round medians; "
             f"load average at the end {' '.join(R['machine']['loadavg_at_end'])}. "
             f"PyTorch {torch_version()} with 2 threads; ratios use OMP_WAIT_POLICY=PASSIVE. "
             f"Raw numbers: `bench/results.json`.\n")
    L.append("libmlcl runs with its default (both cores: MLCL_NUM_THREADS unset = 2); the column '1 thr' is one "
             "round with MLCL_NUM_THREADS=1, for reference, not used in the ratios.\n")
    L.append(f"OpenBLAS SGEMM measured in the same run (n x (n+K) x 256, default threads): "
             f"best {R['sgemm_peak_gflops']:.1f} GFLOP/s.\n")
    L.append("### Loss forward + backward (ms)\n")
    L.append("| (n, K, m, c) | loss | libmlcl | torch PASSIVE | torch default | speedup | target | GEMM GF/s | SGEMM GF/s | fraction | libmlcl 1 thr |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in R["loss"]:
        need = 3 if (r["n"], r["K"]) in ((128, 256), (256, 1024)) else 2
        L.append(f"| ({r['n']},{r['K']},{r['m']},{r['c']}) | {r['loss']} | {r['mlcl_ms']:.2f} | {r['torch_passive_ms']:.2f} | "
                 f"{r['torch_default_ms']:.2f} | {r['speedup']:.2f}x | {need}x | {r['gemm_gflops']:.1f} | "
                 f"{r['sgemm_gflops']:.1f} | {100 * r['gemm_fraction']:.0f}% | {r['mlcl_2threads_ms']:.2f} |")
    L.append("\n### One pretraining step, CLD (ms)\n")
    L.append("| config | libmlcl | torch PASSIVE | torch default | speedup | target | libmlcl 1 thr |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    for r in R["step"]:
        L.append(f"| {r['config']} | {r['mlcl_ms']:.1f} | {r['torch_passive_ms']:.1f} | {r['torch_default_ms']:.1f} | "
                 f"{r['speedup']:.2f}x | 2x | {r['mlcl_2threads_ms']:.1f} |")
    if R.get("conv"):
        L.append("\n" + conv_markdown(R["conv"]))
    p = R["protocol"]
    L.append(f"\n### Whole Yeast CLD protocol ({p['epochs'][0]} + {p['epochs'][1]} epochs, one run per side)\n")
    L.append("| | wall s | pretrain s | fine-tune s | peak RSS MB | HA | ebF1 | miF1 | maF1 | p@1 | mAP |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for side, name in (("mlcl", "libmlcl `bin/mlcl-train`"), ("torch", "PyTorch `train.py` (PASSIVE)")):
        s = p[side]
        m = s["metrics_paper"]
        L.append(f"| {name} | {s['wall_s']:.1f} | {s['pretrain_s']:.1f} | {s['finetune_s']:.1f} | "
                 f"{s['peak_rss_kb'] / 1024:.0f} | " + " | ".join(f"{m.get(k, float('nan')):.3f}" for k in
                                                             ("HA", "ebF1", "miF1", "maF1", "p@1", "mAP")) + " |")

    L.append(f"\nSpeedup {p['torch']['wall_s'] / p['mlcl']['wall_s']:.2f}x (target 2.5x); peak RSS ratio "
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
        v = f"{100 * t['value']:.0f}%" if "SGEMM" in t["target"] else f"{t['value']:.2f}"
        L.append(f"| {t['target']} | {v} | {'yes' if t['met'] else '**no**'} |")
    met = sum(t["met"] for t in R["targets"])
    L.append(f"\n{met} of {len(R['targets'])} targets met in this run (total bench time {R['elapsed_s'] / 60:.1f} min).")
    return "\n".join(L)


def torch_version():
    try:
        return subprocess.run([PY, "-c", "import torch; print(torch.__version__)"], capture_output=True,
                              text=True, timeout=60).stdout.strip()
    except Exception:
        return "?"


if __name__ == "__main__":
    main()
