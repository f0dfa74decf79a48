import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mer_lib.flow import color_wheel, flow_to_color, plot_arrows, plot_color_legend  # noqa: E402


def test_color_wheel_has_the_middlebury_55_hues():
    wheel = color_wheel()
    assert wheel.shape == (55, 3)
    np.testing.assert_allclose(wheel[0], [1, 0, 0])


def test_zero_motion_is_white_and_directions_get_distinct_hues():
    flow = np.zeros((2, 2, 2))
    flow[0, 1] = (1, 0)
    flow[1, 0] = (-1, 0)
    flow[1, 1] = (np.nan, 0)
    col = flow_to_color(flow, max_flow=1.0)
    np.testing.assert_allclose(col[0, 0], 1)
    assert not np.allclose(col[0, 1], col[1, 0])
    np.testing.assert_allclose(col[1, 1], 0)
    assert col.shape == (2, 2, 3) and col.min() >= 0 and col.max() <= 1


def test_plots_draw():
    fig, (a, b) = plt.subplots(1, 2)
    plot_color_legend(a)
    plot_arrows(b, np.zeros((16, 16)), np.ones((16, 16, 2)), step=4)
    assert len(b.collections) == 1
    plt.close(fig)


def test_max_flow_must_be_positive():
    import pytest

    flow = np.zeros((2, 2, 2))
    for bad in (0, -1.0, np.nan):
        with pytest.raises(ValueError, match="max_flow must be a positive number"):
            flow_to_color(flow, max_flow=bad)
    np.testing.assert_allclose(flow_to_color(flow), 1.0)   # an all-zero field is white
