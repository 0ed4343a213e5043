"""Saving and loading: model.save/load_model (one zip file), save_weights/load_weights (.npz, HDF5),
to_json/model_from_json, get_config/from_config for every layer, atomic writes, clear errors on bad
files, reload in a new process, and an interrupted training run resumed from its checkpoint."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

import _custom_objects as co
import lamina
from lamina import backends
from lamina.layers import Dense, Dropout, Input, Layer
from lamina.models import Model, Sequential
from lamina.optimizers import SGD, Adam
from lamina.saving import load_model, model_from_json, weights_io
from _models import blobs, mlp

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def fresh_layer_names():
    """Layer names count from scratch in each test ("dense", "dense_1"...), as after clear_session()."""
    from lamina.layers.layer import reset_names
    reset_names()


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """A fresh interpreter with tests/ importable (as the test session has it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env, capture_output=True,
                          text=True, timeout=120)


def compiled_mlp(optimizer=None, **kw):
    model = mlp(**kw)
    model.compile(optimizer=optimizer or Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


def rewrite_archive(src: Path, dst: Path, replace: dict) -> None:
    """Copy a model zip, replacing (bytes) or dropping (None) some members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in replace:
                if replace[name] is not None:
                    zout.writestr(name, replace[name])
            else:
                zout.writestr(name, zin.read(name))


# --- whole-model round trips ----------------------------------------------------------------------
def test_sequential_round_trip_restores_predictions_compile_and_optimizer(tmp_path):
    x, y, _ = blobs(n=96, features=20)
    model = compiled_mlp(dropout=0.2)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    path = tmp_path / "mlp.lamina"
    model.save(path)

    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.npz", "optimizer.npz", "state.json"]
        meta = json.loads(zf.read("metadata.json"))
        config = json.loads(zf.read("config.json"))
        with np.load(io.BytesIO(zf.read("model.weights.npz")), allow_pickle=False) as npz:
            names = npz["__names__"].tolist()
            np.testing.assert_array_equal(npz["w00000"], model.weights[0].numpy())
    assert meta["format_version"] == 1 and meta["backend"] == lamina.backend.backend()
    assert meta["lamina_version"] == lamina.__version__ and meta["date_saved"].endswith("+00:00")
    assert names == [w.name for w in model.weights] == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert config["class_name"] == "Sequential"
    assert config["compile_config"]["loss"] == "categorical_crossentropy"
    assert config["compile_config"]["metrics"] == ["accuracy"]
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"

    assert lamina.models.load_model is load_model and lamina.models.model_from_json is model_from_json
    assert lamina.models.save_model is lamina.saving.save_model  # Keras' module paths
    loaded = lamina.models.load_model(path)
    assert type(loaded) is Sequential and loaded.compiled
    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "Dropout", "Dense", "Activation"]
    assert_same_weights(model, loaded)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert loaded.metrics_names == ["loss", "accuracy"]
    assert isinstance(loaded.optimizer, Adam) and loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    saved_slots = model.optimizer.get_slot_state(model.trainable_weights)
    loaded_slots = loaded.optimizer.get_slot_state(loaded.trainable_weights)
    assert list(saved_slots) == list(loaded_slots) and len(saved_slots) == 1 + 4 * 2  # m and v per weight
    for key, value in saved_slots.items():
        np.testing.assert_array_equal(value, loaded_slots[key])

    uncompiled = load_model(path, compile=False)
    assert not uncompiled.compiled
    np.testing.assert_array_equal(uncompiled.predict(x), model.predict(x))


def test_functional_two_inputs_shared_layer_round_trip(tmp_path):
    lamina.utils.set_random_seed(4)
    a, b = Input(shape=(6,), name="left"), Input(shape=(6,), name="right")
    shared = Dense(5, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    out_a = Dense(1, activation="sigmoid", name="sim")(ha)
    out_b = Dense(3, activation="softmax", name="cls")(hb)
    model = Model(inputs=[a, b], outputs=[out_a, out_b])
    model.compile(optimizer=SGD(0.1, momentum=0.9),
                  loss={"sim": "binary_crossentropy", "cls": "categorical_crossentropy"},
                  loss_weights={"sim": 1.0, "cls": 0.5}, metrics={"cls": ["accuracy"]})
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(40, 6)).astype("float32"), rng.normal(size=(40, 6)).astype("float32")
    y1 = (x1.sum(1, keepdims=True) > 0).astype("float32")
    y2 = lamina.utils.to_categorical(x2[:, :3].argmax(1), 3)
    model.fit([x1, x2], [y1, y2], batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "two_inputs.keras"  # the Keras extension is accepted too
    model.save(path)

    loaded = load_model(path)
    assert [layer.name for layer in loaded.layers] == ["left", "right", "shared", "sim", "cls"]
    assert len(loaded.weights) == 6  # the shared layer's kernel and bias once
    assert len(loaded.get_layer("shared").inbound_nodes) == 2
    for p, q in zip(model.predict([x1, x2]), loaded.predict([x1, x2])):
        np.testing.assert_array_equal(p, q)
    assert loaded.evaluate([x1, x2], [y1, y2], verbose=0) == model.evaluate([x1, x2], [y1, y2], verbose=0)
    # Training continues identically (momentum slots restored).
    model.fit([x1, x2], [y1, y2], batch_size=8, epochs=1, verbose=0, shuffle=False)
    loaded.fit([x1, x2], [y1, y2], batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert_same_weights(model, loaded)


def siamese_model():
    """Two inputs, a shared tower made of a custom weighted layer and a Dense with a custom
    activation, and a custom K.* distance; trained with a registered contrastive loss."""
    lamina.utils.set_random_seed(3)
    a, b = Input(shape=(6,), name="left"), Input(shape=(6,), name="right")
    tower = co.ScaledDense(8, init_scale=1.5, name="tower")
    head = Dense(4, activation=co.soft_clip, name="head")
    dist = co.EuclideanDistance(name="distance")([head(tower(a)), head(tower(b))])
    model = Model(inputs=[a, b], outputs=dist)
    model.compile(optimizer=Adam(0.01), loss=co.contrastive_loss)
    return model


def pairs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 6)).astype("float32")
    same = rng.random(n) < 0.5
    b = np.where(same[:, None], a + 0.05 * rng.normal(size=(n, 6)), rng.normal(size=(n, 6))).astype("float32")
    return a, b, same.astype("float32")[:, None]


def test_custom_layer_loss_and_activation_reload_in_a_new_process(tmp_path):
    a, b, same = pairs()
    siamese = siamese_model()
    hist = siamese.fit([a, b], same, batch_size=16, epochs=6, verbose=0)
    assert hist.history["loss"][-1] < 0.8 * hist.history["loss"][0]
    siamese.get_layer("tower").offset.assign(np.linspace(-0.5, 0.5, 8).astype("float32"))  # non-trainable weight
    siamese.save(tmp_path / "siamese.lamina")

    lamina.utils.set_random_seed(5)
    seq = Sequential([co.ScaledDense(5, input_shape=(6,), name="custom"), Dense(1)])
    seq.compile(optimizer="rmsprop", loss=co.scaled_mse, metrics=["mae"])
    seq.fit(a, same, batch_size=16, epochs=2, verbose=0)
    seq.save(tmp_path / "seq.lamina")
    np.savez(tmp_path / "data.npz", a=a, b=b, y=same)

    result = run_python("""
        import json, sys
        import numpy as np
        import _custom_objects as co
        import lamina
        folder = sys.argv[1]
        d = np.load(folder + "/data.npz")
        siamese = lamina.models.load_model(folder + "/siamese.lamina", custom_objects={"soft_clip": co.soft_clip})
        seq = lamina.models.load_model(folder + "/seq.lamina", custom_objects=co.UNREGISTERED)
        np.save(folder + "/siamese_pred.npy", siamese.predict([d["a"], d["b"]]))
        np.save(folder + "/seq_pred.npy", seq.predict(d["a"]))
        print(json.dumps({"siamese_loss": siamese.evaluate([d["a"], d["b"]], d["y"], verbose=0),
                          "seq_eval": seq.evaluate(d["a"], d["y"], verbose=0),
                          "tower": type(siamese.get_layer("tower")).__name__,
                          "loss_fn": siamese._compile_args["loss"].__name__}))
        """, str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    np.testing.assert_array_equal(np.load(tmp_path / "siamese_pred.npy"), siamese.predict([a, b]))
    np.testing.assert_array_equal(np.load(tmp_path / "seq_pred.npy"), seq.predict(a))
    assert report["siamese_loss"] == siamese.evaluate([a, b], same, verbose=0)
    assert report["seq_eval"] == seq.evaluate(a, same, verbose=0)
    assert report["tower"] == "ScaledDense" and report["loss_fn"] == "contrastive_loss"


def test_unknown_custom_objects_give_one_clear_error(tmp_path):
    lamina.utils.set_random_seed(5)
    seq = Sequential([Dense(3, input_shape=(4,), activation=co.soft_clip)])
    seq.compile(optimizer="sgd", loss=co.scaled_mse)
    seq.save(tmp_path / "m.lamina")
    with pytest.raises(ValueError, match=r"m\.lamina.*soft_clip.*custom_objects"):
        load_model(tmp_path / "m.lamina")
    with pytest.raises(ValueError, match=r"m\.lamina.*loss 'scaled_mse'.*custom_objects=\{'scaled_mse'"):
        load_model(tmp_path / "m.lamina", custom_objects={"soft_clip": co.soft_clip})
    assert not load_model(tmp_path / "m.lamina", custom_objects={"soft_clip": co.soft_clip}, compile=False).compiled
    with lamina.saving.custom_object_scope(co.UNREGISTERED):
        assert load_model(tmp_path / "m.lamina").compiled


@lamina.saving.register_lamina_serializable(package="SavingTests")
class TwoDense(Model):
    """A subclassed model that implements get_config."""

    def __init__(self, hidden=6, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = hidden
        self.hidden = Dense(hidden, activation="relu")
        self.out = Dense(2)

    def call(self, inputs, training=None):
        return self.out(self.hidden(inputs))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden_units}


class NoConfig(Model):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.dense = Dense(width)

    def call(self, inputs, training=None):
        return self.dense(inputs)


def test_subclassed_models(tmp_path):
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    bare = NoConfig(4)
    bare.predict(x)
    with pytest.raises(ValueError, match=r"'NoConfig'.*get_config\(\).*save_weights"):
        bare.save(tmp_path / "bare.lamina")
    assert not (tmp_path / "bare.lamina").exists()

    lamina.utils.set_random_seed(2)
    model = TwoDense(hidden=5)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :2], epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "sub.lamina")
    loaded = load_model(tmp_path / "sub.lamina")
    assert type(loaded) is TwoDense and loaded.hidden_units == 5
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_nested_model_and_unsavable_compile_arguments(tmp_path):
    lamina.utils.set_random_seed(6)
    inner = Sequential([Dense(4, input_shape=(3,), activation="relu"), Dropout(0.5)], name="inner")
    x_in = Input(shape=(3,))
    outer = Model(x_in, Dense(2, name="head")(inner(x_in)))
    outer.compile(optimizer="sgd", loss=lambda y_true, y_pred: lamina.ops.mean(lamina.ops.square(y_pred - y_true)))
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    outer.fit(x, x[:, :2], epochs=1, batch_size=4, verbose=0)
    dropout_stream = (inner.layers[1].seed_generator.seed, inner.layers[1].seed_generator.counter)
    assert dropout_stream[1] == 2  # two training batches drew masks
    with pytest.warns(RuntimeWarning, match=r"anonymous lambda.*saved without its compile arguments"):
        outer.save(tmp_path / "nested.lamina")
    loaded = load_model(tmp_path / "nested.lamina")
    assert not loaded.compiled and type(loaded.get_layer("inner")) is Sequential
    np.testing.assert_array_equal(loaded.predict(x), outer.predict(x))
    restored = loaded.get_layer("inner").layers[1].seed_generator
    assert (restored.seed, restored.counter) == dropout_stream  # the Dropout stream continues where it was


# --- training resumes exactly ---------------------------------------------------------------------
def test_optimizer_state_restored_two_epochs_plus_one_equals_three(tmp_path):
    x, y, _ = blobs(n=96, features=8)

    def fresh():
        return compiled_mlp(optimizer=Adam(0.01), features=8, hidden=16)

    straight = fresh()
    lamina.utils.set_random_seed(9)
    straight.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)

    first = fresh()
    lamina.utils.set_random_seed(9)
    first.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "two.lamina")
    first.save(tmp_path / "two_no_opt.lamina", include_optimizer=False)

    resumed = load_model(tmp_path / "two.lamina")
    assert resumed.optimizer.iterations == 12
    lamina.utils.set_random_seed(9)
    hist = resumed.fit(x, y, batch_size=16, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    assert hist.epoch == [2]
    assert_same_weights(straight, resumed)

    # Without the optimizer state (fresh Adam moments, step count 0) the third epoch differs.
    restarted = load_model(tmp_path / "two_no_opt.lamina")
    assert restarted.optimizer.iterations == 0 and isinstance(restarted.optimizer, Adam)
    restarted.fit(x, y, batch_size=16, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    assert not np.array_equal(restarted.get_weights()[0], straight.get_weights()[0])


OPTIMIZERS = {
    "sgd_nesterov_schedule": lambda: SGD(learning_rate=lamina.optimizers.schedules.ExponentialDecay(0.1, 3, 0.9),
                                         momentum=0.9, nesterov=True),
    "rmsprop_keras2_decay": lambda: lamina.optimizers.RMSprop(learning_rate=0.01, decay=0.01),
    "adagrad": lambda: lamina.optimizers.Adagrad(0.05),
    "adadelta": lambda: lamina.optimizers.Adadelta(),
    "adam_amsgrad": lambda: Adam(0.01, amsgrad=True),
    "adamax": lambda: lamina.optimizers.Adamax(0.01),
    "nadam": lambda: lamina.optimizers.Nadam(0.01),
    "adamw_clipnorm": lambda: lamina.optimizers.AdamW(0.01, weight_decay=0.01, clipnorm=1.0),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_resumes_exactly(tmp_path, name):
    x, y, _ = blobs(n=24, features=5, classes=2)
    straight = compiled_mlp(optimizer=OPTIMIZERS[name](), features=5, classes=2, hidden=4)
    straight.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    first = compiled_mlp(optimizer=OPTIMIZERS[name](), features=5, classes=2, hidden=4)
    first.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "one.lamina")
    resumed = load_model(tmp_path / "one.lamina")
    assert type(resumed.optimizer) is type(first.optimizer)
    assert resumed.optimizer.get_config() == first.optimizer.get_config()
    resumed.fit(x, y, batch_size=8, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    assert resumed.optimizer.iterations == 6
    assert_same_weights(straight, resumed)


RESUME_SCRIPT = """
    import json, os, sys
    import numpy as np
    import _custom_objects as co
    import lamina
    mode, ckpt, folder = sys.argv[1], sys.argv[2], sys.argv[3]
    d = np.load(folder + "/data.npz")
    if mode == "interrupted":
        model = co.resumable_model()

        class Crash(lamina.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:       # after the second epoch (and its checkpoint): die without cleanup
                    os._exit(17)

        lamina.utils.set_random_seed(11)
        model.fit(d["x"], d["y"], batch_size=16, epochs=4, verbose=0,
                  callbacks=[lamina.callbacks.ModelCheckpoint(ckpt), Crash()])
        sys.exit(3)                  # not reached
    model = lamina.models.load_model(ckpt)
    lamina.utils.set_random_seed(11)
    hist = model.fit(d["x"], d["y"], batch_size=16, epochs=4, initial_epoch=2, verbose=0)
    np.savez(folder + "/resumed.npz", *model.get_weights())
    print(json.dumps({"epoch": hist.epoch, "loss": hist.history["loss"], "iterations": model.optimizer.iterations}))
"""


def test_interrupted_run_resumes_from_checkpoint_in_a_new_process(tmp_path):
    x, y, _ = blobs(n=80, features=10)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    ckpt = str(tmp_path / "ckpt" / "last.lamina")

    crashed = run_python(RESUME_SCRIPT, "interrupted", ckpt, str(tmp_path))
    assert crashed.returncode == 17, crashed.stderr
    assert os.listdir(tmp_path / "ckpt") == ["last.lamina"]  # no temporary file left behind

    resumed = run_python(RESUME_SCRIPT, "resume", ckpt, str(tmp_path))
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert report["epoch"] == [2, 3]           # History continues at epoch 2 (0-based), as Keras numbers it
    assert report["iterations"] == 4 * 5      # 5 steps per epoch, none lost or repeated

    reference = co.resumable_model()
    lamina.utils.set_random_seed(11)
    hist = reference.fit(x, y, batch_size=16, epochs=4, verbose=0)
    with np.load(tmp_path / "resumed.npz") as got:
        final = [got[f"arr_{i}"] for i in range(len(got.files))]
    assert report["loss"] == hist.history["loss"][2:], (
        "the resumed epochs differ from the uninterrupted run: fit must shuffle epoch e with counter e of its "
        "seed (also when initial_epoch > 0) for a resumed run to see the same batches")
    for want, have in zip(reference.get_weights(), final):
        np.testing.assert_array_equal(want, have)


# --- cross-backend ---------------------------------------------------------------------------------
def test_model_saved_on_numpy_loads_on_another_backend(tmp_path, fresh_config):
    from lamina_numpy import NumpyBackend

    class OtherBackend(NumpyBackend):
        name = "saving_test_backend"

    x, y, _ = blobs(n=32, features=20)
    backends.set_backend("numpy")
    model = compiled_mlp()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "numpy.lamina")
    model.save_weights(tmp_path / "numpy.weights.npz")
    expected = model.predict(x)
    backends.register_backend("saving_test_backend", OtherBackend)
    try:
        backends.set_backend("saving_test_backend")
        assert lamina.backend.backend() == "saving_test_backend"
        loaded = load_model(tmp_path / "numpy.lamina")
        np.testing.assert_array_equal(loaded.predict(x), expected)
        loaded.save(tmp_path / "other.lamina")
        with zipfile.ZipFile(tmp_path / "other.lamina") as zf:
            assert json.loads(zf.read("metadata.json"))["backend"] == "saving_test_backend"
        # float32 weights into a float64 model: values are cast, predictions agree to float32 rounding.
        lamina.backend.set_floatx("float64")
        wide = mlp()
        assert wide.weights[0].dtype == "float64"
        wide.load_weights(tmp_path / "numpy.weights.npz")
        for w64, w32 in zip(wide.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(w64, w32.astype("float64"))
        np.testing.assert_allclose(wide.predict(x), expected, rtol=1e-5, atol=1e-6)
    finally:
        backends._registered.pop("saving_test_backend", None)
        backends._instances.pop("saving_test_backend", None)
        backends.set_backend("numpy")


# --- weights only ---------------------------------------------------------------------------------
def test_save_weights_npz_by_position_by_name_and_mismatches(tmp_path):
    x, y, _ = blobs(n=32, features=20)
    model = compiled_mlp()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "w.npz"
    model.save_weights(path)
    other = mlp(seed=7)
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))

    # The whole-model file also serves as a weights file, and so does a plain numpy.savez file.
    model.save(tmp_path / "whole.lamina")
    mlp(seed=8).load_weights(tmp_path / "whole.lamina")
    np.savez(tmp_path / "plain.npz", *model.get_weights())
    plain = mlp(seed=8)
    plain.load_weights(tmp_path / "plain.npz")
    assert_same_weights(plain, model)

    # by_name: only layers with the same name; the others keep their values.
    lamina.utils.set_random_seed(3)
    partial = Sequential([Dense(32, input_shape=(20,), name="dense"), Dense(5, name="new_head")])
    head_before = partial.get_layer("new_head").get_weights()
    saved = weights_io.read_weights_file(path)
    assert [r.owner for r in saved] == ["dense", "dense", "dense_1", "dense_1"]
    partial.load_weights(path, by_name=True)
    np.testing.assert_array_equal(partial.get_layer("dense").get_weights()[0], model.layers[0].get_weights()[0])
    np.testing.assert_array_equal(partial.get_layer("new_head").get_weights()[0], head_before[0])

    # A shape mismatch raises before changing anything, or is skipped with a warning.
    renamed = Sequential([Dense(32, input_shape=(20,), name="dense"), Dense(5, name="dense_1")])
    before = renamed.get_weights()
    with pytest.raises(ValueError, match=r"w\.npz.*'dense_1/kernel' has shape \(32, 5\).*\(32, 3\)"):
        renamed.load_weights(path, by_name=True)
    for p, q in zip(before, renamed.get_weights()):
        np.testing.assert_array_equal(p, q)
    with pytest.warns(UserWarning) as caught:
        renamed.load_weights(path, by_name=True, skip_mismatch=True)
    assert [str(w.message).split(" in '")[0] for w in caught] == [
        "load_weights: skipping weight 'dense_1/kernel': its shape is (32, 5) in the model but (32, 3)",
        "load_weights: skipping weight 'dense_1/bias': its shape is (5,) in the model but (3,)"]
    np.testing.assert_array_equal(renamed.get_layer("dense").get_weights()[0], model.layers[0].get_weights()[0])
    with pytest.raises(ValueError, match=r"holds 4 weight arrays but the model has 2.*by_name=True"):
        Sequential([Dense(3, input_shape=(20,))]).load_weights(path)
    with pytest.raises(ValueError, match="no weights yet"):
        Sequential([Dense(3)]).load_weights(path)


def test_save_weights_keras2_hdf5_layout(tmp_path):
    h5py = pytest.importorskip("h5py")
    x, y, _ = blobs(n=32, features=20)
    model = compiled_mlp(dropout=0.1)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    with h5py.File(path, "r") as f:
        assert [n.decode() for n in f.attrs["layer_names"]] == ["dense", "dropout", "dense_1", "activation"]
        assert [n.decode() for n in f["dense"].attrs["weight_names"]] == ["dense/kernel", "dense/bias"]
        assert len(f["dropout"].attrs["weight_names"]) == 0
        np.testing.assert_array_equal(f["dense_1"]["dense_1/kernel"][()], model.layers[2].get_weights()[0])
    other = mlp(seed=9, dropout=0.1)
    other.load_weights(path)
    np.testing.assert_array_equal(other.predict(x), model.predict(x))
    lamina.backend.clear_session()  # the same layer names again
    by_name = mlp(seed=9)  # no Dropout layer: by_name matches the rest
    by_name.load_weights(path, by_name=True)
    np.testing.assert_array_equal(by_name.predict(x), model.predict(x))
    (tmp_path / "broken.h5").write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"broken\.h5.*truncated or corrupt"):
        other.load_weights(tmp_path / "broken.h5")


# --- JSON and config round trips -------------------------------------------------------------------
def test_to_json_and_model_from_json():
    model = siamese_model()
    text = model.to_json()
    spec = json.loads(text)
    assert spec["class_name"] == "Functional" and spec["lamina_version"] == lamina.__version__
    assert [layer["class_name"] for layer in spec["config"]["layers"]] == [
        "InputLayer", "InputLayer", "SavingTests>ScaledDense", "Dense", "SavingTests>EuclideanDistance"]
    clone = model_from_json(text, custom_objects={"soft_clip": co.soft_clip})
    assert clone.to_json() == text
    assert not clone.compiled and [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.set_weights(model.get_weights())
    a, b, _ = pairs(8)
    np.testing.assert_array_equal(clone.predict([a, b]), model.predict([a, b]))
    assert json.loads(mlp().to_json(indent=2))["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 20]
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{not json")


def _named_function(x):
    return x


# Constructor and input shape(s) for every layer class lamina.layers exports (several inputs as a list).
LAYER_TABLE = {
    "Layer": (lambda: Layer(name="plain"), (None, 3)),
    "InputLayer": (lambda: lamina.layers.InputLayer(input_shape=(3,)), None),
    "Dense": (lambda: Dense(4, activation="relu", use_bias=False, kernel_initializer="he_normal"), (None, 3)),
    "Activation": (lambda: lamina.layers.Activation("tanh"), (None, 3)),
    "Dropout": (lambda: Dropout(0.3, noise_shape=(None, 1), seed=4), (None, 3)),
    "Flatten": (lambda: lamina.layers.Flatten(), (None, 2, 3)),
    "Masking": (lambda: lamina.layers.Masking(mask_value=-1.0), (None, 2, 3)),
    "Reshape": (lambda: lamina.layers.Reshape((3, 2)), (None, 6)),
    "Lambda": (lambda: lamina.layers.Lambda(_named_function, output_shape=(3,)), (None, 3)),
    "RepeatVector": (lambda: lamina.layers.RepeatVector(4), (None, 3)),
    "Rescaling": (lambda: lamina.layers.Rescaling(1 / 255, offset=-0.5), (None, 3)),
    "Permute": (lambda: lamina.layers.Permute((2, 1)), (None, 2, 3)),
    "ActivityRegularization": (lambda: lamina.layers.ActivityRegularization(l1=0.01, l2=0.02), (None, 3)),
    "Add": (lambda: lamina.layers.Add(), [(None, 3), (None, 3)]),
    "Subtract": (lambda: lamina.layers.Subtract(), [(None, 3), (None, 3)]),
    "Multiply": (lambda: lamina.layers.Multiply(), [(None, 3), (None, 3)]),
    "Average": (lambda: lamina.layers.Average(), [(None, 3), (None, 3)]),
    "Maximum": (lambda: lamina.layers.Maximum(), [(None, 3), (None, 3)]),
    "Minimum": (lambda: lamina.layers.Minimum(), [(None, 3), (None, 3)]),
    "Concatenate": (lambda: lamina.layers.Concatenate(axis=-1), [(None, 3), (None, 2)]),
    "Dot": (lambda: lamina.layers.Dot(axes=1, normalize=True), [(None, 3), (None, 3)]),
    "GaussianNoise": (lambda: lamina.layers.GaussianNoise(0.1, seed=1), (None, 3)),
    "GaussianDropout": (lambda: lamina.layers.GaussianDropout(0.2, seed=1), (None, 3)),
    "AlphaDropout": (lambda: lamina.layers.AlphaDropout(0.2, seed=1), (None, 3)),
    "SpatialDropout1D": (lambda: lamina.layers.SpatialDropout1D(0.2, seed=1), (None, 4, 3)),
    "SpatialDropout2D": (lambda: lamina.layers.SpatialDropout2D(0.2, seed=1), (None, 4, 4, 3)),
    "SpatialDropout3D": (lambda: lamina.layers.SpatialDropout3D(0.2, seed=1), (None, 2, 2, 2, 3)),
    "LeakyReLU": (lambda: lamina.layers.LeakyReLU(0.2), (None, 3)),
    "PReLU": (lambda: lamina.layers.PReLU(alpha_initializer="ones"), (None, 3)),
    "ELU": (lambda: lamina.layers.ELU(0.7), (None, 3)),
    "ThresholdedReLU": (lambda: lamina.layers.ThresholdedReLU(0.5), (None, 3)),
    "ReLU": (lambda: lamina.layers.ReLU(max_value=2.0, negative_slope=0.1, threshold=0.1), (None, 3)),
    "Softmax": (lambda: lamina.layers.Softmax(axis=-1), (None, 3)),
    "TimeDistributed": (lambda: lamina.layers.TimeDistributed(Dense(2)), (None, 4, 3)),
    "BatchNormalization": (lambda: lamina.layers.BatchNormalization(momentum=0.9, epsilon=1e-3), (None, 3)),
    "LayerNormalization": (lambda: lamina.layers.LayerNormalization(epsilon=1e-5), (None, 3)),
    "Embedding": (lambda: lamina.layers.Embedding(10, 4, mask_zero=True), None),  # float test data is no index
    "Conv1D": (lambda: lamina.layers.Conv1D(4, 3, padding="causal", dilation_rate=2), (None, 8, 3)),
    "Conv2D": (lambda: lamina.layers.Conv2D(4, (3, 3), strides=2, padding="same", activation="relu"), (None, 6, 6, 3)),
    "Conv3D": (lambda: lamina.layers.Conv3D(2, 2, data_format="channels_first"), (None, 2, 3, 3, 3)),
    "Conv1DTranspose": (lambda: lamina.layers.Conv1DTranspose(3, 3, strides=2), (None, 4, 2)),
    "Conv2DTranspose": (lambda: lamina.layers.Conv2DTranspose(3, (3, 3), strides=2, padding="same"), (None, 4, 4, 2)),
    "Conv3DTranspose": (lambda: lamina.layers.Conv3DTranspose(2, 2), (None, 2, 2, 2, 2)),
    "DepthwiseConv1D": (lambda: lamina.layers.DepthwiseConv1D(3, depth_multiplier=2), (None, 6, 3)),
    "DepthwiseConv2D": (lambda: lamina.layers.DepthwiseConv2D((3, 3), depth_multiplier=2), (None, 5, 5, 3)),
    "SeparableConv1D": (lambda: lamina.layers.SeparableConv1D(4, 3), (None, 6, 3)),
    "SeparableConv2D": (lambda: lamina.layers.SeparableConv2D(4, (3, 3)), (None, 5, 5, 3)),
    "AveragePooling1D": (lambda: lamina.layers.AveragePooling1D(2, strides=1, padding="same"), (None, 5, 3)),
    "AveragePooling2D": (lambda: lamina.layers.AveragePooling2D((2, 2), data_format="channels_first"), (None, 3, 4, 4)),
    "AveragePooling3D": (lambda: lamina.layers.AveragePooling3D(2), (None, 4, 4, 4, 2)),
    "MaxPooling1D": (lambda: lamina.layers.MaxPooling1D(2), (None, 6, 3)),
    "MaxPooling2D": (lambda: lamina.layers.MaxPooling2D((2, 2), strides=(1, 1), padding="same"), (None, 4, 4, 3)),
    "MaxPooling3D": (lambda: lamina.layers.MaxPooling3D(2), (None, 4, 4, 4, 2)),
    "GlobalAveragePooling1D": (lambda: lamina.layers.GlobalAveragePooling1D(), (None, 5, 3)),
    "GlobalAveragePooling2D": (lambda: lamina.layers.GlobalAveragePooling2D(data_format="channels_first"), (None, 3, 4, 4)),
    "GlobalAveragePooling3D": (lambda: lamina.layers.GlobalAveragePooling3D(), (None, 2, 2, 2, 3)),
    "GlobalMaxPooling1D": (lambda: lamina.layers.GlobalMaxPooling1D(), (None, 5, 3)),
    "GlobalMaxPooling2D": (lambda: lamina.layers.GlobalMaxPooling2D(), (None, 4, 4, 3)),
    "GlobalMaxPooling3D": (lambda: lamina.layers.GlobalMaxPooling3D(), (None, 2, 2, 2, 3)),
    "Cropping1D": (lambda: lamina.layers.Cropping1D((1, 2)), (None, 6, 3)),
    "Cropping2D": (lambda: lamina.layers.Cropping2D(((1, 0), (0, 1))), (None, 4, 4, 3)),
    "Cropping3D": (lambda: lamina.layers.Cropping3D(1), (None, 4, 4, 4, 2)),
    "UpSampling1D": (lambda: lamina.layers.UpSampling1D(2), (None, 3, 2)),
    "UpSampling2D": (lambda: lamina.layers.UpSampling2D((2, 3)), (None, 2, 2, 3)),
    "UpSampling3D": (lambda: lamina.layers.UpSampling3D(2), (None, 2, 2, 2, 1)),
    "ZeroPadding1D": (lambda: lamina.layers.ZeroPadding1D(2), (None, 3, 2)),
    "ZeroPadding2D": (lambda: lamina.layers.ZeroPadding2D(((1, 2), (0, 1))), (None, 2, 2, 3)),
    "ZeroPadding3D": (lambda: lamina.layers.ZeroPadding3D(1), (None, 2, 2, 2, 1)),
    "SimpleRNN": (lambda: lamina.layers.SimpleRNN(3, return_sequences=True), (None, 4, 2)),
    "LSTM": (lambda: lamina.layers.LSTM(3, go_backwards=True, unit_forget_bias=False), (None, 4, 2)),
    "GRU": (lambda: lamina.layers.GRU(3, reset_after=False, return_state=True), (None, 4, 2)),
    "Bidirectional": (lambda: lamina.layers.Bidirectional(lamina.layers.LSTM(3, return_sequences=True),
                                                          merge_mode="sum"), (None, 4, 2)),
    "ConvLSTM2D": (lambda: lamina.layers.ConvLSTM2D(2, (3, 3), padding="same"), (None, 2, 4, 4, 1)),
}
NOT_INSTANTIABLE = {"Wrapper"}  # abstract bases


def exported_layer_classes():
    names = sorted(n for n, obj in vars(lamina.layers).items()
                   if isinstance(obj, type) and issubclass(obj, Layer) and not n.startswith("_"))
    # Aliases (AvgPool2D, Convolution2D, ...) are the same classes under a second name: test each class once.
    return [n for n in names if n not in NOT_INSTANTIABLE and getattr(lamina.layers, n).__name__ == n]


def _jsonable(config):
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("class_name", exported_layer_classes())
def test_every_exported_layer_config_round_trips(class_name):
    if class_name not in LAYER_TABLE:
        pytest.skip(f"lamina.layers.{class_name} has no constructor in test_saving.LAYER_TABLE; add one so its "
                    "get_config/from_config round trip is tested")
    make, shape = LAYER_TABLE[class_name]
    lamina.utils.set_random_seed(0)
    layer = make()
    assert type(layer).__name__ == class_name
    config = layer.get_config()
    assert _jsonable(config) == _jsonable(config)  # JSON-ready (raises TypeError otherwise)
    spec = _jsonable(lamina.layers.serialize(layer))
    clone = lamina.layers.deserialize(spec)
    assert type(clone) is type(layer)
    assert _jsonable(clone.get_config()) == _jsonable(config)
    if shape is None:
        return
    multi = isinstance(shape, list)
    rng = np.random.default_rng(0)
    data = [rng.normal(size=(2,) + s[1:]).astype("float32") for s in (shape if multi else [shape])]
    arg = data if multi else data[0]
    out = layer(arg, training=False)
    clone(arg, training=False)  # builds it
    clone.set_weights(layer.get_weights())
    outs = out if isinstance(out, (list, tuple)) else [out]
    couts = clone(arg, training=False)
    couts = couts if isinstance(couts, (list, tuple)) else [couts]
    for p, q in zip(outs, couts):
        np.testing.assert_array_equal(q.numpy(), p.numpy())
    assert _jsonable(clone.get_config()) == _jsonable(layer.get_config())


# --- bad files -----------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model = compiled_mlp()
    path = tmp_path / "good.lamina"
    model.save(path)
    return model, path


def test_truncated_corrupt_and_wrong_version_files_raise_one_clear_value_error(saved, tmp_path):
    model, good = saved
    data = good.read_bytes()

    truncated = tmp_path / "truncated.lamina"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"Cannot load '.*truncated\.lamina': it is not a readable Lamina model file"):
        load_model(truncated)

    corrupt = tmp_path / "corrupt.lamina"
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("model.weights.npz")
    flipped = bytearray(data)
    middle = info.header_offset + 200 + info.compress_size // 2
    flipped[middle] ^= 0xFF
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"corrupt\.lamina.*'model\.weights\.npz' entry is unreadable.*CRC"):
        load_model(corrupt)

    with zipfile.ZipFile(good) as zf:
        meta = json.loads(zf.read("metadata.json"))
    newer = tmp_path / "newer.lamina"
    rewrite_archive(good, newer, {"metadata.json": json.dumps({**meta, "format_version": 2})})
    with pytest.raises(ValueError, match=r"newer\.lamina.*format version 2.*reads version 1; upgrade Lamina"):
        load_model(newer)

    missing = tmp_path / "missing_config.lamina"
    rewrite_archive(good, missing, {"config.json": None})
    with pytest.raises(ValueError, match=r"missing_config\.lamina.*no 'config\.json' entry"):
        load_model(missing)

    bad_json = tmp_path / "bad_json.lamina"
    rewrite_archive(good, bad_json, {"config.json": b"{\"class_name\": "})
    with pytest.raises(ValueError, match=r"bad_json\.lamina.*'config\.json' entry is not valid JSON"):
        load_model(bad_json)

    wrong_shape = tmp_path / "wrong_shape.lamina"
    records = weights_io.collect(model)
    records[0].array = np.zeros((3, 3), "float32")
    rewrite_archive(good, wrong_shape, {"model.weights.npz": weights_io.npz_bytes(records)})
    with pytest.raises(ValueError, match=r"wrong_shape\.lamina.*'dense/kernel' has shape \(20, 32\).*\(3, 3\)"):
        load_model(wrong_shape)

    text = tmp_path / "notes.lamina"
    text.write_text("not a model")
    with pytest.raises(ValueError, match=r"notes\.lamina.*not a readable Lamina model file"):
        load_model(text)
    with pytest.raises(ValueError, match=r"notes\.lamina.*neither an \.npz.*nor an HDF5"):
        model.load_weights(text)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_model(tmp_path / "absent.lamina")
    model.save_weights(tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"w\.npz.*weights file.*load_weights"):
        load_model(tmp_path / "w.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "w.npz").read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"cut\.npz.*truncated or corrupt"):
        model.load_weights(tmp_path / "cut.npz")


def test_save_path_checks(saved, tmp_path):
    model, _ = saved
    with pytest.raises(ValueError, match=r"legacy HDF5.*\.lamina.*save_weights\('\.\.\.\.weights\.h5'\)"):
        model.save(tmp_path / "model.h5")
    with pytest.raises(ValueError, match=r"must end in \.lamina.*'.*model\.lamina'"):
        model.save(tmp_path / "model")
    with pytest.raises(ValueError, match="whole-model extension"):
        model.save_weights(tmp_path / "w.lamina")
    model.save(tmp_path / "nested" / "dir" / "m.lamina")  # folders are created
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(tmp_path / "nested" / "dir" / "m.lamina", overwrite=False)


def test_failing_save_leaves_the_previous_file_intact_and_no_temporary_file(saved, tmp_path, monkeypatch):
    model, path = saved
    before = path.read_bytes()
    x, _, _ = blobs(n=16, features=20)
    expected = model.predict(x)
    model.layers[0].kernel.assign(np.zeros((20, 32), "float32"))  # the next save would differ

    def broken_writer(records):
        raise RuntimeError("disk full (simulated) while writing the weights")

    monkeypatch.setattr(weights_io, "npz_bytes", broken_writer)  # config.json is already in the zip by then
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["good.lamina"]
    np.testing.assert_array_equal(load_model(path).predict(x), expected)

    model.save_weights(tmp_path / "w.npz")
    weights_before = (tmp_path / "w.npz").read_bytes()

    def half_written(handle, records):
        handle.write(b"PK\x03\x04 partial")
        raise OSError("I/O error (simulated)")

    monkeypatch.setattr(weights_io, "write_npz", half_written)
    with pytest.raises(OSError, match="simulated"):
        model.save_weights(tmp_path / "w.npz")
    assert (tmp_path / "w.npz").read_bytes() == weights_before
    assert sorted(os.listdir(tmp_path)) == ["good.lamina", "w.npz"]


def test_loading_never_unpickles(saved, tmp_path):
    model, good = saved
    evil = tmp_path / "evil.lamina"
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    records = io.BytesIO()
    with zipfile.ZipFile(records, "w") as zf:
        zf.writestr("w00000.npy", buffer.getvalue())
    rewrite_archive(good, evil, {"model.weights.npz": records.getvalue()})
    with pytest.raises(ValueError, match=r"evil\.lamina.*(pickle|not a readable)"):
        load_model(evil)
