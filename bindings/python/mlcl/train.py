"""``python3 -m mlcl.train``: the Python twin of the ``mlcl-train`` program.

Same flags, same default job (Fashion-MNIST 2x2 mosaics, CLD, 20+20 epochs)
and the same final table, built on mlcl.Trainer. ``--help`` lists the flags.
"""

import argparse
import json
import os
import signal
import sys

from . import Dataset, MlclError, Interrupted, Trainer, set_num_threads, train_options
from ._util import apply_kwargs
from .trainer import METHODS, METHOD_NAMES


def _parser():
    p = argparse.ArgumentParser(prog="python3 -m mlcl.train",
                                description="Contrastive pretraining, fine-tuning and evaluation "
                                "(the Python twin of mlcl-train). Without --train: the default "
                                "Fashion-MNIST mosaic job.")
    a = p.add_argument
    a("--train", help="training set (ARFF, .arff.gz, or LIBSVM with --format libsvm)")
    a("--test", help="test set")
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
    a("--quiet", action="store_true")
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
    if args.train and not args.test:
        print("mlcl.train: --train needs --test", file=sys.stderr)
        return 2
    o, default_job, _ = _options(args)
    if args.threads:
        set_num_threads(args.threads)
    quiet = args.quiet
    try:
        if args.train:
            train = _load(args.train, args.format, args.labels, args.features)
            test = _load(args.test, args.format, args.labels, args.features)
        else:
            if not quiet:
                print("mlcl.train: default job: Fashion-MNIST 2x2 mosaics (%d train, %d test), "
                      "method %s, %d+%d epochs" % (args.mosaic_train, args.mosaic_test,
                                                   METHOD_NAMES[o.method], o.pretrain.epochs,
                                                   o.finetune.epochs), file=sys.stderr)
            train = Dataset.fashion_mosaic(args.mosaic_train, o.seed + 1, True, 2, args.mosaic_dir)
            test = Dataset.fashion_mosaic(args.mosaic_test, o.seed + 2, False, 2, args.mosaic_dir)
    except (MlclError, ValueError, TypeError) as e:  # the bindings' own checks too
        print("mlcl.train: %s" % getattr(e, "message", e), file=sys.stderr)
        return 1
    n, d, c = train.dims
    nt, dt, ct = test.dims
    if (d, c) != (dt, ct):
        print("mlcl.train: train has %d features and %d labels, test %d and %d" % (d, c, dt, ct),
              file=sys.stderr)
        return 1
    if not quiet:
        print("mlcl.train: %d training rows, %d test rows, %d features, %d labels"
              % (n, nt, d, c), file=sys.stderr)
    log = None
    stop = {"sig": 0}
    tty = sys.stderr.isatty()

    try:
        trainer = Trainer(train, options=o)
        if args.resume:
            trainer.load(args.resume)
            if not quiet:
                print("mlcl.train: resumed from %s at phase %d epoch %d"
                      % ((args.resume,) + trainer.position), file=sys.stderr)
    except MlclError as e:
        print("mlcl.train: %s" % e.message, file=sys.stderr)
        return 1
    if args.log:
        log = open(args.log, "a" if args.resume else "w")
        if not args.resume:
            log.write("phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA,ebF1,miF1,maF1,p_at_1,mAP\n")

    def progress(p):
        name = "pretrain" if p.phase == 1 else "finetune"
        if not quiet:
            if tty:
                sys.stderr.write("\r%-9s epoch %4d/%-4d step %6d  loss %9.4f  lr %.2e  %8.0f samples/s "
                                 % (name, p.epoch + 1, p.epochs, p.step, p.loss, p.lr,
                                    p.samples_per_s))
                if p.end_of_epoch and p.epoch + 1 == p.epochs:
                    sys.stderr.write("\n")
                sys.stderr.flush()
            elif p.end_of_epoch and ((p.epoch + 1) % 10 == 0 or p.epoch + 1 == p.epochs
                                     or p.epoch == 0):
                print("%s epoch %d/%d loss %.4f (con %.4f G %.4f H %.4f W %.4f) lr %.3g %.0f samples/s"
                      % (name, p.epoch + 1, p.epochs, p.loss, p.con, p.G, p.H, p.wreg, p.lr,
                         p.samples_per_s), file=sys.stderr)
        if p.end_of_epoch and log:
            log.write("%d,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.1f" % (
                p.phase, p.epoch + 1, p.loss, p.con, p.G, p.H, p.wreg, p.lr, p.samples_per_s))
            if p.phase == 2 and args.eval_every and (p.epoch + 1) % args.eval_every == 0:
                m = trainer.evaluate(test)["t05"]
                log.write("," + ",".join("%.5f" % m[k] for k in
                                         ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP")))
            else:
                log.write(",,,,,,")
            log.write("\n")
            log.flush()
        return bool(stop["sig"])

    trainer.set_progress(progress)

    def on_signal(sig, frame):
        stop["sig"] = sig
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        done = False
        while not done:
            done = trainer.run_epochs(1)
            if args.checkpoint:
                trainer.save(args.checkpoint)
    except Interrupted:
        if tty and not quiet:
            sys.stderr.write("\n")
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
        if tty and not quiet:
            sys.stderr.write("\n")
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
    if args.json:
        keys = ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP")
        doc = {"method": METHOD_NAMES[o.method], "seed": o.seed, "n_train": n, "n_test": nt,
               "features": d, "labels": c,
               "metrics": {k: {m: round(ev[k][m], 6) for m in keys} for k in ("paper", "t05")},
               "timing": {"pretrain_s": round(pre_s, 3), "finetune_s": round(fin_s, 3)}}
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
