"""Tests of the batched trainer on Keras' JAX backend.

They need ``KERAS_BACKEND=jax`` before Keras is imported, so they run in a
process of their own: ``tests/test_batched.py`` starts it (one process for all
of them). Collected only there.
"""

import os

if os.environ.get("KERAS_BACKEND") != "jax":
    collect_ignore_glob = ["test_*.py"]


import time  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _cpu_time(request):
    """Print the CPU time each test used (the wall time on a shared machine says little)."""
    start = time.process_time()
    yield
    if os.environ.get("MER_TEST_CPU_TIMES"):
        print(f"\n[cpu] {request.node.name}: {time.process_time() - start:.1f} s")
