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
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from mer_lib import evaluate
from mer_lib.experiments.comparisons import _order, collapses, compare_cells, findings
from mer_lib.experiments.nested import NESTED, compose_nested
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


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def summarize_results(out, rows=None, jobs=None, class_names=None, n_classes=3, n_subjects=None, n_clips=None,
                      n_permutations=10_000):
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
    ``histories.csv``, ``confusion.csv`` and the figures.

    Parameters
    ----------
    out : str or Path
    rows : sequence of Row, optional
        Their order in the tables (default: the provenance's ``rows``, then
        any other as found).
    jobs : list, optional
        The expected folds; a run with a fold missing is an error.
    class_names : list of str, optional
    n_classes : int
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
    prov = _read_json(out / "provenance.json") or {}
    dataset = prov.get("dataset") or {}
    n_subjects = n_subjects if n_subjects is not None else dataset.get("n_subjects")
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
            raise ValueError(f"run {run_id} has {len(folds)} of its {first['n_folds']} folds in {out / 'runs'}")
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
                          "warnings": " | ".join(sorted({w for f in folds for w in f["warnings"]}))})
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
    runs.to_csv(out / "runs.csv", index=False)
    pd.DataFrame(pred_lines).to_csv(out / "predictions.csv", index=False)
    histories = pd.DataFrame(hist_lines)
    histories.to_csv(out / "histories.csv", index=False)
    _choices(nested_records).to_csv(out / "recipe_choices.csv", index=False)

    n_test_paper = runs.loc[runs["protocol"] == "paper", "n_test"]
    n_test = int(n_test_paper.iloc[0]) if len(n_test_paper) else None
    n_train = int(n_clips) - n_test if n_test is not None else None
    if rows is not None:
        order = [r.label for r in rows]
    else:          # the provenance's rows, under the labels their records carry; then any other, as found
        label_of = dict(zip(runs["row_key"], runs["row"]))
        order = [label_of[k] for k in prov.get("rows") or [] if k in label_of]
        order += [label for label in dict.fromkeys(runs["row"]) if label not in order]
    tables = _tables(out, runs, histories, pooled, order, names, n_classes, n_train, n_test)
    tables.to_csv(out / "tables.csv", index=False)
    table3, table4 = paper_tables(tables)
    table3.to_csv(out / "table3.csv", index=False)
    table4.to_csv(out / "table4.csv", index=False)
    comparisons, per_run = _comparisons(runs, pooled, n_classes, n_train, n_test, n_permutations)
    comparisons.to_csv(out / "comparisons.csv", index=False)
    per_run.to_csv(out / "comparison_runs.csv", index=False)
    findings(runs, pooled, n_classes=n_classes, n_train=n_train, n_test=n_test,
             n_permutations=n_permutations).to_csv(out / "findings.csv", index=False)
    collapses(runs).to_csv(out / "collapses.csv", index=False)
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
        (out / folder).mkdir(exist_ok=True)
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
        fig.savefig(out / "confusion" / f"{recipe}-{protocol}.png", dpi=80)
        _curves(out, group, cells, histories, recipe, protocol, ln_k)
    pd.DataFrame(confusion_lines).to_csv(out / "confusion.csv", index=False)
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
    fig.savefig(out / "curves" / f"{recipe}-{protocol}.png", dpi=80)


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

