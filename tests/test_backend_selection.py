"""Backend choice: LAMINA_BACKEND, then $LAMINA_HOME/lamina.json, then numpy; plugins; errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

import lamina
from lamina import _config, backends
from lamina_numpy import NumpyBackend


def test_default_is_numpy(fresh_config):
    assert backends.current().name == "numpy"
    assert lamina.backend.backend() == "numpy"


def test_config_file_sets_backend_and_settings(fresh_config):
    (fresh_config / "lamina.json").write_text(json.dumps(
        {"backend": "numpy", "floatx": "float64", "epsilon": 1e-5, "image_data_format": "channels_first"}))
    _config.reset()
    assert _config.floatx() == "float64"
    assert lamina.backend.epsilon() == 1e-5
    assert lamina.backend.image_data_format() == "channels_first"
    assert backends.current().name == "numpy"


def test_env_beats_config_file(fresh_config, monkeypatch):
    (fresh_config / "lamina.json").write_text(json.dumps({"backend": "does_not_exist"}))
    _config.reset()
    monkeypatch.setenv("LAMINA_BACKEND", "numpy")
    assert backends.current().name == "numpy"


def test_unknown_backend_lists_available(fresh_config, monkeypatch):
    monkeypatch.setenv("LAMINA_BACKEND", "tensorflowz")
    with pytest.raises(ValueError) as err:
        backends.current()
    msg = str(err.value)
    assert "'tensorflowz'" in msg and "numpy" in msg and "cupy" in msg and "LAMINA_BACKEND" in msg


def test_bad_config_file_is_one_sentence(fresh_config):
    (fresh_config / "lamina.json").write_text("{not json")
    _config.reset()
    with pytest.raises(ValueError, match="could not be read as JSON"):
        _config.floatx()


def test_bad_floatx_in_config(fresh_config):
    (fresh_config / "lamina.json").write_text(json.dumps({"floatx": "float8"}))
    _config.reset()
    with pytest.raises(ValueError, match="floatx must be one of"):
        _config.floatx()


def test_registered_plugin_is_selectable(fresh_config, monkeypatch):
    class Float64Numpy(NumpyBackend):
        name = "numpy64_plugin"

    backends.register_backend("numpy64_plugin", Float64Numpy)
    try:
        monkeypatch.setenv("LAMINA_BACKEND", "numpy64_plugin")
        assert "numpy64_plugin" in backends.available_backends()
        assert lamina.backend.backend() == "numpy64_plugin"
        x = lamina.ops.add(np.ones(3, "float32"), 1.0)
        assert x.numpy().tolist() == [2.0, 2.0, 2.0]
    finally:
        backends._registered.pop("numpy64_plugin", None)
        backends._instances.pop("numpy64_plugin", None)


def test_entry_point_group_is_declared():
    from importlib import metadata
    names = {ep.name for ep in metadata.entry_points(group="lamina.backends")}
    # Installed with pip -e, the two built-ins are also entry points; uninstalled, they are found by name.
    assert names <= {"numpy", "cupy"} | set(backends.available_backends())
    assert {"numpy", "cupy"} <= set(backends.available_backends())


def test_object_not_implementing_protocol_is_rejected(fresh_config):
    backends.register_backend("empty_plugin", lambda: object())
    try:
        with pytest.raises(TypeError, match="does not implement the protocol"):
            backends.get_backend("empty_plugin")
    finally:
        backends._registered.pop("empty_plugin", None)


def test_numpy_backend_satisfies_protocol():
    assert isinstance(backends.get_backend("numpy"), backends.Backend)


def test_keras2_settings_facade(fresh_config):
    K = lamina.backend
    K.set_floatx("float64")
    assert K.floatx() == "float64"
    K.set_epsilon(1e-4)
    assert K.epsilon() == 1e-4
    K.set_image_data_format("channels_first")
    assert K.image_data_format() == "channels_first"
    assert K.image_dim_ordering() == "th"
    with pytest.raises(ValueError, match="channels_last"):
        K.set_image_data_format("nhwc")
