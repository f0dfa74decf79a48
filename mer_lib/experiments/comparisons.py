"""Paired comparisons of a results folder's cells, each with one named test, and the findings they make.

A *cell* is a row of a table under one recipe and one protocol; its runs are
paired with another cell's by their repeat (the same split and training seed).
:func:`compare_cells` compares two cells on UF1, the MEGC metric, with the
test that fits the design (sign and p-value from UF1 alike):

- random splits of the clips (the paper's protocol), 2 runs or more:
  Nadeau and Bengio's corrected resampled t-test over the runs
  (:func:`mer_lib.evaluate.compare_over_runs`); with fewer than
  :data:`mer_lib.evaluate.MIN_RUNS` runs no verdict ("too few runs to
  decide") and the interval is the range of the paired differences;
- subjects held out (``loso``, ``subject-kfold``), several seeds: the paired
  t-test over the seeds (the same clips each time: conditional on them);
- one run (either protocol): a paired randomisation test of UF1 on the run's
  pooled predictions (:func:`mer_lib.evaluate.paired_permutation_test`), which
  speaks for these two trained models on these clips only.

Beside the verdict, per run: the randomisation test of UF1 and McNemar's test
(on right/wrong, i.e. accuracy), each on that run's own clips and never pooled
over runs (pooling treats a clip predicted in two runs as two independent
clips, and ignores the run-to-run variance of training).

:func:`findings` applies it to the questions the paper's claims raise
(:data:`FINDINGS`): Table 4's magnification, the frame stream's contribution,
the baselines of Table 3 at each model's recipe, the corrected network, the
alpha sweep; :func:`collapses` counts collapsed and untrained runs per recipe
and precision.
"""

from __future__ import annotations

import numpy as np

from mer_lib import evaluate
from mer_lib.errors import UserInputError

__all__ = ["compare_cells", "comparison_sentence", "FINDINGS", "findings", "collapses", "REAL_RECIPES_FIRST"]

#: Recipes in the order their cells are listed (others follow, sorted).
REAL_RECIPES_FIRST = ("paper", "stable", "paper-float32", "nested")

#: The questions the summary answers: (id, question, row A, row B, the paper's claim about A - B in F1 or None,
#: what the paper says). A row absent from a folder skips its question.
FINDINGS = (
    ("table4_magnification", "PBVM against unmagnified flow, two-stream network (the paper's Table 4)",
     "two_stream-pbvm", "two_stream-flow", 0.63 - 0.61, "Table 4: PBVM F1 0.63 against optical flow 0.61"),
    ("table4_magnification_one_stream", "PBVM against unmagnified flow, the flow stream alone (architecture held "
     "fixed)", "flow_stream-pbvm", "flow_stream-flow", 0.63 - 0.61, "Table 4: PBVM F1 0.63 against optical flow 0.61"),
    ("table4_flow_vs_frames_one_stream", "unmagnified flow against frames, one stream each (architecture held "
     "fixed)", "flow_stream-flow", "frames_stream-frames", 0.61 - 0.58,
     "Table 4: optical flow F1 0.61 against raw video frames 0.58"),
    ("frame_stream_contribution", "the two-stream network against its flow stream alone (what the frame stream "
     "adds)", "two_stream-pbvm", "flow_stream-pbvm", None,
     "section 5: two streams 'extract more features than the single-stream network' (no figure)"),
    ("flow_stream_contribution", "the two-stream network against its frame stream alone (what the flow stream "
     "adds)", "two_stream-pbvm", "frames_stream-frames", None,
     "section 5: two streams 'extract more features than the single-stream network' (no figure)"),
    ("shuffled_flow", "the two-stream network against itself fed another clip's flow", "two_stream-pbvm",
     "two_stream-pbvm-shuffled", None, "not tested in the paper"),
    ("corrected_network", "the corrected two-stream network against the paper's ('our method')",
     "two_stream_corrected-pbvm", "two_stream-pbvm", None, "not tested in the paper"),
    ("table3_cnn_rnn", "the two-stream network against CNN_RNN (the paper's Table 3)", "two_stream-pbvm",
     "cnn_rnn-frames", 0.63 - 0.57, "Table 3: our method F1 0.63 against CNN_RNN 0.57"),
    ("table3_one_stream", "the two-stream network against the one-stream 3D CNN (the paper's Table 3)",
     "two_stream-pbvm", "one_stream-frames", 0.63 - 0.58, "Table 3: our method F1 0.63 against one-stream 0.58"),
) + tuple(
    (f"alpha{a}_{model}", f"PBVM at alpha {a} against unmagnified flow, {name}", f"{model}-pbvm{a}",
     f"{model}-flow", None, "the paper uses alpha 20 only")
    for a in (5, 10, 40) for model, name in (("flow_stream", "the flow stream alone"),
                                             ("two_stream", "two-stream network")))


def _order(recipes):
    first = [r for r in REAL_RECIPES_FIRST if r in recipes]
    return first + sorted(r for r in recipes if r not in first)


def _pooled_by_clip(pooled, run):
    y, p, idx = pooled[run]
    order = np.argsort(idx)
    return y[order], p[order], idx[order]


def compare_cells(runs, pooled, a, b, protocol, *, n_classes=3, n_train=None, n_test=None,
                  n_permutations=10_000):
    """Compare two cells of a results folder on runs paired by repeat; one named test for the verdict.

    Parameters
    ----------
    runs : pandas.DataFrame
        ``runs.csv``'s lines (``row_key``, ``recipe``, ``protocol``,
        ``repeat``, ``run``, ``uf1``, ``accuracy``).
    pooled : dict
        Run id -> (y_true, y_pred, test clip indices), the run's folds pooled.
    a, b : tuple (row_key, recipe)
        The cells; the differences are A minus B.
    protocol : str
        "paper", "loso" or "subject-kfold".
    n_classes : int
    n_train, n_test : int, optional
        Clips on each side of the paper's split (its corrected test needs them).
    n_permutations : int

    Returns
    -------
    dict or None
        None when the cells share no repeat. Otherwise ``paired_runs``,
        ``uf1_a``, ``uf1_b``, ``a_not_trained_runs``, ``b_not_trained_runs``,
        ``uf1_difference``, ``uf1_ci_low``,
        ``uf1_ci_high``, ``interval`` (the interval's name),
        ``accuracy_difference``, ``accuracy_ci_low``, ``accuracy_ci_high``,
        one column per test: ``uf1_p_corrected_t`` (random splits, 2 runs or
        more), ``uf1_p_t_over_seeds`` (subjects held out, 2 seeds or more),
        ``uf1_p_randomization`` (one run), ``mcnemar_p`` (per run on each run's
        clips; for several runs the largest, i.e. the test that every run
        differs), the per-run values ``uf1_p_randomization_runs``,
        ``mcnemar_p_runs``, ``mcnemar_b_runs``, ``mcnemar_c_runs``,
        ``uf1_differences_runs`` (";"-separated), ``same_sign_every_run``;
        and ``verdict_test``, ``verdict_p``, ``decided``, ``verdict``.

    Raises
    ------
    UserInputError
        Two paired runs that tested different clips.
    """
    sel = {}
    for name, (key, recipe) in (("a", a), ("b", b)):
        g = runs[(runs["row_key"] == key) & (runs["recipe"] == recipe) & (runs["protocol"] == protocol)]
        sel[name] = g.set_index("repeat")
    common = sorted(set(sel["a"].index) & set(sel["b"].index))
    if not common:
        return None
    ra, rb = sel["a"].loc[common], sel["b"].loc[common]
    label_a, label_b = ra["row"].iloc[0], rb["row"].iloc[0]
    n = len(common)
    per_run = {"perm": [], "mc_p": [], "mc_b": [], "mc_c": []}
    for r in common:
        ya, pa, ia = _pooled_by_clip(pooled, ra.loc[r, "run"])
        yb, pb, ib = _pooled_by_clip(pooled, rb.loc[r, "run"])
        if not np.array_equal(ia, ib):
            raise UserInputError(f"runs {ra.loc[r, 'run']} and {rb.loc[r, 'run']} tested different clips")
        per_run["perm"].append(evaluate.paired_permutation_test(ya, pa, pb, "uf1", n_classes,
                                                                n_permutations)["p_value"])
        mc = evaluate.mcnemar(ya, pa, pb)
        per_run["mc_p"].append(mc["p_value"])
        per_run["mc_b"].append(mc["b"])
        per_run["mc_c"].append(mc["c"])
    d_uf1 = ra["uf1"].to_numpy() - rb["uf1"].to_numpy()
    line = {"protocol": protocol, "a": label_a, "a_recipe": a[1], "b": label_b, "b_recipe": b[1],
            "paired_runs": n, "uf1_a": float(ra["uf1"].mean()), "uf1_b": float(rb["uf1"].mean()),
            "a_not_trained_runs": int(ra["not_trained"].sum()) if "not_trained" in ra else 0,
            "b_not_trained_runs": int(rb["not_trained"].sum()) if "not_trained" in rb else 0}
    splits = protocol == "paper"
    if splits and n > 1 and (n_train is None or n_test is None):
        raise UserInputError("compare_cells: random splits need n_train and n_test (their overlap corrects the test)")
    kw = dict(n_train=n_train, n_test=n_test) if splits else {}
    over = None
    if n == 1:
        ya, pa, _ = _pooled_by_clip(pooled, ra.loc[common[0], "run"])
        _, pb, _ = _pooled_by_clip(pooled, rb.loc[common[0], "run"])
        intervals = {}
        for m in ("uf1", "accuracy"):
            boot = evaluate.paired_bootstrap(ya, pa, pb, m, n_classes)
            intervals[m] = (boot["difference"], boot["ci_low"], boot["ci_high"])
        kind = f"bootstrap over {len(ya)} test clips of one run (95%)"
    else:
        intervals = {}
        for m in ("uf1", "accuracy"):
            c = evaluate.compare_over_runs(ra[m].to_numpy(), rb[m].to_numpy(), **kw)
            intervals[m] = (c["mean_difference"], c["low"], c["high"])
            if m == "uf1":
                over = c
        kind = over["interval"]
    for m in ("uf1", "accuracy"):
        line.update({f"{m}_difference": intervals[m][0], f"{m}_ci_low": intervals[m][1],
                     f"{m}_ci_high": intervals[m][2]})
    line["interval"] = kind
    nan = float("nan")
    line.update({"uf1_p_corrected_t": over["p_value"] if n > 1 and splits else nan,
                 "uf1_p_t_over_seeds": over["p_value"] if n > 1 and not splits else nan,
                 "uf1_p_randomization": per_run["perm"][0] if n == 1 else nan,
                 "mcnemar_p": float(max(per_run["mc_p"])),
                 "uf1_p_randomization_runs": ";".join(f"{p:.4g}" for p in per_run["perm"]),
                 "mcnemar_p_runs": ";".join(f"{p:.4g}" for p in per_run["mc_p"]),
                 "mcnemar_b_runs": ";".join(str(v) for v in per_run["mc_b"]),
                 "mcnemar_c_runs": ";".join(str(v) for v in per_run["mc_c"]),
                 "uf1_differences_runs": ";".join(f"{v:+.4f}" for v in d_uf1),
                 "same_sign_every_run": bool(np.all(d_uf1 > 0) or np.all(d_uf1 < 0))})
    if n == 1:
        test, p, decided = ("paired randomisation test of UF1 on the pooled predictions of one run (these two "
                            "trained models, these clips)"), per_run["perm"][0], True
        verdict_key = "no difference beyond chance" if p >= 0.05 else ("a better" if d_uf1[0] > 0 else "b better")
    else:
        test, p, decided, verdict_key = over["test"] + " of UF1", over["p_value"], over["decided"], over["verdict"]
        if not splits:
            test = f"paired t-test of UF1 over {n} seeds (the same clips: conditional on them)"
    line.update({"verdict_test": test, "verdict_p": p, "decided": bool(decided)})
    if not decided:
        line["verdict"] = (f"undecided: {n} runs (a test over runs needs {evaluate.MIN_RUNS} or more); the UF1 "
                           f"difference has the same sign in {'every run' if line['same_sign_every_run'] else 'some runs only'}")
    elif verdict_key == "no difference beyond chance":
        line["verdict"] = f"no difference beyond chance (UF1, p = {p:.3g})"
    else:
        better = label_a if verdict_key == "a better" else label_b
        line["verdict"] = f"{better} better (UF1, p = {p:.3g})"
    return line


def comparison_sentence(line):
    """The sentence a chapter prints for one comparison line (of comparisons.csv or findings.csv).

    Parameters
    ----------
    line : mapping
        With ``a``, ``b``, ``uf1_difference``, ``uf1_ci_low``,
        ``uf1_ci_high``, ``interval``, ``verdict_test``, ``verdict``.

    Returns
    -------
    str
    """
    return (f"{line['a']} minus {line['b']}: UF1 {line['uf1_difference']:+.2f} "
            f"[{line['uf1_ci_low']:+.2f}, {line['uf1_ci_high']:+.2f}] ({line['interval']}); "
            f"{line['verdict_test']}: {line['verdict']}")


def _best_recipe(runs, key, protocol):
    """The real recipe (not "nested") with the higher mean test UF1 for a row: selected on the test scores."""
    g = runs[(runs["row_key"] == key) & (runs["protocol"] == protocol) & (runs["recipe"].isin(["paper", "stable"]))]
    if g.empty:
        return None
    means = g.groupby("recipe")["uf1"].mean()
    return str(means.idxmax())


def findings(runs, pooled, *, n_classes=3, n_train=None, n_test=None, n_permutations=10_000):
    """Every question of :data:`FINDINGS` the folder can answer, per protocol and recipe, as data.

    Each question is answered with both rows under the same recipe (each
    recipe the folder holds, "nested" included: each row at the recipe nested
    validation chose for it, fold by fold) and, for the questions whose rows
    differ in model, with each row at its better recipe on the test runs
    (``a_recipe``/``b_recipe`` differ; selected on test scores, so optimistic
    for both: named "better recipe on the test runs" in ``recipes``).

    Returns
    -------
    pandas.DataFrame
        One line per question, protocol and recipe pairing: ``finding``,
        ``question``, ``recipes``, the columns of :func:`compare_cells`,
        ``paper_difference`` (the paper's F1 difference, NaN when it gives
        none), ``paper_says``, and ``against_paper``: "not comparable: <row>
        did not train" (every paired run of a side stayed near ln K), else
        "agrees" or "reverses" (decided, where the paper gives a direction),
        "no difference beyond chance", "undecided (same sign as the paper)" or
        "undecided (opposite sign to the paper)", or "no claim".
    """
    import pandas as pd

    lines = []
    have = set(runs["row_key"])
    for fid, question, key_a, key_b, paper_diff, paper_says in FINDINGS:
        if key_a not in have or key_b not in have:
            continue
        for protocol in dict.fromkeys(runs["protocol"]):
            kw = dict(n_classes=n_classes, n_permutations=n_permutations,
                      n_train=n_train if protocol == "paper" else None, n_test=n_test if protocol == "paper" else None)
            pairings = [(r, r, r) for r in _order(set(runs.loc[runs["protocol"] == protocol, "recipe"]))]
            ba, bb = _best_recipe(runs, key_a, protocol), _best_recipe(runs, key_b, protocol)
            if ba is not None and bb is not None and ba != bb:
                pairings.append(("better recipe on the test runs (selected on test scores)", ba, bb))
            for label, ra, rb in pairings:
                line = compare_cells(runs, pooled, (key_a, ra), (key_b, rb), protocol, **kw)
                if line is None:
                    continue
                claim = _against_paper(line, paper_diff, paper_says)
                lines.append({"finding": fid, "question": question, "recipes": label, **line,
                              "paper_difference": np.nan if paper_diff is None else round(paper_diff, 2),
                              "paper_says": paper_says, "against_paper": claim})
    return pd.DataFrame(lines)


def _against_paper(line, paper_diff, paper_says):
    untrained = [line[side] for side in ("a", "b") if line[f"{side}_not_trained_runs"] == line["paired_runs"]]
    if untrained:        # beating a model that did not learn shows nothing about the other
        return f"not comparable: {' and '.join(untrained)} did not train"
    expects = paper_diff if paper_diff is not None else (1.0 if "extract more" in paper_says else None)
    if expects is None:
        return "no claim"
    same = np.sign(line["uf1_difference"]) == np.sign(expects)
    if not line["decided"]:
        return f"undecided ({'same sign as the paper' if same else 'opposite sign to the paper'})"
    if line["verdict"].startswith("no difference"):
        return "no difference beyond chance"
    return "agrees" if same else "reverses"


def collapses(runs):
    """Collapsed and untrained runs per recipe, precision and protocol (the recipe "nested" left out).

    Returns
    -------
    pandas.DataFrame
        ``recipe``, ``precision``, ``precision_source`` (recorded, or inferred
        from the device for older records), ``protocol``, ``runs``, ``collapsed``,
        ``not_trained``, ``two_stream_runs``, ``two_stream_collapsed``
        (the rows whose model is a two-stream network).
    """
    import pandas as pd

    real = runs[runs["recipe"] != "nested"]
    lines = []
    for (recipe, precision, protocol), g in real.groupby(["recipe", "precision", "protocol"], sort=True):
        two = g[g["row_key"].str.startswith("two_stream")]
        lines.append({"recipe": recipe, "precision": precision,
                      "precision_source": "; ".join(sorted(set(g["precision_source"]))), "protocol": protocol,
                      "runs": len(g),
                      "collapsed": int(g["collapsed"].sum()), "not_trained": int(g["not_trained"].sum()),
                      "two_stream_runs": len(two), "two_stream_collapsed": int(two["collapsed"].sum())})
    return pd.DataFrame(lines)
