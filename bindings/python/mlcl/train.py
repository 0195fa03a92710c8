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
from ._lib import LIBSVM_INDEX_AUTO
from ._util import apply_kwargs
from .trainer import METHODS, METHOD_NAMES
from ._train_flags import ALIASES, FLAGS

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


# The flags of mlcl-train this twin does not take, each with the reason; every
# other flag of mlcl-train's table (_train_flags.FLAGS) is accepted with the
# same type, range or choices (bindings/python/tests/test_train_flags.py).
_IMAGES = ("image pipelines (ResNet backbones, SimCLR views, image manifests) are not "
           "passed through by this twin: build them with mlcl.Encoder, mlcl.Dataset.load_images "
           "and mlcl.Trainer (docs/images.md), or run mlcl-train")
OMITTED = {
    "--encoder": _IMAGES,
    "--base-width": _IMAGES,
    "--image-size": _IMAGES,
    "--views": _IMAGES,
    "--finetune-views": _IMAGES,
    "--image-root": _IMAGES,
    "--skip-bad-images": _IMAGES,
    "--voc-difficult": _IMAGES,
    "--stream": "streaming image loaders: mlcl.Trainer.from_loaders with mlcl.Loader (docs/loader.md)",
    "--loader-threads": "a --stream setting (see --stream)",
    "--prefetch": "a --stream setting (see --stream)",
}


def _int_in(lo, hi):
    def parse(v):
        try:
            x = int(v, 10)
        except ValueError:
            x = None
        if x is None or not lo <= x <= hi:
            raise argparse.ArgumentTypeError("'%s' is not an integer in [%d, %d]" % (v, lo, hi))
        return x
    parse.range = (lo, hi)
    return parse


def _float_in(lo, hi):
    def parse(v):
        try:
            x = float(v)
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and lo <= x <= hi):
            raise argparse.ArgumentTypeError("'%s' is not a finite number in [%g, %g]" % (v, lo, hi))
        return x
    parse.range = (lo, hi)
    return parse


def _schedule(items):
    parts = [(_int_in if it["type"] == "int" else _float_in)(it["min"], it["max"]) for it in items]

    def parse(v):
        fields = v.split(",")
        if len(fields) != len(parts):
            raise argparse.ArgumentTypeError("'%s' is not T0,Tmult,eta_min (e.g. 25,2,1e-4)" % v)
        return tuple(p(x) for p, x in zip(parts, fields))
    return parse


def _int_list(lo, hi, max_items):
    width = _int_in(lo, hi)

    def parse(v):
        widths = [width(w) for w in v.split(",")]
        if len(widths) > max_items:
            raise argparse.ArgumentTypeError("'%s' has more than %d items" % (v, max_items))
        return widths
    parse.range = (lo, hi)
    return parse


def _pair(v):
    a, sep, b = v.partition(",")
    if not a or not b or "," in b:
        raise argparse.ArgumentTypeError("'%s' is not X,Y (two array names, e.g. images,labels)" % v)
    return a, b


def _names(v):
    if not v or v[0] == "," or v[-1] == "," or ",," in v:
        raise argparse.ArgumentTypeError("'%s' is not a list of column names like a,b,c" % v[:80])
    return v


def _text(v):
    if not v:
        raise argparse.ArgumentTypeError("the value is empty")
    return v


def _path(v):
    if not v:
        raise argparse.ArgumentTypeError("the path is empty")
    return v


def _arg_type(f):
    """argparse keywords for one flag of the table"""
    t = f["type"]
    if t == "bool":
        return {"action": "store_true"}
    if t == "choice":
        return {"choices": f["choices"]}
    if t == "int":
        return {"type": _int_in(f["min"], f["max"])}
    if t == "float":
        return {"type": _float_in(f["min"], f["max"])}
    if t == "uint64":
        return {"type": _int_in(f["min"], 2 ** f["bits"] - 1)}
    if t == "schedule":
        return {"type": _schedule(f["items"])}
    if t == "int_list":
        return {"type": _int_list(f["min"], f["max"], f["max_items"])}
    if t == "pair":
        return {"type": _pair}
    if t == "name_list":
        return {"type": _names}
    if t == "text":
        return {"type": _text}
    return {"type": _path}  # file_in, file_out, dir_in, dir_out


def _parser():
    p = argparse.ArgumentParser(prog="python3 -m mlcl.train", add_help=False,
                                description="Contrastive pretraining, fine-tuning and evaluation "
                                "(the Python twin of mlcl-train, with the flags of its table). "
                                "Without --train: the default Fashion-MNIST mosaic job.")
    groups = {}
    for f in FLAGS:
        if f["name"] in OMITTED:
            continue
        g = groups.get(f["section"])
        if g is None:
            g = groups[f["section"]] = p.add_argument_group(f["section"])
        names = [a for a, target in ALIASES.items() if target == f["name"]] + [f["name"]]
        kw = _arg_type(f)
        if f["name"] == "--help":
            kw = {"action": "help"}
        text = f["help"] + (" (default %s)" % f["default"] if f["default"] else "")
        if f["arg"] and "choices" not in kw:
            kw["metavar"] = f["arg"]
        g.add_argument(*names, help=text.replace("%", "%%"), **kw)
    p.set_defaults(labels=0, features=0, mosaic_train=6000, mosaic_test=2000)
    return p


def _help_json():
    """--help-json: the table of the flags this twin takes (mlcl-train's, less OMITTED)"""
    doc = {"program": "python3 -m mlcl.train", "aliases": ALIASES,
           "flags": [f for f in FLAGS if f["name"] not in OMITTED],
           "omitted": [{"name": k, "reason": v} for k, v in OMITTED.items()]}
    json.dump(doc, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def _set(s, field, value, flag):
    """s.field = value with the bindings' checks (C integer range: no silent
    wrap-around); a bad value ends the program naming the flag."""
    try:
        apply_kwargs(s, {field: value}, {}, "value")
    except (TypeError, ValueError) as e:
        raise SystemExit("mlcl.train: %s: %s" % (flag, e))


def _threads(args):
    """--threads: at most the CPUs this process may run on, unless --force-threads (as mlcl-train)"""
    if not args.threads:
        return 0
    ncpu = len(os.sched_getaffinity(0)) or 1
    if args.threads > ncpu and not args.force_threads:
        print("mlcl.train: --threads %d capped to the %d CPUs available (--force-threads keeps %d)"
              % (args.threads, ncpu, args.threads), file=sys.stderr)
        return ncpu
    return args.threads


def _options(args):
    o = train_options(args.preset)
    default_job = args.train is None and args.preset is None
    kw = {}
    if default_job:  # the built-in job first, so that explicit flags override it (as mlcl-train)
        o.pretrain.epochs = 20
        o.finetune.epochs = 20
        o.batch = 128
        o.moco.queue_size = 1024
        o.pretrain.T_0 = 10
        o.finetune.T_0 = 10
        o.pretrain.lr = 4e-4
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
        _set(o.moco, "hidden", args.hidden, "--hidden")  # also sets n_hidden
    for attr, phase in (("pretrain_sched", o.pretrain), ("finetune_sched", o.finetune)):
        sched = getattr(args, attr)
        if sched is not None:
            phase.T_0, phase.T_mult, phase.eta_min = sched
    if args.sparse:
        o.standardize = 0  # (centring would make the rows dense)
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
    threads = _threads(args)
    if threads:
        _set(o, "threads", threads, "--threads")
    return o, default_job, kw


def _load(args, path, labels_path, test):
    """one of --train/--test: NumPy (.npy/.npz), a CSV table, ARFF or LIBSVM
    (--sparse: the training set in CSR; the test set is read dense)"""
    x_key, y_key = args.npz_keys or ("x", "y")
    if path.endswith(".npz"):
        return Dataset.load_npy(path, labels_path or path, x_key,
                                None if labels_path and labels_path.endswith(".npy") else y_key)
    if path.endswith(".npy"):
        if not labels_path:
            raise ValueError("%s is a .npy file: give its labels with --train-labels/--test-labels" % path)
        return Dataset.load_npy(path, labels_path, None, y_key if labels_path.endswith(".npz") else None)
    base = path[:-3] if path.endswith(".gz") else path
    if args.format == "csv" or (args.format is None and base.endswith((".csv", ".tsv"))):
        return Dataset.load_csv(path, n_labels=args.labels or None, label_columns=args.label_columns,
                                label_prefix=args.label_prefix, impute=args.impute)
    sparse = args.sparse and not test
    if args.format == "arff" if args.format else base.endswith(".arff"):
        return (Dataset.load_arff_sparse if sparse else Dataset.load_arff)(path, args.labels, False)
    index_base = LIBSVM_INDEX_AUTO if args.index_base is None else int(args.index_base)
    return (Dataset.load_libsvm_sparse if sparse else Dataset.load_libsvm)(path, args.features, args.labels,
                                                                           index_base)


def _row(name, m):
    return "%-22s %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f" % (name, m["HA"], m["ebF1"], m["miF1"],
                                                          m["maF1"], m["p_at_1"], m["mAP"])


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.help_json:
        _help_json()
        return 0
    val_split = args.val_split or 0.0
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
        set_num_threads(_threads(args), force=args.force_threads)
    quiet = args.quiet
    try:
        if args.train:
            train = _load(args, args.train, args.train_labels, False)
            test = _load(args, args.test, args.test_labels, True) if args.test else None
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
    if args.save_model:
        # the model with label names, data files, training-set hash and the
        # final metrics (not when they were measured on a validation split)
        try:
            trainer.export_model(train_path=args.train, test_path=args.test if on_test else None,
                                 metrics=ev if on_test else None).save(args.save_model)
        except MlclError as e:
            print("mlcl.train: --save-model %s: %s" % (args.save_model, e.message), file=sys.stderr)
            return 1
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
