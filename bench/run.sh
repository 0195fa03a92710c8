#!/bin/sh
# make bench: libmlcl vs PyTorch side by side (see bench/compare.py and
# docs/performance.md). Expects `make all bench-build` to have run.
# BUILD=dir (default build), BENCH_ROUNDS=N (default 3), BENCH_QUICK=1.
# `bench/run.sh conv`: only the ResNet rows (images/s vs PyTorch), printed, nothing written.
# `bench/run.sh roofline`: only the isolated-GEMM replays (docs/perf/roofline.md), printed.
set -e
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/compare.py "$@"
