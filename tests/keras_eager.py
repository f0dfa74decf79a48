"""Keras' steps run eagerly on TensorFlow, for tests of what is done with tiny trainings."""

import contextlib

import pytest


@contextlib.contextmanager
def keras_steps_run_eagerly():
    """TensorFlow runs Keras' steps eagerly, without tracing them, inside this block.

    For the tests of what is done with trainings (results folders, records,
    resumption, nested choices) on tiny networks that train a few steps:
    tracing a new model's step costs about 4 s on a 2-core machine, more
    than its steps (the experiments' session folder: 97 s traced, 55 s
    eager). The compiled steps are tested by ``tests/test_train.py`` and the
    chapters, which keep them, and by the CLI's end-to-end test in the
    worker process of its ``reproduce`` (a child process is not eager).
    """
    tf = pytest.importorskip("tensorflow")
    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(before)
