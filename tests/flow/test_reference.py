import numpy as np
import pytest

from mer_lib.flow import OPENCV_FAST, endpoint_error, opencv_tvl1, skimage_tvl1

from .conftest import interior, translated_pair


@pytest.mark.parametrize("wrapper", [opencv_tvl1, lambda a, b: opencv_tvl1(a, b, **OPENCV_FAST), skimage_tvl1])
@pytest.mark.parametrize("dtype", ["uint8", "float64-0-1000"])
def test_wrappers_match_the_ground_truths_signs_and_axis_order(wrapper, dtype):
    f0, f1, gt = translated_pair(0.8, -0.4, size=96)
    if dtype == "uint8":
        f0, f1 = (f0 * 255).astype(np.uint8), (f1 * 255).astype(np.uint8)
    else:
        f0, f1 = f0 * 1000.0, f1 * 1000.0
    flow = wrapper(f0, f1)
    m = interior(flow.shape)
    assert flow.shape == gt.shape and flow.dtype == np.float32
    assert np.median(flow[..., 0][m]) == pytest.approx(0.8, abs=0.15)
    assert np.median(flow[..., 1][m]) == pytest.approx(-0.4, abs=0.15)
    assert endpoint_error(flow, gt, m) < 0.2


def test_wrappers_refuse_bad_pairs():
    with pytest.raises(ValueError, match="same shape"):
        opencv_tvl1(np.zeros((20, 20)), np.zeros((20, 21)))
    with pytest.raises(ValueError, match="NaN"):
        skimage_tvl1(np.full((20, 20), np.nan), np.zeros((20, 20)))
