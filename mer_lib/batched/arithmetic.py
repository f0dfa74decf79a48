"""What a training step costs, counted from a model's layers, against a device's peak; the precision."""

from __future__ import annotations

from mer_lib.errors import UserInputError

__all__ = ["PEAK_FLOPS", "forward_macs", "step_flops", "precision_for_device"]

#: Dense tensor-core peak of some GPUs, FLOP/s, in bfloat16 (float16 for the T4, which has no bfloat16), from
#: NVIDIA's data sheets (H100 and H200: the SXM parts; without structured sparsity). What a card could do if
#: every cycle were a multiply-add of a large matrix product; real training reaches a fraction of it.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L4": 121e12, "T4": 65e12}


def forward_macs(model):
    """Multiply-adds of one forward pass of one example, counted from the model's layers.

    Conv2D, Conv3D and Dense layers count ``outputs x kernel volume x input
    channels`` (resp. ``inputs x outputs``); an LSTM ``4 x units x (inputs +
    units)`` per time step; a layer wrapped in TimeDistributed counts once per
    time step; a nested model counts its layers. Activations, pooling and
    normalisation are left out (a few per cent).

    Parameters
    ----------
    model : keras.Model
        Built.

    Returns
    -------
    int
    """
    import keras

    from mer_lib.nn import layer_macs

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.TimeDistributed):
            steps = int(layer.output.shape[1])
            inner = layer.layer
            total += steps * (forward_macs(inner) if isinstance(inner, keras.Model) else layer_macs(inner))
        elif isinstance(layer, keras.Model):
            total += forward_macs(layer)
        elif isinstance(layer, keras.layers.LSTM):
            steps, features = int(layer.input.shape[1]), int(layer.input.shape[2])
            total += steps * 4 * layer.units * (features + layer.units)
        else:
            total += layer_macs(layer)
    return int(total)


def step_flops(model, batch_size=8):
    """Floating-point operations of one training step: 2 per multiply-add, times 3 (forward, then backward).

    The backward pass of a layer costs about twice its forward pass (the
    gradient with respect to the inputs and to the weights), so a step is
    about three forward passes.

    Parameters
    ----------
    model : keras.Model
    batch_size : int

    Returns
    -------
    int
    """
    return int(6 * forward_macs(model) * int(batch_size))


def precision_for_device(mixed_precision="auto"):
    """The Keras dtype policy a batch trains under, and why.

    Parameters
    ----------
    mixed_precision : "auto" or bool
        "auto": bfloat16 arithmetic (float32 weights) on a GPU that has it
        (compute capability 8.0 or newer: A100, H100, H200), float32
        otherwise. bfloat16 has float32's range, so no loss scaling is needed.
        True asks for bfloat16 (an error where there is no GPU).

    Returns
    -------
    policy : str
        "float32" or "mixed_bfloat16".
    reason : str
    """
    import jax

    devices = jax.devices()
    gpu = devices[0].platform == "gpu"
    capability = getattr(devices[0], "compute_capability", None) if gpu else None
    try:
        bf16 = gpu and float(capability) >= 8.0
    except (TypeError, ValueError):
        bf16 = False
    if mixed_precision == "auto":
        if bf16:
            return "mixed_bfloat16", f"bfloat16 on {devices[0].device_kind} (compute capability {capability})"
        return "float32", ("float32: the CPU" if not gpu else
                           f"float32: {devices[0].device_kind} has no fast bfloat16 (compute capability {capability})")
    if mixed_precision is True:
        if not gpu:
            raise UserInputError("mixed_precision=True: bfloat16 training needs a GPU; this JAX process sees none")
        return "mixed_bfloat16", "bfloat16 (asked for)"
    if mixed_precision is False:
        return "float32", "float32 (asked for)"
    raise UserInputError(f"mixed_precision must be 'auto', True or False, got {mixed_precision!r}")
