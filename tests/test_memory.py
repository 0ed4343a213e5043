"""Memory of a W1 training step (the classic MNIST MLP) on the NumPy backend, measured with
tracemalloc (NumPy reports its array buffers to it): training holds no growing state from step to
step, and the working set beyond the data set stays far below the 200 MB the benchmarks issue
allows."""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import lamina
from lamina.layers import Dense, Dropout
from lamina.models import Sequential
from lamina.optimizers import SGD


def _w1_model():
    lamina.utils.set_random_seed(3)
    model = Sequential([Dense(500, activation="tanh", input_shape=(784,)), Dropout(0.5),
                        Dense(500, activation="tanh"), Dropout(0.5), Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer=SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
                  metrics=["accuracy"])
    return model


@pytest.mark.skipif(lamina.backend.backend() != "numpy", reason="tracemalloc sees host memory only")
def test_w1_steps_do_not_accumulate_memory_and_stay_small():
    rng = np.random.default_rng(0)
    x = rng.random((200, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 200)]
    model = _w1_model()
    for _ in range(3):  # warm-up: optimizer slots, caches
        model.train_on_batch(x, y)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        after = []
        for _ in range(12):
            model.train_on_batch(x, y)
            after.append(tracemalloc.get_traced_memory()[0] - base)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    # Steady state: no step keeps a graph or an array alive. The smallest array of a step is the
    # 200x10 output (8 KB), so 8 steps keeping even one would add 64 KB; measured: ~1 KB per step
    # at first, falling to ~150 bytes (small Python objects, not arrays).
    assert after[-1] - after[3] < 64 * 1024, after
    assert after[-1] < 1024 * 1024, after
    # A step's temporaries: activations, masks and gradients of a 648k-parameter model at batch
    # 200 are a few MB (measured ~9 MB); the budget is 200 MB beyond the data set.
    assert peak < 32 * 1024 * 1024, peak


def _pool_or_skip():
    if lamina.backend.backend() != "numpy":
        pytest.skip("the pool allocates NumPy array data only")
    from lamina_numpy import _memory
    if not _memory.pool_available():
        pytest.skip("lamina_numpy._pool is not built here or LAMINA_NUMPY_POOL=0")
    return _memory


def test_w1_steps_allocate_no_new_buffers_with_the_pool():
    """The performance issue's "no new buffers per step", counted: train_on_batch runs in the
    backend's memory scope, and every array buffer of a steady-state step comes from the pool's
    cache, none from the system."""
    memory = _pool_or_skip()
    rng = np.random.default_rng(0)
    x = rng.random((200, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 200)]
    model = _w1_model()
    steps = 10
    for _ in range(3):  # warm-up: the cache fills with the step's block sizes
        model.train_on_batch(x, y)
    before = memory.pool_stats()
    for _ in range(steps):
        model.train_on_batch(x, y)
    after = memory.pool_stats()
    assert after["misses"] - before["misses"] == 0, (before, after)
    # A step needs at least its activations, dropout masks and their gradients at 200x500 and the
    # weight gradients (784x500, 500x500, 500x10): 20 blocks of >= 4 KiB is a floor (measured: 34
    # per step). All of them now come from the cache.
    assert after["hits"] - before["hits"] >= steps * 20, (before, after)
    assert after["bad_frees"] == before["bad_frees"]
    memory.release_memory()


def test_fit_takes_no_new_buffers_after_warm_up_and_releases_the_cache_at_the_end():
    memory = _pool_or_skip()
    memory.release_memory()
    rng = np.random.default_rng(1)
    x = rng.random((2000, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 2000)]
    misses = []

    class Count(lamina.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            misses.append(memory.pool_stats()["misses"])

    _w1_model().fit(x, y, batch_size=200, epochs=2, verbose=0, callbacks=[Count()])
    assert len(misses) == 20
    # Steps 4..20 (including the second epoch's, with a new shuffle) take nothing new.
    assert misses[-1] == misses[3], misses
    assert memory.pool_stats()["cached_bytes"] == 0  # fit handed the cache back when it returned


def test_predict_on_batch_keeps_the_cache_for_the_next_call():
    """predict_on_batch runs predict inside its own (non-releasing) scope: the cache survives
    between calls, so repeated calls take their buffers from it."""
    memory = _pool_or_skip()
    memory.release_memory()
    model = _w1_model()
    x = np.random.default_rng(2).random((200, 784), dtype=np.float32)
    model.predict_on_batch(x)
    before = memory.pool_stats()
    for _ in range(3):
        model.predict_on_batch(x)
    after = memory.pool_stats()
    # One new block per call: the returned predictions, which the caller frees outside any scope
    # (so they go back to the system). Everything else comes from the cache.
    assert after["misses"] - before["misses"] == 3, (before, after)
    assert after["hits"] - before["hits"] >= 3 * 3
    memory.release_memory()



def test_clear_session_hands_the_cache_back():
    """train_on_batch keeps the cache warm for the next call; lamina.backend.clear_session() is
    how a user gives it back."""
    memory = _pool_or_skip()
    memory.release_memory()
    rng = np.random.default_rng(4)
    x = rng.random((200, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 200)]
    model = _w1_model()
    for _ in range(2):
        model.train_on_batch(x, y)
    assert memory.pool_stats()["cached_bytes"] > 1_000_000  # at least the 784x500 gradient's block
    lamina.backend.clear_session()
    assert memory.pool_stats()["cached_bytes"] == 0
    model.train_on_batch(x, y)  # the model still trains


def test_an_install_without_the_compiled_pool_imports_quietly():
    """Where ``_pool`` was not built, importing the backend says nothing and NumPy's allocator serves
    (``from . import _pool`` inside the package's own import once turned the missing module into a
    "circular import" warning on every import)."""
    import subprocess
    import sys
    code = (
        "import importlib.abc, sys\n"
        "class NoPool(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'lamina_numpy._pool':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoPool())\n"
        "import lamina_numpy\n"
        "assert not lamina_numpy._memory.pool_available()\n"
    )
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
