"""Replayed steps (``lamina.ops.replay``): ``fit``, ``evaluate`` and ``predict`` run a step's Python on
its first two batches and then only its recorded backend calls; every number must be the one the
step's Python would have produced (``run_eagerly=True``), and a step the recordings cannot vouch
for must run normally."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
import lamina.models.model as model_module
from lamina import layers, ops, optimizers
from lamina.models import Sequential
from lamina.ops import replay as replay_module

from _models import blobs, embedding_classifier


def _w1_like(eager: bool, hidden: int = 16, seed: int = 4) -> Sequential:
    """W1's structure at a small size: tanh layers, Dropout 0.5, softmax, SGD Nesterov with decay
    (the learning rate changes every step)."""
    lamina.utils.set_random_seed(seed)
    model = Sequential([layers.Dense(hidden, activation="tanh", input_shape=(20,)), layers.Dropout(0.5),
                        layers.Dense(hidden, activation="tanh"), layers.Dropout(0.5),
                        layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True, decay=1e-3),
                  loss="categorical_crossentropy", metrics=["accuracy"], run_eagerly=eager)
    return model


def _with_layer(layer: layers.Layer, eager: bool, metrics=("accuracy",)) -> Sequential:
    """A small classifier with ``layer`` between its two Dense layers."""
    lamina.utils.set_random_seed(1)
    model = Sequential([layers.Dense(8, activation="tanh", input_shape=(20,)), layer,
                        layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=list(metrics), run_eagerly=eager)
    return model


def _train_both(build, x, y, **fit_kwargs):
    """(history, weights, model) trained with every step's Python and with replayed steps."""
    out = {}
    for eager in (True, False):
        model = build(eager)
        history = model.fit(x, y, verbose=0, **fit_kwargs)
        out[eager] = (history.history, [w.copy() for w in model.get_weights()], model)
    return out[True], out[False]


def _assert_same(eager, replayed):
    assert replayed[0] == eager[0]  # every logged number, bit for bit
    for a, b in zip(eager[1], replayed[1]):
        np.testing.assert_array_equal(a, b)


def test_fit_replays_all_but_the_first_two_steps_and_matches_every_step_run_normally(replays):
    x, y, _ = blobs(700)
    eager, replayed = _train_both(_w1_like, x[:500], y[:500], batch_size=50, epochs=2,
                                  validation_data=(x[500:], y[500:]))
    _assert_same(eager, replayed)
    # Per epoch: one training loop of 10 batches and one validation pass of 4; the eager model made none.
    assert [(r.replayed, r.refused) for r in replays] == [(8, None), (2, None), (8, None), (2, None)]
    assert replayed[0]["loss"][1] < replayed[0]["loss"][0]


def test_a_first_step_that_sets_something_up_delays_the_replay_by_one_step(replays):
    """A process's first training step makes the tape's cached seed (one backend call more than
    later steps): the second recording is then compared with the third, and the epoch still
    replays from its fourth step."""
    be = ops.backend_object()
    be.__dict__.pop("_tape_seeds", None)
    x, y, _ = blobs(500)
    model = _w1_like(eager=False)
    model.fit(x, y, batch_size=50, epochs=1, verbose=0)
    assert "_tape_seeds" in be.__dict__
    assert (replays[0].replayed, replays[0].refused) == (7, None)


def test_evaluate_and_predict_replay_and_match(replays):
    x, y, _ = blobs(600)
    results = {}
    for eager in (True, False):
        model = _w1_like(eager)
        model.fit(x[:200], y[:200], batch_size=50, epochs=1, verbose=0)
        results[eager] = (model.evaluate(x, y, batch_size=40, verbose=0), model.predict(x, batch_size=40))
    assert results[False][0] == results[True][0]
    np.testing.assert_array_equal(results[False][1], results[True][1])
    assert [r.replayed for r in replays] == [2, 13, 13]  # fit (4 steps), evaluate and predict (15 each)


def test_a_new_batch_shape_records_again(replays):
    """530 samples in batches of 50: ten full batches, then one of 30, which is recorded (run
    normally) because no recording of its shape exists."""
    x, y, _ = blobs(530)
    eager, replayed = _train_both(_w1_like, x, y, batch_size=50, epochs=1)
    _assert_same(eager, replayed)
    assert replays[0].replayed == 8


def test_the_dropout_masks_follow_the_same_philox_stream():
    """A replayed step draws its counters from the layers' generators: after an epoch each Dropout's
    counter has advanced once per step, as without replay, and the next mask is the same."""
    x, y, _ = blobs(500)
    eager, replayed = _train_both(_w1_like, x, y, batch_size=50, epochs=1)
    counters = [[layer.seed_generator.counter for layer in model.layers if isinstance(layer, layers.Dropout)]
                for model in (eager[2], replayed[2])]
    assert counters == [[10, 10], [10, 10]]


class _HostReader(layers.Layer):
    """Reads a value on the host inside ``call`` (its Python could branch on it)."""

    def call(self, inputs):
        self.seen = float(ops.max(inputs))
        return inputs


class _HostConstant(layers.Layer):
    """Adds a host array made anew at each call (outside the backend's calls)."""

    def call(self, inputs):
        self.calls = getattr(self, "calls", 0) + 1
        return inputs + ops.convert_to_tensor(np.full((1, inputs.shape[-1]), 1e-3, "float32"))


class _ChangingScalar(layers.Layer):
    """Multiplies by a Python number that changes at each call."""

    def call(self, inputs):
        self.calls = getattr(self, "calls", 0) + 1
        return inputs * (1.0 + 1e-3 * self.calls)


@pytest.mark.parametrize("layer, why", [
    (_HostReader, "the step calls the backend's to_numpy"),
    (_HostConstant, "an array argument is a new object each step but not made by a recorded backend call"),
    (_ChangingScalar, "differs between the recordings"),
])
def test_a_step_the_recordings_cannot_vouch_for_runs_normally(replays, layer, why):
    x, y, _ = blobs(300)

    eager, replayed = _train_both(lambda eager: _with_layer(layer(), eager), x, y, batch_size=30, epochs=1)
    _assert_same(eager, replayed)
    assert replays[0].replayed == 0 and why in replays[0].refused
    if layer is not _HostReader:  # its Python ran at every step, as without replay
        # (ten batches, plus the calls that infer shapes when the model is built)
        assert replayed[2].layers[1].calls == eager[2].layers[1].calls >= 10


def test_a_stateful_recurrent_layer_is_not_replayed(replays):
    """Its state is a new array after each batch, kept in Python: not an input, not a weight."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5, 3)).astype("float32")
    y = rng.normal(size=(80, 2)).astype("float32")

    def build(eager):
        lamina.utils.set_random_seed(2)
        model = Sequential([layers.SimpleRNN(4, stateful=True, batch_input_shape=(10, 5, 3)), layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse", run_eagerly=eager)
        return model

    eager, replayed = _train_both(build, x, y, batch_size=10, epochs=1, shuffle=False)
    _assert_same(eager, replayed)
    assert replays[0].replayed == 0 and "is stateful" in replays[0].refused


def test_a_stateful_layer_reset_to_the_same_array_each_batch_is_not_replayed(replays):
    """Both recordings then read the same outside array, so only the layer itself can say that its
    ``call`` keeps the final state in Python: after fit, the state and the next predict must be the
    ones every step's Python gives."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 5, 3)).astype("float32")
    y = rng.normal(size=(80, 2)).astype("float32")
    start = ops.backend_object().asarray(np.full((10, 4), 0.25, "float32"))

    class Restart(lamina.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.model.layers[0].reset_states([start])

    results = {}
    for eager in (True, False):
        lamina.utils.set_random_seed(2)
        model = Sequential([layers.SimpleRNN(4, stateful=True, batch_input_shape=(10, 5, 3)), layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse", run_eagerly=eager)
        model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0, callbacks=[Restart()])
        results[eager] = (model.layers[0].states[0].numpy(), model.predict(x[:10], batch_size=10))
    np.testing.assert_array_equal(results[False][0], results[True][0])
    np.testing.assert_array_equal(results[False][1], results[True][1])
    assert not np.all(results[True][0] == 0.25)
    assert replays[0].replayed == 0 and "is stateful" in replays[0].refused


class _FixedMask(layers.Layer):
    """Draws one (seed, counter) on its first training call and keeps it: the same mask every step."""

    def call(self, inputs, training=None):
        if not training:
            return inputs
        if not hasattr(self, "draw"):
            self.draw = ops.SeedGenerator(9).next()
        return ops.dropout(inputs, 0.5, *self.draw)


@pytest.mark.parametrize("then_dropout", [False, True])
def test_a_counter_kept_from_an_earlier_step_is_a_constant(replays, then_dropout):
    """A draw marked in one recording and kept by the layer is a plain number in the next: the
    replay must use it as it is, not draw again."""
    x, y, _ = blobs(300)

    def build(eager):
        lamina.utils.set_random_seed(1)
        stack = [layers.Dense(8, activation="tanh", input_shape=(20,)), _FixedMask()]
        stack += [layers.Dropout(0.5)] if then_dropout else []
        model = Sequential(stack + [layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=eager)
        return model

    eager, replayed = _train_both(build, x, y, batch_size=30, epochs=1)
    _assert_same(eager, replayed)
    assert replays[0].replayed == 7  # recordings 1 and 2 differ (a fresh draw, then a kept one)


class _KeepLastBatch(layers.Layer):
    """Copies each full batch into a weight: ``assign`` hands the input array itself to the backend."""

    def build(self, input_shape):
        self.last = self.add_weight("last", shape=(10,) + tuple(input_shape[1:]), initializer="zeros",
                                    trainable=False)

    def call(self, inputs):
        if tuple(inputs.shape) == self.last.shape:
            self.last.assign(inputs)
        return inputs


def test_a_call_that_returns_an_input_array_keeps_the_input_slot(replays):
    x = np.random.default_rng(0).normal(size=(60, 5)).astype("float32")
    outs = {}
    for eager in (True, False):
        lamina.utils.set_random_seed(1)
        model = Sequential([layers.Input(shape=(5,)), _KeepLastBatch(), layers.Dense(3)])
        model.compile(optimizer="sgd", loss="mse", run_eagerly=eager)
        outs[eager] = (model.predict(x, batch_size=10), model.layers[0].last.numpy())
    np.testing.assert_array_equal(outs[False][0], outs[True][0])
    np.testing.assert_array_equal(outs[False][1], x[50:])
    assert replays[0].replayed == 4


def test_a_train_step_replaced_on_the_instance_runs_every_step(replays):
    x, y, _ = blobs(300)
    model = _w1_like(eager=False)
    calls = []
    original = model.train_step

    def train_step(xs, ys, sample_weight=None):
        calls.append(1)
        return original(xs, ys, sample_weight)

    model.train_step = train_step
    model.fit(x, y, batch_size=30, epochs=1, verbose=0)
    assert len(calls) == 10 and replays == []


class _Reseed(lamina.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 5:
            lamina.utils.set_random_seed(77)


def test_a_global_reseed_in_the_middle_of_an_epoch_reaches_replayed_steps(replays):
    x, y, _ = blobs(300)

    def build(eager):
        return _with_layer(layers.Lambda(lambda t: t + 0.5 * ops.random_normal((8,))), eager)

    out = {}
    for eager in (True, False):
        model = build(eager)
        out[eager] = model.fit(x, y, batch_size=30, epochs=1, shuffle=False, verbose=0,
                               callbacks=[_Reseed()]).history
    assert out[False] == out[True]
    assert replays[0].replayed == 8


class _Recompile(lamina.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 5:
            self.model.compile(optimizer=self.model.optimizer, loss="mse", run_eagerly=self.model.run_eagerly)


def test_compile_in_the_middle_of_an_epoch_records_again(replays):
    x, y, _ = blobs(300)
    eager, replayed = _train_both(_w1_like, x, y, batch_size=30, epochs=1, callbacks=[_Recompile()])
    _assert_same(eager, replayed)
    assert replays[0].replayed == 3 + 3  # batches 2-4 and, recorded again after the compile, 7-9


def test_an_activity_penalty_is_not_replayed_so_model_losses_stay_current(replays):
    x, y, _ = blobs(300)
    seen = {}
    for eager in (True, False):
        lamina.utils.set_random_seed(1)
        model = Sequential([layers.Dense(8, activation="tanh", input_shape=(20,),
                                         activity_regularizer=lamina.regularizers.l2(0.01)),
                            layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=eager)
        penalties = []
        log = lamina.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs, m=model, p=penalties: p.append(float(m.losses[0])))
        model.fit(x, y, batch_size=30, epochs=1, verbose=0, callbacks=[log])
        seen[eager] = penalties
    assert seen[False] == seen[True] and len(set(seen[True])) == 10
    assert replays[0].replayed == 0 and "add_loss" in replays[0].refused


def test_fit_lets_go_of_a_recording_left_waiting_at_the_end_of_an_epoch(monkeypatch):
    """A short last batch is recorded and waits for a second recording of its shape that never
    comes; by the validation pass and the epoch's callbacks fit holds it no more."""
    import weakref
    made = []

    class Weak(replay_module.StepReplay):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(model_module, "StepReplay", Weak)
    alive = []

    class Check(lamina.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            alive.append(made[0]() is not None)

    x, y, _ = blobs(320)
    model = _w1_like(eager=False)
    model.fit(x, y, batch_size=50, epochs=1, verbose=0, callbacks=[Check()])
    assert alive == [False]


class _WithMetric(layers.Layer):
    def call(self, inputs):
        self.add_metric(ops.mean(inputs), name="activation_mean")
        return inputs


def test_a_layer_that_adds_a_metric_is_not_replayed(replays):
    x, y, _ = blobs(300)

    eager, replayed = _train_both(lambda eager: _with_layer(_WithMetric(), eager, metrics=()), x, y,
                                  batch_size=30, epochs=1)
    _assert_same(eager, replayed)
    assert "activation_mean" in replayed[0]
    assert replays[0].replayed == 0


def test_masked_outputs_keep_their_mask():
    """A sequence output's mask weights the metrics; a replayed step reattaches it."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 6, 3)).astype("float32")
    x[::3, 4:] = 0.0  # padded steps in a third of the samples
    y = rng.normal(size=(120, 6, 2)).astype("float32")

    def build(eager):
        lamina.utils.set_random_seed(3)
        model = Sequential([layers.Masking(0.0, input_shape=(6, 3)), layers.SimpleRNN(4, return_sequences=True),
                            layers.Dense(2)])
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"], run_eagerly=eager)
        return model

    eager, replayed = _train_both(build, x, y, batch_size=20, epochs=2, validation_split=0.25)
    _assert_same(eager, replayed)


def test_draws_from_the_global_generator_are_replayed_in_order(replays):
    x, y, _ = blobs(300)

    def build(eager):
        return _with_layer(layers.Lambda(lambda t: t + 0.01 * ops.random_normal((8,))), eager)

    eager, replayed = _train_both(build, x, y, batch_size=30, epochs=1)
    _assert_same(eager, replayed)
    assert replays[0].replayed == 8


def test_run_eagerly_and_an_own_train_step_run_every_step(replays):
    x, y, _ = blobs(300)
    model = _w1_like(eager=True)
    model.fit(x, y, batch_size=30, epochs=1, verbose=0)
    assert replays == []

    class Counting(Sequential):
        steps = 0

        def train_step(self, xs, ys, sample_weight=None):
            Counting.steps += 1
            return super().train_step(xs, ys, sample_weight)

    lamina.utils.set_random_seed(1)
    own = Counting([layers.Dense(3, activation="softmax", input_shape=(20,))])
    own.compile(optimizer="sgd", loss="categorical_crossentropy")
    own.fit(x, y, batch_size=30, epochs=1, verbose=0, validation_data=(x[:150], y[:150]))
    assert Counting.steps == 10
    assert [r.replayed for r in replays] == [3]  # the validation pass (5 batches) only


def test_a_step_inside_a_recording_runs_normally():
    """A step that runs another replayed loop: the inner one neither records nor replays while the
    outer records, so the outer recording holds every backend call."""
    be = ops.backend_object()
    w = be.asarray(np.arange(6, dtype="float32").reshape(2, 3))
    outer, inner = replay_module.StepReplay(), replay_module.StepReplay()

    def inner_step(a):
        return ops.Tensor(be.matmul(a, w))

    def outer_step(a):
        h = inner([a], lambda: inner_step(a)).value
        return ops.Tensor(be.tanh(h))

    for k in range(3):  # the inner loop alone first: it replays from its third step
        a = be.asarray(np.full((4, 2), k, dtype="float32"))
        inner([a], lambda: inner_step(a))
    assert inner.replayed == 1
    results = []
    for k in range(5):
        a = be.asarray(np.full((4, 2), k, dtype="float32"))
        results.append(be.to_numpy(outer([a], lambda: outer_step(a)).value))
    # Had the inner loop replayed inside the outer recording, its product would be missing there and
    # the outer step would use a new, unrecorded array each time: not replayable.
    assert outer.replayed == 3 and inner.replayed == 1
    for k, got in enumerate(results):
        np.testing.assert_array_equal(got, np.tanh(np.full((4, 2), k, "float32") @ np.arange(6, dtype="float32").reshape(2, 3)))


def test_recording_leaves_the_backend_and_the_generators_as_they_were():
    be = ops.backend_object()
    before = dict(be.__dict__)
    step = replay_module.StepReplay()
    gen = ops.SeedGenerator(5)
    a = be.asarray(np.ones((2, 2), "float32"))
    for _ in range(3):
        out = step([a], lambda: ops.Tensor(be.dropout(a, 0.5, *gen.next())[0]))
    assert step.replayed == 1 and gen.counter == 3
    assert type(out) is ops.Tensor
    assert {k: v for k, v in be.__dict__.items() if k != "_tape_seeds"} == \
        {k: v for k, v in before.items() if k != "_tape_seeds"}
    from lamina.ops import random as random_module
    assert random_module._draw_hook is None and replay_module._Recording.active is None
    assert type(gen.next()[1]) is int


def test_one_array_in_two_input_slots_is_not_recorded():
    """Recorded with the same array as both inputs, a replay could not tell the two slots apart."""
    be = ops.backend_object()
    step = replay_module.StepReplay()
    a = be.asarray(np.full((2, 2), 3.0, "float32"))
    got = []
    for k in range(6):
        b = a if k < 2 else be.asarray(np.full((2, 2), float(k), "float32"))
        got.append(float(be.to_numpy(step([a, b], lambda: ops.Tensor(be.subtract(a, b))).value)[0, 0]))
    assert got == [0.0, 0.0, 1.0, 0.0, -1.0, -2.0]
    assert step.replayed == 2


def test_recordings_are_freed_without_the_garbage_collector(monkeypatch):
    """A recording holds a whole step's arrays; nothing may refer back to it in a cycle (a marked
    counter once did), or those arrays would wait for the collector."""
    import gc
    import weakref
    made = []
    init = replay_module._Recording.__init__

    def tracked(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(weakref.ref(self))

    x, y, _ = blobs(300)
    # A process's first training step makes the tape's cached seed (one call more), which would cost
    # the first loop a third recording: take that step before counting (a one-batch fit records nothing).
    _w1_like(eager=False).fit(x[:30], y[:30], batch_size=30, epochs=1, verbose=0)
    monkeypatch.setattr(replay_module._Recording, "__init__", tracked)
    enabled = gc.isenabled()
    gc.disable()
    try:
        _w1_like(eager=False).fit(x, y, batch_size=30, epochs=2, verbose=0, validation_data=(x[:150], y[:150]))
        alive = sum(ref() is not None for ref in made)
    finally:
        if enabled:
            gc.enable()
    assert len(made) == 8 and alive == 0  # two recordings per loop: two epochs, two validation passes


def test_loops_too_short_to_replay_record_nothing(replays):
    """Three batches or fewer, and the per-batch methods, run every step's Python: their first
    steps would be recorded at a cost and nothing replayed."""
    x, y, _ = blobs(300)
    model = _w1_like(eager=False)
    model.fit(x[:90], y[:90], batch_size=30, epochs=1, verbose=0)
    model.evaluate(x[:90], y[:90], batch_size=30, verbose=0)
    model.predict(x[:90], batch_size=30)
    model.test_on_batch(x[:30], y[:30])
    model.predict_on_batch(x[:30])
    model.train_on_batch(x[:30], y[:30])
    assert replays == []
    model.predict(x[:120], batch_size=30)
    assert [r.replayed for r in replays] == [2]


def test_each_batch_shape_is_recorded_and_replayed_on_its_own(replays):
    """Batches that alternate between two sizes (a generator's, say) replay both."""
    x, y, _ = blobs(300)

    def batches():
        k = 0
        while True:
            size, low = (20 if k % 2 == 0 else 30), (25 * k) % 250
            yield x[low:low + size], y[low:low + size]
            k += 1

    out = {}
    for eager in (True, False):
        model = _w1_like(eager)
        out[eager] = (model.fit(batches(), steps_per_epoch=12, epochs=1, verbose=0).history,
                      model.get_weights())
    _assert_same(out[True], out[False])
    assert replays[0].replayed == 12 - 4  # two recordings of each shape


def test_a_list_changed_after_its_call_is_recorded_as_it_was_passed():
    be = ops.backend_object()
    w = be.asarray(np.full((2, 3), 0.5, "float32"))
    step = replay_module.StepReplay()

    def body(a):
        parts = [a]
        first = be.concatenate(parts, axis=1)
        parts.append(w)  # the same list, longer, for the second call
        return ops.Tensor(first), ops.Tensor(be.concatenate(parts, axis=1))

    for k in range(4):
        a = be.asarray(np.full((2, 3), float(k), "float32"))
        first, second = step([a], lambda: body(a))
        assert be.to_numpy(first.value).shape == (2, 3) and be.to_numpy(second.value).shape == (2, 6)
        assert float(be.to_numpy(first.value)[0, 0]) == k
    assert step.replayed == 2


@pytest.mark.parametrize("values", [(0.0, -0.0), ("float32", 0.0, -0.0)])
def test_constants_that_compare_equal_but_differ_are_not_replayed(values):
    """0.0 == -0.0 (also as NumPy scalars), yet a replay of one gives the other's sign."""
    be = ops.backend_object()
    make = (lambda v: np.float32(v)) if values[0] == "float32" else float
    signs = values[-2:]
    step = replay_module.StepReplay()
    a = be.asarray(np.ones((2,), "float32"))
    got = []
    for k in range(6):
        c = make(signs[k % 2])
        got.append(np.signbit(be.to_numpy(step([a], lambda: ops.Tensor(be.multiply(a, c))).value)[0]))
    assert got == [False, True] * 3 and step.replayed == 0


def test_a_nan_constant_keeps_its_bits():
    be = ops.backend_object()
    step = replay_module.StepReplay()
    a = be.asarray(np.zeros((2,), "float32"))
    nan = -float("nan")
    bits = []
    for _ in range(4):
        out = step([a], lambda: ops.Tensor(be.add(a, be.full((2,), nan, "float32"))))
        bits.append(be.to_numpy(out.value).view(np.uint32)[0])
    # the eager bits: NumPy's add keeps the NaN's sign; a GPU's add returns its canonical NaN
    # (0x7fffffff on an H200), so there the constant's sign cannot show in the result
    want = be.to_numpy(be.add(a, be.full((2,), nan, "float32"))).view(np.uint32)[0]
    assert step.replayed == 2 and bits == [want] * 4
    assert be.name != "numpy" or want >> 31 == 1


def test_a_recording_holds_no_step_result_alive():
    """The step's temporaries die when the step lets them go, as without a recording, even while
    the first recording waits for the second."""
    import weakref
    be = ops.backend_object()
    step = replay_module.StepReplay()
    temporaries = []

    def body(a):
        t = be.multiply(a, 2.0)
        temporaries.append(weakref.ref(t))
        return ops.Tensor(be.add(t, 1.0))

    a = be.asarray(np.ones((64, 64), "float32"))
    step([a], lambda: body(a))
    assert temporaries[0]() is None


@pytest.fixture
def float64():
    previous = lamina.backend.floatx()
    lamina.backend.set_floatx("float64")
    yield
    lamina.backend.set_floatx(previous)


def test_float64_scalar_results_are_step_results_not_constants(replays, float64):
    """In float64 a 0-d NumPy result (the loss, a count of kept samples) is an np.float64, which
    subclasses Python's float: it must still be tracked as the call's result. Here the first two
    batches (zero sample weights, and in evaluate a repeated batch) give both recordings the same
    values, which a replay that took them for constants would return for every later batch."""
    x, y, _ = blobs(400)
    x[25:50], y[25:50] = x[:25], y[:25]
    sw = np.ones(400); sw[:50] = 0.0
    results = {}
    for eager in (True, False):
        lamina.utils.set_random_seed(1)
        model = Sequential([layers.Dense(8, activation="tanh", input_shape=(20,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"], run_eagerly=eager)
        history = model.fit(x, y, sample_weight=sw, batch_size=25, epochs=2, shuffle=False, verbose=0).history
        results[eager] = (history, model.get_weights(), model.evaluate(x, y, batch_size=25, verbose=0))
    assert results[False][0] == results[True][0]
    assert results[False][0]["loss"][0] > 0.5  # not the zero-weighted first batches' loss
    for a, b in zip(results[True][1], results[False][1]):
        np.testing.assert_array_equal(a, b)
    assert results[False][2] == results[True][2]
    assert [(r.replayed, r.refused) for r in replays] == [(14, None), (14, None), (14, None)]


def test_freezing_a_layer_without_trainable_weights_mid_epoch_records_again(replays):
    """BatchNormalization(center=False, scale=False) has no trainable weights, so freezing it
    changes no weight list; its call still switches to the moving statistics, so the steps after
    the change must not reuse the recording made before it."""
    x, y, _ = blobs(400)

    class Freeze(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 5:
                self.model.layers[1].trainable = False

    def build(eager):
        lamina.utils.set_random_seed(1)
        model = Sequential([layers.Dense(8, activation="tanh", input_shape=(20,)),
                            layers.BatchNormalization(center=False, scale=False),
                            layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="categorical_crossentropy", run_eagerly=eager)
        return model

    eager, replayed = _train_both(build, x, y, batch_size=25, epochs=1, shuffle=False, callbacks=[Freeze()])
    _assert_same(eager, replayed)
    for name in ("moving_mean", "moving_variance"):
        np.testing.assert_array_equal(getattr(eager[2].layers[1], name).numpy(),
                                      getattr(replayed[2].layers[1], name).numpy())
    assert replays[0].replayed == 16 - 2 - 2  # steps 0-1 and 6-7 recorded (after the change at step 5)


def test_compiled_steps_are_freed_without_the_garbage_collector(replays):
    """A compiled step holds the model's weights; it must go with its loop, not wait for the
    collector (a function kept in its own globals is a cycle). (The model itself and its History
    refer to each other, as in Keras, so the weights still wait for the collector.)"""
    import gc
    import weakref
    x, y, _ = blobs(300)
    enabled = gc.isenabled()
    gc.disable()
    try:
        model = _w1_like(eager=False)
        model.fit(x, y, batch_size=30, epochs=1, verbose=0)
        functions = [weakref.ref(s.function) for r in replays for s in r._shapes.values() if s.function]
        del model
        replays.clear()
        alive = [ref() is not None for ref in functions]
    finally:
        if enabled:
            gc.enable()
    assert len(functions) == 1 and not any(alive)


def _embedding_model(eager: bool) -> Sequential:
    return embedding_classifier(eager, seed=2)


def test_an_embedding_check_runs_on_every_replayed_step(replays):
    """Embedding checks its indices on the host (NumPy); the check is replayed with the step instead
    of stopping the replay, so a bad index in a replayed batch still raises at that batch."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 50, (200, 6))
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 200)]
    eager, replayed = _train_both(_embedding_model, x, y, batch_size=20, epochs=1)
    _assert_same(eager, replayed)
    assert [(r.replayed, r.refused) for r in replays] == [(8, None)]
    if not ops.backend_object().host_sync_cheap:
        return  # a GPU backend does not check indices (Embedding's docstring)
    bad = x.copy()
    bad[135, 2] = 50  # in the seventh batch, long after the recordings
    seen = []

    class Batches(lamina.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    model = _embedding_model(eager=False)
    with pytest.raises(ValueError, match=r"got index 50, outside \[0, 50\)"):
        model.fit(bad, y, batch_size=20, epochs=1, shuffle=False, verbose=0, callbacks=[Batches()])
    assert seen[-1] == 6 and replays[-1].replayed == 5  # batches 2-6 replayed, and 6 raised in its replay


def test_a_check_that_is_a_new_function_each_step_is_not_replayed(replays):
    seen = []

    def run(arrays):
        replay_module.check(lambda a: seen.append(a.shape), arrays[0])  # a new function each step
        return ops.backend_object().add(arrays[0], arrays[0])

    loop = replay_module.StepReplay()
    be = ops.backend_object()
    for k in range(5):
        batch = be.asarray(np.full((2, 2), float(k), "float32"))
        np.testing.assert_array_equal(be.to_numpy(loop([batch], lambda: run([batch]))), np.full((2, 2), 2.0 * k))
    assert loop.replayed == 0 and "differs" in loop.refused and len(seen) == 5
