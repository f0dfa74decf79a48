"""Motion magnification: time per frame and peak memory of the three magnifiers, beside pyrtools.

Usage: python benchmarks/bench_magnify.py [--frames N] [--quick]

The reference is a phase-based magnifier built on pyrtools' complex steerable
pyramid (``pyrtools.pyramids.SteerablePyramidFreq``, 4 orientations, octave
bandwidth), with the same phase processing as ours (difference to the first
frame, amplitude-weighted blur, alpha, high-pass residual dropped). pyrtools is
a benchmark-only dependency (``pip install ".[bench]"``). Also prints each
pyramid's reconstruction error. Prints one table; not a timed test.
"""

import argparse
import time
import tracemalloc

import numpy as np
from scipy import ndimage

from mer_lib.magnify import ComplexSteerablePyramid, magnify_linear, magnify_phase, magnify_riesz
from mer_lib.magnify.common import amplitude_weighted_blur


def pyrtools_phase(frames, alpha, sigma=2.0):
    """Phase-based magnification on pyrtools' complex steerable pyramid (reference implementation)."""
    import pyrtools as pt

    ref = pt.pyramids.SteerablePyramidFreq(frames[0], order=3, is_complex=True)
    keys = [k for k in ref.pyr_coeffs if isinstance(k, tuple)]
    unit = {k: np.conj(ref.pyr_coeffs[k]) / (np.abs(ref.pyr_coeffs[k]) + 1e-300) for k in keys}
    out = np.empty(frames.shape)
    for t, frame in enumerate(frames):
        pyr = pt.pyramids.SteerablePyramidFreq(frame, order=3, is_complex=True)
        for k in keys:
            c = pyr.pyr_coeffs[k]
            delta = amplitude_weighted_blur(np.angle(c * unit[k]), np.abs(c), sigma)
            pyr.pyr_coeffs[k] = c * np.exp(1j * alpha * delta)
        pyr.pyr_coeffs["residual_highpass"] = np.zeros_like(pyr.pyr_coeffs["residual_highpass"])
        out[t] = pyr.recon_pyr()
    return out


def measure(fn, clip, repeats=3):
    """Best time per frame over ``repeats`` runs, then the peak memory of one run (tracemalloc slows
    allocation, so it is measured separately)."""
    fn(clip[:2])                      # warm-up (imports, FFT plans)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(clip)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    fn(clip)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return 1000 * best / len(clip), peak / 2 ** 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="8 frames, skip pyrtools' reconstruction check")
    args = parser.parse_args()
    n = 8 if args.quick else args.frames
    methods = {
        "magnify_linear (ours)": lambda c: magnify_linear(c, 20),
        "magnify_phase (ours)": lambda c: magnify_phase(c, 20),
        "magnify_riesz (ours)": lambda c: magnify_riesz(c, 20),
    }
    try:
        import pyrtools  # noqa: F401
        methods["phase on pyrtools' pyramid"] = lambda c: pyrtools_phase(c, 20)
    except ImportError:
        print("pyrtools is not installed (pip install '.[bench]'): its row is skipped")
    print(f"{'size':8s} {'method':30s} {'ms/frame':>9s} {'peak MiB':>9s}")
    rng = np.random.default_rng(0)
    for size in (128, 256):
        base = ndimage.gaussian_filter(rng.random((size, size)), 1.5)
        clip = np.stack([ndimage.shift(base, (0, 0.05 * t), order=3) for t in range(n)])
        clip += rng.normal(0, 0.005, clip.shape)
        for name, fn in methods.items():
            ms, mib = measure(fn, clip)
            print(f"{size}x{size:<4d} {name:30s} {ms:9.1f} {mib:9.1f}", flush=True)
    print()
    image = rng.random((256, 256))
    ours = ComplexSteerablePyramid((256, 256), 4)
    print(f"reconstruction error, 256x256, ours: {np.abs(ours.reconstruct(ours.decompose(image)) - image).max():.1e}")
    if "phase on pyrtools' pyramid" in methods:
        import pyrtools as pt
        ref = pt.pyramids.SteerablePyramidFreq(image, order=3, is_complex=True)
        print(f"reconstruction error, 256x256, pyrtools: {np.abs(ref.recon_pyr() - image).max():.1e}")


if __name__ == "__main__":
    main()
