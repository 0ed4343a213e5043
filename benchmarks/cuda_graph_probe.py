"""``fit`` on CuPy with and without CUDA graphs: the same weights, and seconds per epoch each way.

    python -m benchmarks.cuda_graph_probe [--model w1|cnn|lstm] [--epochs 3] [--json PATH]
                                          [--train-samples N] [--val-samples N]

On the CuPy backend ``fit`` launches its replayed training step as one CUDA graph
(lamina_cupy/_graph.py). This trains one network from one seed twice in one process, with
``LAMINA_CUDA_GRAPHS=0`` and then with graphs, and reports: whether the final weights and the
history are the same bit for bit (they must be: the graph draws each step's dropout masks from the
same Philox stream), seconds per epoch each way (``Trainer.fit_epochs``: a device synchronisation
at each epoch's ends), each graphed step's launches or why it was not captured, and (W1) whether
the direct cuBLAS products a graph holds (``lamina_cupy._cublas``) give CuPy ``matmul``'s bits.

The networks: ``w1``, the benchmark's MLP on its split (42,000 + 18,000 samples, batch 200);
``cnn``, examples/mnist_cnn.py's convnet (Adadelta); ``lstm``, examples/mnist_rnn.py's LSTM(128)
over the image rows (Adam), with input and recurrent dropout 0.2 so that its Philox launches are
in the graph too. The last two train on the first 12,800 samples and validate on 2,560 of the
held-out 18,000, batch 128, unless told otherwise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

from .workloads import W1

MODELS = ("w1", "cnn", "lstm")
BATCH = {"w1": W1.batch, "cnn": 128, "lstm": 128}
SAMPLES = {"w1": (42000, 18000), "cnn": (12800, 2560), "lstm": (12800, 2560)}  # training, validation
SHAPES = {"w1": (784,), "cnn": (28, 28, 1), "lstm": (28, 28)}


def _direct_products_equal(be: Any) -> dict:
    """Products of one batch through libcublas (what a graph holds) and through CuPy's matmul, bit
    for bit: W1's three, and a Dense(1) head's three, whose operands have a dimension of 1 (CuPy
    reads those its own way, which ``_cublas._operand`` copies). ``{"all": bool, name: bool, ...}``."""
    import numpy as np

    cupy = be.xp
    gemm = be.direct_gemm()
    rng = np.random.default_rng(0)
    x = cupy.asarray(rng.random((W1.batch, 784), dtype=np.float32))
    w = cupy.asarray(rng.standard_normal((784, 500)).astype(np.float32))
    g = cupy.asarray(rng.standard_normal((W1.batch, 500)).astype(np.float32))
    w1 = cupy.asarray(rng.standard_normal((784, 1)).astype(np.float32))
    g1 = cupy.asarray(rng.standard_normal((W1.batch, 1)).astype(np.float32))
    cases = {"forward": (x, w), "weight gradient": (x.T, g), "input gradient": (g, w.T),
             "Dense(1) forward": (x, w1), "Dense(1) weight gradient": (x.T, g1), "Dense(1) input gradient": (g1, w1.T)}
    out: dict[str, Any] = {}
    for name, (a, b) in cases.items():
        result = cupy.empty((a.shape[0], b.shape[1]), dtype=np.float32)
        assert gemm.fits(a, b, result), name
        out[name] = bool((gemm(a, b, result) == cupy.matmul(a, b)).all())
    out["all"] = all(out.values())
    return out


def _network(model: str):
    """The compiled cnn or lstm network (the examples' layers and optimizers)."""
    from lamina.layers import LSTM, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from lamina.models import Sequential
    from lamina.optimizers import Adadelta, Adam

    if model == "cnn":
        net = Sequential([Conv2D(32, (3, 3), activation="relu", input_shape=SHAPES["cnn"]),
                          Conv2D(64, (3, 3), activation="relu"), MaxPooling2D((2, 2)), Dropout(0.25), Flatten(),
                          Dense(128, activation="relu"), Dropout(0.5), Dense(10, activation="softmax")])
        optimizer = Adadelta()
    else:
        net = Sequential([LSTM(128, input_shape=SHAPES["lstm"], dropout=0.2, recurrent_dropout=0.2),
                          Dense(10, activation="softmax")])
        optimizer = Adam(learning_rate=1e-3)
    net.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return net


def _train(graphs: bool, epochs: int, seed: int, model: str = "w1",
           samples: tuple[int, int] | None = None) -> tuple[list[float], dict, list, list]:
    """(seconds per epoch, History.history, final weights, each GraphedStep's launches or failure)."""
    import dataclasses

    from lamina_cupy import _graph

    from . import data
    from .impl_lamina import Trainer

    os.environ["LAMINA_CUDA_GRAPHS"] = "1" if graphs else "0"
    made: list = []
    original = _graph.GraphedStep.__init__

    def spy(self: Any, be: Any, function: Any) -> None:
        original(self, be, function)
        made.append(self)

    _graph.GraphedStep.__init__ = spy
    try:
        trainer = Trainer("cupy", dataclasses.replace(W1, batch=BATCH[model]), seed)
        if model != "w1":
            trainer.model = _network(model)  # made after W1's, from the same seed in both runs
        d = data.load()
        x, y = d["x_train"].reshape((-1,) + SHAPES[model]), d["y_train"]
        n_train, n_val = samples or SAMPLES[model]
        # W1's split: the first 42,000 train, the rest validate (fit(validation_split=0.3))
        trainer.prepare(x[:n_train], y[:n_train], x[42000:42000 + n_val], y[42000:42000 + n_val])
        times, logs = trainer.fit_epochs(epochs)
    finally:
        _graph.GraphedStep.__init__ = original
        os.environ.pop("LAMINA_CUDA_GRAPHS", None)
    steps = [{"launches": g.launches, "failed": g.failed} for g in made]
    return times, trainer.history, trainer.model.get_weights(), steps


def probe(epochs: int, seed: int = 1, model: str = "w1", samples: tuple[int, int] | None = None) -> dict:
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}.")
    without = _train(False, epochs, seed, model, samples)
    with_ = _train(True, epochs, seed, model, samples)
    from lamina.backends import get_backend
    be = get_backend("cupy")
    out: dict[str, Any] = {"device": be.device_description(), "model": model, "epochs": epochs, "seed": seed,
                           "samples": list(samples or SAMPLES[model]), "batch": BATCH[model],
                           "s_per_epoch_no_graphs": without[0], "s_per_epoch_graphs": with_[0],
                           "history_no_graphs": without[1], "history_graphs": with_[1], "graph_steps": with_[3]}
    later = slice(1, None) if epochs > 1 else slice(None)  # the first epoch compiles kernels
    out["median_no_graphs"] = statistics.median(without[0][later])
    out["median_graphs"] = statistics.median(with_[0][later])
    out["graphs_over_no_graphs"] = out["median_graphs"] / out["median_no_graphs"]
    out["same_weights"] = all(a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in zip(without[2], with_[2]))
    out["same_logs"] = without[1] == with_[1]  # every epoch's loss, accuracy and validation logs
    out["graph_launches"] = sum(s["launches"] for s in with_[3])
    out["graphs_failed"] = sorted({s["failed"] for s in with_[3] if s["failed"]})
    if model == "w1":
        try:
            products = _direct_products_equal(be)
            out["direct_products_equal_cupy_matmul"] = products.pop("all")
            out["direct_products_by_case"] = products
        except Exception as exc:  # no libcublas here (the fake CuPy): said, not fatal
            out["direct_products_equal_cupy_matmul"] = f"not measured: {type(exc).__name__}: {exc}"[:200]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cuda_graph_probe", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="w1", choices=MODELS)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-samples", type=int, default=None, help="training samples (at most 42,000)")
    p.add_argument("--val-samples", type=int, default=None, help="validation samples (at most 18,000)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs must be at least 1, got {args.epochs}")
    default_train, default_val = SAMPLES[args.model]
    samples = (args.train_samples or default_train, args.val_samples or default_val)
    if not (1 <= samples[0] <= 42000 and 1 <= samples[1] <= 18000):
        p.error(f"--train-samples must be in 1..42000 and --val-samples in 1..18000, got {samples[0]} and {samples[1]}")
    try:
        result = probe(args.epochs, model=args.model, samples=samples)
    except Exception as exc:  # report, so that the GPU check's log says why
        import traceback
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:400]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result, indent=1))
    if "error" in result:
        print(f"CUDA graph check: {result['error']}")
        return 1
    print(f"{result['model']} fit on {result['device']}: {result['median_graphs']:.3f} s/epoch with CUDA graphs, "
          f"{result['median_no_graphs']:.3f} without ({result['graphs_over_no_graphs']:.2f}x); same weights: "
          f"{result['same_weights']}; {result['graph_launches']} graph launches")
    if result.get("direct_products_equal_cupy_matmul") is False:
        print("direct cuBLAS products differ from CuPy's matmul:", result["direct_products_by_case"])
    ok = (result["same_weights"] and result["same_logs"] and result["graph_launches"] > 0
          and result.get("direct_products_equal_cupy_matmul") is not False)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
