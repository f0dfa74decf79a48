"""Training recipes: the paper's and the library's stable one, and compiling a model with either.

A :class:`Recipe` is how a model is trained: optimiser, learning-rate
schedule, regularisation, and the normalisation the model builder adds. The
recipes by name are in :data:`RECIPES`; :mod:`mer_lib.train` explains why the
stable recipe is built the way it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["Recipe", "RECIPES", "CONTROL_RECIPES", "get_recipe", "compile_with_recipe", "learning_rate_schedule"]


@dataclass(frozen=True)
class Recipe:
    """How a model is trained: optimiser, schedule, regularisation, model-side normalisation.

    Attributes
    ----------
    name : str
    learning_rate : float
        Peak learning rate.
    schedule : {"constant", "cosine"}
        "cosine": a linear warm-up over ``warmup_epochs``, then a cosine decay
        to zero at the last epoch.
    warmup_epochs : int
    weight_decay : float
        Decoupled weight decay (AdamW); 0 gives Adam.
    label_smoothing : float
    class_weight : None or "balanced"
    augment : bool
        Random horizontal flips (flow's horizontal component negated) and
        shifts of up to ``shift`` pixels, drawn anew every epoch.
    shift : int
    normalization : None, "batch" or "layer"
        A normalisation layer after each Flatten (passed to the model builder
        by :func:`mer_lib.experiments.build`).
    zero_head : bool
        Zero-initialise the softmax layer: uniform predictions at the start,
        a loss of exactly ln K.
    validation_fraction : float
        With ``restore_best``: the share of the training data held out (whole
        groups when groups are given) to pick the epoch.
    restore_best : bool
        Return the weights of the epoch with the lowest validation loss.
    precision : {"auto", "float32", "mixed_float16"}
        "auto": mixed precision on a GPU, float32 on a CPU (what every recipe
        did before this field existed); the others force it (the
        ``"paper-float32"`` control of :data:`CONTROL_RECIPES`). The
        ``mixed_precision`` argument of :func:`mer_lib.train.train` overrides it.
    """

    name: str
    learning_rate: float = 1e-3
    schedule: str = "constant"
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    class_weight: str | None = None
    augment: bool = False
    shift: int = 0
    normalization: str | None = None
    zero_head: bool = False
    validation_fraction: float = 0.0
    restore_best: bool = False
    precision: str = "auto"

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"Recipe.schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.normalization not in (None, "batch", "layer"):
            raise ValueError(f"Recipe.normalization must be None, 'batch' or 'layer', got {self.normalization!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"Recipe.class_weight must be None or 'balanced', got {self.class_weight!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"Recipe.learning_rate must be positive, got {self.learning_rate!r}")
        if self.restore_best and not 0 < self.validation_fraction < 1:
            raise ValueError("Recipe.restore_best needs a validation_fraction in (0, 1)")
        if self.precision not in ("auto", "float32", "mixed_float16"):
            raise ValueError(f"Recipe.precision must be 'auto', 'float32' or 'mixed_float16', got {self.precision!r}")

    def as_dict(self):
        """The recipe's fields as a plain dict (for JSON files); ``precision`` only when it is not "auto", so that
        a recipe's record is what it was before the field existed (a plan of an older folder is the same plan)."""
        fields = dataclasses.asdict(self)
        if fields["precision"] == "auto":
            del fields["precision"]
        return fields


#: The recipes by name. "paper" is the paper's; "stable" is the library's recommendation.
RECIPES = {
    "paper": Recipe("paper"),
    "stable": Recipe("stable", learning_rate=3e-4, schedule="cosine", warmup_epochs=5, weight_decay=1e-2,
                     label_smoothing=0.1, class_weight="balanced", augment=True, shift=4, normalization="batch",
                     zero_head=True),
}

#: Controls of the experiments, by name: the paper's recipe with its precision held at float32 on every device
#: (the full run's paper-recipe collapses happened under mixed precision only, which a GPU uses by default).
CONTROL_RECIPES = {"paper-float32": Recipe("paper-float32", precision="float32")}


def get_recipe(recipe):
    """A :class:`Recipe` from itself or its name in :data:`RECIPES` or :data:`CONTROL_RECIPES`.

    Parameters
    ----------
    recipe : str or Recipe

    Returns
    -------
    Recipe
    """
    if isinstance(recipe, Recipe):
        return recipe
    known = {**RECIPES, **CONTROL_RECIPES}
    if recipe not in known:
        raise ValueError(f"recipe must be a Recipe or one of {tuple(known)}, got {recipe!r}")
    return known[recipe]


def compile_with_recipe(model, recipe="paper", steps_per_epoch=17, epochs=100, learning_rate=None,
                        jit_compile="auto"):
    """Compile a model with a recipe's optimiser, learning-rate schedule and loss.

    Parameters
    ----------
    model : keras.Model
    recipe : {"paper", "stable"} or Recipe
    steps_per_epoch, epochs : int
        The length of the learning-rate schedule.
    learning_rate : float, optional
        Overrides the recipe's.
    jit_compile : bool or "auto"

    Returns
    -------
    keras.Model
        The same model, compiled (accuracy as metric). The recipe's
        ``zero_head`` and ``normalization`` are not applied here (see
        :func:`mer_lib.train.train` and :func:`mer_lib.experiments.build`).
    """
    import keras

    recipe = get_recipe(recipe)
    lr = learning_rate_schedule(recipe, steps_per_epoch, epochs, learning_rate)
    if recipe.weight_decay > 0:
        optimizer = keras.optimizers.AdamW(lr, weight_decay=recipe.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(lr)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"], jit_compile=jit_compile)
    return model


def learning_rate_schedule(recipe, steps_per_epoch, epochs, learning_rate=None):
    """A recipe's learning rate: a float, or a Keras schedule of the optimiser step.

    Parameters
    ----------
    recipe : str or Recipe
    steps_per_epoch, epochs : int
    learning_rate : float, optional
        Overrides the recipe's peak rate.

    Returns
    -------
    float or keras.optimizers.schedules.CosineDecay
        "cosine": a linear warm-up from a tenth of the rate over the warm-up
        epochs (at most ``epochs - 1``), then a cosine decay to zero.
    """
    import keras

    recipe = get_recipe(recipe)
    lr = recipe.learning_rate if learning_rate is None else float(learning_rate)
    if recipe.schedule == "cosine":
        warmup = min(recipe.warmup_epochs, max(epochs - 1, 0)) * steps_per_epoch
        total = epochs * steps_per_epoch
        lr = keras.optimizers.schedules.CosineDecay(
            lr / 10 if warmup else lr, decay_steps=max(total - warmup, 1), alpha=0.0,
            warmup_target=lr if warmup else None, warmup_steps=warmup)
    return lr
