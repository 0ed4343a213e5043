"""``pad_sequences`` (``lamina.utils`` and Keras 2's ``lamina.preprocessing.sequence``): Keras'
defaults (int32, padding and truncating at the front, value 0) and rules."""
from __future__ import annotations

import numpy as np
import pytest

from lamina.preprocessing.sequence import pad_sequences
from lamina.utils import pad_sequences as utils_pad_sequences


def test_defaults_pad_and_cut_at_the_front_as_int32():
    out = pad_sequences([[1, 2, 3], [4], []])
    np.testing.assert_array_equal(out, [[1, 2, 3], [0, 0, 4], [0, 0, 0]])
    assert out.dtype == np.int32 and utils_pad_sequences is pad_sequences
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]], maxlen=2), [[2, 3], [0, 4]])


def test_post_padding_and_truncating_with_a_value():
    out = pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post", value=-1)
    np.testing.assert_array_equal(out, [[1, 2], [4, -1]])
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]]), [[1, 2]])  # cast to int32, as Keras
    np.testing.assert_array_equal(pad_sequences([[0.5]], maxlen=2, dtype="float32"), [[0.0, 0.5]])


def test_steps_that_are_arrays_keep_their_shape():
    out = pad_sequences([np.ones((2, 3)), np.full((1, 3), 2.0)], dtype="float32")
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out[1], [[0, 0, 0], [2, 2, 2]])
    with pytest.raises(ValueError, match=r"sequence 1 has steps of shape \(2,\)"):
        pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


@pytest.mark.parametrize("kwargs, match", [
    ({"padding": "middle"}, "padding must be 'pre' or 'post'"),
    ({"truncating": "both"}, "truncating must be 'pre' or 'post'"),
    ({"maxlen": -1}, "maxlen must be a non-negative integer"),
    ({"value": "x"}, "text padding value"),
])
def test_bad_arguments_get_one_sentence(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_sequences([[1, 2]], **kwargs)
    with pytest.raises(ValueError, match="item 1 is int"):
        pad_sequences([[1], 5])
