"""Pre-processing within a budget: as many clips as fit, in an order that keeps the classes and subjects balanced."""

from __future__ import annotations

import time

import numpy as np

from mer_lib.budget.core import POOL_START_S, Plan, plan


def stratified_order(labels, groups=None, seed=0):
    """An order of the clips in which every prefix keeps the classes' proportions and spreads the groups.

    Position by position, the next clip comes from the class furthest below
    its share of the clips so far; within a class, the clips go round the
    groups (subjects), in an order drawn with ``seed``. The first n clips of
    the order are then a stratified subset of any size n.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
    groups : array_like, shape (N,), optional
        Subjects.
    seed : int

    Returns
    -------
    ndarray of int, shape (N,)
        A permutation of 0 .. N - 1.

    Examples
    --------
    >>> order = stratified_order([0, 0, 0, 0, 1, 1])
    >>> sorted(order.tolist()), [int(x >= 4) for x in order[:3]]     # 2 of class 0 for 1 of class 1
    ([0, 1, 2, 3, 4, 5], [0, 0, 1])
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    groups = np.zeros(len(labels), int) if groups is None else np.asarray(groups)
    if groups.shape != labels.shape:
        raise ValueError(f"groups ({groups.shape}) must match labels ({labels.shape})")
    rng = np.random.default_rng(seed)
    queues = {}
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        seen = {}
        rank = []
        for i in members:          # the k-th clip of its group within the class: groups go round
            key = groups[i].item() if hasattr(groups[i], "item") else groups[i]
            rank.append(seen.get(key, 0))
            seen[key] = seen.get(key, 0) + 1
        queues[c.item()] = list(members[np.argsort(rank, kind="stable")])
    totals = {c: len(q) for c, q in queues.items()}
    taken = {c: 0 for c in queues}
    order = []
    for _ in range(len(labels)):
        c = min((c for c in queues if taken[c] < totals[c]), key=lambda c: ((taken[c] + 1) / totals[c], c))
        order.append(queues[c][taken[c]])
        taken[c] += 1
    return np.asarray(order, dtype=int)


def clip_seconds(clip, apex=None, **settings):
    """Seconds to pre-process one clip here and now, as one pre-processing process does (one thread).

    Parameters
    ----------
    clip : ndarray, shape (T, H, W)
    apex : int, optional
    **settings
        As :func:`mer_lib.pipeline.process_clip` takes them.

    Returns
    -------
    float
    """
    from mer_lib.env import bounded_threads
    from mer_lib.pipeline import process_clip

    with bounded_threads(fft=1, opencv=1, blas=1):
        t0 = time.perf_counter()
        process_clip(clip, apex, **settings)
        return time.perf_counter() - t0


def preprocess_within(budget, clips, *, order, apex=None, minimum=1, cache_dir=None, n_jobs=None, progress=True,
                      reuse_cache=False, **settings):
    """Pre-process as many clips as fit the budget, taken in ``order``; the rest are left out, and said so.

    Measures one clip (:func:`clip_seconds`), plans how many clips the
    processes can do in the budget, and pre-processes them in two calls of
    :func:`mer_lib.pipeline.preprocess`; the second is shrunk if the first
    went slower than planned. Clips already in ``cache_dir`` cost almost
    nothing, so a second run of a chapter is quick.

    Parameters
    ----------
    budget : Budget
    clips : SynthME, or ndarray of shape (N, T, H, W)
    order : array_like of int, shape (N,)
        The clips by priority (:func:`stratified_order`): a prefix is kept.
    apex : array_like of int, shape (N,), optional
        Taken from a SynthME dataset when omitted.
    minimum : int
        Clips to pre-process even over budget (the plan then says so); the
        second call never goes below it either.
    cache_dir, n_jobs, progress
        As for :func:`mer_lib.pipeline.preprocess` (``n_jobs`` default: the
        thread context's process count).
    reuse_cache : bool, default False
        When ``cache_dir`` already holds the first ``k >= minimum`` clips of
        ``order`` with these settings (an earlier run's prefix, say another
        chapter's), take exactly those ``k``, read, with no measurement and no
        new clip: a later chapter then uses the clips an earlier one chose,
        whatever this machine's speed now. Otherwise plan as usual.
    **settings
        ``magnify``, ``alpha``, ``flow``, ``size``... as for
        :func:`mer_lib.pipeline.preprocess`.

    Returns
    -------
    index : ndarray of int, shape (n,)
        The clips pre-processed, in increasing order.
    inputs : NetworkInputs
        Their network inputs, in the order of ``index``.
    plan : Plan
        ``choice["clips"]`` is n.
    """
    from mer_lib.env import current_threads
    from mer_lib.pipeline import preprocess

    frames = np.asarray(clips.frames) if hasattr(clips, "frames") else np.asarray(clips)
    if apex is None and hasattr(clips, "apex"):
        apex = clips.apex
    apex = None if apex is None else np.asarray(apex)
    order = np.asarray(order, dtype=int)
    n_all = len(frames)
    if sorted(order.tolist()) != list(range(n_all)):
        raise ValueError(f"order must be a permutation of the {n_all} clips' indices")
    if not 1 <= minimum <= n_all:
        raise ValueError(f"minimum must be between 1 and the {n_all} clips, got {minimum!r}")
    if reuse_cache and cache_dir is not None:
        from mer_lib.pipeline import cached_clips

        cached = cached_clips(frames[order], cache_dir, apex=None if apex is None else apex[order], **settings)
        k = len(cached) if cached.all() else int(np.argmin(cached))          # the cached prefix of ``order``
        if k >= minimum:
            taken = np.sort(order[:k])
            inputs = preprocess(frames[taken], apex=None if apex is None else apex[taken], cache_dir=cache_dir,
                                n_jobs=n_jobs, progress=progress, **settings)
            return taken, inputs, Plan({"clips": k}, 0.0, budget.left(), True,
                                       f"the first {k} of the {n_all} clips in this order were in the cache with "
                                       "these settings, pre-processed by an earlier run: read, none added (more: "
                                       "that run with more time, or an empty cache)", total_s=budget.seconds)
    processes = current_threads().processes if n_jobs is None else int(n_jobs)
    first = int(order[0])
    per_clip = clip_seconds(frames[first], None if apex is None else int(apex[first]), **settings)
    # processes share the cores: at most as many at once as there are, and never perfectly
    workers = max(1, min(processes, current_threads().cores))
    rate = workers * 0.85 / per_clip if workers > 1 else 1.0 / per_clip
    start = POOL_START_S if workers > 1 else 0.0

    def cost(choice):
        return start + choice["clips"] / rate

    counts = sorted({minimum, n_all} | {n for n in range(minimum, n_all + 1, max(1, n_all // 40))})
    chosen = plan(budget, cost, {"clips": counts},
                  reason=f"one clip took {per_clip:.1f} s on one thread here; {workers} process"
                         f"{'es' if workers > 1 else ''} at once")
    n = chosen["clips"]
    common = dict(cache_dir=cache_dir, n_jobs=n_jobs, **settings)
    half = n if n <= 2 * workers else (n + 1) // 2
    t0 = budget.clock()
    parts = [preprocess(frames[order[:half]], apex=None if apex is None else apex[order[:half]],
                        progress=progress and ("first part" if half < n else True), **common)]
    done = half
    if done < n:
        # cached clips make the first half quick: the second is predicted at the slower of its rate and
        # the measured one (so it never grows, and a cached first half does not hide a slow machine)
        measured = (budget.clock() - t0) / half
        per = max(measured, 1.0 / rate)
        still = max(int(min(n - done, max(0.0, budget.left() - start) / per)), minimum - done)
        if still < n - done:
            chosen = chosen.with_note(f"the first {done} clips took {measured:.1f} s a clip (planned: "
                                      f"{1 / rate:.1f}); {max(budget.left(), 0):.0f} s were left: "
                                      f"{done + still} clips instead of {n}", degraded=True, clips=done + still)
        if still > 0:
            part = order[done:done + still]
            parts.append(preprocess(frames[part], apex=None if apex is None else apex[part],
                                    progress=progress and "second part", **common))
            done += still
    taken = order[:done]
    inputs = parts[0] if len(parts) == 1 else type(parts[0])(
        np.concatenate([p.frames for p in parts]), np.concatenate([p.flow for p in parts]), parts[0].settings)
    sort = np.argsort(taken, kind="stable")
    inputs = type(inputs)(inputs.frames[sort], inputs.flow[sort], inputs.settings)
    return taken[sort], inputs, chosen


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
