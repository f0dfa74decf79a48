import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mer_lib.models import TABLE1, TABLE1_PARAMS, cnn_rnn, compile_model, one_stream_3dcnn, two_stream


def _shapes(model):
    return {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}


def test_paper_variant_reproduces_table1_shape_for_shape():
    model = two_stream("paper")
    shapes = _shapes(model)
    for name, shape in TABLE1.items():
        assert shapes[name] == shape, f"{name}: {shapes[name]} != Table 1's {shape}"


def test_paper_variant_has_table1s_parameter_counts():
    model = two_stream("paper")
    assert model.count_params() == TABLE1_PARAMS == 13_557_251
    by_layer = {layer.name: layer.count_params() for layer in model.layers}
    assert by_layer["conv3d_channels_last_1"] == by_layer["conv3d_channels_last_2"] == 4352
    assert by_layer["dense_1"] == 4_515_968 and by_layer["dense_2"] == 9_031_808
    assert by_layer["softmax"] == 771


def test_corrected_variant_pools_over_space_and_time():
    shapes = _shapes(two_stream("corrected"))
    assert shapes["conv3d_1"] == (64, 64, 8, 32)
    assert shapes["max_pooling3d_1"] == (21, 21, 2, 32)
    assert shapes["flatten_1"] == (28224,)
    assert shapes["flatten_2"] == (70560,)


def test_models_take_their_shapes_and_classes_as_arguments():
    model = two_stream("paper", frames_shape=(6, 32, 32, 1), flow_shape=(12, 32, 32, 1), n_classes=5)
    assert model.output.shape[-1] == 5
    assert _shapes(model)["max_pooling3d_1"] == (10, 10, 10, 6)
    assert one_stream_3dcnn((18, 64, 64, 1)).get_layer("conv3d").output.shape[1:] == (62, 62, 4, 32)
    assert cnn_rnn((4, 32, 32, 1), n_classes=2).output.shape[-1] == 2


@pytest.mark.parametrize("bad", [dict(variant="original"), dict(frames_shape=(8, 64, 64)),
                                 dict(flow_shape=(16, 64, 64, 3)), dict(n_classes=1)])
def test_two_stream_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        two_stream(**bad)


def _small_batch(rng, n=4, t=8, size=64, classes=3):
    y = keras.utils.to_categorical(rng.integers(0, classes, n), classes)
    return (rng.random((n, t, size, size, 1), dtype=np.float32),
            rng.random((n, 2 * t, size, size, 1), dtype=np.float32), y)


@pytest.mark.parametrize("variant", ["paper", "corrected"])
def test_two_stream_compiles_predicts_and_trains_one_step(variant):
    rng = np.random.default_rng(0)
    frames, flow, y = _small_batch(rng)
    model = compile_model(two_stream(variant), jit_compile=False)
    probs = model.predict({"frames": frames, "flow": flow}, verbose=0)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch({"frames": frames, "flow": flow}, y)
    assert np.all(np.isfinite(loss))
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("build", [one_stream_3dcnn, cnn_rnn])
def test_baselines_compile_predict_and_train_one_step(build):
    rng = np.random.default_rng(1)
    frames, _, y = _small_batch(rng)
    model = compile_model(build(), jit_compile=False)
    assert model.predict(frames, verbose=0).shape == (4, 3)
    before = [w.copy() for w in model.get_weights()]
    assert np.all(np.isfinite(model.train_on_batch(frames, y)))
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("normalization", ["batch", "layer"])
def test_a_normalisation_layer_follows_each_flatten(normalization):
    model = two_stream("paper", normalization=normalization)
    for i in (1, 2):
        assert model.get_layer(f"normalization_{i}").input is model.get_layer(f"flatten_{i}").output
        assert model.get_layer(f"dense_{i}").input is model.get_layer(f"normalization_{i}").output
    assert two_stream("paper").count_params() == TABLE1_PARAMS      # the paper's network has none
    with pytest.raises(ValueError, match="normalization"):
        two_stream(normalization="group")


def test_each_stream_alone_has_the_two_stream_layers():
    from mer_lib.models import stream_model

    paper = two_stream("paper")
    flow = stream_model("flow")
    frames = stream_model("frames")
    for model, i in ((frames, 1), (flow, 2)):
        for name in (f"conv3d_channels_last_{i}", f"dense_{i}"):
            assert model.get_layer(name).count_params() == paper.get_layer(name).count_params()
    assert flow.count_params() + frames.count_params() - 2 * 387 + 771 == TABLE1_PARAMS
    with pytest.raises(ValueError, match="stream"):
        stream_model("audio")


def test_the_lstm_of_cnn_rnn_computes_in_float32_under_mixed_precision():
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = cnn_rnn((4, 16, 16, 1))
        assert model.get_layer("lstm").compute_dtype == "float32"
        assert model.get_layer("per_frame_cnn").compute_dtype == "float16"
        out = model.predict(np.zeros((2, 4, 16, 16, 1), "float32"), verbose=0)
        assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1, atol=1e-3)
    finally:
        keras.mixed_precision.set_global_policy(before)
