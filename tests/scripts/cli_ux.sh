#!/bin/sh
# A new user's first hour with bin/mlcl-train (issue 13 item 6):
# --help lists every flag of the program's flag table with its range and
# default and names only files that exist; the progress is a bar with rate and
# ETA on a terminal (a pseudo-terminal here) and plain epoch lines without any
# control character otherwise or with --quiet; the fine-tuning lines show the
# BCE (not zeros) and the evaluated metrics; the epoch lines and the --log
# header use the same names; --json and --per-label name the labels (Yeast's
# Class1..Class14 from the ARFF header) with support, AP and F1 at 0.5.
# POSIX sh + /usr/bin/python3; uses $MLCL_TRAIN and $MLCL_DATA_DIR.
# Every case prints "ok" or "FAIL <name>"; the exit status is 1 on any failure.
set -u
BIN=${MLCL_TRAIN:-bin/mlcl-train}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/examples/mlcl-train.c
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=$ROOT/tests/data/mulan
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mlcl_ux.XXXXXX)
trap 'rm -rf "$T"' EXIT
TR=$DATA/yeast-train.arff.gz
TE=$DATA/yeast-test.arff.gz
JOB="--train $TR --test $TE --preset yeast --pretrain-epochs 2 --finetune-epochs 2 --threads 1"
fails=0
failed=""
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; fails=$((fails + 1)); failed="$failed $1"; }
# check NAME PYTHON-CODE [ARGS]: the code prints nothing and exits 0 when the case holds, else says why
check() {
    name=$1 code=$2
    shift 2
    if why=$("$PY" -c "$code" "$@" 2>&1); then ok "$name"; else bad "$name" "$(echo "$why" | tail -3)"; fi
}

# ---- 1. --help: every flag of the table, with its range and default; only existing files
"$BIN" --help >"$T/help" 2>&1
rc=$?
[ "$rc" -eq 0 ] || bad help_status "exit status $rc"
check help_lists_every_flag '
import re, sys
src, help_ = open(sys.argv[1]).read(), open(sys.argv[2]).read()
table = src[src.index("static flag flags[FL_COUNT]"):]
table = table[:table.index("};")]
rows = re.findall(r"\[FL_\w+\]\s*=\s*\{\s*\"(--[\w-]+)\",\s*(T_\w+)(?:,\s*([^,}]+),\s*([^,}]+))?(?:,\s*(\"[^\"]*\"|\w+))?", table)
assert len(rows) >= 50, "only %d rows parsed from the flag table" % len(rows)
# each flag'"'"'s block: its line and the continuation lines, whitespace folded
blocks, cur = {}, None
for line in help_.splitlines():
    m = re.match(r"  (--[\w-]+)(?: |$)", line)
    if m:
        cur = m.group(1); blocks[cur] = line
    elif cur and line.startswith("   "):
        blocks[cur] += " " + line
    else:
        cur = None
blocks = {k: " ".join(v.split()) for k, v in blocks.items()}
def num(s):
    s = s.strip()
    return None if s == "BIG" else float(s)
missing = []
for name, typ, lo, hi, choices in rows:
    b = blocks.get(name)
    if b is None:
        missing.append(name + " (absent)"); continue
    if typ == "T_INT":
        l, h = num(lo), num(hi)
        want = "an integer, at least %.0f" % l if h is None else "[%.0f, %.0f]" % (l, h)
        if want not in b: missing.append("%s (range %s)" % (name, want))
    if typ == "T_FLOAT" and "[%g, %g]" % (num(lo), num(hi)) not in b:
        missing.append("%s (range [%g, %g])" % (name, num(lo), num(hi)))
    if typ == "T_CHOICE":
        if not choices.startswith("\""):  # a macro
            choices = re.search(r"#define %s (\"[^\"]*\")" % choices, src).group(1)
        for c in choices.strip("\"").split("|"):
            if not re.search(r"(^|[ |,])%s([ |,;)]|$)" % re.escape(c), b.split(" ", 2)[1] + " " + b):
                missing.append("%s (choice %s)" % (name, c))
    if typ not in ("T_BOOL", "T_IN", "T_OUT", "T_OUTDIR") and "default" not in b:
        missing.append(name + " (no default)")
extra = sorted(set(blocks) - {r[0] for r in rows})
if missing or extra:
    sys.exit("missing: %s; not in the table: %s" % (", ".join(missing), ", ".join(extra)))
' "$SRC" "$T/help"
check help_names_real_files '
import os, re, sys
root, help_ = sys.argv[1], open(sys.argv[2]).read()
names = set(re.findall(r"(?<![\w./-])(?:[\w-]+/)+[\w-]+\.[a-z]+\b", help_)) | set(re.findall(r"(?<![\w./-])[\w.-]+\.md\b", help_))
assert "docs/math.md" in names and "docs/formats.md" in names, "docs/math.md or docs/formats.md not named: %s" % sorted(names)
gone = [n for n in sorted(names) if not os.path.exists(os.path.join(root, n))]
if gone: sys.exit("named but not in the repository: %s" % ", ".join(gone))
' "$ROOT" "$T/help"

# ---- 2. not a terminal: plain epoch lines, no control character; names shared with the log
"$BIN" $JOB --log "$T/log.csv" --eval-every 1 --json "$T/r.json" --per-label --checkpoint "$T/ck" >"$T/out" 2>"$T/err" </dev/null
rc=$?
if [ "$rc" -ne 0 ]; then bad plain_run "exit status $rc"; tail -3 "$T/err"; fi
check plain_no_control_characters '
import sys
b = open(sys.argv[1], "rb").read()
bad = sorted({c for c in b if (c < 0x20 and c not in (9, 10)) or c == 0x7f})
if bad: sys.exit("control characters in the stderr of a non-terminal run: %s" % bad)
lines = [l for l in b.decode().splitlines() if " epoch " in l]
if len(lines) != 4: sys.exit("%d epoch lines, expected 2 + 2:\n%s" % (len(lines), b.decode()))
' "$T/err"
check finetune_lines_bce_and_metrics '
import re, sys
ft = [l for l in open(sys.argv[1]) if l.startswith("finetune epoch")]
assert len(ft) == 2, "fine-tuning lines: %r" % ft
for l in ft:
    kv = dict(zip(l.split()[3::2], map(float, l.split()[4::2])))
    assert kv.get("bce", 0) > 0.05, "no positive bce in %r" % l
    assert not any(k in kv for k in ("con", "G", "H", "wreg")), "pretraining parts in %r" % l
    assert 0 < kv.get("mAP", 0) <= 1 and 0 < kv.get("HA", 0) <= 1, "no evaluated metrics in %r" % l
pre = [l for l in open(sys.argv[1]) if l.startswith("pretrain epoch")]
kv = dict(zip(pre[0].split()[3::2], map(float, pre[0].split()[4::2])))
assert kv["con"] > 0 and kv["loss"] > 0 and "bce" not in kv, pre[0]
' "$T/err"
check console_and_log_names '
import csv, sys
rows = list(csv.reader(open(sys.argv[2])))
head = rows[0]
names, values = set(), {}
for l in open(sys.argv[1]):
    w = l.split()
    if len(w) > 2 and w[1] == "epoch":
        names.update(w[3::2])
        values[(w[0], w[2].split("/")[0])] = dict(zip(w[3::2], w[4::2]))
if set(head) != names | {"phase", "epoch"}:
    sys.exit("log header %s, console names %s" % (head, sorted(names)))
assert len(rows) == 5, "%d log rows" % (len(rows) - 1)
for r in rows[1:]:
    d = dict(zip(head, r))
    con = values[("pretrain" if d["phase"] == "1" else "finetune", d["epoch"])]
    for k, v in con.items():   # the same numbers, to the console'"'"'s precision
        assert d[k] != "" and abs(float(d[k]) - float(v)) <= 1e-3 * abs(float(v)) + 1e-4, (k, d[k], v)
    if d["phase"] == "2":
        assert d["bce"] == d["loss"] and d["con"] == "" and float(d["bce"]) > 0, d
    else:
        assert d["bce"] == "" and float(d["con"]) > 0, d
' "$T/err" "$T/log.csv"
check json_label_names '
import gzip, json, re, sys
doc = json.load(open(sys.argv[1]))
# the label names and columns from the ARFF file itself (MEKA -C N: the first N attributes, -C -N: the last N)
text = gzip.open(sys.argv[2], "rt").read()
head, data = re.split(r"(?im)^@data\s*$", text, maxsplit=1)
attrs = re.findall(r"(?im)^@attribute\s+(\S+)", head)
c = int(re.search(r"-C\s+(-?\d+)", head).group(1))
cols = list(range(c)) if c > 0 else list(range(len(attrs) + c, len(attrs)))
names = [attrs[j].strip("\x27\"") for j in cols]
rows = [l.split(",") for l in data.split("\n") if l.strip() and not l.startswith("%")]
support = [sum(int(float(r[j])) for r in rows) for j in cols]
pl = doc["per_label"]
assert [x["name"] for x in pl] == names, ([x["name"] for x in pl], names)
assert names[0] == "Class1" and names[-1] == "Class14", names
assert [x["support"] for x in pl] == support, ([x["support"] for x in pl], support)
ap = [x["AP"] for x in pl if x["AP"] is not None]
assert abs(sum(ap) / len(ap) - doc["metrics"]["t05"]["mAP"]) < 2e-6, "mean AP %.6f, mAP %.6f" % (sum(ap) / len(ap), doc["metrics"]["t05"]["mAP"])
f1 = [x["F1_t05"] for x in pl]
assert abs(sum(f1) / len(f1) - doc["metrics"]["t05"]["maF1"]) < 2e-6, "mean F1 %.6f, maF1 %.6f" % (sum(f1) / len(f1), doc["metrics"]["t05"]["maF1"])
assert doc["labels"] == len(pl) == 14
' "$T/r.json" "$TE"
check per_label_table '
import json, sys
out, doc = open(sys.argv[1]).read().splitlines(), json.load(open(sys.argv[2]))
i = next(k for k, l in enumerate(out) if l.split()[:5] == ["label", "support", "predicted", "AP", "F1"])
for x, l in zip(doc["per_label"], out[i + 1:]):
    w = l.split()
    assert w[0] == x["name"] and int(w[1]) == x["support"] and int(w[2]) == x["predicted"], (l, x)
    assert abs(float(w[3]) - x["AP"]) < 6e-5 and abs(float(w[4]) - x["F1_t05"]) < 6e-5, (l, x)
assert len(out) - i - 1 >= 14, "%d table rows" % (len(out) - i - 1)
' "$T/out" "$T/r.json"

# ---- 3. --quiet (not a terminal): epoch lines only, no notices
"$BIN" $JOB --quiet >"$T/out" 2>"$T/err" </dev/null
rc=$?
check quiet_plain_lines '
import sys
e = open(sys.argv[1], "rb").read()
assert not any((c < 0x20 and c not in (9, 10)) or c == 0x7f for c in e), e
lines = e.decode().splitlines()
assert [l.split()[:3] for l in lines] == [["pretrain", "epoch", "1/2"], ["pretrain", "epoch", "2/2"], ["finetune", "epoch", "1/2"], ["finetune", "epoch", "2/2"]], lines
' "$T/err"
[ "$rc" -eq 0 ] || bad quiet_status "exit status $rc"

# ---- 4. a terminal (a pseudo-terminal 100 columns wide): a bar with rate and ETA, redrawn with \r
PTY='
import fcntl, os, struct, subprocess, sys, termios
m, s = os.openpty()
fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
a = termios.tcgetattr(s); a[1] &= ~termios.OPOST; termios.tcsetattr(s, termios.TCSANOW, a)  # bytes as written
env = dict(os.environ); env.pop("COLUMNS", None)
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=s, env=env)
os.close(s)
out = b""
while True:
    try:
        b = os.read(m, 65536)
    except OSError:
        break
    if not b:
        break
    out += b
open(sys.argv[1], "wb").write(out)
sys.exit(p.wait())
'
"$PY" -c "$PTY" "$T/tty" "$BIN" $JOB --log "$T/tlog.csv" --eval-every 2
rc=$?
[ "$rc" -eq 0 ] || bad tty_status "exit status $rc"
check tty_bar '
import re, sys
raw = open(sys.argv[1], "rb").read().decode()
assert "\x1b" not in raw, "escape sequences on the terminal"
segs = re.split(r"[\r\n]", raw)
bar = re.compile(r"^(pretrain|finetune) epoch \d+/2 \[[#-]+\] +\d+% step \d+/\d+ [0-9.]+ steps/s (ETA|in) \d+:\d\d (loss|bce) \S+ *$")
bars = [x for x in segs if bar.match(x)]
for ph in ("pretrain", "finetune"):
    eta = [x for x in bars if x.startswith(ph) and " ETA " in x]
    assert eta, "no %s bar with an ETA in %r" % (ph, raw[:600])
    assert float(re.search(r" ([0-9.]+) steps/s", eta[-1]).group(1)) > 0, eta[-1]
    done = [x for x in bars if x.startswith(ph) and " 100% " in x and " in " in x]
    assert done, "no final %s bar" % ph
assert raw.count("\r") >= 4, "the bar is not redrawn in place"
assert max(len(x) for x in bars) < 100, "a bar wider than the terminal: %d" % max(len(x) for x in bars)
# the bar ends with a newline at the end of each phase, and the evaluated epoch has its line
lines = raw.split("\n")
assert any(re.search(r"100% .* in \d+:\d\d loss", l) for l in lines) and any(re.search(r"100% .* in \d+:\d\d bce", l) for l in lines)
ev = [x for x in segs if x.startswith("finetune epoch 2/2 bce")]
assert ev and " mAP " in ev[0], "no evaluated epoch line: %r" % segs
' "$T/tty"
"$PY" -c "$PTY" "$T/ttyq" "$BIN" $JOB --quiet
rc=$?
check tty_quiet_plain '
import sys
raw = open(sys.argv[1], "rb").read()
assert raw and not any((c < 0x20 and c not in (9, 10)) or c == 0x7f for c in raw), raw[:300]
assert raw.decode().count(" epoch ") == 4, raw
' "$T/ttyq"
[ "$rc" -eq 0 ] || bad tty_quiet_status "exit status $rc"

# ---- 5. label names that are hostile to a terminal or to JSON: escaped in --json, '?' on the terminal
"$PY" -c '
import random, sys
random.seed(3)
h = b"@relation \x27weird: -C -3\x27\n@attribute f1 numeric\n@attribute f2 numeric\n@attribute f3 numeric\n"
h += b"@attribute \x27quo\"te\\\\back\x27 {0,1}\n@attribute \x27esc\x1b[31mred\x27 {0,1}\n@attribute caf\xc3\xa9\xff {0,1}\n@data\n"
for i in range(80):
    x = [random.random() for _ in range(3)]
    h += (",".join("%.3f" % v for v in x) + ",%d,%d,%d\n" % (x[0] > .5, x[1] > .4, x[2] > .6)).encode()
open(sys.argv[1], "wb").write(h)
' "$T/weird.arff"
"$BIN" --train "$T/weird.arff" --test "$T/weird.arff" --pretrain-epochs 1 --finetune-epochs 1 --batch 16 --queue 32 --threads 1 \
    --json "$T/w.json" --per-label --quiet >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] || bad hostile_names_status "exit status $rc: $(tail -1 "$T/err")"
check hostile_label_names '
import json, sys
names = [x["name"] for x in json.load(open(sys.argv[1]))["per_label"]]
assert names == ["quo\"te\\back", "esc\x1b[31mred", "caf\u00e9\ufffd"], names
out = open(sys.argv[2], "rb").read()
assert b"\x1b" not in out and b"\xff" not in out, "raw control or non-UTF-8 bytes in the table"
assert b"esc?[31mred" in out and "caf\u00e9?".encode() in out, out[-300:]
' "$T/w.json" "$T/out"

# ---- 6. resuming into a log of another layout is refused, naming its columns
printf 'phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA,ebF1,miF1,maF1,p_at_1,mAP\n1,1,2,3,4,5,6,7,8,,,,,,\n' >"$T/old.csv"
cp "$T/old.csv" "$T/old.orig"
"$BIN" $JOB --resume "$T/ck" --log "$T/old.csv" --quiet >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 1 ] && grep -q "old.csv: its columns (phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA" "$T/err" && cmp -s "$T/old.csv" "$T/old.orig"; then
    ok resume_log_layout
else
    bad resume_log_layout "exit status $rc: $(tail -1 "$T/err")"
fi

echo "cli_ux: $fails failure(s)${failed:+:$failed}"
[ "$fails" -eq 0 ] || exit 1
echo "cli_ux: every case passed"
