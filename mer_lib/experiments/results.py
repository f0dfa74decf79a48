"""Writing a results folder's tables, comparisons, predictions, curves and confusion matrices from its run records.

:func:`summarize_results` reads the folder's records (``runs/*.json``, one
per fold of a run), refuses any that belongs to no fold of the folder's plan,
and writes every file of :data:`mer_lib.experiments.RESULTS_FILES` but the
provenance. Figures are :class:`matplotlib.figure.Figure` objects written to
files: no pyplot state and no backend is touched, so a notebook that
summarises a folder keeps showing its own figures.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from mer_lib import evaluate
from mer_lib._io import atomic_write, atomic_write_text, make_folder
from mer_lib.errors import UserInputError
from mer_lib.experiments.plan import check_records, plan_from_provenance, plan_jobs, read_records
from mer_lib.experiments.rows import PAPER_TABLE3, PAPER_TABLE4, row_by_key

__all__ = ["summarize_results"]


def _paper_reference(label):
    ref = PAPER_TABLE3.get(label) or PAPER_TABLE4.get(label)
    return ref if ref is not None else (np.nan, np.nan, np.nan)


def _write_csv(frame, path):
    atomic_write_text(path, frame.to_csv(index=False))


def _write_figure(fig, path, dpi=80):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    atomic_write(path, lambda f: f.write(buffer.getvalue()), suffix=".png")


def _read_provenance(out):
    path = Path(out) / "provenance.json"
    try:
        prov = json.loads(path.read_text())
        if not isinstance(prov, dict):
            raise ValueError("not a JSON object")
        return prov
    except FileNotFoundError:
        raise UserInputError(f"{out} has no provenance.json: not a results folder of `mer reproduce`") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UserInputError(f"{path} is not valid JSON ({err}): the folder's provenance is broken") from None


def summarize_results(out, rows=None, jobs=None, class_names=None, n_classes=None, plan=None):
    """Write the tables, comparisons, predictions, curves and confusion matrices of a results folder.

    Reads ``runs/*.json`` (one record per fold of a run); a run's folds are
    pooled before scoring. Every record must be a fold of the folder's plan
    and every fold of the plan must have its record: a stray or a missing
    record is an error naming it, never summarised or skipped.

    Parameters
    ----------
    out : str or Path
    rows : sequence of Row, optional
        Their order in the tables (default: the plan's rows, under the labels
        their records carry).
    jobs : list of Job, optional
        The plan's folds (default: those of ``plan``).
    class_names : list of str, optional
        Default: the provenance's dataset's.
    n_classes : int, optional
        Default: the plan's.
    plan : dict, optional
        The folder's plan (default: the one ``provenance.json`` records, as
        after :func:`mer_lib.experiments.reproduce`).

    Returns
    -------
    pandas.DataFrame
        ``tables.csv``: one line per row, recipe and protocol.

    Raises
    ------
    UserInputError
        A broken, stray or missing record; a folder without provenance when
        ``plan`` is not given.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    out = Path(out)
    if plan is None:
        prov = _read_provenance(out)
        plan = plan_from_provenance(prov)
        if class_names is None:
            class_names = (prov.get("dataset") or {}).get("class_names")
    if n_classes is None:
        n_classes = int(plan.get("n_classes") or (len(class_names) if class_names else 3))
    found = read_records(out)
    if not found:
        raise UserInputError(f"no run records in {out / 'runs'}: nothing to summarise")
    if rows is None:       # the plan's rows, under the labels their records carry (Table 4 names rows its own way)
        labels = {r.get("row_key"): r.get("row") for r in found.values()}
        rows = [dataclasses.replace(row_by_key(k), label=labels.get(k) or row_by_key(k).label) for k in plan["rows"]]
    if jobs is None:
        jobs = plan_jobs(plan, rows)
    check_records(out, plan, jobs, found)
    missing = [j.job_id for j in jobs if j.job_id not in found]
    if missing:
        raise UserInputError(f"{len(missing)} folds of the plan have no record in {out / 'runs'} (first: "
                             f"{missing[0]})")
    records = list(found.values())
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
            raise UserInputError(f"run {run_id} has {len(folds)} of its {first['n_folds']} folds in {out / 'runs'}")
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
                          "warnings": " | ".join(sorted({w for f in folds for w in f["warnings"]})),
                          "data_warnings": " | ".join(sorted({f"fold {f['fold']}: {w}" for f in folds
                                                              for w in f.get("data_warnings", [])}))})
        pooled[run_id] = (y_true, y_pred, np.concatenate([f["test_index"] for f in folds]).astype(int))
        for f in folds:
            for clip, t, p in zip(f["test_index"], f["y_true"], f["y_pred"]):
                pred_lines.append({"run": run_id, "fold": f["fold"], "clip": clip, "y_true": t, "y_pred": p})
            for e in range(len(f["history"].get("loss", []))):
                hist_lines.append({"run": run_id, "fold": f["fold"], "epoch": e + 1,
                                   **{k: v[e] for k, v in f["history"].items() if e < len(v)}})
    runs = pd.DataFrame(run_lines)
    _write_csv(runs, out / "runs.csv")
    _write_csv(pd.DataFrame(pred_lines), out / "predictions.csv")
    histories = pd.DataFrame(hist_lines)
    _write_csv(histories, out / "histories.csv")

    order = [r.label for r in rows]
    table_lines, confusion_lines = [], []
    make_folder(out / "confusion")
    make_folder(out / "curves")
    for (recipe, protocol), group in runs.groupby(["recipe", "protocol"], sort=True):
        cells = [label for label in order if label in set(group["row"])]
        fig = Figure(figsize=(3.4 * len(cells), 3.2))
        axes = fig.subplots(1, len(cells), squeeze=False)
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
        _write_figure(fig, out / "confusion" / f"{recipe}-{protocol}.png")
        fig = Figure(figsize=(10, 3.4))
        axes = fig.subplots(1, 2)
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
        _write_figure(fig, out / "curves" / f"{recipe}-{protocol}.png")
    tables = pd.DataFrame(table_lines)
    _write_csv(tables, out / "tables.csv")
    _write_csv(pd.DataFrame(confusion_lines), out / "confusion.csv")
    _write_csv(_comparisons(runs, pooled, n_classes), out / "comparisons.csv")
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
                    raise UserInputError(f"runs {ours.loc[r, 'run']} and {other.loc[r, 'run']} tested different "
                                         "clips")
                t_all.append(ya[oa]); a_all.append(pa[oa]); b_all.append(pb[ob])
            mc = evaluate.mcnemar(np.concatenate(t_all), np.concatenate(a_all), np.concatenate(b_all))
            line.update({"mcnemar_b": mc["b"], "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"]})
            p = line["uf1_p_runs"] if len(common) > 1 else mc["p_value"]
            line["verdict"] = ("no difference beyond chance" if p >= 0.05 else
                               f"{reference} {'better' if line['uf1_difference'] > 0 else 'worse'} (p < 0.05)")
            lines.append(line)
    return pd.DataFrame(lines)

