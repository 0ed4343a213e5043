"""Keras 2 module paths and names that classic scripts import, and Keras 3's ``Rescaling``."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import layers, ops, optimizers
from lamina.models import Sequential


def test_engine_paths_and_pooling_under_convolutional():
    from lamina.engine import Layer as engine_layer
    from lamina.engine.base_layer import Layer as base_layer
    from lamina.engine.topology import Input, Layer
    from lamina.layers.convolutional import AveragePooling1D, MaxPooling2D
    assert Layer is engine_layer is base_layer is layers.Layer and Input is layers.Input
    assert MaxPooling2D is layers.MaxPooling2D and AveragePooling1D is layers.AveragePooling1D


def test_lower_case_optimizer_aliases_take_keras2_arguments():
    opt = optimizers.rmsprop(lr=1e-4, decay=1e-6)
    assert type(opt) is optimizers.RMSprop and opt.learning_rate == 1e-4 and opt.decay == 1e-6
    assert optimizers.sgd is optimizers.SGD and optimizers.adam is optimizers.Adam and optimizers.nadam is optimizers.Nadam


def test_get_custom_objects_makes_a_name_usable_everywhere(tmp_path):
    from lamina.utils import generic_utils

    def doubled(x):
        return ops.multiply(x, 2.0)

    table = generic_utils.get_custom_objects()
    assert table is lamina.utils.get_custom_objects() is lamina.saving.get_custom_objects()
    table["doubled"] = doubled
    try:
        model = Sequential([layers.Dense(2, activation="doubled", input_shape=(3,))])
        assert model.layers[0].activation is doubled
        model.save(tmp_path / "m.lamina")
        again = lamina.models.load_model(tmp_path / "m.lamina")
        x = np.arange(6, dtype="float32").reshape(2, 3)
        np.testing.assert_array_equal(again.predict(x), model.predict(x))
    finally:
        del table["doubled"]
    with pytest.raises(ValueError, match="Unknown activation 'doubled'"):
        layers.Dense(2, activation="doubled")
    assert generic_utils.CustomObjectScope is generic_utils.custom_object_scope


def test_rescaling_scales_offsets_and_round_trips():
    layer = layers.Rescaling(1 / 255, offset=-0.5)
    x = np.array([[0, 255, 51]], dtype="uint8")
    out = layer(x).numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[-0.5, 0.5, 51 / 255 - 0.5]], rtol=1e-6)
    again = layers.deserialize(layers.serialize(layer))
    assert (again.scale, again.offset) == (layer.scale, layer.offset)
    with pytest.raises(TypeError, match="scale must be a number"):
        layers.Rescaling("1/255")


def test_yaml_is_refused_with_the_reason_and_the_replacement():
    model = Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match=r"use model.to_json\(\)"):
        model.to_yaml()
    with pytest.raises(RuntimeError, match="arbitrary code"):
        lamina.models.model_from_yaml("{}")


def test_registered_names_resolve_to_functions_only_and_the_latest_registration_wins():
    from lamina.saving import register_keras_serializable
    from lamina.saving.object_registration import get_custom_objects

    table = get_custom_objects()
    try:
        @register_keras_serializable(package="Test14")
        class NotAnActivation(layers.Layer):
            pass

        with pytest.raises(ValueError, match="Unknown activation 'NotAnActivation'"):
            layers.Dense(2, activation="NotAnActivation")

        @register_keras_serializable(package="Test14")
        def tripled(x):
            return ops.multiply(x, 3.0)
        first = tripled

        @register_keras_serializable(package="Test14")
        def tripled(x):  # noqa: F811 - the same cell run again with a fix
            return ops.multiply(x, 3.5)
        assert layers.Dense(2, activation="tripled").activation is tripled is not first
    finally:
        for key in ("NotAnActivation", "Test14>NotAnActivation", "tripled", "Test14>tripled"):
            table.pop(key, None)


def test_keras_objectives_names_the_loss_functions_and_a_model_trains_with_one():
    from lamina import losses, objectives
    from lamina.objectives import categorical_crossentropy, mse

    assert categorical_crossentropy is losses.categorical_crossentropy and mse is losses.mean_squared_error
    assert all(getattr(objectives, name) is getattr(losses, name) for name in objectives.__all__)
    y = np.eye(3, dtype="float32")[[0, 2, 1, 2]]
    p = np.full((4, 3), 1 / 3, "float32")
    want = np.full(4, np.log(3.0))
    np.testing.assert_allclose(np.asarray(objectives.categorical_crossentropy(y, p)), want, rtol=1e-6)
    model = lamina.Sequential([lamina.layers.Dense(3, activation="softmax", input_shape=(2,))])
    model.compile(optimizer="sgd", loss=objectives.categorical_crossentropy)
    history = model.fit(np.ones((4, 2), "float32"), y, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]
