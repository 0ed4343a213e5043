"""CUDA graphs of fit's replayed training step (lamina_cupy/_graph.py), on the fake CuPy.

The fake cannot capture, so these tests put an emulated graph in GraphedStep._record: the capture
runs the step's calls once (a real capture runs nothing; the models here change nothing in place
in their step, so running it once more is harmless), and each launch runs the captured calls
again with the capture's arguments: the fixed input buffers, the capture's tagged draws (so the
``_w`` kernels read their Philox words from the device buffer the launch has just written), then
writes the results into the buffers the capture returned, as a graph writes the same memory each
launch. What a GPU alone shows (that CUDA captures all of it) runs in conformance's
test_graph_step and benchmarks/gpu_check.sh.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from test_cupy_backend import _on_numpy_then_fake_cupy, install_fake

import lamina_cupy
from lamina.backends import philox
from lamina.ops.tape import Tensor
from lamina_cupy import _cublas, _graph


@pytest.fixture(autouse=True)
def _graphs_allowed(monkeypatch):
    """No setting of the caller's turns graphs off here (the tests that want that set it)."""
    for var in ("LAMINA_CUDA_GRAPHS", "LAMINA_ALLOW_TF32", "LAMINA_CUPY_FUSED", "CUPY_TF32"):
        monkeypatch.delenv(var, raising=False)


def _refusing_cublas(xp, run):
    """run() with the fake's ``matmul`` refusing, as CuPy's cuBLAS wrapper refuses a capturing stream
    (the products of a capture go through the direct gemm, here _HostGemm)."""
    def refuse(*args, **kwargs):
        raise NotImplementedError("calling cuBLAS API during stream capture is currently unsupported")

    xp.matmul = refuse
    try:
        return run()
    finally:
        del xp.matmul


class _ReplayingGraph:
    def __init__(self, step, run, outputs):
        self.step, self.run, self.outputs = step, run, outputs

    def launch(self, stream=None):
        be = self.step.be
        be._capture, be._kernels.strict = _graph.Capture(self.step.words, be.direct_gemm()), True
        try:
            fresh = _refusing_cublas(be.xp, self.run)
        finally:
            be._capture, be._kernels.strict = None, False
        _write_into(self.outputs, fresh)


def _write_into(dst, src):
    if type(dst) in (tuple, list):
        for d, s in zip(dst, src):
            _write_into(d, s)
    elif isinstance(dst, Tensor):
        _write_into(dst.value, src.value)
    elif dst is not None and hasattr(dst, "shape"):
        dst[...] = src


class _HostGemm(_cublas.Gemm):
    """Gemm's operand rules with the fake's product (libcublas is not here)."""

    def __init__(self, cupy):
        self.cupy, self.calls = cupy, 0
        self._matmul = cupy.matmul  # the fake's own, taken before any capture refuses it
        self._gemm = {np.dtype(np.float32): None, np.dtype(np.float64): None}

    def __call__(self, a, b, out):
        self.calls += 1
        return self._matmul(a, b, out=out)


class _Made(list):
    gemms: dict


@pytest.fixture
def graphs(monkeypatch):
    """The GraphedSteps made, with the emulated graph and the host product in place."""
    made = _Made()
    original = _graph.GraphedStep.__init__

    def init(self, be, function):
        original(self, be, function)
        made.append(self)

    def record(self, run):
        outputs = _refusing_cublas(self.be.xp, run)
        return _ReplayingGraph(self, run, outputs), outputs

    gemms = {}
    monkeypatch.setattr(_graph.GraphedStep, "__init__", init)
    monkeypatch.setattr(_graph.GraphedStep, "_record", record)
    monkeypatch.setattr(lamina_cupy.CupyBackend, "direct_gemm",
                        lambda self: gemms.setdefault(id(self), _HostGemm(self.xp)))
    made.gemms = gemms
    return made


def _mlp(seed, noise=False):
    from lamina.layers import Dense, Dropout, GaussianNoise
    from lamina.models import Sequential
    from lamina.optimizers import SGD
    from lamina.utils import set_random_seed

    set_random_seed(seed)
    layers = [Dense(16, activation="tanh", input_shape=(8,)), Dropout(0.5)]
    if noise:
        layers.append(GaussianNoise(0.1))
    model = Sequential(layers + [Dense(16, activation="tanh"), Dropout(0.25), Dense(3, activation="softmax")])
    model.compile(SGD(learning_rate=0.05, momentum=0.9, nesterov=True, decay=1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(3)
    x = rng.random((300, 8), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 300)]
    return x, y


def _train(seed, noise=False):
    x, y = _data()
    model = _mlp(seed, noise)
    history = model.fit(x, y, batch_size=20, epochs=2, verbose=0, validation_data=(x[:120], y[:120]))
    return history.history, [w.copy() for w in model.get_weights()]


def _assert_same(got, want):
    (history, weights), (want_history, want_weights) = got, want
    assert history == want_history
    assert len(weights) == len(want_weights)
    for g, w in zip(weights, want_weights):
        assert g.dtype == w.dtype and g.tobytes() == w.tobytes()


def test_fit_with_graphs_is_fit_without_them_bit_for_bit(monkeypatch, graphs):
    """Two epochs of 15 steps: each records two or three steps, warms one, captures the next and
    launches the graph for it and every step after it. Every launch draws new masks through the words buffer, so
    history and weights equal the NumPy backend's and the fake CuPy's without graphs, bit for bit."""
    fake = install_fake(monkeypatch)
    want, got = _on_numpy_then_fake_cupy(monkeypatch, _train, 5)
    _assert_same(got, want)
    # epoch 1's training records three steps (its first sets the tape's seed up once), epoch 2's two;
    # each validation pass (6 steps) records two, warms one and launches three
    assert [(g.failed, g.launches) for g in graphs] == [(None, 11), (None, 3), (None, 12), (None, 3)]
    # each training launch and capture (emulated: it runs) has two dropout layers and eight products
    # (3 forward, 3 weight gradients, 2 input gradients), each validation one three products
    runs, val_runs = 11 + 12 + 2, 3 + 3 + 2
    assert fake.launches.count("lamina_philox_dropout_apply_w_f32") == 2 * runs
    assert sum(g.calls for g in graphs.gemms.values()) == 8 * runs + 3 * val_runs
    monkeypatch.setenv("LAMINA_CUDA_GRAPHS", "0")
    graphs.clear()
    _, off = _on_numpy_then_fake_cupy(monkeypatch, _train, 5)
    _assert_same(off, want)
    assert graphs == []


def test_a_step_that_draws_noise_runs_without_a_graph(monkeypatch, graphs, caplog):
    """GaussianNoise draws normal numbers (random_bits: no graph twin): the training step's capture
    is refused, the step runs as the replayed function with the draws already taken, and training is
    unchanged; the validation steps (no noise at inference) still run as graphs."""
    install_fake(monkeypatch)
    want, got = _on_numpy_then_fake_cupy(monkeypatch, lambda s: _train(s, noise=True), 6)
    _assert_same(got, want)
    training, validation = graphs[0::2], graphs[1::2]  # the noise is drawn in training only
    assert len(graphs) == 4 and all(g.launches == 0 and "random_bits" in g.failed for g in training)
    assert [(g.failed, g.launches) for g in validation] == [(None, 3), (None, 3)]


def test_a_kernel_failing_in_a_capture_ends_the_capture_not_the_kernel(monkeypatch, graphs):
    """During a capture a kernel's failure raises (the step then runs without a graph) instead of
    switching that fused kernel off for good, as it does outside a capture."""
    install_fake(monkeypatch)
    original = _graph.GraphedStep._record

    def failing(self, run):
        library = self.be._kernels

        def refuse(*args, **kwargs):
            raise RuntimeError("cudaErrorStreamCaptureUnsupported (fake)")

        library._launch = refuse  # every launch of the capture fails
        try:
            return original(self, run)
        finally:
            del library._launch

    monkeypatch.setattr(_graph.GraphedStep, "_record", failing)
    want, got = _on_numpy_then_fake_cupy(monkeypatch, _train, 7)
    _assert_same(got, want)
    assert all("cudaErrorStreamCaptureUnsupported" in g.failed for g in graphs) and len(graphs) == 4
    from lamina import backends
    assert not any(v.startswith("failed") for v in backends.get_backend("cupy").kernel_status().values())


def test_gemm_takes_contiguous_and_transposed_2d_operands_only(monkeypatch):
    fake = install_fake(monkeypatch)
    gemm = _HostGemm(fake)
    a, b = fake.asarray(np.ones((4, 3), np.float32)), fake.asarray(np.ones((3, 5), np.float32))
    out = fake.empty((4, 5), dtype=np.float32)
    assert gemm.fits(a, b, out) and gemm.fits(fake.asarray(np.ones((3, 4), np.float32)).T, b, out)
    assert not gemm.fits(a, b, fake.empty((5, 4), dtype=np.float32).T)  # out must be C-contiguous
    assert not gemm.fits(a[:, ::2], fake.asarray(np.ones((2, 5), np.float32)), out)  # strided
    assert not gemm.fits(a, fake.asarray(np.ones((3, 5), np.float64)), out)  # mixed dtypes
    assert not gemm.fits(a.astype(np.int32), b.astype(np.int32), out.astype(np.int32))
    assert not gemm.fits(a, b, fake.empty((4, 6), dtype=np.float32))
    # (op, leading dimension) as CuPy's matmul hands a row-major operand to column-major cuBLAS
    assert _cublas._operand(a, False) == (_cublas._OP_N, 3) and _cublas._operand(a.T, False) == (_cublas._OP_T, 3)
    assert _cublas._operand(b, True) == (_cublas._OP_N, 5) and _cublas._operand(b.T, True) == (_cublas._OP_T, 5)
    # A dimension of 1 makes an array both C- and F-contiguous: CuPy reads the right operand as
    # F-contiguous (a Dense(1) kernel goes transposed) and the left one, transposed first, as C
    column, row = fake.asarray(np.ones((3, 1), np.float32)), fake.asarray(np.ones((1, 4), np.float32))
    assert _cublas._operand(column, True) == (_cublas._OP_T, 3) and _cublas._operand(row, True) == (_cublas._OP_T, 1)
    assert _cublas._operand(column, False) == (_cublas._OP_N, 1) and _cublas._operand(row, False) == (_cublas._OP_N, 4)
    assert gemm.fits(a, column, fake.empty((4, 1), dtype=np.float32))
    assert gemm.fits(column, row, fake.empty((3, 4), dtype=np.float32))
    # a 1 x 1 result: CuPy sums the products with a reduction kernel, no cuBLAS; not taken here
    assert not gemm.fits(row, fake.asarray(np.ones((4, 1), np.float32)), fake.empty((1, 1), dtype=np.float32))


def test_loaded_libraries_reads_the_process_maps(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text(
        "7f0-7f1 r-xp 00000000 08:01 1 /usr/lib/libcublasLt.so.13.1.0\n"
        "7f2-7f3 r-xp 00000000 08:01 2 /opt/nvidia/cu13/lib/libcublas.so.13.1.0\n"
        "7f3-7f4 r--p 00001000 08:01 2 /opt/nvidia/cu13/lib/libcublas.so.13.1.0\n"
        "7f4-7f5 rw-p 00000000 00:00 0\n"
        "7f6-7f7 r-xp 00000000 08:01 3 /opt/torch/lib/libcublas.so.12\n")
    assert _cublas.loaded_libraries("libcublas.so", str(maps)) == [
        "/opt/nvidia/cu13/lib/libcublas.so.13.1.0", "/opt/torch/lib/libcublas.so.12"]  # each once, both kept
    assert _cublas.loaded_libraries("libcusparse.so", str(maps)) == []
    assert _cublas.loaded_libraries("libcublas.so", str(tmp_path / "absent")) == []


def test_gemm_argument_order_against_a_column_major_stand_in(monkeypatch):
    """Gemm's call of cublasSgemm_v2 (row-major out = a @ b as column-major out^T = b^T a^T), run by
    a NumPy stand-in that reads the buffers column-major as cuBLAS does, for every layout of a and b."""
    fake = install_fake(monkeypatch)
    calls = []

    def column_major(buf, rows, cols, ld):
        return np.lib.stride_tricks.as_strided(buf, shape=(rows, cols), strides=(buf.itemsize, ld * buf.itemsize))

    def sgemm(handle, op_a, op_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        calls.append((op_a, op_b, m, n, k, lda, ldb, ldc))
        a_cm = column_major(memory[a], k if op_a else m, m if op_a else k, lda)
        b_cm = column_major(memory[b], n if op_b else k, k if op_b else n, ldb)
        out = column_major(memory[c], m, n, ldc)
        out[...] = (a_cm.T if op_a else a_cm) @ (b_cm.T if op_b else b_cm)
        return 0

    memory = {}
    gemm = _cublas.Gemm.__new__(_cublas.Gemm)
    gemm.cupy = fake
    fake.cuda.device = type("device", (), {"get_cublas_handle": staticmethod(lambda: 7)})
    gemm._set_stream = gemm._set_pointer_mode = lambda *args: 0
    gemm._gemm = {np.dtype(np.float32): (sgemm, ctypes.c_float(1.0), ctypes.c_float(0.0))}
    rng = np.random.default_rng(0)
    for m, k, n in ((4, 3, 5), (2, 7, 3), (1, 3, 5), (4, 1, 5), (4, 3, 1), (1, 1, 1)):
        for a_transposed in (False, True):
            for b_transposed in (False, True):
                a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
                da = fake.asarray(a.T.copy()).T if a_transposed else fake.asarray(a)
                db = fake.asarray(b.T.copy()).T if b_transposed else fake.asarray(b)
                out = fake.zeros((m, n), dtype=np.float32)
                for x in (da, db, out):  # the stand-in finds each buffer by its address
                    memory[x.data.ptr] = _flat(x)
                if m == n == 1:  # a 1 x 1 result: CuPy's reduction kernel, not cuBLAS
                    assert not gemm.fits(da, db, out)
                    continue
                assert gemm.fits(da, db, out)
                gemm(da, db, out)
                np.testing.assert_allclose(fake.asnumpy(out), a @ b, rtol=1e-6)
    assert calls and all(c[2] >= 1 and c[7] == c[2] for c in calls)  # ldc is out's row length


def _flat(x):
    """The memory of a C- or F-contiguous fake array, in address order."""
    a = x._a
    return (a if a.flags.c_contiguous else a.T).reshape(-1)


def test_capture_slots_take_only_the_steps_draws(monkeypatch):
    fake = install_fake(monkeypatch)
    capture = _graph.Capture(fake.zeros((_graph.MAX_SLOTS * 5,), dtype=np.uint64), None)
    (s0, d0), (s1, d1) = philox.tagged_draws([(7, 100), (9, 200)])
    assert capture.slot(s1, d1).shape == (5,) and capture.slot(s0, d0).shape == (5,)
    assert capture.slot_draws == [1, 0]
    for seed, counter in ((7, 100), (s0, d1), (d0, s0), (s0, 100)):
        with pytest.raises(_graph.GraphRefused, match="not one of the step's draws"):
            capture.slot(seed, counter)


def test_conformance_graph_step_through_the_emulated_graph(monkeypatch, graphs):
    """conformance's test_graph_step (each step's own mask and values, kept losses keep theirs) with
    the graph emulated: one warm-up call, then four launches of the graph."""
    from conformance.test_creation import test_graph_step

    install_fake(monkeypatch)
    test_graph_step(lamina_cupy.CupyBackend())
    assert [(g.failed, g.launches) for g in graphs] == [(None, 4)]


def test_cached_scalars_the_graph_reads_are_kept_with_it(monkeypatch, graphs):
    """The step's ``asarray(batch size)`` is the backend's cached scalar: the graph keeps it, so a
    cleared cache frees nothing a later launch reads; a scalar not cached at capture time (the cache
    cleared just before) would be a host copy, so that capture is refused and the step runs without
    a graph, with the same results."""
    import gc
    import weakref

    install_fake(monkeypatch)
    want, got = _on_numpy_then_fake_cupy(monkeypatch, _train, 5)
    _assert_same(got, want)
    kept = [weakref.ref(a) for g in graphs for a in g._keep]
    assert kept and all(g._keep for g in graphs)
    from lamina import backends
    backends.get_backend("cupy")._scalars.clear()
    gc.collect()
    assert all(r() is not None for r in kept)

    original = _graph.GraphedStep._record

    def cleared_first(self, run):
        self.be._scalars.clear()
        return original(self, run)

    monkeypatch.setattr(_graph.GraphedStep, "_record", cleared_first)
    graphs.clear()
    _, refused = _on_numpy_then_fake_cupy(monkeypatch, _train, 5)
    _assert_same(refused, want)
    assert len(graphs) == 4 and all("uploaded during the capture" in g.failed for g in graphs)


def test_a_failed_warm_up_runs_the_step_without_a_graph(monkeypatch, graphs):
    """The warm-up can fail (the graph's own pool out of memory): the step runs on the default pool
    with the draws already taken, and no graph is tried again."""
    install_fake(monkeypatch)

    def out_of_memory(self, run):
        raise MemoryError("out of memory allocating 1,048,576 bytes (fake)")

    monkeypatch.setattr(_graph.GraphedStep, "_on_stream", out_of_memory)
    want, got = _on_numpy_then_fake_cupy(monkeypatch, _train, 8)
    _assert_same(got, want)
    assert len(graphs) == 4 and all(g.launches == 0 and "out of memory" in g.failed for g in graphs)


def test_no_graph_for_a_metric_of_the_users_own_or_with_tf32(monkeypatch, graphs):
    """A metric the user wrote could keep a step's predictions, which a graph overwrites at its next
    launch; TF32 products (CuPy's) and the graph's direct FP32 ones would differ. Neither gets a graph."""
    install_fake(monkeypatch)
    from lamina import backends
    from lamina.metrics import Accuracy

    def mine(y_true, y_pred):
        return Accuracy()(y_true, y_pred)

    x, y = _data()
    for metrics, count in (([mine], 0), ([Accuracy()], 4), (["acc"], 4)):
        graphs.clear()

        def train(seed):
            model = _mlp(seed)
            model.compile("sgd", loss="categorical_crossentropy", metrics=metrics)
            return model.fit(x, y, batch_size=20, epochs=2, verbose=0, validation_data=(x[:120], y[:120])).history

        want, got = _on_numpy_then_fake_cupy(monkeypatch, train, 1)
        assert got == want and len(graphs) == count, metrics

    def step(inputs, draws=None):
        return None

    step.next_draws = list
    assert lamina_cupy.CupyBackend().graph_step(step) is not None
    monkeypatch.setenv("LAMINA_ALLOW_TF32", "1")
    assert lamina_cupy.CupyBackend().graph_step(step) is None
    assert backends.get_backend("numpy").graph_step(step) is None


def test_the_libcublas_whose_version_is_cupys_is_chosen(monkeypatch):
    """PyTorch may map its own libcublas into the process: Gemm calls the one whose
    cublasGetVersion_v2 on CuPy's handle gives CuPy's answer, and says so when none does."""

    class Lib:
        versions: dict = {}

        def __init__(self, path):
            self.path = path
            version = {"/torch/libcublas.so.12": 12090, "/cupy/libcublas.so.13": 130100, **Lib.versions}[path]

            def get(handle, out):
                out._obj.value = version
                return 0

            self.cublasGetVersion_v2 = get

    monkeypatch.setattr(_cublas.ctypes, "CDLL", Lib)
    monkeypatch.setattr(_cublas, "loaded_libraries", lambda stem: ["/torch/libcublas.so.12", "/cupy/libcublas.so.13"])
    monkeypatch.setattr(_cublas, "_cupy_cublas_version", lambda handle: 130100)
    assert _cublas._library_of(5).path == "/cupy/libcublas.so.13"
    monkeypatch.setattr(_cublas, "_cupy_cublas_version", lambda handle: 120000)
    with pytest.raises(OSError, match="no loaded libcublas matches CuPy's"):
        _cublas._library_of(5)
    monkeypatch.setattr(_cublas, "_cupy_cublas_version", lambda handle: None)  # CuPy cannot say:
    with pytest.raises(OSError):  # two candidates, no way to tell them apart
        _cublas._library_of(5)
    monkeypatch.setattr(_cublas, "loaded_libraries", lambda stem: ["/torch/libcublas.so.12"])
    assert _cublas._library_of(5).path == "/torch/libcublas.so.12"  # the only one there is
    # Two files that both report CuPy's version: no telling which one CuPy's handle belongs to
    Lib.versions = {"/a/libcublas.so.13": 130100, "/b/libcublas.so.13": 130100}
    monkeypatch.setattr(_cublas, "loaded_libraries", lambda stem: list(Lib.versions))
    monkeypatch.setattr(_cublas, "_cupy_cublas_version", lambda handle: 130100)
    with pytest.raises(OSError, match="2 loaded libcublas files report CuPy's version 130100"):
        _cublas._library_of(5)
    Lib.versions = {"/a/libcublas.so.13": 130100, "/b/libcublas.so.13": 120000}
    assert _cublas._library_of(5).path == "/a/libcublas.so.13"


def test_which_metrics_let_a_step_be_a_graph():
    from lamina import losses, metrics
    from lamina.models.objectives import _lamina_own

    class Mine(metrics.Mean):
        pass

    def mine(y_true, y_pred):
        return y_pred

    for spec in ("accuracy", "acc", metrics.Accuracy(), metrics.Accuracy, losses.mean_squared_error,
                 metrics.MeanMetricWrapper(losses.mean_squared_error)):
        assert _lamina_own(spec), spec
    for spec in (mine, Mine(), Mine, metrics.MeanMetricWrapper(mine)):
        assert not _lamina_own(spec), spec
    for spec in ("mse", "mae", "AUC", "auc", "top_k_categorical_accuracy", "Accuracy", "ACC"):
        assert _lamina_own(spec), spec
    # A name that finds the user's own function or class (a scope, the registry) is the user's
    from lamina.utils import custom_object_scope
    with custom_object_scope({"keep_preds": mine, "MineMetric": Mine, "mse": mine}):
        assert not _lamina_own("keep_preds") and not _lamina_own("MineMetric")
        assert _lamina_own("mse")  # Lamina's own names come first, as metrics.get resolves them


@pytest.mark.parametrize("kind", ["lstm", "conv"])
def test_lstm_and_conv_steps_run_as_graphs_with_the_same_results(monkeypatch, graphs, kind):
    """An LSTM with input and recurrent dropout (the time loop unrolled into the recording, its
    masks through the ``_w`` twins) and a convolution (im2col, 2-D products) are captured too, and
    train to the NumPy backend's history and weights bit for bit."""
    from lamina.layers import LSTM, Conv2D, Dense, Dropout, Flatten
    from lamina.models import Sequential
    from lamina.utils import set_random_seed

    install_fake(monkeypatch)

    def train(seed):
        rng = np.random.default_rng(0)
        set_random_seed(seed)
        if kind == "lstm":
            x = rng.random((120, 7, 5), dtype=np.float32)
            layers = [LSTM(8, input_shape=(7, 5), dropout=0.2, recurrent_dropout=0.2)]
        else:
            x = rng.random((120, 6, 6, 1), dtype=np.float32)
            layers = [Conv2D(4, 3, activation="relu", input_shape=(6, 6, 1)), Flatten(), Dropout(0.3)]
        y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 120)]
        model = Sequential(layers + [Dense(3, activation="softmax")])
        model.compile("adam", loss="categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=20, epochs=2, verbose=0)
        return history.history, [w.copy() for w in model.get_weights()]

    want, got = _on_numpy_then_fake_cupy(monkeypatch, train, 1)
    _assert_same(got, want)
    assert [(g.failed, g.launches) for g in graphs] == [(None, 2), (None, 3)]  # epoch 1 records a third step


@pytest.mark.parametrize("model", ["cnn", "lstm"])
def test_the_gpu_checks_graph_probe_trains_the_example_networks_both_ways(monkeypatch, graphs, model):
    """benchmarks.cuda_graph_probe, as gpu_check.sh runs it for mnist_cnn's and mnist_rnn's networks
    (few samples here): with and without graphs the same history and weights, steps launched."""
    from lamina import backends

    from benchmarks import cuda_graph_probe

    install_fake(monkeypatch)
    for var in ("LAMINA_BACKEND", "LAMINA_CUDA_GRAPHS"):  # the probe's Trainer sets them: put back afterwards
        monkeypatch.setenv(var, "numpy" if var == "LAMINA_BACKEND" else "1")
    monkeypatch.setattr(backends, "_instances", {k: v for k, v in backends._instances.items() if k != "cupy"})
    monkeypatch.setattr(backends, "_active", backends._active)
    previous = backends.current().name
    try:
        result = cuda_graph_probe.probe(2, model=model, samples=(768, 256))  # 6 steps of 128, 2 to validate
    finally:
        backends.set_backend(previous)
    assert result["model"] == model and result["batch"] == 128
    assert result["same_weights"] is True and result["same_logs"] is True
    assert result["graphs_failed"] == [] and result["graph_launches"] > 0
    assert "direct_products_equal_cupy_matmul" not in result  # measured for W1 alone
    history = result["history_graphs"]
    assert len(history["loss"]) == 2 and all(np.isfinite(v) for v in history["loss"] + history["val_loss"])
    with pytest.raises(ValueError, match="model must be one of w1, cnn, lstm"):
        cuda_graph_probe.probe(1, model="gru")


def test_the_graphs_memory_pool_takes_what_the_memory_limit_leaves(monkeypatch):
    """LAMINA_GPU_MEMORY_LIMIT caps the default pool and the graphs' own pools together: a new graph's
    gets what the default pool and the live graphs' pools hold no more of, and none left means no
    graph (not a warm-up that runs out part-way through a step)."""
    fake = install_fake(monkeypatch)
    be = lamina_cupy.CupyBackend()
    calls = []

    def function(inputs, draws=None):
        calls.append(draws)
        return inputs

    function.next_draws = lambda: ["drawn"]
    assert _graph.GraphedStep(be, function).pool.get_limit() == 0  # no cap set: none on the graph's pool
    import gc
    be.set_memory_limit(10_000)
    monkeypatch.setattr(fake.pool, "total_bytes", lambda: 4_000)
    step = _graph.GraphedStep(be, function)
    assert step.pool.get_limit() == 6_000 and step.failed is None
    step.pool.total_bytes = lambda: 5_000  # warmed up: fit's validation graph gets what is left
    second = _graph.GraphedStep(be, function)
    assert second.pool.get_limit() == 1_000 and second.failed is None
    del step, second
    gc.collect()  # graphs no longer alive hold nothing
    assert _graph.GraphedStep(be, function).pool.get_limit() == 6_000
    monkeypatch.setattr(fake.pool, "total_bytes", lambda: 10_000)
    step = _graph.GraphedStep(be, function)
    assert step.failed == "LAMINA_GPU_MEMORY_LIMIT (10000 bytes) is all taken by the other memory pools"
    assert step(["batch"]) == ["batch"] and step(["next"]) == ["next"]
    assert calls == [None, None] and step.graph is None and not step.warmed  # plain calls, no warm-up


def test_host_data_uploaded_in_a_step_refuses_the_capture(monkeypatch, graphs):
    """A layer that uploads host data (a list, a NumPy array) in its ``call``: CuPy stages the copy
    in a pinned buffer it reuses, so a graph would read whatever is there later. The capture is
    refused and the step runs as replayed calls, with the same results as without graphs."""
    from lamina import ops
    from lamina.layers import Dense, Layer
    from lamina.models import Sequential
    from lamina.utils import set_random_seed

    class Shift(Layer):
        def call(self, x):
            return ops.add(x, ops.convert_to_tensor([0.5, -0.25, 1.0], "float32"))  # a constant: replayed

    install_fake(monkeypatch)

    def train(seed):
        x, y = _data()
        set_random_seed(seed)
        model = Sequential([Dense(3, input_shape=(8,)), Shift(), Dense(3, activation="softmax")])
        model.compile("sgd", loss="categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, batch_size=20, epochs=2, verbose=0)
        return history.history, [w.copy() for w in model.get_weights()]

    want, got = _on_numpy_then_fake_cupy(monkeypatch, train, 2)
    _assert_same(got, want)
    assert graphs and all(g.failed == "GraphRefused: host data (list) uploaded during the capture"
                          and g.launches == 0 for g in graphs)


def test_the_scalar_cache_keeps_negative_zero_and_nan_apart(monkeypatch):
    """-0.0 == 0.0, so a cache keyed on the value alone would hand out +0.0 for -0.0 (whose sign a
    division shows); NumPy keeps the sign."""
    install_fake(monkeypatch)
    be = lamina_cupy.CupyBackend()
    zero, negative = be.asarray(0.0, "float32"), be.asarray(-0.0, "float32")
    assert not np.signbit(be.to_numpy(zero)) and np.signbit(be.to_numpy(negative))
    assert be.asarray(-0.0, "float32") is negative and be.asarray(0.0, "float32") is zero  # both cached
    nan = be.asarray(float("nan"), "float32")
    assert np.isnan(be.to_numpy(nan)) and be.asarray(float("nan"), "float32") is nan
    assert be.asarray(1, "float32") is not be.asarray(1.0, "float32")  # int and float stay apart


def test_a_warm_up_failing_part_way_counts_the_batch_once(monkeypatch, graphs):
    """A warm-up that runs out of memory after BatchNormalization has updated its moving statistics:
    those are put back before the step runs again without a graph, so the weights and the moving
    statistics are NumPy's, bit for bit (the batch is not counted twice)."""
    from lamina.layers import BatchNormalization, Dense
    from lamina.models import Sequential
    from lamina.utils import set_random_seed

    install_fake(monkeypatch)
    original = _graph.GraphedStep._on_stream
    products = {"n": 0}

    def failing_after_the_forward_pass(self, run):
        xp = self.be.xp
        plain = xp.matmul

        def matmul(a, b, out=None):
            products["n"] += 1
            if products["n"] == 3:  # the backward pass's first product: BN's update is queued already
                raise MemoryError("out of memory allocating 1,048,576 bytes (fake)")
            return plain(a, b, out=out)

        xp.matmul = matmul
        try:
            return original(self, run)
        finally:
            del xp.matmul

    monkeypatch.setattr(_graph.GraphedStep, "_on_stream", failing_after_the_forward_pass)

    def train(seed):
        x, y = _data()
        set_random_seed(seed)
        model = Sequential([Dense(8, input_shape=(8,)), BatchNormalization(), Dense(3, activation="softmax")])
        model.compile("sgd", loss="categorical_crossentropy")
        history = model.fit(x, y, batch_size=20, epochs=1, verbose=0)
        return history.history, [w.copy() for w in model.get_weights()]

    want, got = _on_numpy_then_fake_cupy(monkeypatch, train, 4)
    _assert_same(got, want)  # the moving mean and variance are among the weights
    assert products["n"] == 3 and len(graphs) == 1 and "out of memory" in graphs[0].failed
    replayed = graphs[0].function
    assert len(replayed.writes) == 2  # the moving mean and variance, put back after the failure


def test_the_probes_direct_product_check_covers_dense1_operands(monkeypatch, graphs):
    """benchmarks.cuda_graph_probe compares the direct products with CuPy's matmul at W1's shapes and
    a Dense(1) head's (operands with a dimension of 1); on the fake both are NumPy's products."""
    from benchmarks import cuda_graph_probe

    install_fake(monkeypatch)
    result = cuda_graph_probe._direct_products_equal(lamina_cupy.CupyBackend())
    assert result == {"forward": True, "weight gradient": True, "input gradient": True, "Dense(1) forward": True,
                      "Dense(1) weight gradient": True, "Dense(1) input gradient": True, "all": True}
