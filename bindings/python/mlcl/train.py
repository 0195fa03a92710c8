"""``python3 -m mlcl.train``: the Python twin of the ``mlcl-train`` program.

Same flags, same default job (Fashion-MNIST 2x2 mosaics, CLD, 20+20 epochs)
and the same final table, built on mlcl.Trainer. ``--help`` lists the flags.
"""

import argparse
import json
import math
import os
import signal
import sys

import time

import numpy as np

from . import Dataset, MlclError, Interrupted, Trainer, average_precision, set_num_threads, train_options
from ._util import apply_kwargs
from .trainer import METHODS, METHOD_NAMES

# One set of names for the --log header and the epoch lines (as mlcl-train).
METRIC_KEYS = ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP")
LOG_COLUMNS = ("phase", "epoch", "loss", "con", "G", "H", "wreg", "lr", "samples_per_s") + METRIC_KEYS + ("bce",)
_CONSOLE = ("loss", "con", "G", "H", "wreg", "bce", "lr", "samples_per_s") + METRIC_KEYS
BAR_PERIOD = 0.25  # s between redraws of the progress bar


def epoch_row(p, metrics=None):
    """The values of one epoch by column name; absent: the column does not
    apply (pretraining loss parts while fine-tuning, the BCE while pretraining)."""
    r = {"phase": p.phase, "epoch": p.epoch + 1, "loss": p.loss}
    if p.phase == 1:
        r.update(con=p.con, G=p.G, H=p.H, wreg=p.wreg)
    else:
        r["bce"] = p.loss  # fine-tuning minimises the binary cross-entropy alone
    r["lr"] = p.lr
    r["samples_per_s"] = p.samples_per_s
    if metrics:
        r.update({k: metrics[k] for k in METRIC_KEYS})
    return r


def log_line(r):
    cells = []
    for k in LOG_COLUMNS:
        v = r.get(k)
        if v is None:
            cells.append("")
        elif k in ("phase", "epoch"):
            cells.append("%d" % v)
        elif k == "samples_per_s":
            cells.append("%.1f" % v)
        elif k in METRIC_KEYS:
            cells.append("%.5f" % v)
        else:
            cells.append("%.6g" % v)
    return ",".join(cells) + "\n"


def epoch_line(r, p):
    s = "%s epoch %d/%d" % ("pretrain" if p.phase == 1 else "finetune", p.epoch + 1, p.epochs)
    for k in _CONSOLE:
        if k not in r or (k == "loss" and "bce" in r):
            continue
        fmt = "%.0f" if k == "samples_per_s" else "%.3g" if k == "lr" else "%.4f" if k in METRIC_KEYS else "%.5g"
        s += " %s %s" % (k, fmt % r[k])
    return s


def _duration(s):
    if not (s >= 0) or s > 359999:
        return "--:--"
    t = int(s + 0.5)
    return "%d:%02d:%02d" % (t // 3600, t // 60 % 60, t % 60) if t >= 3600 else "%d:%02d" % (t // 60, t % 60)


def bar_text(p, total, rate, elapsed, final, columns):
    """The progress bar's line (at most columns - 1 characters)."""
    frac = 1.0 if final or total <= 0 else min(max(p.step / total, 0.0), 1.0)
    t = _duration(elapsed) if final else _duration((total - p.step) / rate if rate > 0 else -1)
    head = "%s epoch %d/%d " % ("pretrain" if p.phase == 1 else "finetune", p.epoch + 1, p.epochs)
    tail = " %3.0f%% step %d/%d %.1f steps/s %s %s" % (100 * frac, p.step, total, rate, "in" if final else "ETA", t)
    loss = " %s %.4g" % ("loss" if p.phase == 1 else "bce", p.loss)
    cols = columns - 1
    if len(head) + len(tail) > cols:  # narrow: the rate and the time left first
        tail = " %.0f%% %.1f steps/s %s %s" % (100 * frac, rate, "in" if final else "ETA", t)
    room = cols - len(head) - len(tail)
    if room - len(loss) >= 12:  # the loss if a bar of 10 still fits
        room -= len(loss)
    else:
        loss = ""
    w = min(room - 2, 30)
    bar = "[" + "#" * int(frac * w) + "-" * (w - int(frac * w)) + "]" if w >= 5 else ""
    return (head + bar + tail + loss)[:cols]


def _columns():
    try:
        c = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        c = 0
    return c if c >= 20 else 80


def per_label(trainer, ds):
    """[{name, support, predicted, AP, F1_t05}] on the rows of ds (F1 at 0.5, as maF1 counts it)."""
    s = trainer.predict(ds.features)
    y = ds.labels.astype(bool)
    ap = average_precision(s, ds.labels)
    yh = s >= np.float32(0.5)
    tp, fp, fn = (yh & y).sum(0), (yh & ~y).sum(0), (~yh & y).sum(0)
    out = []
    for j, name in enumerate(ds.label_names):
        den = 2 * tp[j] + fp[j] + fn[j]
        out.append({"name": name if name is not None else "label%d" % j, "support": int(tp[j] + fn[j]),
                    "predicted": int(tp[j] + fp[j]), "AP": None if np.isnan(ap[j]) else round(float(ap[j]), 6),
                    "F1_t05": round(2.0 * tp[j] / den, 6) if den > 0 else 0.0})
    return out


def _printable(name):
    """control characters (C0, DEL, C1) as '?', at most 40 characters"""
    return "".join("?" if ord(ch) < 0x20 or 0x7f <= ord(ch) <= 0x9f else ch for ch in name)[:40]


# --select-metric names -> Trainer.set_validation's select_metric (None: keep the last epoch)
SELECT_CHOICES = {"HA": "HA", "ebF1": "ebF1", "miF1": "miF1", "maF1": "maF1", "p@1": "p_at_1",
                  "p_at_1": "p_at_1", "mAP": "mAP", "none": None}


def _parser():
    p = argparse.ArgumentParser(prog="python3 -m mlcl.train",
                                description="Contrastive pretraining, fine-tuning and evaluation "
                                "(the Python twin of mlcl-train). Without --train: the default "
                                "Fashion-MNIST mosaic job.")
    a = p.add_argument
    a("--train", help="training set (ARFF, .arff.gz, or LIBSVM with --format libsvm)")
    a("--test", help="test set (needed with --train unless --val-split is given)")
    a("--val-split", type=float, metavar="FRAC",
      help="hold out a fraction (0.01 .. 0.9) of the training set (split with seed + 1000, as "
      "mlcl-train) as validation rows: thresholds (and with --select-metric the fine-tuning "
      "epoch) are chosen on them; with --test the report is on the test set, else on them")
    a("--select-metric", choices=list(SELECT_CHOICES),
      help="with --val-split: keep the fine-tuning epoch best on validation (default none; "
      "mAP when only --patience is given)")
    a("--patience", type=int, metavar="N",
      help="with --val-split: stop fine-tuning after N epochs without a better validation value")
    a("--val-thresholds", choices=["per-label", "global"],
      help="with --val-split: the thresholds the model keeps (default per-label)")
    a("--format", choices=["arff", "libsvm"])
    a("--labels", type=int, default=0)
    a("--features", type=int, default=0)
    a("--mosaic-train", type=int, default=6000)
    a("--mosaic-test", type=int, default=2000)
    a("--mosaic-dir")
    a("--preset", choices=["yeast", "scene"])
    a("--method", choices=list(METHODS))
    for f in ("--pretrain-epochs", "--finetune-epochs", "--batch", "--queue", "--seed",
              "--threads", "--eval-every"):
        a(f, type=int)
    for f in ("--pretrain-lr", "--pretrain-wd", "--finetune-lr", "--finetune-wd",
              "--pretrain-mask", "--finetune-mask", "--momentum", "--dropout", "--alpha",
              "--beta", "--tau", "--sigma"):
        a(f, type=float)
    a("--hidden", help="backbone widths, e.g. 256,512,256")
    a("--mask", choices=["any", "all"])
    a("--reduction", choices=["mean", "sum"])
    a("--cld-weight", choices=["prob", "logprob"])
    a("--weight-grad", choices=["on", "off", "1", "0"])
    a("--dweight-grad", choices=["on", "off", "1", "0"])
    a("--con-norm", choices=["none", "per_label"])
    a("--h-target", choices=["normalised", "normalized", "raw"])
    a("--json")
    a("--log")
    a("--plot")
    a("--checkpoint")
    a("--resume")
    a("--per-label", action="store_true",
      help="print a table per label (name, support, AP, F1 at 0.5) after the metrics")
    a("--quiet", action="store_true", help="no progress bar and no notices: plain epoch lines only")
    return p


def _set(s, field, value, flag):
    """s.field = value with the bindings' checks (C integer range: no silent
    wrap-around); a bad value ends the program naming the flag."""
    try:
        apply_kwargs(s, {field: value}, {}, "value")
    except (TypeError, ValueError) as e:
        raise SystemExit("mlcl.train: %s: %s" % (flag, e))


def _options(args):
    o = train_options(args.preset)
    default_job = args.train is None and args.preset is None
    kw = {}
    if args.method is not None:
        o.method = METHODS[args.method]
    pairs = [("pretrain_epochs", ("pretrain", "epochs")), ("finetune_epochs", ("finetune", "epochs")),
             ("pretrain_lr", ("pretrain", "lr")), ("pretrain_wd", ("pretrain", "weight_decay")),
             ("finetune_lr", ("finetune", "lr")), ("finetune_wd", ("finetune", "weight_decay")),
             ("pretrain_mask", ("pretrain", "mask_p")), ("finetune_mask", ("finetune", "mask_p")),
             ("queue", ("moco", "queue_size")), ("momentum", ("moco", "momentum")),
             ("dropout", ("moco", "dropout"))]
    for attr, (sub, field) in pairs:
        v = getattr(args, attr)
        if v is not None:
            _set(getattr(o, sub), field, v, "--" + attr.replace("_", "-"))
    if args.batch is not None:
        _set(o, "batch", args.batch, "--batch")
    if args.seed is not None:
        _set(o, "seed", args.seed, "--seed")
    if args.hidden:
        widths = [int(w) for w in args.hidden.split(",") if w]
        if not widths or len(widths) > 8 or min(widths) <= 0:
            raise SystemExit("mlcl.train: --hidden: '%s' is not a list of widths like 256,512,256"
                             % args.hidden)
        _set(o.moco, "hidden", widths, "--hidden")  # also sets n_hidden
    loss = o.moco.loss
    for attr in ("alpha", "beta", "tau", "sigma"):
        if getattr(args, attr) is not None:
            setattr(loss, attr, getattr(args, attr))
    enums = {"mask": {"any": 0, "all": 1}, "reduction": {"mean": 0, "sum": 1},
             "cld_weight": {"prob": 0, "logprob": 1}, "con_norm": {"none": 0, "per_label": 1},
             "h_target": {"normalised": 0, "normalized": 0, "raw": 1}}
    for attr, table in enums.items():
        v = getattr(args, attr)
        if v is not None:
            setattr(loss, attr, table[v])
    for attr in ("weight_grad", "dweight_grad"):
        v = getattr(args, attr)
        if v is not None:
            setattr(loss, attr, 1 if v in ("on", "1") else 0)
    if default_job:
        if args.pretrain_epochs is None:
            o.pretrain.epochs = 20
        if args.finetune_epochs is None:
            o.finetune.epochs = 20
        if args.batch is None:
            o.batch = 128
        if args.queue is None:
            o.moco.queue_size = 1024
        o.pretrain.T_0 = 10
        o.finetune.T_0 = 10
        o.pretrain.lr = 4e-4
    if args.threads:
        _set(o, "threads", args.threads, "--threads")
    return o, default_job, kw


def _load(path, fmt, labels, features):
    arff = fmt == "arff" if fmt else (path.endswith(".arff") or path.endswith(".arff.gz"))
    if arff:
        return Dataset.load_arff(path, labels, False)
    return Dataset.load_libsvm(path, features, labels)


def _row(name, m):
    return "%-22s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f" % (name, m["HA"], m["ebF1"], m["miF1"],
                                                          m["maF1"], m["p_at_1"], m["mAP"])


def main(argv=None):
    args = _parser().parse_args(argv)
    val_split = args.val_split or 0.0
    if args.val_split is not None and not 0.01 <= args.val_split <= 0.9:
        print("mlcl.train: --val-split %g is outside [0.01, 0.9]" % args.val_split, file=sys.stderr)
        return 2
    if args.test and not args.train:
        print("mlcl.train: --test needs --train (without --train the built-in Fashion-MNIST job "
              "runs)", file=sys.stderr)
        return 2
    # --val-split with --test: validation on the held-out rows, the report on the test set
    for flag, given in (("--select-metric", args.select_metric), ("--patience", args.patience),
                        ("--val-thresholds", args.val_thresholds)):
        if given is not None and not val_split:
            print("mlcl.train: %s does not apply without --val-split" % flag, file=sys.stderr)
            return 2
    if args.patience is not None and not 0 <= args.patience <= 1000000:
        print("mlcl.train: --patience %d is outside [0, 1000000]" % args.patience, file=sys.stderr)
        return 2
    patience = args.patience or 0
    select = SELECT_CHOICES[args.select_metric] if args.select_metric else None
    if patience and args.select_metric == "none":
        print("mlcl.train: --patience %d does not apply with --select-metric none" % patience,
              file=sys.stderr)
        return 2
    if patience and select is None:
        select = "mAP"  # --patience alone watches mAP, as mlcl-train
    if args.train and not args.test and not val_split:
        print("mlcl.train: --train needs --test (or --val-split FRAC to evaluate on a held-out "
              "part)", file=sys.stderr)
        return 2
    o, default_job, _ = _options(args)
    if args.threads:
        set_num_threads(args.threads)
    quiet = args.quiet
    try:
        if args.train:
            train = _load(args.train, args.format, args.labels, args.features)
            test = _load(args.test, args.format, args.labels, args.features) if args.test else None
        else:
            if not quiet:
                print("mlcl.train: default job: Fashion-MNIST 2x2 mosaics (%d train, %d test), "
                      "method %s, %d+%d epochs" % (args.mosaic_train, args.mosaic_test,
                                                   METHOD_NAMES[o.method], o.pretrain.epochs,
                                                   o.finetune.epochs), file=sys.stderr)
            train = Dataset.fashion_mosaic(args.mosaic_train, o.seed + 1, True, 2, args.mosaic_dir)
            test = None if val_split else Dataset.fashion_mosaic(args.mosaic_test, o.seed + 2,
                                                                 False, 2, args.mosaic_dir)
        val = None
        if val_split:
            # train on the rest; thresholds (and the epoch) chosen on the held-out part; the
            # report is on the test set when there is one, else on the held-out part
            fit, val = train.split(val_split, o.seed + 1000)
            train.close()
            train = fit
            if not quiet:
                print("mlcl.train: --val-split %.2f: thresholds%s chosen on a held-out part of the "
                      "training set; the report is on the %s"
                      % (val_split, " and the epoch" if select else "",
                         "test set" if test is not None else "held-out part"), file=sys.stderr)
            if test is None:
                test = val
    except (MlclError, ValueError, TypeError) as e:  # the bindings' own checks too
        print("mlcl.train: %s" % getattr(e, "message", e), file=sys.stderr)
        return 1
    on_test = test is not val  # the report is on a test set
    n, d, c = train.dims
    nt, dt, ct = test.dims
    nv = val.dims[0] if val is not None else 0
    if (d, c) != (dt, ct):
        print("mlcl.train: train has %d features and %d labels, test %d and %d" % (d, c, dt, ct),
              file=sys.stderr)
        return 1
    if not quiet:
        if val is not None and on_test:
            print("mlcl.train: %d training rows, %d validation rows, %d test rows, %d features, "
                  "%d labels" % (n, nv, nt, d, c), file=sys.stderr)
        else:
            print("mlcl.train: %d training rows, %d %s rows, %d features, %d labels"
                  % (n, nt, "validation" if val is not None else "test", d, c), file=sys.stderr)
    log = None
    stop = {"sig": 0}
    tty = sys.stderr.isatty()

    try:
        trainer = Trainer(train, options=o)
        if val is not None:  # before load(): the checkpoint names its validation settings
            trainer.set_validation(val, select_metric=select, patience=patience,
                                   thresholds=args.val_thresholds or "per-label")
        if args.resume:
            trainer.load(args.resume)
            if not quiet:
                print("mlcl.train: resumed from %s at phase %d epoch %d"
                      % ((args.resume,) + trainer.position), file=sys.stderr)
    except MlclError as e:
        print("mlcl.train: %s" % e.message, file=sys.stderr)
        return 1
    if args.log:
        header = ",".join(LOG_COLUMNS) + "\n"
        if args.resume and os.path.exists(args.log):
            with open(args.log) as f:
                first = f.readline()
            if first and first != header:
                print("mlcl.train: --log %s: its columns (%s) are not the ones this version writes; "
                      "resume into a new --log file" % (args.log, first.strip()), file=sys.stderr)
                return 1
            log = open(args.log, "a")
            if not first:
                log.write(header)
        else:
            log = open(args.log, "w")
            log.write(header)
    if args.eval_every and not quiet:
        print("mlcl.train: --eval-every %d: the fine-tuning lines and the log give the metrics at "
              "threshold 0.5 on the %s rows" % (args.eval_every, "test" if on_test
                                               else "held-out (--val-split)"), file=sys.stderr)
    bar = tty and not quiet
    st = {"phase": 0, "t0": time.monotonic(), "last": time.monotonic(), "step0": 0, "drawn": -1.0, "len": 0}
    batch = min(o.batch, n)
    spe = {1: n // batch, 2: n // batch + (1 if n % batch >= 2 else 0)}  # as the trainer runs them

    def bar_end():
        if st["len"]:
            sys.stderr.write("\n")
            st["len"] = 0

    def progress(p):
        now = time.monotonic()
        if p.phase != st["phase"]:  # this process began the phase at the end of the last report
            bar_end()
            st.update(phase=p.phase, t0=st["last"], step0=p.step - 1, drawn=-1.0)
        m = None
        if p.end_of_epoch:
            if p.phase == 2 and args.eval_every and (p.epoch + 1) % args.eval_every == 0:
                m = trainer.evaluate(test)["t05"]
            r = epoch_row(p, m)
            if log:
                log.write(log_line(r))
                log.flush()
        last = p.end_of_epoch and p.epoch + 1 == p.epochs
        if bar:
            if m is not None:
                sys.stderr.write("\r%s\r%s\n" % (" " * st["len"], epoch_line(r, p)))
                st["len"] = 0
            if last or m is not None or st["drawn"] < 0 or now - st["drawn"] >= BAR_PERIOD:
                el, done = now - st["t0"], p.step - st["step0"]
                line = bar_text(p, spe[p.phase] * p.epochs, done / el if el > 0 and done > 0 else 0.0, el, last,
                                _columns())
                sys.stderr.write("\r" + line + " " * max(st["len"] - len(line), 0))
                if last:
                    sys.stderr.write("\n")
                st["len"] = 0 if last else len(line)
                st["drawn"] = now
                sys.stderr.flush()
        elif p.end_of_epoch and (m is not None or last or p.epoch == 0 or (p.epoch + 1) % 10 == 0):
            print(epoch_line(r, p), file=sys.stderr)
        st["last"] = time.monotonic()
        return bool(stop["sig"])

    trainer.set_progress(progress)

    def on_signal(sig, frame):
        stop["sig"] = sig
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        done = False
        st["last"] = time.monotonic()
        while not done:
            done = trainer.run_epochs(1)
            if args.checkpoint:
                trainer.save(args.checkpoint)
    except Interrupted:
        bar_end()
        if args.checkpoint:
            try:
                trainer.save(args.checkpoint)
                what = "checkpoint written"
            except MlclError as e:
                what = e.message
            print("mlcl.train: stopped by signal %d; %s" % (stop["sig"], what), file=sys.stderr)
        else:
            print("mlcl.train: stopped by signal %d (no --checkpoint given)" % stop["sig"],
                  file=sys.stderr)
        return 130
    except MlclError as e:
        bar_end()
        print("mlcl.train: %s" % e.message, file=sys.stderr)
        return 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if log:
            log.close()
    ev = trainer.evaluate(test)
    pre_s, fin_s = trainer.timing
    print("\nmethod %s, seed %d, %d+%d epochs (pretrain %.1f s, fine-tune %.1f s)"
          % (METHOD_NAMES[o.method], o.seed, o.pretrain.epochs, o.finetune.epochs, pre_s, fin_s))
    print("%-22s %7s %7s %7s %7s %7s %7s" % ("metrics", "HA", "ebF1", "miF1", "maF1", "p@1", "mAP"))
    print(_row("paper protocol (sweep)", ev["paper"]))
    print(_row("threshold 0.5", ev["t05"]))
    honest, sel, thr_g = None, None, None
    if val is not None:
        sel = trainer.selection()
        try:
            honest = trainer.evaluate_thresholds(test)
            thr_g = trainer.thresholds()[1]
        except MlclError:  # no thresholds chosen (no fine-tuning epoch)
            honest = None
    if honest is not None:
        print(_row("val threshold (model)" if args.val_thresholds == "global"
                   else "val thresholds/label", honest["per_label"]))
        print(_row("val threshold, global", honest["global"]))
    if sel is not None and select is not None:
        print("fine-tuning epoch %d of the %d run kept (best validation %s %.4f)"
              % (sel["best_epoch"] + 1, sel["epochs_run"], select, sel["best_value"]))
    if thr_g is not None:
        print("global threshold chosen on %d validation rows: %.4f" % (nv, thr_g))
    labels = per_label(trainer, test) if (args.json or args.per_label) else None
    if args.per_label:
        w = max([5] + [len(_printable(x["name"])) for x in labels])
        print("\nper label on the %s rows (F1 at threshold 0.5)"
              % ("test" if on_test else "held-out (--val-split)"))
        print("%-*s %8s %9s %7s %7s" % (w, "label", "support", "predicted", "AP", "F1"))
        for x in labels:
            print("%-*s %8d %9d %7s %7.4f" % (w, _printable(x["name"]), x["support"], x["predicted"],
                                              "-" if x["AP"] is None else "%.4f" % x["AP"], x["F1_t05"]))
    if args.json:
        keys = ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP")
        doc = {"method": METHOD_NAMES[o.method], "seed": o.seed, "n_train": n, "n_test": nt,
               "features": d, "labels": c,
               "evaluated_on": "test" if on_test else "validation",
               "metrics": {k: {m: round(ev[k][m], 6) for m in keys} for k in ("paper", "t05")},
               "per_label": labels,
               "timing": {"pretrain_s": round(pre_s, 3), "finetune_s": round(fin_s, 3)}}
        if honest is not None:
            doc["metrics"]["validation_thresholds"] = {m: round(honest["per_label"][m], 6) for m in keys}
            doc["metrics"]["validation_global_threshold"] = {m: round(honest["global"][m], 6) for m in keys}
        if val is not None:
            bv = sel["best_value"]
            doc["validation"] = {"rows": nv, "select_metric": "none" if select is None else
                                 "p@1" if select == "p_at_1" else select,
                                 "patience": patience, "best_epoch": sel["best_epoch"],
                                 "epochs_run": sel["epochs_run"],
                                 "best_value": None if math.isnan(bv) else round(bv, 6),
                                 "global_threshold": None if thr_g is None else round(thr_g, 6)}
        with open(args.json, "w") as f:
            json.dump(doc, f)
            f.write("\n")
    if args.plot:
        os.makedirs(args.plot, exist_ok=True)
        k = min(nt, 6)
        x = test.features[:k]
        dist, score, y = trainer.distributions(x), trainer.predict(x), test.labels[:k]
        with open(os.path.join(args.plot, "distributions.csv"), "w") as f:
            f.write("row,label,y,d,score\n")
            for r in range(k):
                for j in range(c):
                    f.write("%d,%d,%d,%.6f,%.6f\n" % (r, j, y[r, j], dist[r, j], score[r, j]))
        try:
            from . import plot
            plot.main(["--dir", args.plot] + (["--log", args.log] if args.log else []))
        except Exception as e:  # noqa: BLE001 - plotting is optional
            print("mlcl.train: plotting failed (%s); is python3-matplotlib installed?" % e,
                  file=sys.stderr)
    trainer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
