"""One epoch of Keras' compiled training step, called batch by batch (used by :func:`mer_lib.train.train`)."""

import math

__all__ = ["epoch_by_batches"]


def _subset(inputs, index):
    """The clips ``index`` of an array or of each array of a dict."""
    if isinstance(inputs, dict):
        return {k: v[index] for k, v in inputs.items()}
    return inputs[index]


def _length(inputs):
    return len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)


def epoch_by_batches(model, x, y, run, epoch):
    """One epoch of Keras' compiled training step, called once per batch, and its logs as ``fit`` reports them.

    ``model.fit`` called once per epoch (as :func:`train` needs, to draw each
    epoch's order and augmentation from (seed, epoch)) builds a ``tf.data``
    pipeline and tears it down each time: measured on this project's 2-core
    machine, 1.2 s an epoch on top of a 1.4 s epoch of 3 steps. The same step
    (``train_on_batch``) called on each batch in order trains the same way;
    the epoch's loss and metrics are the means of the batches' weighted by
    their sizes, as Keras' own loop accumulates them (the metrics are
    compiled unweighted: class weights weight the loss only). The
    validation set, when there is one, is scored in batches of the same size
    after the epoch (``val_`` keys).

    Parameters
    ----------
    model : keras.Model
        Compiled.
    x : array (N, ...) or dict of arrays (N, ...)
        The epoch's clips, in the order they are trained on.
    y : array (N, n_classes)
        One-hot labels.
    run : object
        The run's ``batch_size``, ``class_weight`` (dict or None),
        ``validation`` ((inputs, one-hot labels) or None), ``verbose`` and
        ``epochs`` (for the display).
    epoch : int
        The epoch's index (0-based), for the display.

    Returns
    -------
    dict
        ``loss``, the compiled metrics and, with a validation set, ``val_loss``
        and ``val_`` metrics: floats.
    """
    def train_step(xb, yb):
        return model.train_on_batch(xb, yb, class_weight=run.class_weight, return_dict=True)

    def test_step(xb, yb):
        return model.test_on_batch(xb, yb, return_dict=True)

    if run.verbose:
        print(f"Epoch {epoch + 1}/{run.epochs}")
    logs = _mean_over_batches(train_step, x, y, run.batch_size, run.verbose)
    if run.validation is not None:
        logs.update({f"val_{k}": v for k, v in _mean_over_batches(test_step, *run.validation, run.batch_size,
                                                                  0).items()})
        if run.verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if k.startswith("val_")))
    return logs


def _mean_over_batches(step, x, y, batch_size, verbose):
    """``step`` on each batch of (x, y) in order: each log's mean over the clips (weighted by batch size)."""
    import keras

    steps = math.ceil(len(y) / batch_size)
    bar, totals, seen = None, {}, 0
    for i in range(steps):
        part = slice(i * batch_size, (i + 1) * batch_size)
        logs = step(_subset(x, part), y[part])
        size = len(y[part])
        seen += size
        for key, value in logs.items():
            totals[key] = totals.get(key, 0.0) + float(value) * size
        if verbose:              # the running means, as Keras' loop shows them
            bar = bar or keras.utils.Progbar(steps, verbose=verbose, stateful_metrics=list(totals))
            bar.update(i + 1, values=[(k, v / seen) for k, v in totals.items()])
    return {k: v / seen for k, v in totals.items()}
