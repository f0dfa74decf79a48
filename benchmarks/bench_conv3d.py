"""Conv3D on the paper's layer sizes: loops, vectorised NumPy and Keras side by side.

Usage: python benchmarks/bench_conv3d.py [--repeats N] [--quick]

Prints one table: time per example of each implementation for the paper's
two convolutions (frames 64x64x8 and flow 64x64x16, 32 filters of 3x3x15,
'same') and its pooling layer, with the largest difference from Keras.
The loop version is timed on one example only (it takes seconds).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from mer_lib import nn  # noqa: E402


def best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="skip the loop version")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'layer':34s} {'implementation':20s} {'ms/example':>11s} {'vs Keras':>9s} {'max |diff|':>11s}")
    for name, t in (("conv3d_1: frames 64x64x8", 8), ("conv3d_2: flow 64x64x16", 16)):
        batch = 8
        x = rng.random((batch, 64, 64, t, 1), dtype=np.float32)
        kernel = rng.standard_normal((3, 3, 15, 1, 32)).astype(np.float32) * 0.1
        bias = np.zeros(32, np.float32)
        layer = keras.layers.Conv3D(32, (3, 3, 15), padding="same")
        layer.build(x.shape)
        layer.set_weights([kernel, bias])
        ref = keras.ops.convert_to_numpy(layer(x))
        t_keras = best_of(lambda: layer(x), args.repeats) / batch
        rows = [("Keras Conv3D", t_keras, 0.0)]
        out = nn.conv3d(x, kernel, bias, padding="same")
        rows.append(("NumPy vectorised", best_of(lambda: nn.conv3d(x, kernel, bias, padding="same"),
                                                   args.repeats) / batch, np.abs(out - ref).max()))
        if not args.quick:
            one = x[:1]
            out1 = nn.conv3d_loops(one, kernel, bias, padding="same")
            rows.append(("NumPy loops", best_of(lambda: nn.conv3d_loops(one, kernel, bias, padding="same"), 1),
                         np.abs(out1 - ref[:1]).max()))
        for impl, sec, diff in rows:
            print(f"{name:34s} {impl:20s} {1000 * sec:11.2f} {sec / t_keras:8.1f}x {diff:11.1e}")
    x = rng.random((8, 32, 64, 64, 16), dtype=np.float32)
    pool = keras.layers.MaxPooling3D(3)
    ref = keras.ops.convert_to_numpy(pool(x))
    t_keras = best_of(lambda: pool(x), args.repeats) / 8
    rows = [("Keras MaxPooling3D", t_keras, 0.0),
            ("NumPy vectorised", best_of(lambda: nn.max_pool3d(x, 3), args.repeats) / 8,
             np.abs(nn.max_pool3d(x, 3) - ref).max())]
    if not args.quick:
        rows.append(("NumPy loops", best_of(lambda: nn.max_pool3d_loops(x[:1], 3), 1),
                     np.abs(nn.max_pool3d_loops(x[:1], 3) - ref[:1]).max()))
    for impl, sec, diff in rows:
        print(f"{'max_pooling3d_2: 32x64x64x16':34s} {impl:20s} {1000 * sec:11.2f} {sec / t_keras:8.1f}x {diff:11.1e}")


if __name__ == "__main__":
    main()
