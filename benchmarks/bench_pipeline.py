"""The paper's pipeline: pre-processing time of SynthME, and training time per epoch of each model.

Usage: python benchmarks/bench_pipeline.py [--quick]

1. Pre-processing of the default SynthME dataset (164 clips, 8 frames of
   128x128): phase magnification (alpha 20) and TV-L1 flow, on every CPU core,
   without cache (target: under 3 minutes on 2 cores).
2. Training time per epoch over 131 clips (the paper's 80%) at batch 8, for the
   two-stream network (paper and corrected variants), the one-stream 3D CNN and
   CNN_RNN, on the CPU and, where there is one, on the GPU (the second epoch is
   timed: the first includes tracing and compilation).
Prints one table; not a timed test.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from mer_lib.data import synthetic_dataset  # noqa: E402
from mer_lib.env import gpu_names  # noqa: E402
from mer_lib.pipeline import preprocess  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 clips instead of 164")
    args = parser.parse_args()
    counts = (12, 12, 6) if args.quick else (67, 69, 28)
    data = synthetic_dataset(seed=0, counts=counts)
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:   # an empty cache: everything is computed
        inputs = preprocess(data, cache_dir=tmp, progress=False)
    seconds = time.perf_counter() - t0
    rows.append((f"pre-process {len(data)} SynthME clips (phase, TV-L1), {os.cpu_count()} processes",
                 f"{seconds:.1f} s", f"{seconds / len(data):.2f} s per clip"))

    import keras

    from mer_lib.experiments import build
    from mer_lib.models import compile_model

    n = 131
    x = {"frames": np.resize(inputs.frames, (n,) + inputs.frames.shape[1:]),
         "flow": np.resize(inputs.flow, (n,) + inputs.flow.shape[1:])}
    y = keras.utils.to_categorical(np.resize(data.labels, n), 3)
    device = f"GPU ({', '.join(gpu_names())})" if gpu_names() else "CPU"
    for name in ("two_stream", "two_stream_corrected", "one_stream", "cnn_rnn"):
        flow_shape = x["flow"].shape[1:] if name.startswith("two_stream") else None
        model = compile_model(build(name, x["frames"].shape[1:], flow_shape)(), jit_compile="auto")
        xin = x if flow_shape else x["frames"]
        model.fit(xin, y, batch_size=8, epochs=1, verbose=0)
        t0 = time.perf_counter()
        model.fit(xin, y, batch_size=8, epochs=1, verbose=0)
        rows.append((f"train {name}, one epoch of {n} clips, batch 8", f"{time.perf_counter() - t0:.2f} s", device))
    width = max(len(r[0]) for r in rows)
    print(f"{'task':{width}s}  {'time':>9s}  note")
    for task, t, note in rows:
        print(f"{task:{width}s}  {t:>9s}  {note}")


if __name__ == "__main__":
    main()
