"""Optical flow: time and end-point error of our Horn-Schunck and TV-L1 against OpenCV and scikit-image.

Usage: python benchmarks/bench_flow.py [--quick]

Inputs (the same for every method):
- sub-pixel synthetic motion (translations of 0.1-0.5 px) of a real image
  texture (crops of scikit-image's astronaut) at 128x128 and 224x224;
- SynthME clips (consecutive frame pairs, against the generator's ground truth);
- the Middlebury "motorcycle" stereo pair that scikit-image ships (ground
  truth: minus the disparity, horizontally; infinite disparities masked).
Prints one table. A benchmark, not a timed test.
"""

import argparse
import time

import numpy as np

from mer_lib.data import synthetic_dataset
from mer_lib.flow import OPENCV_FAST, endpoint_error, horn_schunck, opencv_tvl1, skimage_tvl1, tvl1
from mer_lib.flow.testdata import motorcycle, subpixel_pairs

METHODS = {
    "horn_schunck (ours)": horn_schunck,
    "tvl1 (ours)": tvl1,
    "OpenCV DualTVL1 defaults": opencv_tvl1,
    "OpenCV 10 scales, step 0.5": lambda a, b: opencv_tvl1(a, b, **OPENCV_FAST),
    "scikit-image TV-L1": skimage_tvl1,
}


def synthme_pairs(n_clips):
    ds = synthetic_dataset(seed=1, counts=(n_clips, n_clips, n_clips), noise=0.0, flicker=False)
    pairs = []
    for i in range(len(ds)):
        t = int(ds.apex[i]) - 1
        pairs.append((ds.frames[i, t], ds.frames[i, t + 1], ds.flow[i, t], None))
    return pairs


def run(name, fn, pairs):
    times, means, medians = [], [], []
    for f0, f1, gt, mask in pairs:
        t0 = time.perf_counter()
        flow = fn(f0, f1)
        times.append(time.perf_counter() - t0)
        means.append(endpoint_error(flow, gt, mask))
        medians.append(endpoint_error(flow, gt, mask, statistic="median"))
    return np.mean(times), np.mean(means), np.mean(medians)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer pairs, half-size motorcycle")
    args = parser.parse_args()
    inputs = {
        "sub-pixel 128x128": subpixel_pairs(128, 2 if args.quick else 4),
        "sub-pixel 224x224": subpixel_pairs(224, 2 if args.quick else 4),
        "SynthME (apex pairs)": synthme_pairs(1 if args.quick else 3),
        "motorcycle" + (" (half size)" if args.quick else " 500x741"): [(*motorcycle(0.5 if args.quick else 1.0),
                                                                          None)],
    }
    print(f"{'input':26s} {'method':28s} {'time (s)':>9s} {'EPE mean':>9s} {'EPE median':>11s}")
    for label, pairs in inputs.items():
        for name, fn in METHODS.items():
            t, mean, median = run(name, fn, pairs)
            print(f"{label:26s} {name:28s} {t:9.3f} {mean:9.3f} {median:11.3f}", flush=True)


if __name__ == "__main__":
    main()
