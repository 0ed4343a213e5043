"""Build step for the NumPy backend's optional compiled extensions (everything else is in pyproject.toml).

``lamina_numpy._kernels`` fuses the optimizer updates and dropout masks of a training step
(backend_numpy/lamina_numpy/_kernels.cpp, which includes the CUDA backend's kernel sources as
plain C++). It is optional: where no C++ compiler is found the install still succeeds and the
NumPy backend uses its NumPy code, which computes the same bits, only slower.

``lamina_numpy._pool`` is a caching allocator for NumPy array data (backend_numpy/lamina_numpy/
_pool.cpp, used through lamina_numpy._memory). It needs NumPy's C headers, so it is left out when
NumPy cannot be imported here; like the helper it is optional and NumPy's allocator serves without it.
"""
from setuptools import Extension, setup

try:
    import numpy
except ImportError:  # no headers to build against: install without the pool
    numpy = None

_POOL = [] if numpy is None else [Extension(
    "lamina_numpy._pool",
    sources=["backend_numpy/lamina_numpy/_pool.cpp"],
    include_dirs=[numpy.get_include()],
    extra_compile_args=["-std=c++11", "-O3", "-pthread"],
    extra_link_args=["-pthread"],
    language="c++",
    optional=True,
)]

setup(ext_modules=[Extension(
    "lamina_numpy._kernels",
    sources=["backend_numpy/lamina_numpy/_kernels.cpp"],
    # NumPy's headers, where NumPy is importable, for the layout of its ufunc struct: dense_forward
    # runs np.tanh's own inner loop (the helper builds without it, and the backend then calls np.tanh).
    include_dirs=["backend_cupy/lamina_cupy/kernels"] + ([] if numpy is None else [numpy.get_include()]),
    define_macros=[] if numpy is None else [("LAMINA_WITH_NUMPY", "1")],
    depends=["backend_cupy/lamina_cupy/kernels/philox.cu", "backend_cupy/lamina_cupy/kernels/optimizers.cu",
             "backend_cupy/lamina_cupy/kernels/recurrent.cu",
             "backend_cupy/lamina_cupy/kernels/classifier.cu"],
    # -ffp-contract=off: every operation rounds on its own, as NumPy and the CUDA kernels do.
    # -fno-trapping-math: nothing reads the FP exception flags, so GCC may vectorize loops with a
    # comparison or a branch (relu_grad: 22 -> 1.2 ms); it permits no change of any value.
    # -falign-functions=64: a plain (non-AVX-512) SGD loop ran 35 % slower when its function started
    # mid cache line.
    extra_compile_args=["-std=c++11", "-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math",
                        "-falign-functions=64"],
    language="c++",
    optional=True,
)] + _POOL)
