"""The shallow network under the paper's split and leave-one-subject-out, many seeds, one ``fit``.

:func:`train_shallow` trains, for every seed, one copy of the network on the
paper's split drawn with that seed (:func:`mer_lib.evaluate.paper_split`,
the same splits as ``mer reproduce``'s runs) and one copy per fold of
leave-one-subject-out, all at once (:func:`mer_lib.apex.train_copies`), and
returns a :class:`ShallowResults`: scores per run, pooled predictions, each
copy's training loss, the processor time, and every trained copy, which
:meth:`ShallowResults.model` turns back into a Keras model together with its
test clips (chapter 14 reads them). With ``cache_dir`` the results are
saved under a key of the data and the settings and read back instead of
retrained.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mer_lib import evaluate
from mer_lib.errors import UserInputError

__all__ = ["ShallowResults", "train_shallow", "PROTOCOLS"]

#: Protocols of :func:`train_shallow`: the paper's random 80/20 split (one per seed), leave-one-subject-out.
PROTOCOLS = ("paper", "loso")
_PAPER_KEY, _LOSO_KEY = 0, 1000          # copy keys: a copy's initial weights come from (seed, key)
#: The variables of a ShallowCopies model, by attribute name.
_WEIGHTS = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_var", "head_kernel", "head_bias")


@dataclass
class ShallowResults:
    """Trained copies of the shallow network and what they predict.

    Attributes
    ----------
    x : ndarray, shape (N, H, H, C)
        The inputs the copies were trained and tested on.
    labels : ndarray of int, shape (N,)
    subjects : ndarray, shape (N,)
    class_names : list of str
    channels : tuple of str
    seeds : list of int
    protocols : tuple of str
    folds : dict
        ``folds[protocol][k]``: the (train indices, test indices) of the
        seed ``seeds[k]``, a list with one pair under the paper's split, one
        pair per subject under leave-one-subject-out.
    copy_index : dict
        ``(protocol, seed, fold) -> (stream, copy)`` in the trained copies.
    probabilities : ndarray, shape (N, S, C, K)
        Every copy's probabilities for every clip (a copy is scored on its test clips only).
    loss : ndarray, shape (epochs, S, C)
        Each copy's training loss per epoch.
    cpu_seconds, wall_seconds : float
        Of the training (:func:`mer_lib.apex.train_copies`).
    settings : dict
    weights : dict of str to ndarray
        The variables of the trained :class:`mer_lib.apex.ShallowCopies`.
    """

    x: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    class_names: list
    channels: tuple
    seeds: list
    protocols: tuple
    folds: dict
    copy_index: dict
    probabilities: np.ndarray
    loss: np.ndarray
    cpu_seconds: float
    wall_seconds: float
    settings: dict
    weights: dict = field(repr=False, default_factory=dict)
    _copies: object = field(default=None, repr=False, compare=False)

    # ------------------------------------------------------------------ what each run predicted
    def _check(self, protocol, seed, fold=0):
        if protocol not in self.protocols:
            raise UserInputError(f"protocol: expected one of {self.protocols}, got {protocol!r}")
        if seed not in self.seeds:
            raise UserInputError(f"seed: expected one of {self.seeds}, got {seed!r}")
        n = len(self.folds[protocol][self.seeds.index(seed)])
        if int(fold) != fold or not 0 <= fold < n:
            raise UserInputError(f"fold: expected 0 .. {n - 1} under protocol {protocol!r}, got {fold!r}")
        return self.seeds.index(seed)

    def n_folds(self, protocol):
        """Folds per run under a protocol (1 for the paper's split, the subjects for leave-one-subject-out)."""
        self._check(protocol, self.seeds[0])
        return len(self.folds[protocol][0])

    def test_indices(self, protocol, seed, fold=0):
        """The test clips of one trained copy (indices into :attr:`x`)."""
        return self.folds[protocol][self._check(protocol, seed, fold)][fold][1]

    def train_indices(self, protocol, seed, fold=0):
        """The training clips of one trained copy."""
        return self.folds[protocol][self._check(protocol, seed, fold)][fold][0]

    def predictions(self, protocol, seed):
        """The pooled test predictions of one run (all its folds).

        Returns
        -------
        clips, y_true, y_pred : ndarray of int, shape (M,)
        probabilities : ndarray, shape (M, K)
        """
        k = self._check(protocol, seed)
        clips, probs = [], []
        for f, (_, test) in enumerate(self.folds[protocol][k]):
            s, c = self.copy_index[(protocol, seed, f)]
            clips.append(test)
            probs.append(self.probabilities[test, s, c])
        clips, probs = np.concatenate(clips), np.concatenate(probs)
        return clips, self.labels[clips], probs.argmax(axis=1), probs

    def runs(self):
        """One row per (protocol, seed): accuracy, UF1, UAR of the pooled predictions, test clips, collapse.

        Returns
        -------
        pandas.DataFrame
        """
        import pandas as pd

        rows = []
        k = len(self.class_names)
        for protocol in self.protocols:
            for seed in self.seeds:
                _, y, p, _ = self.predictions(protocol, seed)
                s = evaluate.scores(y, p, k)
                rows.append({"protocol": protocol, "seed": seed, "folds": self.n_folds(protocol), "n_test": len(y),
                             "accuracy": s["accuracy"], "uf1": s["uf1"], "uar": s["uar"],
                             "collapsed": len(np.unique(p)) == 1})
        return pd.DataFrame(rows)

    def summary(self, protocol, metric="uf1", confidence=0.95):
        """Mean, sd and an interval of a score over the seeds, named by what it is.

        - one seed: no interval over seeds (NaN);
        - 2 to 4 seeds: the **range** of the runs (min, max), not a confidence interval;
        - 5 seeds or more: a t-interval of the mean over the seeds. Under
          leave-one-subject-out every seed has the same folds, so the runs
          differ by their training's randomness only and the plain
          t-interval applies. The paper's splits are drawn anew with each
          seed from the same clips: their training sets overlap and their
          scores are correlated, so the interval is Nadeau and Bengio's
          corrected one (:func:`mer_lib.evaluate.corrected_resampled_ttest`).

        Parameters
        ----------
        protocol : {"paper", "loso"}
        metric : {"uf1", "uar", "accuracy"}
        confidence : float, default 0.95

        Returns
        -------
        dict
            ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high`` and ``interval``
            (its name, e.g. "range of 2 runs", "95% t-interval over 10 seeds").
        """
        from scipy import stats

        self._check(protocol, self.seeds[0])
        if metric not in ("uf1", "uar", "accuracy"):
            raise UserInputError(f"metric: expected 'uf1', 'uar' or 'accuracy', got {metric!r}")
        if not 0 < confidence < 1:
            raise UserInputError(f"confidence: expected a number in (0, 1), got {confidence!r}")
        runs = self.runs()
        values = runs[runs["protocol"] == protocol][metric].to_numpy(float)
        n = len(values)
        out = {"n": n, "mean": float(values.mean()), "sd": float(values.std(ddof=1)) if n > 1 else float("nan"),
               "ci_low": float("nan"), "ci_high": float("nan"), "interval": "none (one run)"}
        if 1 < n < 5:
            out.update(ci_low=float(values.min()), ci_high=float(values.max()), interval=f"range of {n} runs")
        elif n >= 5 and protocol == "paper":
            train, test = self.folds["paper"][0][0]
            r = evaluate.corrected_resampled_ttest(values, 0.0, int(len(train)), int(len(test)), confidence)
            out.update(ci_low=r["ci_low"], ci_high=r["ci_high"],
                       interval=f"{confidence:.0%} corrected t-interval over {n} splits")
        elif n >= 5:
            half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * out["sd"] / np.sqrt(n)
            out.update(ci_low=out["mean"] - half, ci_high=out["mean"] + half,
                       interval=f"{confidence:.0%} t-interval over {n} seeds")
        return out

    # ------------------------------------------------------------------ the trained networks
    def copies(self):
        """The trained copies as a :class:`mer_lib.apex.ShallowCopies` (built once, on first use)."""
        if self._copies is None:
            from mer_lib.apex.shallow import ShallowCopies

            cfg = {k: self.settings["network"][k] for k in ("n_streams", "n_copies", "input_shape", "n_classes",
                                                               "filters", "kernel_size", "padding", "pool_size",
                                                               "dropout")}
            copies = ShallowCopies(**cfg)
            for name, value in self.weights.items():
                getattr(copies.model, name).assign(value)
            self._copies = copies
        return self._copies

    def model(self, protocol, seed, fold=0):
        """One trained copy as a Keras :func:`mer_lib.apex.shallow_net` (uncompiled, inference ready).

        Parameters
        ----------
        protocol : {"paper", "loso"}
        seed : int
        fold : int
            The fold (0 under the paper's split; under leave-one-subject-out
            the index of the held-out subject in ``sorted(unique(subjects))``).

        Returns
        -------
        keras.Model
            Its test clips are :meth:`test_indices` (protocol, seed, fold).
        """
        from mer_lib.apex.shallow import copy_to_model

        self._check(protocol, seed, fold)
        return copy_to_model(self.copies(), *self.copy_index[(protocol, seed, fold)])

    # ------------------------------------------------------------------ saving
    def save(self, folder):
        """Write the results to ``folder`` (``results.npz`` and ``results.json``, each atomically)."""
        from mer_lib._io import atomic_save_npz, atomic_write_text

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"x": self.x, "labels": self.labels, "subjects": np.asarray(self.subjects).astype(str),
                  "probabilities": self.probabilities, "loss": self.loss}
        arrays.update({f"weight__{k}": v for k, v in self.weights.items()})
        for protocol in self.protocols:
            for k, pairs in enumerate(self.folds[protocol]):
                for f, (train, test) in enumerate(pairs):
                    arrays[f"fold__{protocol}__{k}__{f}__train"] = train
                    arrays[f"fold__{protocol}__{k}__{f}__test"] = test
        atomic_save_npz(folder / "results.npz", **arrays)
        meta = {"class_names": list(self.class_names), "channels": list(self.channels), "seeds": self.seeds,
                "protocols": list(self.protocols), "cpu_seconds": self.cpu_seconds,
                "wall_seconds": self.wall_seconds, "settings": self.settings,
                "subjects_dtype": str(np.asarray(self.subjects).dtype),
                "copy_index": [[p, s, f, st, c] for (p, s, f), (st, c) in self.copy_index.items()],
                "n_folds": {p: [len(x) for x in self.folds[p]] for p in self.protocols}}
        atomic_write_text(folder / "results.json", json.dumps(meta, indent=1))
        return folder

    @classmethod
    def load(cls, folder):
        """Read results written by :meth:`save`."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / "results.json").read_text())
            z = np.load(folder / "results.npz", allow_pickle=False)
        except (OSError, json.JSONDecodeError) as err:
            raise UserInputError(f"{folder}: not a folder of ShallowResults.save ({err})") from None
        with z:
            arrays = {k: z[k] for k in z.files}
        folds = {p: [[(arrays[f"fold__{p}__{k}__{f}__train"], arrays[f"fold__{p}__{k}__{f}__test"])
                      for f in range(n)] for k, n in enumerate(meta["n_folds"][p])] for p in meta["protocols"]}
        subjects = arrays["subjects"].astype(meta["subjects_dtype"])
        settings = meta["settings"]
        settings["network"]["input_shape"] = tuple(settings["network"]["input_shape"])
        settings["network"]["filters"] = tuple(settings["network"]["filters"])
        return cls(arrays["x"], arrays["labels"], subjects, meta["class_names"], tuple(meta["channels"]),
                   meta["seeds"], tuple(meta["protocols"]), folds,
                   {(p, s, f): (st, c) for p, s, f, st, c in meta["copy_index"]}, arrays["probabilities"],
                   arrays["loss"], meta["cpu_seconds"], meta["wall_seconds"], settings,
                   {k[len("weight__"):]: v for k, v in arrays.items() if k.startswith("weight__")})


def _fingerprint(x, labels, subjects, settings):
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x, np.float32), np.asarray(labels).astype(np.int64),
              np.asarray(subjects).astype(str)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def train_shallow(x, labels, subjects, *, protocols=PROTOCOLS, n_seeds=10, test_fraction=0.2, class_names=None,
                  cache_dir=None, progress=True, budget=None, **recipe):
    """Train the shallow network with ``n_seeds`` seeds under the paper's split and leave-one-subject-out.

    Seed r draws the paper's split r (stratified 80/20,
    :func:`mer_lib.evaluate.paper_split`, as run r of ``mer reproduce``)
    and seeds the initial weights and the batch order of its copies; every
    seed also trains one copy per subject held out. No choice is made on a
    test fold: every copy trains for the recipe's fixed number of epochs.

    Parameters
    ----------
    x : ApexInputs or array_like, shape (N, H, H, C)
    labels : array_like of int, shape (N,)
    subjects : array_like, shape (N,)
    protocols : sequence of {"paper", "loso"}
    n_seeds : int, default 10
    test_fraction : float, default 0.2
    class_names : list of str, optional
    cache_dir : str or Path, optional
        Save the results under ``cache_dir/<key>`` (a hash of the data and
        the settings) and read them from there when present.
    progress : bool
    budget : mer_lib.budget.Budget, optional
        Train at most ``epochs`` epochs, fewer when the budget runs out
        (:func:`mer_lib.apex.train_copies`); ``settings["epochs"]`` is the
        number trained, ``settings["epochs_asked"]`` the most, and
        ``settings["epoch_seconds"]`` what each took. Its seconds are part of
        the cache key.
    **recipe
        ``epochs``, ``batch_size``, ``learning_rate``, ``dropout`` (default
        :data:`mer_lib.apex.RECIPE`) and the network's ``filters``,
        ``kernel_size``, ``padding``, ``pool_size``.

    Returns
    -------
    ShallowResults
    """
    from mer_lib.apex.shallow import RECIPE, predict_copies, train_copies

    channels = tuple(getattr(x, "channels", ()))
    x = np.asarray(getattr(x, "x", x), np.float32)
    labels = np.asarray(labels)
    subjects = np.asarray(subjects)
    if x.ndim != 4:
        raise UserInputError(f"x: expected shape (N, H, H, C), got {x.shape}")
    if labels.shape != (len(x),) or subjects.shape != (len(x),):
        raise UserInputError(f"labels and subjects: expected shape ({len(x)},), got {labels.shape} and "
                             f"{subjects.shape}")
    protocols = tuple(protocols)
    if not protocols or any(p not in PROTOCOLS for p in protocols) or len(set(protocols)) != len(protocols):
        raise UserInputError(f"protocols: expected a selection of {PROTOCOLS}, got {protocols}")
    if int(n_seeds) != n_seeds or n_seeds < 1:
        raise UserInputError(f"n_seeds: expected a positive integer, got {n_seeds!r}")
    unknown = set(recipe) - set(RECIPE) - {"filters", "kernel_size", "padding", "pool_size"}
    if unknown:
        raise UserInputError(f"unknown settings {sorted(unknown)}: expected {sorted(RECIPE)} or the network's "
                             "filters, kernel_size, padding, pool_size")
    n_classes = int(labels.max()) + 1 if class_names is None else len(class_names)
    class_names = list(class_names) if class_names is not None else [str(k) for k in range(n_classes)]
    seeds = list(range(int(n_seeds)))
    settings = dict(RECIPE, **recipe, protocols=protocols, n_seeds=int(n_seeds), test_fraction=float(test_fraction))
    key = _fingerprint(x, labels, subjects, settings if budget is None else
                       dict(settings, budget_seconds=round(float(budget.seconds), 1)))
    if cache_dir is not None and (Path(cache_dir) / key / "results.json").is_file():
        return ShallowResults.load(Path(cache_dir) / key)

    loso = list(evaluate.loso_splits(subjects)) if "loso" in protocols else []
    folds = {p: [] for p in protocols}
    copy_keys, copy_index = [], {}
    if "paper" in protocols:
        copy_keys.append(_PAPER_KEY)
    copy_keys += [_LOSO_KEY + f for f in range(len(loso))]
    masks = np.zeros((len(seeds), len(copy_keys), len(x)), bool)
    for s, seed in enumerate(seeds):
        c = 0
        if "paper" in protocols:
            train, test = evaluate.paper_split(labels, test_fraction, seed=seed)
            folds["paper"].append([(train, test)])
            masks[s, c, train] = True
            copy_index[("paper", seed, 0)] = (s, c)
            c += 1
        if "loso" in protocols:
            folds["loso"].append(loso)
            for f, (train, _) in enumerate(loso):
                masks[s, c, train] = True
                copy_index[("loso", seed, f)] = (s, c)
                c += 1
    train_args = {k: v for k, v in settings.items() if k in RECIPE or k in ("filters", "kernel_size", "padding",
                                                                            "pool_size")}
    run = train_copies(x, labels, masks, seeds, copy_keys=copy_keys, n_classes=n_classes, progress=progress,
                       budget=budget, **train_args)
    probabilities = predict_copies(run.copies, x)
    settings["network"] = dict(run.copies.config)
    for name in ("backend", "epochs", "epochs_asked", "epoch_seconds"):
        settings[name] = run.settings[name]
    weights = {name: np.asarray(getattr(run.copies.model, name)) for name in _WEIGHTS}
    results = ShallowResults(x, labels, subjects, class_names, channels, seeds, protocols, folds, copy_index,
                             probabilities.astype(np.float32), run.loss.astype(np.float32), run.cpu_seconds,
                             run.wall_seconds, settings, weights, run.copies)
    if cache_dir is not None:
        results.save(Path(cache_dir) / key)
    return results
