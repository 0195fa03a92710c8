"""``python3 -m mlcl.plot --dir DIR [--log FILE.csv]``: training curves and
label distributions as PNG (matplotlib, Agg backend).

* ``DIR/curves.png`` from the CSV written by ``mlcl-train --log`` (columns
  phase,epoch,loss,con,G,H,wreg,lr,samples_per_s,HA,ebF1,miF1,maF1,p_at_1,mAP;
  metric columns may be empty): pretraining loss parts per epoch, fine-tuning
  BCE loss, the metrics per epoch when present, the learning rate.
* ``DIR/distributions.png`` from ``DIR/distributions.csv`` (row,label,y,d,score):
  for a few test rows, the label distribution d as bars beside the logical
  labels y (as the paper's Figure 1).

Each PNG is written to a temporary file in DIR and renamed over its target,
which must be a regular file or not exist (a device, FIFO or directory is
refused). ``--check`` only verifies that matplotlib can be imported (exit
status 0 or 1); ``mlcl-train --plot`` runs it before training.
"""

import argparse
import csv
import os
import stat
import sys
import tempfile

METRICS = ("HA", "ebF1", "miF1", "maF1", "p_at_1", "mAP")


def _float(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _save(fig, out_path, dpi=110):
    """fig.savefig through a temporary file renamed over out_path (a regular file or nothing)."""
    try:
        st = os.lstat(out_path)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise ValueError("%s exists and is not a regular file: not replacing it" % out_path)
    d = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(out_path) + ".", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, dpi=dpi, format="png")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, st.st_mode & 0o7777 if st is not None else 0o666 & ~_umask())
        os.replace(tmp, out_path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def read_log(path):
    """-> {1: [row dicts], 2: [row dicts]} with floats (None for empty cells)."""
    phases = {1: [], 2: []}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            ph = int(float(row["phase"]))
            phases.setdefault(ph, []).append({k: _float(v) for k, v in row.items()})
    return phases


def plot_curves(log_path, out_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ph = read_log(log_path)
    pre, fin = ph.get(1, []), ph.get(2, [])
    have_metrics = any(r.get(m) is not None for r in fin for m in METRICS)
    ncols = 4 if have_metrics else 3
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 3.6))
    ax = axes[0]
    if pre:
        ep = [r["epoch"] for r in pre]
        for key, style in (("loss", "-"), ("con", "--"), ("G", ":"), ("H", "-."), ("wreg", ":")):
            vals = [r[key] for r in pre]
            if any(v for v in vals if v is not None):
                ax.plot(ep, vals, style, label=key)
        ax.legend(fontsize=8)
    ax.set_title("pretraining loss parts")
    ax.set_xlabel("epoch")
    ax = axes[1]
    if fin:
        ax.plot([r["epoch"] for r in fin], [r["loss"] for r in fin], "-", color="C3")
    ax.set_title("fine-tuning BCE loss")
    ax.set_xlabel("epoch")
    k = 2
    if have_metrics:
        ax = axes[2]
        for m in METRICS:
            pts = [(r["epoch"], r[m]) for r in fin if r.get(m) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3, label=m)
        ax.legend(fontsize=8)
        ax.set_title("test metrics (t = 0.5)")
        ax.set_xlabel("fine-tuning epoch")
        k = 3
    ax = axes[k]
    off = 0
    for rows, name in ((pre, "pretrain"), (fin, "finetune")):
        if rows:
            ax.plot([off + r["epoch"] for r in rows], [r["lr"] for r in rows], label=name)
            off += max(r["epoch"] for r in rows)
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("learning rate")
    ax.set_xlabel("epoch (both phases)")
    fig.tight_layout()
    _save(fig, out_path)
    plt.close(fig)
    return out_path


def read_distributions(path):
    """-> {row: (labels list, y list, d list, score list)}."""
    rows = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            i = int(r["row"])
            lab, y, d, s = rows.setdefault(i, ([], [], [], []))
            lab.append(int(r["label"]))
            y.append(int(float(r["y"])))
            d.append(float(r["d"]))
            s.append(_float(r.get("score")) or 0.0)
    return rows


def plot_distributions(csv_path, out_path, max_rows=6):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_distributions(csv_path)
    keys = sorted(rows)[:max_rows]
    if not keys:
        raise ValueError("%s has no rows" % csv_path)
    fig, axes = plt.subplots(len(keys), 2, figsize=(9, 1.9 * len(keys)), squeeze=False)
    for a, i in zip(axes, keys):
        lab, y, d, _ = rows[i]
        a[0].bar(lab, y, color="0.4")
        a[0].set_ylim(0, 1.05)
        a[0].set_ylabel("row %d" % i)
        a[1].bar(lab, d, color=["C3" if v else "C0" for v in y])
        a[1].set_ylim(0, max(max(d) * 1.1, 1e-3))
    axes[0][0].set_title("logical labels y")
    axes[0][1].set_title("label distribution d (red: true labels)")
    axes[-1][0].set_xlabel("label")
    axes[-1][1].set_xlabel("label")
    fig.tight_layout()
    _save(fig, out_path)
    plt.close(fig)
    return out_path


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m mlcl.plot", description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", help="output directory (and distributions.csv); required unless --check")
    p.add_argument("--log", help="per-epoch CSV written by mlcl-train --log")
    p.add_argument("--check", action="store_true",
                   help="only check that matplotlib can be imported (exit status 0 or 1)")
    args = p.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("mlcl.plot: matplotlib is not installed (apt-get install python3-matplotlib)",
              file=sys.stderr)
        return 1
    if args.check:
        return 0
    if not args.dir:
        p.error("--dir is required")
    os.makedirs(args.dir, exist_ok=True)
    made = []
    try:
        if args.log:
            made.append(plot_curves(args.log, os.path.join(args.dir, "curves.png")))
        dist = os.path.join(args.dir, "distributions.csv")
        if os.path.exists(dist):
            made.append(plot_distributions(dist, os.path.join(args.dir, "distributions.png")))
    except (OSError, ValueError, KeyError) as e:
        print("mlcl.plot: %s" % e, file=sys.stderr)
        return 1
    if not made:
        print("mlcl.plot: nothing to draw (no --log and no %s)" % dist, file=sys.stderr)
        return 1
    for m in made:
        print("mlcl.plot: wrote %s" % m, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
