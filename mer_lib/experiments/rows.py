"""The rows of the paper's tables and the controls, the models they name, and the inputs each model takes.

Each row of a table is a model and an input (:class:`Row`):

- Table 3 (models, :data:`TABLE3`): CNN_RNN and the one-stream 3D CNN on raw
  frames, and the two-stream network on frames plus phase-magnified TV-L1 flow
  ("our method");
- Table 4 (pre-processing, :data:`TABLE4`): raw frames only (the one-stream 3D
  CNN), the two-stream network with the flow of the unmagnified clip ("optical
  flow"), and with the flow of the phase-magnified clip ("PBVM"). The paper's
  text also mentions flow of the Eulerian-magnified clip; it is an extra row
  here;
- controls (:data:`CONTROLS`): the "corrected" two-stream variant, each stream
  of the two-stream network trained alone (the architecture held fixed), and
  the two-stream network fed the flow of *another* clip (shuffled flow: what
  is left when the flow carries no information about the clip).

The paper's own numbers (Yan & Li 2020, Tables 3 and 4) are kept beside ours
for comparison; they are the paper's, measured on CAS(ME)^2 with a random
80/20 split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mer_lib.errors import UserInputError

__all__ = ["Row", "TABLE3", "TABLE4", "CONTROLS", "FULL_ROWS", "PAPER_TABLE3", "PAPER_TABLE4", "MODELS",
           "MODEL_VARIANTS", "model_variants", "build",
           "row_inputs", "unique_rows", "row_by_key", "select_rows"]

#: The paper's Table 3: accuracy of the validation set, f1_score, recall rate.
PAPER_TABLE3 = {"CNN_RNN": (0.58, 0.57, 0.55), "One stream 3D CNN": (0.57, 0.58, 0.56),
                "Our method": (0.66, 0.63, 0.60)}
#: The paper's Table 4: accuracy, F1_score, recall rate.
PAPER_TABLE4 = {"Raw video frame": (0.58, 0.58, 0.56), "optical flow": (0.60, 0.61, 0.56),
                "PBVM": (0.66, 0.63, 0.60)}

#: Model names and what they take: "frames", "flow" or "both".
MODELS = {"two_stream": "both", "two_stream_corrected": "both", "one_stream": "frames", "cnn_rnn": "frames",
          "frames_stream": "frames", "flow_stream": "flow"}
#: What :func:`build` passes a model's builder beyond its shapes, for the models whose builder changed after
#: results folders were first written: model name -> keyword arguments. A plan records the entries of its rows'
#: models (its ``models`` field) and a fold's record its model's (:func:`mer_lib.experiments.plan.job_identity`), so
#: that runs of an older model are never counted with runs of the current one; a model absent from a plan or a
#: record is the model as it was before. CNN_RNN reads onset-relative frames since issue 23 (our assumption, see
#: :func:`mer_lib.models.cnn_rnn`); before, it read the frames themselves.
MODEL_VARIANTS = {"cnn_rnn": {"inputs": "onset_relative"}}
#: What the models of :data:`MODEL_VARIANTS` were built with before a plan recorded it (for messages).
MODELS_BEFORE_VARIANTS = {"cnn_rnn": {"inputs": "frames"}}


@dataclass(frozen=True)
class Row:
    """A table row: a label, a model name, the flow input it needs (None: frames only) and a control.

    ``control="shuffled"`` feeds each clip the flow of another clip (a fixed
    derangement of the clips, the same in training and testing).
    """

    label: str
    model: str
    flow_input: str | None
    control: str | None = None

    @property
    def key(self):
        """A file-name-safe identifier of the row."""
        parts = [self.model, self.flow_input or "frames"] + ([self.control] if self.control else [])
        return "-".join(parts)


TABLE3 = (Row("CNN_RNN", "cnn_rnn", None), Row("One stream 3D CNN", "one_stream", None),
          Row("Our method", "two_stream", "pbvm"))
TABLE4 = (Row("Raw video frame", "one_stream", None), Row("optical flow", "two_stream", "flow"),
          Row("PBVM", "two_stream", "pbvm"), Row("EVM (text, not in the table)", "two_stream", "evm"))
CONTROLS = (Row("Corrected two-stream (PBVM)", "two_stream_corrected", "pbvm"),
            Row("Frame stream alone", "frames_stream", None),
            Row("Flow stream alone (PBVM)", "flow_stream", "pbvm"),
            Row("Shuffled flow (PBVM)", "two_stream", "pbvm", "shuffled"))


def unique_rows(rows):
    """The rows in order, each model-and-input once (Tables 3 and 4 share rows under other labels).

    Parameters
    ----------
    rows : iterable of Row

    Returns
    -------
    tuple of Row
        The first row of each :attr:`Row.key`, in the order given.
    """
    seen, out = set(), []
    for row in rows:
        if row.key not in seen:
            seen.add(row.key)
            out.append(row)
    return tuple(out)


#: What ``mer reproduce --all`` runs: Tables 3 and 4 (without the EVM row) and the controls.
FULL_ROWS = unique_rows(TABLE3 + TABLE4[:3] + CONTROLS)
_ALL_ROWS = unique_rows(FULL_ROWS + TABLE3 + TABLE4 + CONTROLS)


def row_by_key(key):
    """The library's row with this :attr:`Row.key` (under the label :data:`FULL_ROWS` gives it).

    Parameters
    ----------
    key : str

    Returns
    -------
    Row

    Raises
    ------
    UserInputError
        No row of the library has that key.

    Examples
    --------
    >>> row_by_key("two_stream-pbvm").label
    'Our method'
    """
    for row in _ALL_ROWS:
        if row.key == key:
            return row
    raise UserInputError(f"{key!r} is not a row of this library; the rows are {', '.join(r.key for r in _ALL_ROWS)}")


def select_rows(names, rows, what="rows"):
    """The keys of the rows among ``rows`` named by key or label, in the order of ``rows``.

    Parameters
    ----------
    names : iterable of str
        Keys (:attr:`Row.key`) or labels.
    rows : sequence of Row
    what : str
        What the names are, for the message (an argument's name).

    Returns
    -------
    list of str

    Raises
    ------
    UserInputError
        A name that is no row of ``rows`` (the message lists their keys).
    """
    by_name = {**{r.key: r.key for r in rows}, **{r.label: r.key for r in rows}}
    names = list(names)
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise UserInputError(f"{what}: {unknown[0]!r} is not a row of this reproduction; choose from "
                             f"{', '.join(r.key for r in rows)}")
    wanted = {by_name[n] for n in names}
    return [r.key for r in rows if r.key in wanted]


def build(model, frames_shape, flow_shape=None, n_classes=3, normalization=None):
    """A callable that builds the named model for these input shapes.

    Parameters
    ----------
    model : str
        A key of :data:`MODELS`.
    frames_shape : tuple
        (T, H, W, 1).
    flow_shape : tuple, optional
        (2T, H, W, 1); needed by the models that take flow.
    n_classes : int
    normalization : None, "batch" or "layer"
        After each Flatten (a recipe's ``normalization``).

    Returns
    -------
    callable
        ``() -> keras.Model`` (uncompiled).
    """
    if model not in MODELS:
        raise UserInputError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")
    if MODELS[model] in ("both", "flow") and flow_shape is None:
        raise UserInputError(f"the model {model!r} takes flow: give flow_shape")
    builder = _builders()[model]
    return lambda: builder(frames_shape, flow_shape, n_classes, normalization)


def model_variants(rows):
    """The :data:`MODEL_VARIANTS` entries of the models of some rows: what a plan records of its models.

    Parameters
    ----------
    rows : iterable of Row

    Returns
    -------
    dict of str to dict
        Model name -> the keyword arguments its builder gets, for the rows'
        models that have an entry (sorted by name; JSON-ready).

    Examples
    --------
    >>> model_variants(TABLE3)
    {'cnn_rnn': {'inputs': 'onset_relative'}}
    >>> model_variants(CONTROLS)
    {}
    """
    names = sorted({row.model for row in rows} & set(MODEL_VARIANTS))
    return {name: dict(MODEL_VARIANTS[name]) for name in names}


#: The models whose one input is the frames as a plain array (no named inputs); the others take a dict.
_PLAIN_INPUT = ("one_stream", "cnn_rnn")


def _builders():
    """Model name -> (frames_shape, flow_shape, n_classes, normalization) -> keras.Model; the keys are MODELS'."""
    from mer_lib import models

    return {
        "two_stream": lambda fr, fl, k, n: models.two_stream("paper", fr, fl, k, normalization=n),
        "two_stream_corrected": lambda fr, fl, k, n: models.two_stream("corrected", fr, fl, k, normalization=n),
        "one_stream": lambda fr, fl, k, n: models.one_stream_3dcnn(fr, k, normalization=n),
        "cnn_rnn": lambda fr, fl, k, n: models.cnn_rnn(fr, k, normalization=n, **MODEL_VARIANTS["cnn_rnn"]),
        "frames_stream": lambda fr, fl, k, n: models.stream_model("frames", "paper", fr, k, normalization=n),
        "flow_stream": lambda fr, fl, k, n: models.stream_model("flow", "paper", fl, k, normalization=n),
    }


def _derangement(n, seed):
    """A permutation of range(n) with no fixed point (n >= 2)."""
    rng = np.random.default_rng([int(seed), 7])
    while True:
        perm = rng.permutation(n)
        if n < 2 or not np.any(perm == np.arange(n)):
            return perm


def row_inputs(row, frames, flows, index, seed=0):
    """The inputs of a row's model for the clips ``index``.

    Parameters
    ----------
    row : Row
    frames : ndarray, shape (N, T, H, W, 1)
    flows : dict of str to ndarray, shape (N, 2T, H, W, 1)
    index : array_like of int
    seed : int
        Seeds the derangement of the shuffled-flow control (fixed per dataset
        and seed, so training and test clips are shuffled alike).

    Returns
    -------
    ndarray or dict of ndarray
        Frames (one_stream, cnn_rnn), ``{"frames"}``, ``{"flow"}`` or both.
    """
    kind = MODELS.get(row.model)
    if kind is None:
        raise UserInputError(f"unknown model {row.model!r} in row {row.label!r}")
    if kind in ("both", "flow"):
        if row.flow_input not in flows:
            raise UserInputError(f"row {row.label!r} needs the flow input {row.flow_input!r}; have {sorted(flows)}")
        flow = flows[row.flow_input]
        if row.control == "shuffled":
            flow = flow[_derangement(len(flow), seed)]
        elif row.control is not None:
            raise UserInputError(f"unknown control {row.control!r} in row {row.label!r}")
    if row.model in _PLAIN_INPUT:
        return frames[index]
    if kind == "frames":
        return {"frames": frames[index]}
    if kind == "flow":
        return {"flow": flow[index]}
    return {"frames": frames[index], "flow": flow[index]}

