#!/usr/bin/env bash
# The one GPU check for Lamina: run it from anywhere in the checkout on a machine with an NVIDIA GPU.
#
#   bash benchmarks/gpu_check.sh            # logs under ./gpu_check_out (or "$OUT" when set)
#
# (a) pip install --no-deps --no-build-isolation -e .   (offline: numpy/cupy/pytest/torch already there;
#     needs setuptools>=70.1 or wheel; if it fails, the rest runs from the source folders)
# (b) nvidia-smi -L and CuPy's view of the device
# (c) pytest conformance --backend cupy, tests/test_cupy_backend.py, and the whole tests/ folder
#     (-m "not slow") with LAMINA_BACKEND=cupy (keeps going on failure)
# (d) the MNIST MLP (W1), 3 epochs from one seed on CuPy and on NumPy: s/epoch, test accuracy,
#     and the largest absolute difference between the two backends' final weights
# (e) W1 on PyTorch CUDA (eager, hand loop) on the same card, kernel launches and host syncs per step
#     (benchmarks.step_counts), W1 fit with and without CUDA graphs (benchmarks.cuda_graph_probe; then
#     the cnn and lstm networks the same way while GPU_CHECK_PROBES_BY seconds, default 190, are not used), plus
#     `python -m benchmarks`
#     (2 rounds: Lamina cupy/numpy, NumPy hand loop, PyTorch CPU/CUDA, GEMM floor)
# (f) a short summary table, printed last
#
# Without a GPU it runs the parts that make sense on a CPU (install, CPU-side CuPy tests, NumPy
# training for 1 epoch, a --quick benchmark) and exits non-zero at the end, saying why.
# Environment: OUT (log folder), PYTHON (interpreter), EPOCHS (default 3),
# GPU_CHECK_SKIP_INSTALL=1 (skip step a), LAMINA_DATASETS (where mnist/ is),
# GPU_CHECK_BENCH_BY (seconds: python -m benchmarks runs only if the check has used fewer; default 210).
#
# Dry run without a GPU: GPU_CHECK_FAKE_CUPY=1 puts tests/fake_cupy_site first on PYTHONPATH, so
# `import cupy` is the NumPy fake of tests/test_cupy_backend.py (each kernel launch checked against
# the .cu signatures and emulated), and a stand-in nvidia-smi first on PATH; the GPU branch then runs
# every command on the CPU. It tests the scripts, their flags and the summary, never a GPU: the log,
# the summary and the last line say DRY RUN, and the PyTorch CUDA steps, which cannot run without
# CUDA, are listed as not covered instead of as problems. A dry run's exit status 0 means only that
# the scripts ran without problems. See docs/cupy.md for what a dry run cannot cover.
# Budget: under 5 minutes on an H100; each step has its own timeout.
set -uo pipefail

OUT="${OUT:-./gpu_check_out}"  # relative to where the script is started
mkdir -p "$OUT" && OUT="$(cd "$OUT" && pwd)" || { echo "cannot create the log folder $OUT"; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
REPO="$(pwd)"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif command -v python >/dev/null 2>&1; then PY=python
else PY=python3; fi
EPOCHS="${EPOCHS:-3}"
START=$(date +%s)
PROBLEMS=()
MAIN_LOG="$OUT/gpu_check.log"
: > "$MAIN_LOG"
# What an earlier run left in the same folder must not reach this run's summary (a step that fails or
# is skipped now would otherwise show the old numbers, or an old dry run's).
for f in install build_ext nvidia-smi cupy-info conformance_cupy test_cupy_backend tests_cupy train_cupy \
         train_numpy weights_compare train_torch_cuda step_counts cuda_graph bench; do rm -f "$OUT/$f.log"; done
rm -f "$OUT"/train-*.json "$OUT"/weights-*.npz "$OUT/weights-compare.json" "$OUT/step_counts.json" "$OUT/cuda_graph.json" \
      "$OUT/bench.json" "$OUT/env.json" "$OUT/problems.txt" "$OUT/dry_run.txt" "$OUT/summary.txt"
rm -rf "$OUT/fake-bin"

say() { echo "== $*" | tee -a "$MAIN_LOG"; }
elapsed() { echo $(( $(date +%s) - START )); }
# run NAME TIMEOUT CMD...: output to $OUT/NAME.log (and to the console), returns the command's status
run() {
    local name="$1" limit="$2"; shift 2
    say "[$(elapsed)s] $name: $*"
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 25 "$OUT/$name.log"
    [ $rc -eq 124 ] && say "$name: timed out after ${limit}s"
    say "$name: exit $rc (full log: $OUT/$name.log)"
    return $rc
}

FAKE=0
DRY_UNCOVERED=()  # dry run only: steps that cannot run without a real GPU (not problems of the scripts)
if [ "${GPU_CHECK_FAKE_CUPY:-0}" = "1" ]; then
    FAKE=1
    [ -f "$REPO/tests/fake_cupy_site/cupy/__init__.py" ] || { echo "GPU_CHECK_FAKE_CUPY=1: tests/fake_cupy_site is missing"; exit 2; }
    export PYTHONPATH="$REPO/tests/fake_cupy_site${PYTHONPATH:+:$PYTHONPATH}"
    mkdir -p "$OUT/fake-bin"
    cat > "$OUT/fake-bin/nvidia-smi" <<'SHEOF'
#!/bin/sh
# stand-in written by gpu_check.sh for GPU_CHECK_FAKE_CUPY=1: there is no GPU here
if [ "$1" = "-L" ]; then echo "GPU 0: FAKE-CUPY dry run (UUID: GPU-00000000-fake)"
else echo "name, driver_version, memory.total [MiB], clocks.max.sm [MHz]"; echo "FAKE-CUPY dry run, 0, 0 MiB, 0 MHz"; fi
SHEOF
    chmod +x "$OUT/fake-bin/nvidia-smi"
    export PATH="$OUT/fake-bin:$PATH"
    say "DRY RUN (GPU_CHECK_FAKE_CUPY=1): cupy is the NumPy fake in tests/fake_cupy_site, nvidia-smi a stand-in; no GPU is used and nothing below is a GPU result"
fi
say "Lamina GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), checkout $REPO, python $($PY -c 'import sys; print(sys.version.split()[0])' 2>&1)"

# (a) install -------------------------------------------------------------------------------
if [ "${GPU_CHECK_SKIP_INSTALL:-0}" = "1" ]; then
    say "(a) install skipped (GPU_CHECK_SKIP_INSTALL=1)"
else
    run install 120 "$PY" -m pip install --no-deps --no-build-isolation -e . || PROBLEMS+=("pip install --no-deps --no-build-isolation -e . failed (install.log; the rest ran from the source folders via PYTHONPATH)")
fi
if ! "$PY" -c "import lamina, lamina_numpy, lamina_cupy" >> "$MAIN_LOG" 2>&1; then
    say "lamina does not import after the install; using the source folders via PYTHONPATH"
    export PYTHONPATH="$REPO/frontend:$REPO/backend_numpy:$REPO/backend_cupy:$REPO${PYTHONPATH:+:$PYTHONPATH}"
    # the NumPy backend's compiled helper in place (plain setuptools, no wheel package needed), so that
    # the CPU side of the comparison is the real NumPy backend; without it the backend still runs
    run build_ext 240 "$PY" setup.py build_ext --inplace \
        || say "the NumPy helper did not build (build_ext.log): the NumPy backend runs without it, slower"
    "$PY" -c "import lamina, lamina_numpy, lamina_cupy" >> "$MAIN_LOG" 2>&1 || PROBLEMS+=("lamina does not import")
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # the benchmarks package

# (b) the device -----------------------------------------------------------------------------
GPU=0
CARD=""
if command -v nvidia-smi >/dev/null 2>&1; then
    run nvidia-smi 30 nvidia-smi -L && CARD="$(grep -m1 '^GPU 0' "$OUT/nvidia-smi.log" | sed -e 's/^GPU 0: //' -e 's/ (UUID.*//')"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >> "$OUT/nvidia-smi.log" 2>&1
else
    say "(b) nvidia-smi not found"
fi
run cupy-info 60 "$PY" - <<'PYEOF'
import cupy
print("cupy", cupy.__version__, "| CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(),
      "| driver", cupy.cuda.runtime.driverGetVersion())
n = cupy.cuda.runtime.getDeviceCount()
print("devices:", n)
for i in range(n):
    p = cupy.cuda.runtime.getDeviceProperties(i)
    print(f"  {i}: {p['name'].decode()} | compute capability {p['major']}.{p['minor']} | "
          f"{p['totalGlobalMem'] / 2**30:.1f} GiB | {p['multiProcessorCount']} SMs")
from lamina.backends import get_backend
be = get_backend("cupy")
print("lamina cupy backend:", be.device_description())
print("kernels:", getattr(be, "kernel_status", lambda: {})())
PYEOF
[ $? -eq 0 ] && GPU=1
if [ $GPU -eq 1 ]; then say "(b) GPU usable: ${CARD:-unknown card}"
else say "(b) NO usable GPU: the CuPy backend cannot start here (reason in cupy-info.log); running the CPU parts only"; fi
"$PY" - "$OUT" "$CARD" "$FAKE" <<'PYEOF'
import datetime, json, sys
json.dump({"card": sys.argv[2] or None, "date": datetime.date.today().isoformat(),
           "dry_run": sys.argv[3] == "1"}, open(sys.argv[1] + "/env.json", "w"))
PYEOF

# MNIST, found before (c): conformance's training-agreement tests need it too (they skip without it)
DATA=""
for cand in "${LAMINA_DATASETS:-}" "$REPO/../shared/data" "$REPO/shared/data"; do
    if [ -n "$cand" ] && { [ -f "$cand/mnist/train-images-idx3-ubyte.gz" ] || [ -f "$cand/mnist/mnist.npz" ]; }; then
        DATA="$(cd "$cand" && pwd)"; break
    fi
done
[ -n "$DATA" ] && export LAMINA_DATASETS="$DATA"

# (c) conformance and the CuPy backend's tests ----------------------------------------------------
# On a fresh card every CuPy kernel is compiled (NVRTC) at its first use; pytest-xdist, where installed,
# spreads the suites over one worker per core so that those compiles run side by side.
XDIST=()
if [ $GPU -eq 1 ] && "$PY" -c "import xdist" >/dev/null 2>&1; then XDIST=(-n auto); fi
run conformance_cupy 150 "$PY" -m pytest conformance --backend cupy -q -p no:cacheprovider "${XDIST[@]}" || PROBLEMS+=("conformance on cupy failed or timed out (conformance_cupy.log)")
run test_cupy_backend 90 "$PY" -m pytest tests/test_cupy_backend.py -q -p no:cacheprovider "${XDIST[@]}" || PROBLEMS+=("tests/test_cupy_backend.py failed or timed out")
# The whole test suite (but its long trainings) with the CuPy backend selected: layers, models,
# callbacks, saving and the replayed steps on the card (the first H200 run found 7 failures here
# that neither conformance nor the CuPy tests showed; 45 s on 16 workers). The dry-run test is left
# out: it runs parts of this script.
if [ $GPU -eq 1 ]; then
    LAMINA_BACKEND=cupy run tests_cupy 240 "$PY" -m pytest tests -m "not slow" -q -p no:cacheprovider "${XDIST[@]}" \
        --deselect tests/test_gpu_check_dry_run.py \
        || PROBLEMS+=("the test suite with LAMINA_BACKEND=cupy failed or timed out (tests_cupy.log)")
fi
if [ $GPU -eq 1 ] && grep -qE '^[0-9]+ skipped' "$OUT/conformance_cupy.log"; then
    PROBLEMS+=("conformance on cupy only skipped although a GPU is present")
fi

# (d) W1 training: cupy vs numpy, same seed ---------------------------------------------------------
if [ -z "$DATA" ]; then
    say "(d) MNIST not found (LAMINA_DATASETS, ../shared/data, shared/data): training skipped"
    PROBLEMS+=("no MNIST copy: training not checked")
else
    say "(d) MNIST from $DATA"
    if [ $GPU -eq 1 ]; then
        run train_cupy 120 "$PY" -m benchmarks.train_compare --impl lamina --backend cupy --epochs "$EPOCHS" --seed 1 --out "$OUT" || PROBLEMS+=("training on cupy failed")
        run train_numpy 150 "$PY" -m benchmarks.train_compare --impl lamina --backend numpy --epochs "$EPOCHS" --seed 1 --out "$OUT" || PROBLEMS+=("training on numpy failed")
        if [ -f "$OUT/weights-lamina-cupy.npz" ] && [ -f "$OUT/weights-lamina-numpy.npz" ]; then
            run weights_compare 60 "$PY" -m benchmarks.train_compare --compare "$OUT/weights-lamina-cupy.npz" "$OUT/weights-lamina-numpy.npz" --out "$OUT"
        fi
    else
        run train_numpy 150 "$PY" -m benchmarks.train_compare --impl lamina --backend numpy --epochs 1 --seed 1 --out "$OUT" || PROBLEMS+=("training on numpy failed")
    fi
fi

# (e) PyTorch CUDA on the same card, and the benchmark table ------------------------------------------
if [ -n "$DATA" ]; then
    if [ $GPU -eq 1 ]; then
        if run train_torch_cuda 120 "$PY" -m benchmarks.train_compare --impl torch --backend cuda --epochs "$EPOCHS" --seed 1 --out "$OUT"; then :
        elif [ $FAKE -eq 1 ]; then DRY_UNCOVERED+=("PyTorch CUDA training (no CUDA for torch here; train_torch_cuda.log)")
        else PROBLEMS+=("PyTorch CUDA training failed (is torch built with CUDA?)"); fi
        # Per W1 step: protocol calls, host transfers per displayed update, and torch.profiler's
        # kernel/copy/sync counts for Lamina on CuPy and for PyTorch's eager step (the issue's item 5).
        run step_counts 90 "$PY" -m benchmarks.step_counts --backend cupy --steps 20 --profile --json "$OUT/step_counts.json" || PROBLEMS+=("step counts on cupy failed (step_counts.log)")
        # W1 fit with and without CUDA graphs (lamina_cupy/_graph.py): the same weights bit for bit,
        # and seconds per epoch each way (benchmarks/cuda_graph_probe.py).
        if run cuda_graph 120 "$PY" -m benchmarks.cuda_graph_probe --epochs 3 --json "$OUT/cuda_graph.json"; then :
        elif [ $FAKE -eq 1 ]; then DRY_UNCOVERED+=("CUDA graph capture (the fake cannot capture; cuda_graph.log)")
        else PROBLEMS+=("W1 fit with CUDA graphs failed, differed from fit without them, or captured nothing (cuda_graph.log)"); fi
        # The same for examples/mnist_cnn.py's and mnist_rnn.py's networks (an LSTM with input and
        # recurrent dropout), whose graphs only the fake CuPy has run so far: 100 steps of 128 each way.
        PROBE_SAMPLES=()
        [ $FAKE -eq 1 ] && PROBE_SAMPLES=(--train-samples 768 --val-samples 256)  # convolutions on the CPU: a few steps
        for NET in cnn lstm; do
            if [ "$(elapsed)" -lt "${GPU_CHECK_PROBES_BY:-190}" ]; then
                if run "cuda_graph_$NET" 90 "$PY" -m benchmarks.cuda_graph_probe --model "$NET" --epochs 2 "${PROBE_SAMPLES[@]}" --json "$OUT/cuda_graph_$NET.json"; then :
                elif [ $FAKE -eq 1 ]; then DRY_UNCOVERED+=("CUDA graph capture of the $NET network (cuda_graph_$NET.log)")
                else PROBLEMS+=("$NET fit with CUDA graphs failed, differed from fit without them, or captured nothing (cuda_graph_$NET.log)"); fi
            else
                say "(e) $(elapsed)s used already: the $NET graph probe skipped (run benchmarks.cuda_graph_probe --model $NET by hand)"
            fi
        done
        if [ "$(elapsed)" -lt "${GPU_CHECK_BENCH_BY:-210}" ]; then
            run bench 150 "$PY" -m benchmarks --rounds 2 --peers numpy-hand,torch --blas-env as-set --json "$OUT/bench.json" || PROBLEMS+=("python -m benchmarks failed")
        else
            say "(e) $(elapsed)s used already: python -m benchmarks skipped to stay within 5 minutes (run it by hand)"
        fi
    else
        run bench 240 "$PY" -m benchmarks --quick --peers numpy-hand,torch --blas-env as-set --json "$OUT/bench.json" || PROBLEMS+=("python -m benchmarks --quick failed")
    fi
fi

# (f) summary, last ----------------------------------------------------------------------------------
[ $GPU -eq 1 ] || PROBLEMS+=("no usable GPU here: the CuPy backend could not start (see $OUT/cupy-info.log)")
say "finished in $(elapsed)s; logs in $OUT"
: > "$OUT/problems.txt"
for p in "${PROBLEMS[@]}"; do echo "$p" >> "$OUT/problems.txt"; done
rm -f "$OUT/dry_run.txt"
if [ $FAKE -eq 1 ]; then  # read by --summary: the table then says DRY RUN and lists these
    DRY_UNCOVERED+=("PyTorch profiler counts of CUDA kernels, copies and syncs (step_counts.json: profile)")
    DRY_UNCOVERED+=("real CuPy, NVRTC compiles, CUDA numerics and timings (every number above is NumPy on the CPU)")
    : > "$OUT/dry_run.txt"
    for p in "${DRY_UNCOVERED[@]}"; do echo "$p" >> "$OUT/dry_run.txt"; done
fi
"$PY" -m benchmarks.train_compare --summary "$OUT" 2>&1 | tee "$OUT/summary.txt"
if [ $FAKE -eq 1 ]; then
    if [ ${#PROBLEMS[@]} -gt 0 ]; then
        echo "DRY RUN with the fake CuPy (no GPU): ${#PROBLEMS[@]} problem(s) in the scripts, listed above; logs in $OUT." | tee -a "$OUT/summary.txt"
        exit 1
    fi
    echo "DRY RUN with the fake CuPy (no GPU): the GPU branch's commands ran; this is NOT a GPU check." | tee -a "$OUT/summary.txt"
    exit 0
fi
if [ ${#PROBLEMS[@]} -gt 0 ]; then
    echo "GPU check NOT passed (${#PROBLEMS[@]} problem(s), listed in the table above; logs in $OUT)." | tee -a "$OUT/summary.txt"
    exit 1
fi
echo "GPU check passed." | tee -a "$OUT/summary.txt"
exit 0
