"""The environment of a test's child process on Keras' JAX backend, on the CPU."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: XLA's CPU compiler with LLVM's optimisation off: the tests' programs are tiny and each is compiled and run a few
#: times, so compiling is most of their time. Measured on 2 cores, each child alone (CPU seconds): the batched
#: trainer's tests 113 -> 86, its reproduction's 91 -> 63, the apex trainer's 29 -> 17.5. Both sides of every
#: comparison the tests make (Keras' loop against the batched program) are compiled alike. Never set for what the
#: course runs or measures (chapter 10's stacking, the benchmarks).
FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")


def jax_child_env(**extra: str) -> dict:
    """``os.environ`` with ``KERAS_BACKEND=jax`` on the CPU, XLA's fast compilation (:data:`FAST_COMPILE`, after
    any ``XLA_FLAGS`` already set), this checkout first on ``PYTHONPATH``, and ``extra``."""
    flags = " ".join([os.environ.get("XLA_FLAGS", ""), *FAST_COMPILE]).strip()
    path = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags, "PYTHONPATH": path,
            **extra}
