"""mer_lib.apex: spotting, strain, apex inputs, the shallow network and its many-copies trainer."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from mer_lib import apex, evaluate
from mer_lib.errors import UserInputError
from mer_lib.flow.testdata import texture

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------- spotting
def _clip_with_known_apex(n_frames=8, apex_index=3, drift=0.06, gain=0.02, size=64, amplitude=1.5):
    """A texture whose centre moves up most at ``apex_index`` (1.5 px, a Gaussian bump of sigma 6 px) while
    the whole image drifts right by ``drift`` pixels a frame (a head turning) and brightens by ``gain`` a
    frame (flicker)."""
    base = texture(size)
    base = (base - base.min()) / np.ptp(base)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    bump = np.exp(-(((xx - size / 2) / 6) ** 2 + ((yy - size / 2) / 6) ** 2) / 2)
    course = np.r_[np.sin(0.5 * np.pi * np.arange(apex_index + 1) / apex_index) ** 2,
                   np.linspace(1, 0.4, n_frames - apex_index)[1:]]
    return np.stack([(1 + gain * t) * ndimage.map_coordinates(base, [yy - amplitude * course[t] * bump, xx - drift * t],
                                                              order=3, mode="nearest") for t in range(n_frames)])


INTERIOR = np.zeros((64, 64), bool)
INTERIOR[10:-10, 10:-10] = True


def test_match_brightness_undoes_a_gain_and_an_offset():
    ref = texture(64)
    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:56] = True
    assert np.allclose(apex.match_brightness(ref, 0.8 * ref + 3.0, mask), ref)
    # a half-pixel motion (a micro-expression's) barely biases the fitted gain
    moved = ndimage.shift(ref, (0, 0.5), order=3, mode="nearest")
    flickered = 1.05 * moved + 0.1
    matched = apex.match_brightness(ref, flickered, mask)
    assert np.abs(matched - moved)[mask].mean() < 0.05 * np.abs(flickered - moved)[mask].mean()
    with pytest.raises(UserInputError, match="reference and image"):
        apex.match_brightness(ref, ref[:-1])


def test_affine_motion_is_fitted_exactly_and_a_local_bump_survives_its_removal():
    yy, xx = np.mgrid[0:40, 0:40].astype(float)
    affine = np.stack([0.3 + 0.01 * xx - 0.02 * yy, -0.1 + 0.02 * xx + 0.005 * yy], -1)
    assert np.allclose(apex.affine_motion(affine), affine)
    assert np.abs(apex.remove_affine_motion(affine, "face")).max() < 1e-10
    bump = np.zeros_like(affine)
    bump[..., 1] = np.exp(-((xx - 20) ** 2 + (yy - 12) ** 2) / 8)
    residual = apex.remove_affine_motion(affine + bump)
    expected = bump - apex.affine_motion(bump)                  # linear: the fit of a sum is the sum of the fits
    assert np.allclose(residual, expected)
    assert residual[12, 20, 1] > 0.9                             # the bump is small: the affine fit cannot absorb it
    with pytest.raises(UserInputError, match="mask"):
        apex.remove_affine_motion(affine, np.ones((3, 3), bool))


@pytest.mark.parametrize("flow", ["farneback", "tvl1"])
def test_the_spotter_finds_the_apex_that_a_drifting_flickering_head_hides_from_the_naive_one(flow):
    clip = _clip_with_known_apex(apex_index=3)
    naive = apex.spot_apex(clip, flow=flow, mask=INTERIOR, brightness=False, head=False)
    full = apex.spot_apex(clip, flow=flow, mask=INTERIOR)
    assert full == 3
    assert naive == 7                                            # drift and flicker grow to the last frame


def test_spot_apexes_on_synthme_without_nuisances_is_exact():
    from mer_lib.data import synthetic_dataset

    data = synthetic_dataset(seed=3, counts=(2, 2, 2), n_subjects=3, size=64, noise=0.0, flicker=False,
                             blinks=False, head_motion=False)
    spotted, curves = apex.spot_apexes(data, flow="farneback", progress=False)
    assert curves.shape == (6, 8) and np.all(curves[:, 0] == 0)
    assert np.array_equal(spotted, data.apex)


def test_spotting_from_the_flows_once_gives_both_variants_of_the_head_fit():
    """One pass of flows serves the spotter with and without the affine fit, exactly as two passes would."""
    from mer_lib.data import synthetic_dataset

    data = synthetic_dataset(seed=4, counts=(1, 1, 1), n_subjects=2, size=64)
    spotted, curves, flows = apex.spot_apexes(data, brightness=False, head=False, progress=False, return_flows=True)
    assert flows.shape == (3, 7, 64, 64, 2) and flows.dtype == np.float32
    for head in (False, True):
        again, again_curves = apex.spot_from_flows(flows, head=head)
        direct, direct_curves = apex.spot_apexes(data, brightness=False, head=head, progress=False)
        np.testing.assert_allclose(again_curves, direct_curves, rtol=1e-5, atol=1e-6)
        assert np.array_equal(again, direct)
    assert not np.allclose(apex.spot_from_flows(flows, head=True)[1], curves)     # the fit does change the curves
    with pytest.raises(UserInputError, match="flows"):
        apex.spot_from_flows(flows[0])


def test_expected_random_error_by_hand_and_by_drawing():
    assert np.allclose(apex.expected_random_error(np.array([1, 4, 7]), 8), [3.0, 12 / 7, 3.0])
    draws = apex.random_frame_errors(np.array([2, 5]), 8, n_draws=40_000, seed=1)
    assert draws.shape == (40_000, 2) and draws.min() >= 0 and draws.max() <= 5
    assert np.allclose(draws.mean(axis=0), apex.expected_random_error(np.array([2, 5]), 8), atol=0.03)
    with pytest.raises(UserInputError, match="apex"):
        apex.expected_random_error(np.array([0, 3]), 8)


def test_median_interval_and_summary():
    errors = np.r_[np.zeros(60), np.ones(30), 2 * np.ones(10)]
    s = apex.summarize_spotting(errors, n_boot=2000)
    assert s["median"] == 0 and s["ci_low"] <= 0 <= s["ci_high"] and s["exact"] == 0.6 and s["n"] == 100
    assert np.isclose(s["mean"], 0.5)
    with pytest.raises(UserInputError, match="values"):
        apex.median_interval([])


def _write_clip(folder, numbers, frames):
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.glob("*.jpg"):
        f.unlink()
    for n, frame in zip(numbers, frames):
        cv2.imwrite(str(folder / f"img{n}.jpg"), np.clip(frame * 255, 0, 255).astype(np.uint8),
                    [cv2.IMWRITE_JPEG_QUALITY, 98])


def test_spotting_report_scores_annotated_apexes_and_never_a_repaired_one(tmp_path):
    from tests.data import fake_trees

    from mer_lib.data import load_casme_ii, load_smic

    root = fake_trees.casme_ii_tree(tmp_path / "CASME2")
    # sub01/EP02_01f: frames 46..86, annotated apex 59 = the 14th frame: a clip whose motion peaks there
    clip = _clip_with_known_apex(n_frames=41, apex_index=59 - 46, drift=0.0, gain=0.0)
    _write_clip(root / "CASME2_RAW_selected" / "sub01" / "EP02_01f", range(46, 87), clip)
    with pytest.warns(UserWarning):
        records = load_casme_ii(root)
    table = apex.spotting_report(records, mask=INTERIOR, face="none", progress=False)
    assert list(table["clip_id"]) == [r.clip_id for r in records]
    row = table.set_index("clip_id").loc["sub01/EP02_01f"]
    assert bool(row["scored"]) and row["apex"] == 59 and abs(row["spotted"] - 59) <= 1
    assert np.isclose(row["relative_error"], row["error"] / 40)
    repaired = table[table["clip_id"].isin(["sub01/EP03_02", "sub02/EP01_01"])]
    assert len(repaired) == 2 and not repaired["scored"].any() and repaired["error"].isna().all()
    assert repaired["note"].str.contains("not annotated").all()
    smic = apex.spotting_report(load_smic(fake_trees.smic_tree(tmp_path / "SMIC")), mask=None, face="none",
                                progress=False)
    assert len(smic) == 3 and not smic["scored"].any()
    with pytest.raises(UserInputError, match="empty"):
        apex.spotting_report([])
    with pytest.raises(UserInputError, match="ClipRecord"):
        apex.spotting_report([object()])


# ---------------------------------------------------------------------------------------------- strain
def test_strain_of_a_linear_field_is_exact_everywhere():
    yy, xx = np.mgrid[0:9, 0:11].astype(float)
    flow = np.stack([0.02 * xx + 0.06 * yy, -0.04 * xx + 0.01 * yy], -1)
    exx, eyy, exy = apex.strain_components(flow)
    assert np.allclose(exx, 0.02) and np.allclose(eyy, 0.01) and np.allclose(exy, 0.5 * (0.06 - 0.04))
    assert np.allclose(apex.optical_strain(flow), np.sqrt(0.02 ** 2 + 0.01 ** 2 + 2 * 0.01 ** 2))


def test_rigid_motion_does_not_strain():
    yy, xx = np.mgrid[0:16, 0:16].astype(float)
    theta = 0.01
    rotation = np.stack([(np.cos(theta) - 1) * xx - np.sin(theta) * yy, np.sin(theta) * xx + (np.cos(theta) - 1) * yy],
                        -1)
    translation = np.stack([np.full_like(xx, 0.7), np.full_like(xx, -0.3)], -1)
    assert apex.optical_strain(translation).max() == 0
    # a finite rotation strains by (1 - cos theta), second order: 5e-5 here
    assert apex.optical_strain(rotation).max() < 1e-4


def test_strain_of_a_smooth_field_against_its_analytic_derivatives():
    n, a, b = 64, 0.8, 0.5
    k = 2 * np.pi / 32
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    flow = np.stack([a * np.sin(k * xx) * np.cos(k * yy), b * np.cos(k * xx) * np.sin(k * yy)], -1)
    exx_true = a * k * np.cos(k * xx) * np.cos(k * yy)
    eyy_true = b * k * np.cos(k * xx) * np.cos(k * yy)
    exy_true = 0.5 * (-a * k * np.sin(k * xx) * np.sin(k * yy) - b * k * np.sin(k * xx) * np.sin(k * yy))
    exx, eyy, exy = apex.strain_components(flow)
    inner = (slice(1, -1), slice(1, -1))
    # central differences: error h^2 / 6 * max |f'''| = k^3 * amplitude / 6 (h = 1)
    for got, true, amp in ((exx, exx_true, a), (eyy, eyy_true, b), (exy, exy_true, (a + b) / 2)):
        err = np.abs(got - true)[inner]
        assert err.max() <= amp * k ** 3 / 6 + 1e-12
        assert err.max() > amp * k ** 3 / 60                    # and it is second-order, not exact
    strain_true = np.sqrt(exx_true ** 2 + eyy_true ** 2 + 2 * exy_true ** 2)
    assert np.abs(apex.optical_strain(flow) - strain_true)[inner].max() < 2 * (a + b) * k ** 3 / 6


def test_strain_is_dimensionless():
    rng = np.random.default_rng(0)
    flow = ndimage.gaussian_filter(rng.standard_normal((20, 20, 2)), (3, 3, 0))
    assert np.allclose(apex.optical_strain(3 * flow, spacing=3.0), apex.optical_strain(flow))
    with pytest.raises(UserInputError, match="flow"):
        apex.optical_strain(np.zeros((5, 5)))
    with pytest.raises(UserInputError, match="spacing"):
        apex.optical_strain(flow, spacing=0)


# ---------------------------------------------------------------------------------------------- inputs
def test_onset_apex_flow_with_the_brightness_match_survives_a_flicker_that_throws_tvl1_off():
    base = texture(64)
    base = (base - base.min()) / np.ptp(base)
    moved = ndimage.shift(base, (0, 0.5), order=3, mode="nearest")
    inner = (slice(10, -10), slice(10, -10))

    def error(frame1, brightness):
        flow = apex.onset_apex_flow(np.stack([base, frame1]), 1, size=None, mask=None, brightness=brightness)
        return np.hypot(flow[..., 0] - 0.5, flow[..., 1])[inner].mean()

    assert error(moved, False) < 0.03                            # no flicker: TV-L1 is accurate
    flickered = 1.02 * moved
    assert error(flickered, False) > 0.5                         # 2% brighter: the L1 data term reads it as motion
    assert error(flickered, True) < error(flickered, False) / 4
    with pytest.raises(UserInputError, match="apex"):
        apex.onset_apex_flow(np.stack([base, moved]), 2)


@pytest.fixture(scope="module")
def small_synth():
    from mer_lib.data import synthetic_dataset

    return synthetic_dataset(seed=2, counts=(4, 4, 2), n_subjects=4, size=64)


def test_apex_inputs_shapes_normalisation_and_selection(small_synth):
    inputs = apex.apex_inputs(small_synth, size=28, flow_size=32, progress=False)
    assert inputs.x.shape == (10, 28, 28, 3) and inputs.channels == ("strain", "u", "v")
    assert inputs.flow.shape == (10, 32, 32, 2) and inputs.strain.shape == (10, 32, 32)
    assert np.array_equal(inputs.apex, small_synth.apex)
    assert np.allclose(np.sqrt(np.mean(inputs.x[..., 0] ** 2, axis=(1, 2))), 1, atol=1e-4)
    assert np.allclose(np.sqrt(np.mean(inputs.x[..., 1] ** 2 + inputs.x[..., 2] ** 2, axis=(1, 2))), 1, atol=1e-4)
    assert np.allclose(inputs.strain[3], apex.optical_strain(inputs.flow[3]), atol=1e-6)
    uv = inputs.select(("u", "v"))
    assert uv.x.shape == (10, 28, 28, 2) and np.array_equal(uv.x, inputs.x[..., 1:])
    with pytest.raises(UserInputError, match="channels"):
        inputs.select(("w",))
    with pytest.raises(UserInputError, match="apex"):
        apex.apex_inputs(small_synth.frames, progress=False)


def test_true_motion_is_zero_where_no_action_unit_moves(small_synth):
    motion = apex.true_motion(small_synth, size=32)
    assert motion.shape == (10, 32, 32) and motion.min() >= 0
    assert np.all(motion.max(axis=(1, 2)) > 0.1)
    assert np.all(motion[:, :2, :2] < 1e-3)                      # a corner of the frame never moves


# ---------------------------------------------------------------------------------------------- the network
def _hand_count(filters, side, channels, n_classes, kernel=3, padding=2, pool=3):
    conv = sum(kernel * kernel * channels * f + f for f in filters)
    bn = 4 * sum(filters)
    avg = (side + 2 * padding - kernel + 1) // pool // 2
    return conv + bn + avg * avg * sum(filters) * n_classes + n_classes


@pytest.mark.parametrize("filters, side, channels", [((3, 5, 8), 28, 3), ((2, 4), 20, 2), ((6,), 16, 1)])
def test_shallow_net_parameters_counted_by_hand(filters, side, channels):
    model = apex.shallow_net((side, side, channels), 3, filters)
    assert model.count_params() == _hand_count(filters, side, channels, 3)
    assert model.output_shape == (None, 3)


def test_the_three_streams_are_one_convolution_of_sixteen_filters():
    import keras

    model = apex.shallow_net()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 28, 28, 3)).astype("float32")
    padded = model.get_layer("padding")(x)
    streams = np.concatenate([np.asarray(model.get_layer(f"conv_{k}")(padded)) for k in (1, 2, 3)], axis=-1)
    one = keras.layers.Conv2D(16, 3, activation="relu")
    one.build(padded.shape)
    kernels = [model.get_layer(f"conv_{k}").get_weights() for k in (1, 2, 3)]
    one.set_weights([np.concatenate([k[0] for k in kernels], -1), np.concatenate([k[1] for k in kernels])])
    assert np.allclose(np.asarray(one(padded)), streams, atol=1e-6)


def test_bad_network_arguments_are_refused():
    with pytest.raises(UserInputError, match="input_shape"):
        apex.shallow_net((2, 2, 3))
    with pytest.raises(UserInputError, match="filters"):
        apex.shallow_net(filters=(3, 0))
    with pytest.raises(UserInputError, match="n_streams"):
        apex.ShallowCopies(0, 2)


def test_a_copy_moved_into_the_single_network_predicts_the_same():
    rng = np.random.default_rng(1)
    copies = apex.ShallowCopies(2, 3, input_shape=(16, 16, 3)).initialize([4, 9], [0, 1, 2])
    for var in (copies.model.moving_mean, copies.model.moving_var, copies.model.gamma, copies.model.beta,
                copies.model.bias):      # not the identity, so that the test sees every weight
        var.assign(np.asarray(var) + rng.uniform(0.1, 0.5, var.shape).astype("float32"))
    x = rng.standard_normal((5, 16, 16, 3)).astype("float32")
    probabilities = apex.predict_copies(copies, x)
    assert probabilities.shape == (5, 2, 3, 3)
    for s in range(2):
        for c in range(3):
            single = apex.copy_to_model(copies, s, c)
            assert np.allclose(single.predict(x, verbose=0), probabilities[:, s, c], atol=1e-5)
    assert not np.allclose(probabilities[:, 0, 0], probabilities[:, 1, 2], atol=1e-3)


def _tiny_task(n=24, side=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    x = rng.standard_normal((n, side, side, 3)).astype("float32")
    x[..., 0] += labels[:, None, None]                            # learnable
    return x, labels


@pytest.mark.usefixtures("steps_eager")
def test_copies_trained_together_are_the_copies_trained_alone():
    x, labels = _tiny_task()
    rng = np.random.default_rng(3)
    masks = rng.random((2, 2, len(x))) > 0.3
    settings = dict(epochs=2, batch_size=8, learning_rate=0.01, dropout=0.0, progress=False)
    together = apex.train_copies(x, labels, masks, [5, 6], copy_keys=[10, 11], **settings)
    assert together.loss.shape == (2, 2, 2) and np.all(np.isfinite(together.loss))
    for s, seed in enumerate([5, 6]):
        for c, key in enumerate([10, 11]):
            alone = apex.train_copies(x, labels, masks[s:s + 1, c:c + 1], [seed], copy_keys=[key], **settings)
            a, b = together.copies.copy_weights(s, c), alone.copies.copy_weights(0, 0)
            # float32 sums in another order differ in their last bits, and Adam divides each gradient by its
            # own size, so a weight whose gradient is ~0 (a bias that batch normalisation cancels) can take a
            # step of the learning rate (0.01) the other way: all weights but such strays agree to 1e-5
            diffs = np.concatenate([np.abs(u - v).ravel() for name in a for u, v in zip(a[name], b[name])])
            assert np.median(diffs) < 1e-6 and np.mean(diffs > 1e-5) < 0.05 and diffs.max() < 2 * 0.01, (s, c)
            assert np.allclose(together.loss[:, s, c], alone.loss[:, 0, 0], rtol=1e-4)
            assert np.allclose(apex.predict_copies(together.copies, x)[:, s, c],
                               apex.predict_copies(alone.copies, x)[:, 0, 0], atol=1e-3)


@pytest.mark.usefixtures("steps_eager")
def test_a_copy_never_learns_from_the_clips_its_mask_leaves_out():
    x, labels = _tiny_task()
    masks = np.ones((1, 1, len(x)), bool)
    held = np.array([1, 5, 7, 20])
    masks[0, 0, held] = False
    other = x.copy()
    other[held] = 100 * np.random.default_rng(9).standard_normal(other[held].shape)
    settings = dict(epochs=2, batch_size=8, progress=False)
    a = apex.train_copies(x, labels, masks, [0], **settings).copies.copy_weights(0, 0)
    b = apex.train_copies(other, labels, masks, [0], **settings).copies.copy_weights(0, 0)
    for name in a:
        for u, v in zip(a[name], b[name]):
            assert np.allclose(u, v, rtol=1e-5, atol=1e-6), name
    with pytest.raises(UserInputError, match="masks"):
        apex.train_copies(x, labels, np.zeros((1, 1, len(x)), bool), [0], progress=False)


@pytest.mark.usefixtures("steps_eager")
def test_train_shallow_protocols_folds_scores_models_and_cache(tmp_path, monkeypatch):
    x, labels = _tiny_task(n=30)
    subjects = np.repeat(np.arange(5), 6)
    res = apex.train_shallow(x, labels, subjects, n_seeds=2, epochs=1, class_names=["a", "b", "c"],
                             cache_dir=tmp_path, progress=False)
    runs = res.runs()
    assert list(runs["protocol"]) == ["paper", "paper", "loso", "loso"]
    assert list(runs["n_test"]) == [6, 6, 30, 30] and res.n_folds("loso") == 5
    for r in (0, 1):   # the splits of mer reproduce's runs r
        train, test = evaluate.paper_split(labels, 0.2, r)
        assert np.array_equal(res.test_indices("paper", r), test) and np.array_equal(res.train_indices("paper", r),
                                                                                     train)
    tests = np.concatenate([res.test_indices("loso", 1, f) for f in range(5)])
    assert np.array_equal(np.sort(tests), np.arange(30))
    for f in range(5):
        assert len(np.unique(subjects[res.test_indices("loso", 0, f)])) == 1
        assert not np.isin(res.test_indices("loso", 0, f), res.train_indices("loso", 0, f)).any()
    model = res.model("loso", 1, 3)
    test = res.test_indices("loso", 1, 3)
    clips, y, pred, probs = res.predictions("loso", 1)
    assert np.allclose(model.predict(x[test], verbose=0), probs[np.isin(clips, test)], atol=1e-5)
    assert np.isclose(runs.iloc[3]["uf1"], evaluate.uf1(y, pred, 3))
    assert res.summary("loso")["n"] == 2 and res.cpu_seconds > 0
    # the cache: the same call reads the folder instead of training
    monkeypatch.setattr("mer_lib.apex.shallow.train_copies", lambda *a, **k: pytest.fail("retrained"))
    again = apex.train_shallow(x, labels, subjects, n_seeds=2, epochs=1, class_names=["a", "b", "c"],
                               cache_dir=tmp_path, progress=False)
    assert np.array_equal(again.probabilities, res.probabilities) and again.runs().equals(runs)
    assert np.allclose(again.model("paper", 0).predict(x, verbose=0), res.model("paper", 0).predict(x, verbose=0),
                       atol=1e-6)
    with pytest.raises(UserInputError, match="protocol"):
        res.model("kfold", 0)
    with pytest.raises(UserInputError, match="fold"):
        res.model("paper", 0, 1)
    with pytest.raises(UserInputError, match="unknown settings"):
        apex.train_shallow(x, labels, subjects, n_seeds=1, epoch=3, progress=False)


class _Spent:
    """A budget with nothing left, then plenty: as seen by the trainer after each epoch."""

    def __init__(self, left):
        self.seconds, self._left = 60.0, list(left)

    def left(self):
        return self._left.pop(0) if len(self._left) > 1 else self._left[0]


@pytest.mark.usefixtures("steps_eager")
def test_a_budget_stops_the_copies_after_the_epoch_that_used_it_up(tmp_path):
    """Within a budget the copies train the epochs that fit (at least one), and the results say how many."""
    x, labels = _tiny_task(n=18)
    subjects = np.repeat(np.arange(3), 6)
    plenty = apex.train_shallow(x, labels, subjects, n_seeds=1, epochs=3, progress=False, budget=_Spent([1e9]))
    assert plenty.loss.shape[0] == 3 and plenty.settings["epochs"] == 3 == plenty.settings["epochs_asked"]
    assert len(plenty.settings["epoch_seconds"]) == 3
    short = apex.train_shallow(x, labels, subjects, n_seeds=1, epochs=3, progress=False, budget=_Spent([1e9, 0.0]),
                               cache_dir=tmp_path)
    assert short.loss.shape[0] == 2 and short.settings["epochs"] == 2 and short.settings["epochs_asked"] == 3
    np.testing.assert_allclose(short.loss, plenty.loss[:2], rtol=1e-5)     # the same training, stopped earlier
    again = apex.ShallowResults.load(next(tmp_path.iterdir()))
    assert again.settings["epochs"] == 2 and again.settings["epoch_seconds"] == short.settings["epoch_seconds"]
    none_left = apex.train_shallow(x, labels, subjects, n_seeds=1, epochs=3, progress=False, budget=_Spent([0.0]))
    assert none_left.loss.shape[0] == 1                                  # the first epoch always runs


_JAX_SCRIPT = """
import numpy as np, json
from mer_lib import apex
rng = np.random.default_rng(0)
labels = np.arange(18) % 3
x = rng.standard_normal((18, 16, 16, 3)).astype("float32") + labels[:, None, None, None]
masks = rng.random((2, 2, 18)) > 0.3
run = apex.train_copies(x, labels, masks, [1, 2], epochs=2, batch_size=6, progress=False)
p = apex.predict_copies(run.copies, x)
single = apex.copy_to_model(run.copies, 1, 0).predict(x, verbose=0)
print(json.dumps({"backend": run.settings["backend"], "diff": float(np.abs(single - p[:, 1, 0]).max()),
                  "finite": bool(np.isfinite(run.loss).all())}))
"""


def test_the_trainer_runs_on_keras_jax_backend_too():
    pytest.importorskip("jax")
    from tests.jax_child import jax_child_env

    out = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], capture_output=True, text=True, env=jax_child_env(),
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["finite"] and result["diff"] < 1e-5


def _results_with_scores(scores, n_train=80, n_test=20):
    """A ShallowResults whose runs have the given UF1 per seed under both protocols (no training)."""
    import pandas as pd

    n = n_train + n_test
    seeds = list(range(len(scores)))
    pair = (np.arange(n_train), np.arange(n_train, n))
    res = apex.ShallowResults(np.zeros((n, 4, 4, 3), np.float32), np.arange(n) % 3, np.arange(n) % 5, ["a", "b", "c"],
                              ("strain", "u", "v"), seeds, ("paper", "loso"),
                              {"paper": [[pair] for _ in seeds], "loso": [[pair] for _ in seeds]}, {}, None, None, 0.0,
                              0.0, {})
    rows = [{"protocol": p, "seed": s, "uf1": v, "uar": v, "accuracy": v} for p in ("paper", "loso")
            for s, v in zip(seeds, scores)]
    res.runs = lambda: pd.DataFrame(rows)
    return res


def test_summary_names_its_interval_range_t_or_corrected_t():
    from scipy import stats

    few = _results_with_scores([0.6, 0.7, 0.65])
    s = few.summary("loso")
    assert s["interval"] == "range of 3 runs" and (s["ci_low"], s["ci_high"]) == (0.6, 0.7)
    scores = [0.60, 0.70, 0.65, 0.75, 0.62, 0.68]
    many = _results_with_scores(scores)
    loso = many.summary("loso")
    low, high = stats.t.interval(0.95, len(scores) - 1, loc=np.mean(scores), scale=stats.sem(scores))
    assert loso["interval"] == "95% t-interval over 6 seeds"
    assert np.isclose(loso["ci_low"], low) and np.isclose(loso["ci_high"], high)
    paper = many.summary("paper")
    assert paper["interval"] == "95% corrected t-interval over 6 splits"
    # Nadeau-Bengio: the variance of the mean is (1/J + n_test/n_train) s^2, not s^2 / J
    half = stats.t.ppf(0.975, 5) * np.std(scores, ddof=1) * np.sqrt(1 / 6 + 20 / 80)
    assert np.isclose(paper["ci_high"] - paper["mean"], half) and paper["ci_high"] - paper["ci_low"] > high - low
    with pytest.raises(UserInputError, match="metric"):
        many.summary("loso", "f2")


# ---------------------------------------------------------------------------------------------- the chapter's checkers
def test_affine_checker_names_a_fit_over_every_pixel_and_swapped_axes():
    from mer_lib.exercises import check

    assert check("apex.remove_affine_motion", apex.remove_affine_motion, quiet=True).passed

    def unmasked(flow, mask=None):                      # ignores the mask: fits over every pixel
        return apex.remove_affine_motion(flow, None)

    result = check("apex.remove_affine_motion", unmasked, quiet=True)
    assert not result.passed and result.failed_case == "the same, the fit inside a mask only"
    assert "masked pixels only" in result.message

    def constant_only(flow, mask=None):                 # a translation model: the mean flow removed
        flow = np.asarray(flow, float)
        return flow - flow.reshape(-1, 2).mean(axis=0)

    result = check("apex.remove_affine_motion", constant_only, quiet=True)
    assert not result.passed and result.failed_case == "a pure affine motion (a turning head)"
    assert "one for x" in result.message


def test_strain_checker_names_a_shear_counted_once_and_swapped_derivatives():
    from mer_lib.exercises import check

    def shear_once(flow):
        flow = np.asarray(flow, float)
        du_dy, du_dx = np.gradient(flow[..., 0])
        dv_dy, dv_dx = np.gradient(flow[..., 1])
        return np.sqrt(du_dx ** 2 + dv_dy ** 2 + (0.5 * (du_dy + dv_dx)) ** 2)

    result = check("apex.optical_strain", shear_once, quiet=True)
    assert not result.passed and result.failed_case == "a shear, u = 0.2 y" and "twice" in result.message

    def swapped(flow):                                  # x and y derivatives confused
        flow = np.asarray(flow, float)
        du_dx, du_dy = np.gradient(flow[..., 0])
        dv_dx, dv_dy = np.gradient(flow[..., 1])
        return np.sqrt(du_dx ** 2 + dv_dy ** 2 + 2 * (0.5 * (du_dy + dv_dx)) ** 2)

    result = check("apex.optical_strain", swapped, quiet=True)
    assert not result.passed and result.failed_case == "a uniform stretch along x, u = 0.1 x"
    assert "np.gradient" in result.message

    def full_jacobian(flow):                            # the Frobenius norm of J, rotation included
        flow = np.asarray(flow, float)
        du_dy, du_dx = np.gradient(flow[..., 0])
        dv_dy, dv_dx = np.gradient(flow[..., 1])
        return np.sqrt(du_dx ** 2 + du_dy ** 2 + dv_dx ** 2 + dv_dy ** 2)

    result = check("apex.optical_strain", full_jacobian, quiet=True)
    assert not result.passed and result.failed_case in ("a shear, u = 0.2 y", "a small rotation")


def test_parameter_count_checker_against_keras():
    from mer_lib.exercises import check
    from mer_lib.exercises.ch13_apex import shallow_parameters

    for side, channels, filters, n_classes in ((28, 3, (3, 5, 8), 3), (16, 2, (4,), 5), (40, 3, (6, 10), 3)):
        assert shallow_parameters(side, channels, filters, n_classes) == \
            apex.shallow_net((side, side, channels), n_classes, filters).count_params()

    def no_normalisation(side, channels, filters, n_classes):
        return shallow_parameters(side, channels, filters, n_classes) - 4 * sum(filters)

    result = check("apex.shallow_parameters", no_normalisation, quiet=True)
    assert not result.passed and "batch normalisation" in result.message
