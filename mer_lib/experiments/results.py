"""Writing a results folder's tables, comparisons, findings, predictions, curves and confusion matrices from its records.

What the summary says, and how it names it:

- **protocols** by what they are: ``paper`` (a random split of the clips),
  ``loso`` (one fold per subject) or ``subject-kfold`` (k subject-disjoint
  folds, fewer than the subjects), read from each record's fold count against
  the dataset's subjects (:func:`mer_lib.splits.protocol_name`); a record's own
  ``protocol`` field is never rewritten;
- **intervals** by what they are (column ``interval``): the range of the runs
  when there are fewer than 5, a t-interval over the runs when there are more
  (corrected for the overlap of random splits under the paper's protocol), a
  bootstrap over the test clips when there is one run;
- **runs that did not train**: a fold whose training loss over its last 5
  epochs stays at 90% of ln K or more has not learned more than a uniform guess
  on its own training clips (``not_trained``); a cell all of whose runs did
  not train is marked "not trained" in the tables;
- **precision** per run: recorded by runs made since it was recorded;
  inferred from the device for older records (a GPU trained in mixed precision
  unless the recipe said otherwise), and said to be inferred;
- **the recipe chosen by nested validation**: the folds of a row's "nested"
  records take the predictions of the recipe each chose
  (:func:`mer_lib.experiments.nested.compose_nested`): the recipe ``nested``.

Files: those of :data:`mer_lib.experiments.RESULTS_FILES`; the comparisons and
findings are :mod:`mer_lib.experiments.comparisons`'.

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
import math
from pathlib import Path

import numpy as np

from mer_lib import evaluate
from mer_lib._io import atomic_write, atomic_write_text, make_folder
from mer_lib.errors import UserInputError
from mer_lib.experiments.comparisons import _order, collapses, compare_cells, findings
from mer_lib.experiments.nested import NESTED, compose_nested
from mer_lib.experiments.plan import check_records, library_row, plan_from_provenance, plan_jobs, read_records
from mer_lib.experiments.rows import PAPER_TABLE3, PAPER_TABLE4, TABLE3, TABLE4
from mer_lib.splits import protocol_name

__all__ = ["summarize_results", "NOT_TRAINED_FRACTION", "paper_tables", "final_loss", "TABLE4_FIXED"]

#: A fold whose final training loss is at least this fraction of ln K did not train.
NOT_TRAINED_FRACTION = 0.9

#: Table 4 with the architecture held fixed: (label in table4.csv, row key), one stream of the two-stream network.
TABLE4_FIXED = (("Raw video frame (frame stream alone)", "frames_stream-frames"),
                ("optical flow (flow stream alone)", "flow_stream-flow"),
                ("PBVM (flow stream alone)", "flow_stream-pbvm"))


def _paper_reference(label):
    ref = PAPER_TABLE3.get(label) or PAPER_TABLE4.get(label)
    return ref if ref is not None else (np.nan, np.nan, np.nan)


def final_loss(history, last=5):
    """The mean training loss of a fold's last ``last`` epochs (NaN without a history)."""
    losses = (history or {}).get("loss") or []
    return float(np.mean(losses[-last:])) if losses else float("nan")


def _precision(fold):
    """(precision, how it is known) of a fold record."""
    if fold.get("precision"):
        return fold["precision"], "recorded"
    if str(fold.get("device", "")).startswith("GPU"):
        return "mixed_float16", "inferred: a GPU trains in mixed precision unless the recipe says otherwise"
    return "float32", "inferred: a CPU trains in float32"


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


def summarize_results(out, rows=None, jobs=None, class_names=None, n_classes=None, plan=None, n_subjects=None,
                      n_clips=None, n_permutations=10_000):
    """Write the tables, comparisons, findings, predictions, curves and confusion matrices of a results folder.

    Reads ``runs/*.json`` (one record per fold of a run, and one per fold of a
    nested recipe choice); a run's folds are pooled before scoring. Writes
    ``runs.csv``, ``tables.csv`` (one line per row, recipe and protocol),
    ``table3.csv`` and ``table4.csv`` (the paper's tables, its numbers beside),
    ``comparisons.csv`` (the paper's method against every other row, per
    recipe and protocol), ``comparison_runs.csv`` (the same, per run),
    ``findings.csv`` (:func:`mer_lib.experiments.comparisons.findings`),
    ``collapses.csv``, ``recipe_choices.csv`` (nested validation's choice per
    fold; empty without nested records), ``predictions.csv``,
    ``histories.csv``, ``confusion.csv`` and the figures. Every record must
    be a fold of the folder's plan and every fold of the plan must have its
    record: a stray or a missing record is an error naming it, never
    summarised or skipped.

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
    n_subjects, n_clips : int, optional
        The dataset's (default: the provenance's ``dataset``; the clips
        otherwise from the records). The subjects tell ``loso`` from
        ``subject-kfold``; the clips size the paper's split for its test.
    n_permutations : int
        Of each randomisation test.

    Returns
    -------
    pandas.DataFrame
        ``tables.csv``.
    """
    import pandas as pd

    out = Path(out)
    if plan is None:
        prov = _read_provenance(out)
        plan = plan_from_provenance(prov)
    else:
        prov = _read_provenance(out) if (out / "provenance.json").exists() else {}
    dataset = prov.get("dataset") or {}
    if class_names is None:
        class_names = dataset.get("class_names")
    if n_classes is None:
        n_classes = int(plan.get("n_classes") or (len(class_names) if class_names else 3))
    n_subjects = n_subjects if n_subjects is not None else (dataset.get("n_subjects") or plan.get("n_subjects"))
    found = read_records(out)
    if not found:
        raise UserInputError(f"no run records in {out / 'runs'}: nothing to summarise")
    if rows is None:       # the plan's rows, under the labels their records carry (Table 4 names rows its own way)
        labels = {r.get("row_key"): r.get("row") for r in found.values()}
        rows = [dataclasses.replace(library_row(k), label=labels.get(k) or library_row(k).label) for k in plan["rows"]]
    if jobs is None:
        jobs = plan_jobs(plan, rows)
    check_records(out, plan, jobs, found)
    missing = [j.job_id for j in jobs if j.job_id not in found]
    if missing:
        raise UserInputError(f"{len(missing)} folds of the plan have no record in {out / 'runs'} (first: "
                             f"{missing[0]})")
    records = list(found.values())
    if n_clips is None:
        n_clips = dataset.get("n_clips") or 1 + max(max(r["test_index"]) for r in records if r.get("test_index"))
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    ln_k = math.log(n_classes)
    nested_records = [r for r in records if r.get("recipe") == NESTED]
    folds_all = [r for r in records if r.get("recipe") != NESTED] + compose_nested(records)
    by_run = {}
    for r in folds_all:
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
        losses = [final_loss(f.get("history")) for f in folds]
        untrained = [bool(v >= NOT_TRAINED_FRACTION * ln_k) for v in losses]
        accuracy_train = [float(np.mean(f["history"]["accuracy"][-5:])) if f.get("history", {}).get("accuracy")
                          else float("nan") for f in folds]
        precision, source = _precision(first)
        protocol = protocol_name(first["protocol"], first["n_folds"] if first["protocol"] != "paper" else None,
                                 n_subjects) if first["protocol"] != "paper" else "paper"
        chosen = [f["chosen"] for f in folds if f.get("chosen")]
        run_lines.append({"run": run_id, "row": first["row"], "row_key": first["row_key"], "recipe": first["recipe"],
                          "protocol": protocol, "repeat": first["repeat"], "folds": len(folds),
                          "n_test": len(y_true), "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"],
                          "collapsed": collapsed, "not_trained": sum(untrained) > len(folds) / 2,
                          "not_trained_folds": int(sum(untrained)),
                          "final_loss": float(np.mean(losses)), "final_loss_over_ln_k": float(np.mean(losses) / ln_k),
                          "train_accuracy": float(np.mean(accuracy_train)),
                          "precision": precision, "precision_source": source,
                          "chosen": "; ".join(f"{c} {chosen.count(c)}" for c in sorted(set(chosen))),
                          "initial_loss": float(np.mean([f["initial_loss"] for f in folds])),
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
            if f["recipe"] == NESTED:
                continue                  # its history is the chosen recipe's run's, written under that run
            for e in range(len(f["history"].get("loss", []))):
                hist_lines.append({"run": run_id, "fold": f["fold"], "epoch": e + 1,
                                   **{k: v[e] for k, v in f["history"].items() if e < len(v)}})
    runs = pd.DataFrame(run_lines)
    _write_csv(runs, out / "runs.csv")
    _write_csv(pd.DataFrame(pred_lines), out / "predictions.csv")
    histories = pd.DataFrame(hist_lines)
    _write_csv(histories, out / "histories.csv")
    _write_csv(_choices(nested_records), out / "recipe_choices.csv")

    n_test_paper = runs.loc[runs["protocol"] == "paper", "n_test"]
    n_test = int(n_test_paper.iloc[0]) if len(n_test_paper) else None
    n_train = int(n_clips) - n_test if n_test is not None else None
    order = [r.label for r in rows]
    order += [label for label in dict.fromkeys(runs["row"]) if label not in order]
    tables = _tables(out, runs, histories, pooled, order, names, n_classes, n_train, n_test)
    _write_csv(tables, out / "tables.csv")
    table3, table4 = paper_tables(tables)
    _write_csv(table3, out / "table3.csv")
    _write_csv(table4, out / "table4.csv")
    comparisons, per_run = _comparisons(runs, pooled, n_classes, n_train, n_test, n_permutations)
    _write_csv(comparisons, out / "comparisons.csv")
    _write_csv(per_run, out / "comparison_runs.csv")
    _write_csv(findings(runs, pooled, n_classes=n_classes, n_train=n_train, n_test=n_test,
                        n_permutations=n_permutations), out / "findings.csv")
    _write_csv(collapses(runs), out / "collapses.csv")
    return tables


def _interval_of_cell(g, pooled, m, n_classes, protocol, n_train, n_test):
    """(mean, sd, low, high, kind) of one metric over a cell's runs."""
    if len(g) < 2:             # one run: the interval is over its test clips
        y_t, y_p, _ = pooled[g["run"].iloc[0]]
        b = evaluate.bootstrap_metric(y_t, y_p, m, n_classes)
        return (float(g[m].iloc[0]), float("nan"), b["ci_low"], b["ci_high"],
                f"bootstrap over {len(y_t)} test clips of one run (95%)")
    kw = dict(n_train=n_train, n_test=n_test) if protocol == "paper" and n_train else {}
    iv = evaluate.interval_over_runs(g[m].to_numpy(), **kw)
    return iv["mean"], iv["sd"], iv["low"], iv["high"], iv["kind"]


def _status(runs_in_cell, collapsed, not_trained, ln_k):
    if not_trained == runs_in_cell:
        return (f"not trained: the last training loss stayed at {NOT_TRAINED_FRACTION:.0%} of ln {round(math.exp(ln_k))}"
                f" or more in {'its run' if runs_in_cell == 1 else f'all {runs_in_cell} runs'}"
                + (f" ({collapsed} collapsed)" if collapsed else ""))
    parts = []
    if not_trained:
        parts.append(f"not trained in {not_trained} of {runs_in_cell} runs")
    if collapsed:
        parts.append(f"collapsed in {collapsed} of {runs_in_cell} runs")
    return "; ".join(parts) or "trained"


def _tables(out, runs, histories, pooled, order, names, n_classes, n_train, n_test):
    import pandas as pd
    from matplotlib.figure import Figure

    table_lines, confusion_lines = [], []
    for folder in ("confusion", "curves"):   # figures are the summary's own: drawn again from the records
        make_folder(out / folder)
        for old in (out / folder).glob("*.png"):
            old.unlink()
    ln_k = math.log(n_classes)
    for (recipe, protocol), group in runs.groupby(["recipe", "protocol"], sort=True):
        cells = [label for label in order if label in set(group["row"])]
        cells += [label for label in dict.fromkeys(group["row"]) if label not in cells]
        fig = Figure(figsize=(3.4 * len(cells), 3.2))
        axes = fig.subplots(1, len(cells), squeeze=False)
        for ax, label in zip(axes[0], cells):
            g = group[group["row"] == label].sort_values("repeat")
            collapsed, untrained = int(g["collapsed"].sum()), int(g["not_trained"].sum())
            line = {"row": label, "row_key": g["row_key"].iloc[0], "recipe": recipe, "protocol": protocol,
                    "runs": len(g), "collapsed_runs": collapsed, "not_trained_runs": untrained,
                    "precision": "; ".join(sorted(set(g["precision"])))}
            for m in ("accuracy", "uf1", "uar"):
                mean, sd, low, high, kind = _interval_of_cell(g, pooled, m, n_classes, protocol, n_train, n_test)
                line.update({f"{m}_mean": mean, f"{m}_sd": sd, f"{m}_ci_low": low, f"{m}_ci_high": high})
            line["interval"] = kind
            line["ci_over"] = "runs" if len(g) > 1 else "test clips"
            line["status"] = _status(len(g), collapsed, untrained, ln_k)
            line["chosen"] = "; ".join(c for c in g["chosen"] if c)
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
        _curves(out, group, cells, histories, recipe, protocol, ln_k)
    _write_csv(pd.DataFrame(confusion_lines), out / "confusion.csv")
    return pd.DataFrame(table_lines)


def _curves(out, group, cells, histories, recipe, protocol, ln_k):
    """Training loss and training accuracy per row (validation curves too when the records hold them)."""
    from matplotlib.figure import Figure

    if recipe == NESTED:        # its runs' histories are the chosen recipes' own: no curve of its own
        return
    h_all = histories[histories["run"].isin(group["run"])]
    panels = [("loss", "training loss"), ("accuracy", "training accuracy")]
    if "val_loss" in h_all and h_all["val_loss"].notna().any():
        panels.append(("val_loss", "validation loss (held out of the training fold)"))
    fig = Figure(figsize=(5 * len(panels), 3.4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for label in cells:
        h = h_all[h_all["run"].isin(group[group["row"] == label]["run"])]
        keys = [k for k, _ in panels if k in h]
        mean = h.groupby("epoch")[keys].mean()
        for ax, (key, _) in zip(axes, panels):
            if key in mean:
                ax.plot(mean.index, mean[key], label=label)
    for ax, (key, title) in zip(axes, panels):
        if key != "accuracy":
            ax.axhline(ln_k, color="grey", ls=":", lw=1)
        ax.set_title(f"{title}\n{recipe} recipe, {protocol} (mean over runs and folds)", fontsize=9)
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    _write_figure(fig, out / "curves" / f"{recipe}-{protocol}.png")


def _choices(nested_records):
    import pandas as pd

    lines = []
    for r in sorted(nested_records, key=lambda r: r["job"]):
        n = r["nested"]
        line = {"row": r["row"], "row_key": r["row_key"], "protocol": r["protocol"], "repeat": r["repeat"],
                "fold": r["fold"], "chosen": n["chosen"], "metric": n["metric"],
                "inner_fit_clips": len(n["inner_fit_index"]), "inner_validation_clips": len(n["inner_validation_index"])}
        for name in n["grid"]:
            line[f"inner_uf1_{name}"] = n["scores"][name]["uf1"]
            line[f"inner_final_loss_{name}"] = n["scores"][name]["final_loss"]
        lines.append(line)
    return pd.DataFrame(lines, columns=None if lines else ["row", "row_key", "protocol", "repeat", "fold", "chosen"])


def _reference_key(runs):
    return "two_stream-pbvm" if "two_stream-pbvm" in set(runs["row_key"]) else None


def _comparisons(runs, pooled, n_classes, n_train, n_test, n_permutations):
    """The paper's method against every other row, per recipe and protocol; and the same per run."""
    import pandas as pd

    lines, per_run = [], []
    reference = _reference_key(runs)
    if reference is None:
        return pd.DataFrame(), pd.DataFrame()
    for protocol in dict.fromkeys(runs["protocol"]):
        recipes = _order(set(runs.loc[runs["protocol"] == protocol, "recipe"]))
        for recipe in recipes:
            group = runs[(runs["recipe"] == recipe) & (runs["protocol"] == protocol)]
            if reference not in set(group["row_key"]):
                continue
            for key in dict.fromkeys(group["row_key"]):
                if key == reference:
                    continue
                line = compare_cells(runs, pooled, (reference, recipe), (key, recipe), protocol, n_classes=n_classes,
                                     n_train=n_train if protocol == "paper" else None,
                                     n_test=n_test if protocol == "paper" else None, n_permutations=n_permutations)
                if line is None:
                    continue
                lines.append({"recipe": recipe, **line})
                for i, (d, p_perm, p_mc, b, c) in enumerate(zip(
                        line["uf1_differences_runs"].split(";"), line["uf1_p_randomization_runs"].split(";"),
                        line["mcnemar_p_runs"].split(";"), line["mcnemar_b_runs"].split(";"),
                        line["mcnemar_c_runs"].split(";"))):
                    per_run.append({"recipe": recipe, "protocol": protocol, "a": line["a"], "b": line["b"],
                                    "run": i, "uf1_difference": float(d), "uf1_p_randomization": float(p_perm),
                                    "mcnemar_b": int(b), "mcnemar_c": int(c), "mcnemar_p": float(p_mc)})
    return pd.DataFrame(lines), pd.DataFrame(per_run)


def paper_tables(tables):
    """The paper's Tables 3 and 4 from ``tables.csv``: ours (mean, sd, interval, status) beside the paper's numbers.

    Table 4 has, below the paper's three rows (whose raw-frame row is another
    network than its flow rows), the same three inputs with the architecture
    held fixed (:data:`TABLE4_FIXED`: one stream of the two-stream network).

    Parameters
    ----------
    tables : pandas.DataFrame
        ``tables.csv``.

    Returns
    -------
    table3, table4 : pandas.DataFrame
        One line per method, recipe and protocol (rows the folder lacks are
        left out): ``method``, ``architecture`` (Table 4), ``recipe``,
        ``protocol``, ``runs``, accuracy / UF1 / UAR with sd, ``UF1 ci_low``,
        ``UF1 ci_high``, ``interval``, ``collapsed runs``, ``not trained
        runs``, ``status``, the paper's accuracy, F1 and recall.
    """
    import pandas as pd

    def beside(rows, paper, architecture=None):
        lines = []
        for (recipe, protocol), group in tables.groupby(["recipe", "protocol"], sort=True):
            for label, key, ref_label, arch in rows:
                match = group[group["row_key"] == key]
                if match.empty:
                    continue
                m = match.iloc[0]
                ref = paper.get(ref_label, (np.nan, np.nan, np.nan)) if ref_label else (np.nan, np.nan, np.nan)
                line = {"method": label}
                if architecture:
                    line["architecture"] = arch
                line.update({"recipe": recipe, "protocol": protocol, "runs": int(m["runs"]),
                             "accuracy": m["accuracy_mean"], "accuracy sd": m["accuracy_sd"], "UF1": m["uf1_mean"],
                             "UF1 sd": m["uf1_sd"], "UF1 ci_low": m["uf1_ci_low"], "UF1 ci_high": m["uf1_ci_high"],
                             "interval": m["interval"], "UAR": m["uar_mean"], "UAR sd": m["uar_sd"],
                             "collapsed runs": int(m["collapsed_runs"]), "not trained runs": int(m["not_trained_runs"]),
                             "status": m["status"],
                             "paper accuracy": ref[0], "paper F1": ref[1], "paper recall": ref[2]})
                lines.append(line)
        columns = (["method"] + (["architecture"] if architecture else []) +
                   ["recipe", "protocol", "runs", "accuracy", "accuracy sd", "UF1", "UF1 sd", "UF1 ci_low",
                    "UF1 ci_high", "interval", "UAR", "UAR sd", "collapsed runs", "not trained runs", "status",
                    "paper accuracy", "paper F1", "paper recall"])
        return pd.DataFrame(lines, columns=columns)

    t3 = beside([(r.label, r.key, r.label, None) for r in TABLE3], PAPER_TABLE3)
    rows4 = [(r.label, r.key, r.label, "as in the paper (frames: one-stream 3D CNN; flow: two-stream network)")
             for r in TABLE4[:3]]
    rows4 += [(label, key, label.split(" (")[0], "held fixed: one stream of the two-stream network")
              for label, key in TABLE4_FIXED]
    t4 = beside(rows4, PAPER_TABLE4, architecture=True)
    return t3, t4

