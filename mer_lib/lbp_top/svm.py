"""A linear SVM on LBP-TOP descriptors, with C chosen by nested validation on the training side only.

scikit-learn (libsvm) is imported inside the functions: the rest of the
library, and ``mer reproduce``, do not need it.
"""

from __future__ import annotations

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["DEFAULT_CS", "LinearSVM", "fit_svm", "run_protocol"]

#: The SVM's C values tried by the nested validation (a decade apart).
DEFAULT_CS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)


class LinearSVM:
    """A linear SVM on a kernel computed with one matrix product: ``SVC(kernel="precomputed")`` on ``X X^T``.

    The same classifier as ``sklearn.svm.SVC(kernel="linear")`` (libsvm, one
    against one), faster when features outnumber clips: the Gram matrix of N
    clips costs one BLAS product, and every C reuses it. Balanced class
    weights, because UF1 weighs the rare class as much as the others.

    Parameters
    ----------
    C : float
        The SVM's penalty on margin violations.
    """

    def __init__(self, C=1.0):
        self.C = float(C)

    def fit(self, features, labels, gram=None):
        """Train on the given clips.

        Parameters
        ----------
        features : array_like, shape (N, D)
        labels : array_like of int, shape (N,)
        gram : ndarray, shape (N, N), optional
            ``features @ features.T``, when already computed.

        Returns
        -------
        LinearSVM
            Itself, fitted.
        """
        from sklearn.svm import SVC

        self.train_ = np.asarray(features, dtype=float)
        gram = self.train_ @ self.train_.T if gram is None else gram
        self.svc_ = SVC(kernel="precomputed", C=self.C, class_weight="balanced").fit(gram, labels)
        return self

    def predict(self, features, kernel=None):
        """The predicted class of each clip.

        Parameters
        ----------
        features : array_like, shape (M, D)
        kernel : ndarray, shape (M, N), optional
            ``features @ training_features.T``, when already computed.

        Returns
        -------
        ndarray of int, shape (M,)
        """
        kernel = np.asarray(features, dtype=float) @ self.train_.T if kernel is None else kernel
        return self.svc_.predict(kernel)


def _one_blas_thread():
    """A context in which BLAS runs on one thread: these products are small, and on a busy machine
    threads that wait for a core cost more than the arithmetic (restored on exit)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _inner_folds(labels, groups, n_folds, seed):
    """Validation folds inside a training set: whole subjects when ``groups`` is given."""
    if groups is not None:
        from sklearn.model_selection import GroupKFold

        n = min(n_folds, len(np.unique(groups)))
        if n < 2:
            raise UserInputError("subjects: the training side holds a single subject; validation by subject "
                                 "needs at least 2")
        return list(GroupKFold(n_splits=n).split(labels, labels, groups))
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(labels)[np.bincount(labels) > 0].min())
    if smallest < 2:
        raise UserInputError("labels: a class has a single training clip; validation folds need at least 2")
    n = min(n_folds, smallest)
    return list(StratifiedKFold(n_splits=n, shuffle=True, random_state=seed).split(labels, labels))


def fit_svm(features, labels, groups=None, cs=DEFAULT_CS, inner_folds=5, seed=0):
    """A linear SVM whose C is chosen by validation inside the given (training) clips only.

    For each C, the clips are split into ``inner_folds`` validation folds
    (whole subjects when ``groups`` is given, else stratified by class); the
    SVM is trained on the others, the predictions of all folds are pooled and
    scored by UF1. The best C (the smallest among ties) is refitted on all the
    clips. Call it with the training side of a split: it never sees the test
    clips.

    Parameters
    ----------
    features : ndarray, shape (N, D)
    labels : ndarray of int, shape (N,)
    groups : ndarray, shape (N,), optional
        The subject of each clip.
    cs : sequence of float
        The C values tried.
    inner_folds : int, default 5
    seed : int

    Returns
    -------
    model : LinearSVM
        Fitted on all the given clips with the chosen C.
    info : dict
        ``C`` (chosen), ``validation_uf1`` (per C, in the order of ``cs``).
    """
    from mer_lib import evaluate

    features = np.asarray(features, dtype=float)
    labels = np.asarray(labels)
    if features.ndim != 2 or len(features) != len(labels):
        raise UserInputError(f"features: expected shape (N, D) with N = len(labels) = {len(labels)}, "
                             f"got {features.shape}")
    if not len(cs) or min(cs) <= 0:
        raise UserInputError(f"cs: expected positive C values, got {tuple(cs)!r}")
    if not isinstance(inner_folds, (int, np.integer)) or inner_folds < 2:
        raise UserInputError(f"inner_folds: expected an integer >= 2, got {inner_folds!r}")
    folds = _inner_folds(labels, groups, inner_folds, seed)
    n_classes = int(labels.max()) + 1
    with _one_blas_thread():
        gram = features @ features.T          # every fit and prediction below reads its blocks
        scores = []
        for c in cs:
            pred = np.empty_like(labels)
            for fit, val in folds:
                svm = LinearSVM(c).fit(features[fit], labels[fit], gram[np.ix_(fit, fit)])
                pred[val] = svm.predict(features[val], gram[np.ix_(val, fit)])
            scores.append(evaluate.uf1(labels, pred, n_classes))
        best = float(cs[int(np.argmax(scores))])
        model = LinearSVM(best).fit(features, labels, gram)
    return model, {"C": best, "validation_uf1": [float(s) for s in scores]}


def run_protocol(features, labels, subjects, protocol="paper", seed=0, cs=DEFAULT_CS, inner_folds=5):
    """Train and test the linear SVM under a protocol; C is chosen inside each training fold.

    Parameters
    ----------
    features : ndarray, shape (N, D)
    labels : ndarray of int, shape (N,)
    subjects : ndarray, shape (N,)
    protocol : "paper", "loso" or int
        "paper": the paper's stratified 80/20 split drawn by ``seed``
        (``mer_lib.evaluate.paper_split``, the networks' split of run
        ``seed``); "loso": leave one subject out; an integer k: k
        subject-disjoint folds dealt by ``seed`` (``evaluate.subject_folds``).
    seed : int
    cs : sequence of float
    inner_folds : int

    Returns
    -------
    dict
        ``test`` (indices of the tested clips, shape (M,)), ``y_true`` and
        ``y_pred`` (shape (M,)), ``fold`` (the fold of each tested clip),
        ``C`` (chosen per fold), ``n_train`` and ``n_test`` (per fold).
    """
    from mer_lib import evaluate

    features = np.asarray(features, dtype=float)
    labels = np.asarray(labels)
    subjects = np.asarray(subjects)
    if features.ndim != 2 or len(features) != len(labels):
        raise UserInputError(f"features: expected shape (N, D) with N = len(labels) = {len(labels)}, "
                             f"got {features.shape}")
    if len(subjects) != len(labels):
        raise UserInputError(f"subjects: expected {len(labels)} values (one per clip), got {len(subjects)}")
    if protocol == "paper":
        folds = [evaluate.paper_split(labels, 0.2, seed)]
    elif protocol == "loso":
        folds = list(evaluate.loso_splits(subjects))
    elif isinstance(protocol, (int, np.integer)) and not isinstance(protocol, bool):
        folds = list(evaluate.subject_folds(subjects, int(protocol), seed))
    else:
        raise UserInputError(f"protocol: expected 'paper', 'loso' or a number of subject folds, got {protocol!r}")
    subject_protocol = protocol != "paper"
    test, pred, fold_of, cs_chosen, n_train, n_test = [], [], [], [], [], []
    for k, (tr, te) in enumerate(folds):
        model, info = fit_svm(features[tr], labels[tr], subjects[tr] if subject_protocol else None, cs,
                              inner_folds, seed)
        test.append(te)
        with _one_blas_thread():
            pred.append(model.predict(features[te]))
        fold_of.append(np.full(len(te), k))
        cs_chosen.append(info["C"])
        n_train.append(len(tr))
        n_test.append(len(te))
    test = np.concatenate(test)
    return {"test": test, "y_true": labels[test], "y_pred": np.concatenate(pred).astype(labels.dtype),
            "fold": np.concatenate(fold_of), "C": cs_chosen, "n_train": n_train, "n_test": n_test}
