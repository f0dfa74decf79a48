import numpy as np
import pytest
from scipy import ndimage

from mer_lib.flow.testdata import texture, translated_pair  # noqa: F401  (shared with the tests)


def nonrigid_pair(amplitude=0.4, size=128, period=128.0):
    """frame1(x + d(x)) = frame0(x) for a smooth sinusoidal field d, by inverting the warp."""
    f0 = ndimage.gaussian_filter(texture(size), 0.7)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)

    def field(x, y):
        return (amplitude * np.sin(2 * np.pi * y / period), amplitude * np.cos(2 * np.pi * x / period))

    px, py = xx.copy(), yy.copy()
    for _ in range(30):  # solve p + d(p) = y for the source point p of each pixel
        dx, dy = field(px, py)
        px, py = xx - dx, yy - dy
    f1 = ndimage.map_coordinates(f0, [py, px], order=3, mode="nearest")
    gt = np.stack(field(xx, yy), axis=-1)
    return f0, f1, gt


def interior(shape, border=10):
    mask = np.zeros(shape[:2], bool)
    mask[border:-border, border:-border] = True
    return mask


@pytest.fixture
def subpixel_pairs():
    return [translated_pair(dx, dy, top=20 + 25 * k, left=110 + 20 * k)
            for k, (dx, dy) in enumerate([(0.1, 0.0), (-0.25, 0.3), (0.5, -0.4), (0.0, -0.15)])]
