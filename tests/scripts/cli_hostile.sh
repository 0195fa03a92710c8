#!/bin/sh
# Hostile callers of bin/mlcl-train (issue 12): no shell behind --plot/--log,
# outputs never clobber devices, FIFOs, directories or inputs, write errors
# are a non-zero exit naming the file, output paths are checked before
# training, bent values are refused naming the flag, memory budgets are
# checked before allocating, --threads is capped, SIGTERM ends setup at once.
# POSIX sh; uses $MLCL_TRAIN and $MLCL_DATA_DIR (fallback tests/data/mulan).
# Every case prints "ok" or "FAIL <name>"; the exit status is the number of failures (capped).
set -u
BIN=${MLCL_TRAIN:-bin/mlcl-train}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
DATA=${MLCL_DATA_DIR:-tests/data/mulan}
[ -f "$DATA/yeast-train.arff.gz" ] || DATA=tests/data/mulan
case $DATA in /*) ;; *) DATA=$PWD/$DATA ;; esac
T=$(mktemp -d /tmp/mlcl_hostile.XXXXXX)
trap 'rm -rf "$T"' EXIT
TR=$T/ytr.arff.gz
cp "$DATA/yeast-train.arff.gz" "$TR"
TE=$DATA/yeast-test.arff.gz
SHORT="--pretrain-epochs 1 --finetune-epochs 1 --threads 1"
fails=0
failed=""
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1: $2"; sed 's/^/     | /' "$T/err" | tail -5; fails=$((fails + 1)); failed="$failed $1"; }
# run NAME ARGS...: $rc, $T/out, $T/err (60 s at most, whatever the binary does)
run() { timeout -s KILL 60 "$BIN" "$@" >"$T/out" 2>"$T/err"; rc=$?; }
# refused NAME PATTERN ARGS...: exit status 1 or 2 (not a crash, not 0), stderr matches PATTERN, no training
refused() {
    name=$1 pat=$2
    shift 2
    run "$@"
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then bad "$name" "exit status $rc, expected 1 or 2"
    elif ! grep -q -e "$pat" "$T/err"; then bad "$name" "no message matching '$pat'"
    elif grep -q "pretrain epoch\|finetune epoch" "$T/err"; then bad "$name" "training started before the refusal"
    else ok "$name"; fi
}
now() { date +%s; }

# ---- 1. no shell: quotes and semicolons in --plot/--log are file names
cd "$T"
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    run --train "$TR" --test "$TE" $SHORT --quiet --plot "p';touch PWNED;'" --log "l';touch PWNED2;'.csv"
    if [ -e PWNED ] || [ -e PWNED2 ]; then bad shell_injection "a shell ran the injected command"
    elif [ "$rc" -ne 0 ] || [ ! -s "p';touch PWNED;'/curves.png" ] || [ ! -s "l';touch PWNED2;'.csv" ]; then
        bad shell_injection "exit status $rc or plots/log missing under the odd names"
    else ok shell_injection; fi
    # a failed plot is a failure: the PNG target is a FIFO inside the plot directory
    mkdir pfail && mkfifo pfail/curves.png
    refused plot_fifo_target "not a regular file" --train "$TR" --test "$TE" $SHORT --plot pfail --log l2.csv
    # a plot that cannot run is refused before training; one that fails after training is a failure
    MLCL_LIBRARY=/nonexistent/libmlcl.so.1 timeout -s KILL 60 "$BIN" --train "$TR" --test "$TE" $SHORT --plot pnolib >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q "\-\-plot pnolib: cannot plot" "$T/err" && ! grep -q "pretrain epoch" "$T/err"; then ok plot_cannot_run
    else bad plot_cannot_run "exit status $rc"; fi
    "$BIN" --train "$TR" --test "$TE" --pretrain-epochs 12 --finetune-epochs 1 --threads 1 --plot plate --log plate.csv >"$T/out" 2>"$T/err" &
    pid=$!
    i=0
    while [ ! -f plate.csv ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    mkfifo plate/curves.png 2>/dev/null || mkdir -p plate && mkfifo plate/curves.png 2>/dev/null
    wait $pid
    rc=$?
    if [ "$rc" -eq 1 ] && grep -q "\-\-plot plate: plotting failed" "$T/err"; then ok plot_fails_late
    else bad plot_fails_late "exit status $rc (expected 1 naming the plot directory)"; fi
else
    echo "skip shell_injection (no matplotlib); checking the --log name alone"
    run --train "$TR" --test "$TE" $SHORT --quiet --log "l';touch PWNED2;'.csv"
    if [ -e PWNED2 ]; then bad shell_injection "a shell ran the injected command"; else ok shell_injection; fi
fi
cd - >/dev/null

# ---- 2. devices, FIFOs, directories are refused and stay what they are
# (as root: fresh nodes of our own for every case, so that no case depends on /dev or on another)
for minor in 3 7; do
    for fl in --checkpoint --json --log; do
        dev=/dev/null kind=null
        [ $minor = 7 ] && dev=/dev/full kind=full
        own=$T/$kind$fl
        if [ "$(id -u)" = 0 ] && mknod "$own" c 1 $minor 2>/dev/null; then dev=$own; fi
        name="device${fl}_$kind"
        refused "$name" "not a regular file" --train "$TR" --test "$TE" $SHORT $fl "$dev"
        [ -c "$dev" ] || bad "${name}_kept" "$dev is no longer a character device"
    done
done
mkfifo "$T/fifo"
refused fifo_json "FIFO" --train "$TR" --test "$TE" $SHORT --json "$T/fifo"
[ -p "$T/fifo" ] || bad fifo_kept "the FIFO was replaced"
mkdir "$T/adir"
refused dir_json "is a directory" --train "$TR" --test "$TE" $SHORT --json "$T/adir"
refused dir_log_slash "a file name is expected" --train "$TR" --test "$TE" $SHORT --log "$T/adir/"

# ---- 3. an output equal to an input is refused and the input is unchanged
cp "$TR" "$T/ytr.orig"
refused json_is_train "same file as --train" --train "$TR" --test "$TE" $SHORT --json "$TR"
refused ckpt_is_test "same file as --test" --train "$TR" --test "$TE" $SHORT --checkpoint "$TE"
ln -s "$TR" "$T/link.arff.gz"
refused log_is_train_symlink "same file as --train" --train "$TR" --test "$TE" $SHORT --log "$T/link.arff.gz"
ln "$TR" "$T/hard.arff.gz"
refused json_is_train_hardlink "same file as --train" --train "$TR" --test "$TE" $SHORT --json "$T/hard.arff.gz"
refused json_is_log "same file" --train "$TR" --test "$TE" $SHORT --json "$T/o.x" --log "$T/o.x"
if cmp -s "$TR" "$T/ytr.orig" && [ ! -L "$TR" ]; then ok input_unchanged; else bad input_unchanged "the training file changed"; fi
rm -f "$TR" "$T/hard.arff.gz" # a fresh copy for the cases below, whatever happened above
cp "$DATA/yeast-train.arff.gz" "$TR"

# ---- 4. bad output paths fail within seconds, before any data is read or trained
LONG="--train $TR --test $TE --pretrain-epochs 40 --finetune-epochs 10 --threads 1"
t0=$(now)
refused json_missing_dir "does not exist" $LONG --json "$T/nodir/x.json"
refused plot_missing_parent "does not exist" $LONG --plot "$T/nodir/plots"
echo x >"$T/regular"
refused plot_on_regular_file "regular file" $LONG --plot "$T/regular"
refused ckpt_missing_dir "does not exist" $LONG --checkpoint "$T/nodir/ck"
# a good --plot DIR/ passes the early checks (the run is then refused for its queue, after reading the data)
refused plot_dir_slash_ok "\-\-queue 2000 is larger" --train "$TR" --test "$TE" $SHORT --plot "$T/okplots/" --queue 2000
t1=$(now)
if [ $((t1 - t0)) -le 8 ]; then ok early_refusal_time; else bad early_refusal_time "four refusals took $((t1 - t0)) s"; fi

# ---- 5. write errors (RLIMIT_FSIZE 0: every write to a regular file fails) are a non-zero exit naming the file
# (stdout and stderr go through a pipe: the limit would stop writes to a regular file there too)
nofsize() { { ( trap '' XFSZ; ulimit -f 0; exec "$BIN" "$@" ) 2>&1; echo "rc=$?"; } | cat >"$T/err"; rc=$(sed -n 's/^rc=//p' "$T/err"); }
nofsize --train "$TR" --test "$TE" $SHORT --json "$T/wj.json"
if [ "$rc" -ne 1 ]; then bad json_write_error "exit status $rc, expected 1"
elif ! grep -q "wj.json.*failed" "$T/err"; then bad json_write_error "no message naming wj.json"
elif [ -e "$T/wj.json" ] || ls -a "$T" | grep -q '^\.wj\.json'; then bad json_write_error "a partial file or a temporary file was left"
else ok json_write_error; fi
nofsize --train "$TR" --test "$TE" $SHORT --log "$T/wl.csv"
if [ "$rc" -ne 1 ] || ! grep -q "wl.csv.*failed" "$T/err"; then bad log_write_error "exit status $rc or no message naming wl.csv"
elif grep -q "pretrain epoch\|finetune epoch" "$T/err"; then bad log_write_error "trained although the log could not be written"
else ok log_write_error; fi

# ---- 6. bent values are refused, naming the flag (exit status 2, nothing trained)
Y="--train $TR --test $TE $SHORT"
Y0="--train $TR --test $TE --pretrain-epochs 1 --finetune-epochs 1"
refused batch_fraction "\-\-batch: '2.7' is not an integer" $Y --batch 2.7
refused batch_exponent "\-\-batch: '1e2' is not an integer" $Y --batch 1e2
refused labels_fraction "\-\-labels: '1.9' is not an integer" $Y --labels 1.9
refused hidden_too_many "\-\-hidden.*more than the 8" $Y --hidden 8,8,8,8,8,8,8,8,8,8
refused encoder_exact "\-\-encoder: 'resnet18-big' is not mlp, resnet18-small" $Y --encoder resnet18-big
refused image_size_mlp "\-\-image-size does not apply" $Y --image-size 32
refused test_without_train "\-\-test needs --train" --test "$TE" $SHORT --mosaic-train 64 --mosaic-test 32 --batch 16 --queue 32
refused sched_overflow "\-\-pretrain-sched: T0 '99999999999'" $Y --pretrain-sched 99999999999,2,0
refused sched_eta_inf "\-\-finetune-sched: eta_min 'inf'" $Y --finetune-sched 10,2,inf
refused sigma_with_cld "\-\-sigma does not apply" $Y --sigma 0.3
refused features_with_arff "\-\-features does not apply" $Y --features 10
refused eval_every_without_log "\-\-eval-every does not apply" $Y --eval-every 1
refused pretrain_lr_with_none "\-\-pretrain-lr does not apply" --train "$TR" --test "$TE" --finetune-epochs 1 --method none --pretrain-lr 0.001
refused flag_twice "\-\-batch is given twice" $Y --batch 16 --batch 32
refused path_looks_like_flag "\-\-json: '--quiet' looks like an option" $Y --json --quiet
refused queue_above_rows "\-\-queue 2000 is larger than the 1500 training rows" $Y --queue 2000
refused seed_fraction "\-\-seed: '1.5' is not an integer" $Y --seed 1.5
# --val-split with --test is accepted (validation on the held-out rows, the report on the test set: valsel_cli.sh);
# the validation flags without --val-split are refused naming the flag
refused select_metric_without_val "\-\-select-metric does not apply without --val-split" $Y --select-metric mAP
refused patience_without_val "\-\-patience does not apply without --val-split" $Y --patience 3
refused val_thresholds_without_val "\-\-val-thresholds does not apply without --val-split" $Y --val-thresholds global
refused select_metric_value "\-\-select-metric: 'AUC' is not HA, ebF1" $Y --val-split 0.2 --select-metric AUC
refused patience_with_none "\-\-patience 2 does not apply with --select-metric none" $Y --val-split 0.2 --select-metric none --patience 2
[ ! -e ./--quiet ] || { rm -f ./--quiet; bad path_looks_like_flag_file "a file named --quiet was written"; }

# ---- 7. --threads is capped by the CPUs available; forcing it is bounded by the address space
run $Y0 --threads 64 --quiet
if [ "$rc" -eq 0 ] && grep -q "threads 64 capped to the [0-9]* CPUs" "$T/err"; then ok threads_capped; else bad threads_capped "exit status $rc, no 'capped' notice"; fi
( ulimit -v 6000000; exec timeout -s KILL 30 "$BIN" $Y0 --threads 64 --force-threads --quiet ) >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "\-\-threads 64.*address space" "$T/err"; then ok threads_forced_budget; else bad threads_forced_budget "exit status $rc"; fi

# ---- 8. SIGTERM while the data is being prepared ends the process at once (exit 130)
"$BIN" --mosaic-train 40000 --mosaic-test 100 --pretrain-epochs 1 --finetune-epochs 1 --threads 1 >"$T/out" 2>"$T/err" &
pid=$!
sleep 1
kill -TERM $pid 2>/dev/null
t0=$(now)
wait $pid
rc=$?
t1=$(now)
if [ "$rc" -eq 130 ] && [ $((t1 - t0)) -le 3 ] && grep -q "stopped by signal 15" "$T/err" && ! grep -q "pretrain epoch" "$T/err"; then
    ok sigterm_setup
else
    bad sigterm_setup "exit status $rc after $((t1 - t0)) s (expected 130 within 3 s, during setup)"
fi

# ---- 9. memory budgets, under a 2 GB address-space limit: refused with "needs", not killed
awk 'BEGIN { srand(7); for (i = 0; i < 60; i++) { printf "%d,%d", i % 3, (i + 1) % 3;
     for (j = 1; j <= 5; j++) printf " %d:%.3f", j, rand(); print "" } }' >"$T/s.svm"
budget() {
    name=$1 pat=$2
    shift 2
    ( ulimit -v 2000000; exec timeout -s KILL 60 "$BIN" "$@" ) >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q -e "$pat.*needs" "$T/err"; then ok "$name"; else bad "$name" "exit status $rc (expected 2 with '$pat ... needs')"; fi
}
budget budget_queue "\-\-queue 10000000" $Y --queue 10000000
budget budget_features "\-\-features 100000000" --train "$T/s.svm" --test "$T/s.svm" $SHORT --features 100000000
budget budget_labels "\-\-labels 1000000" --train "$T/s.svm" --test "$T/s.svm" $SHORT --labels 1000000
budget budget_hidden "\-\-hidden 100000,100000" $Y --hidden 100000,100000
budget budget_mosaics "\-\-mosaic-train 10000000" --mosaic-train 10000000 $SHORT

# ---- 10. LIBSVM index base is an explicit option
SV="--train $T/s.svm --test $T/s.svm $SHORT --batch 16 --queue 32 --quiet"
run $SV --index-base 0 --json "$T/b0.json"
f0=$(sed -n 's/.*"features": \([0-9]*\).*/\1/p' "$T/b0.json" 2>/dev/null)
run $SV --index-base 1 --json "$T/b1.json"
f1=$(sed -n 's/.*"features": \([0-9]*\).*/\1/p' "$T/b1.json" 2>/dev/null)
if [ "${f0:-x}" = 6 ] && [ "${f1:-x}" = 5 ]; then ok index_base; else bad index_base "features ${f0:-none} (base 0, expected 6) and ${f1:-none} (base 1, expected 5)"; fi
refused index_base_value "\-\-index-base: '2' is not 0 or 1" $SV --index-base 2

# ---- 11. resuming a finished run with more epochs reports what it trains
run --train "$TR" --test "$TE" $SHORT --quiet --checkpoint "$T/ck" --log "$T/r.csv"
rows0=$(wc -l <"$T/r.csv")
run --train "$TR" --test "$TE" --pretrain-epochs 1 --finetune-epochs 3 --threads 1 --quiet --resume "$T/ck" --checkpoint "$T/ck" --log "$T/r.csv"
rows1=$(wc -l <"$T/r.csv")
if [ "$rc" -eq 0 ]; then
    trained=$(sed -n 's/.*this run trained \([0-9]*\)+\([0-9]*\).*/\2/p' "$T/out")
    if [ -n "$trained" ] && [ "$trained" -eq $((rows1 - rows0)) ]; then ok resume_honest
    else bad resume_honest "the summary says '${trained:-nothing}' fine-tuning epochs trained, the log grew by $((rows1 - rows0))"; fi
elif grep -q "epochs" "$T/err"; then ok resume_honest
else bad resume_honest "exit status $rc without naming the epochs"; fi

echo "cli_hostile: $fails failure(s)${failed:+:$failed}"
[ "$fails" -eq 0 ] || exit 1
echo "cli_hostile: every case passed"
