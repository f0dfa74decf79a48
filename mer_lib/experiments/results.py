"""Writing a results folder's tables, comparisons, predictions, curves and confusion matrices from its run records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mer_lib import evaluate
from mer_lib.experiments.rows import PAPER_TABLE3, PAPER_TABLE4

__all__ = ["summarize_results"]


def _paper_reference(label):
    ref = PAPER_TABLE3.get(label) or PAPER_TABLE4.get(label)
    return ref if ref is not None else (np.nan, np.nan, np.nan)


def summarize_results(out, rows=None, jobs=None, class_names=None, n_classes=3):
    """Write the tables, comparisons, predictions, curves and confusion matrices of a results folder.

    Reads ``runs/*.json`` (one record per fold of a run); a run's folds are
    pooled before scoring. Writes the CSV files and figures of
    :data:`RESULTS_FILES`.

    Parameters
    ----------
    out : str or Path
    rows : sequence of Row, optional
        Their order in the tables (default: as found).
    jobs : list, optional
        The expected folds; a run with a fold missing is an error.
    class_names : list of str, optional
    n_classes : int

    Returns
    -------
    pandas.DataFrame
        ``tables.csv``: one line per row, recipe and protocol.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    out = Path(out)
    records = []
    for path in sorted((out / "runs").glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a valid run record ({err}); delete it to train that fold again") from None
    if not records:
        raise ValueError(f"no run records in {out / 'runs'}: nothing to summarise")
    if jobs is not None:
        have = {r["job"] for r in records}
        missing = [j.job_id for j in jobs if j.job_id not in have]
        if missing:
            raise ValueError(f"{len(missing)} folds have no record in {out / 'runs'} (first: {missing[0]})")
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    by_run = {}
    for r in records:
        by_run.setdefault(r["run"], []).append(r)
    run_lines, pred_lines, hist_lines = [], [], []
    pooled = {}
    for run_id, folds in sorted(by_run.items()):
        folds.sort(key=lambda r: r["fold"])
        first = folds[0]
        if len(folds) != first["n_folds"]:
            raise ValueError(f"run {run_id} has {len(folds)} of its {first['n_folds']} folds in {out / 'runs'}")
        y_true = np.concatenate([f["y_true"] for f in folds]).astype(int)
        y_pred = np.concatenate([f["y_pred"] for f in folds]).astype(int)
        s = evaluate.scores(y_true, y_pred, n_classes)
        collapsed = any(f["warnings"] for f in folds)
        run_lines.append({"run": run_id, "row": first["row"], "row_key": first["row_key"], "recipe": first["recipe"],
                          "protocol": first["protocol"], "repeat": first["repeat"], "folds": len(folds),
                          "n_test": len(y_true), "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"],
                          "collapsed": collapsed, "initial_loss": float(np.mean([f["initial_loss"] for f in folds])),
                          "best_epoch": float(np.mean([f["best_epoch"] for f in folds])),
                          "epochs": first["epochs"], "device": first["device"],
                          "seconds": float(sum(f["seconds"] for f in folds)),
                          "train_seconds": float(sum(f.get("train_seconds", 0.0) for f in folds)),
                          "checkpoint_seconds": float(sum(f.get("checkpoint_seconds", 0.0) for f in folds)),
                          "warnings": " | ".join(sorted({w for f in folds for w in f["warnings"]}))})
        pooled[run_id] = (y_true, y_pred, np.concatenate([f["test_index"] for f in folds]).astype(int))
        for f in folds:
            for clip, t, p in zip(f["test_index"], f["y_true"], f["y_pred"]):
                pred_lines.append({"run": run_id, "fold": f["fold"], "clip": clip, "y_true": t, "y_pred": p})
            for e in range(len(f["history"].get("loss", []))):
                hist_lines.append({"run": run_id, "fold": f["fold"], "epoch": e + 1,
                                   **{k: v[e] for k, v in f["history"].items() if e < len(v)}})
    runs = pd.DataFrame(run_lines)
    runs.to_csv(out / "runs.csv", index=False)
    pd.DataFrame(pred_lines).to_csv(out / "predictions.csv", index=False)
    histories = pd.DataFrame(hist_lines)
    histories.to_csv(out / "histories.csv", index=False)

    order = [r.label for r in rows] if rows is not None else list(dict.fromkeys(runs["row"]))
    table_lines, confusion_lines = [], []
    (out / "confusion").mkdir(exist_ok=True)
    (out / "curves").mkdir(exist_ok=True)
    for (recipe, protocol), group in runs.groupby(["recipe", "protocol"], sort=True):
        cells = [label for label in order if label in set(group["row"])]
        fig, axes = plt.subplots(1, len(cells), figsize=(3.4 * len(cells), 3.2), squeeze=False)
        for ax, label in zip(axes[0], cells):
            g = group[group["row"] == label].sort_values("repeat")
            line = {"row": label, "row_key": g["row_key"].iloc[0], "recipe": recipe, "protocol": protocol,
                    "runs": len(g), "collapsed_runs": int(g["collapsed"].sum())}
            for m in ("accuracy", "uf1", "uar"):
                s = evaluate.summarize(g[m].to_numpy())
                if s["n"] < 2:             # one run: the interval is over its test clips
                    y_t, y_p, _ = pooled[g["run"].iloc[0]]
                    b = evaluate.bootstrap_metric(y_t, y_p, m, n_classes)
                    s["ci_low"], s["ci_high"] = b["ci_low"], b["ci_high"]
                line.update({f"{m}_mean": s["mean"], f"{m}_sd": s["sd"], f"{m}_ci_low": s["ci_low"],
                             f"{m}_ci_high": s["ci_high"]})
            line["ci_over"] = "runs" if len(g) > 1 else "test clips"
            ref = _paper_reference(label)
            line.update({"paper_accuracy": ref[0], "paper_f1": ref[1], "paper_recall": ref[2]})
            table_lines.append(line)
            cm = sum(evaluate.confusion_matrix(*pooled[run][:2], n_classes) for run in g["run"])
            for i in range(n_classes):
                for j in range(n_classes):
                    confusion_lines.append({"row": label, "recipe": recipe, "protocol": protocol,
                                            "true": names[i], "predicted": names[j], "count": int(cm[i, j])})
            evaluate.plot_confusion(cm, names, ax=ax, title=f"{label}\n{recipe}, {protocol}")
        fig.tight_layout()
        fig.savefig(out / "confusion" / f"{recipe}-{protocol}.png", dpi=80)
        plt.close(fig)
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        for label in cells:
            h = histories[histories["run"].isin(group[group["row"] == label]["run"])]
            mean = h.groupby("epoch")[["loss"] + (["val_loss"] if "val_loss" in h else [])].mean()
            axes[0].plot(mean.index, mean["loss"], label=label)
            if "val_loss" in mean and mean["val_loss"].notna().any():
                axes[1].plot(mean.index, mean["val_loss"], label=label)
        for ax, title in zip(axes, ("training loss", "validation loss (held out of the training fold)")):
            ax.axhline(np.log(n_classes), color="grey", ls=":", lw=1)
            ax.set_title(f"{title}\n{recipe} recipe, {protocol} protocol (mean over runs and folds)", fontsize=9)
            ax.set_xlabel("epoch")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "curves" / f"{recipe}-{protocol}.png", dpi=80)
        plt.close(fig)
    tables = pd.DataFrame(table_lines)
    tables.to_csv(out / "tables.csv", index=False)
    pd.DataFrame(confusion_lines).to_csv(out / "confusion.csv", index=False)
    _comparisons(runs, pooled, n_classes).to_csv(out / "comparisons.csv", index=False)
    return tables


def _comparisons(runs, pooled, n_classes, reference="Our method"):
    """The paper's method against every other row, per recipe and protocol, on paired runs."""
    import pandas as pd

    lines = []
    for (recipe, protocol), group in runs.groupby(["recipe", "protocol"], sort=True):
        ours = group[group["row"] == reference].set_index("repeat")
        if ours.empty:
            continue
        for label in dict.fromkeys(group["row"]):
            if label == reference:
                continue
            other = group[group["row"] == label].set_index("repeat")
            common = sorted(set(ours.index) & set(other.index))
            if not common:
                continue
            line = {"recipe": recipe, "protocol": protocol, "a": reference, "b": label, "paired_runs": len(common)}
            for m in ("uf1", "accuracy"):
                c = evaluate.compare_runs(ours.loc[common, m].to_numpy(), other.loc[common, m].to_numpy())
                line.update({f"{m}_difference": c["mean_difference"], f"{m}_ci_low": c["ci_low"],
                             f"{m}_ci_high": c["ci_high"], f"{m}_p_runs": c["p_value"]})
            # McNemar on every (run, clip) pair: the same clips predicted by both
            t_all, a_all, b_all = [], [], []
            for r in common:
                ya, pa, ia = pooled[ours.loc[r, "run"]]
                yb, pb, ib = pooled[other.loc[r, "run"]]
                oa, ob = np.argsort(ia), np.argsort(ib)
                if not np.array_equal(ia[oa], ib[ob]):
                    raise ValueError(f"runs {ours.loc[r, 'run']} and {other.loc[r, 'run']} tested different clips")
                t_all.append(ya[oa]); a_all.append(pa[oa]); b_all.append(pb[ob])
            mc = evaluate.mcnemar(np.concatenate(t_all), np.concatenate(a_all), np.concatenate(b_all))
            line.update({"mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"]})
            p = line["uf1_p_runs"] if len(common) > 1 else mc["p_value"]
            line["verdict"] = ("no difference beyond chance" if p >= 0.05 else
                               f"{reference} {'better' if line['uf1_difference'] > 0 else 'worse'} (p < 0.05)")
            lines.append(line)
    return pd.DataFrame(lines)

