// Lamina CuPy backend: scatter_add for an integer-array key (the gradient of take, an Embedding's
// weight gradient), deterministic and equal to NumPy's np.add.at bit for bit.
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC with --fmad=false); also
// compiles on its own with `nvcc -arch=sm_90 --ptx scatter.cu`. No #include: NVRTC has no standard
// headers.
//
// CuPy's add.at adds with atomicAdd, so the order of the additions into one element (and with it the
// float result) changes from run to run. np.add.at adds, into each element, the values in increasing
// order of their position in the index array, starting from the element's value. Here the caller
// sorts the composite keys key * n + position (all distinct, so any sort gives one order: positions
// increase within a key); the thread of (p, k, c) whose sorted entry k starts a run of one key walks
// that run in order and writes the element once. Each addition is rounded on its own (__fadd_rn /
// __dadd_rn), as NumPy's are.
//
// Layout: out is C-contiguous (pre, rows, post), values C-contiguous (pre, n, post), sorted holds the
// n composite keys with every key in [0, rows). The caller checks all of this.

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#define LAMINA_SCATTER_HOST_ONLY 1
#ifndef __host__  // plain C++: the CUDA qualifiers mean nothing (another .cu file may have said so already)
#define __host__
#define __device__
#endif
#endif

typedef unsigned long long lamina_u64;

#if defined(__CUDA_ARCH__)  // the device: each addition rounded on its own, never fused
__device__ inline float lamina_add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double lamina_add(double a, double b) { return __dadd_rn(a, b); }
#else  // a host (built with -ffp-contract=off): the plain addition
template <typename T>
inline T lamina_add(T a, T b) { return a + b; }
#endif

// Work item i = (p * n + k) * post + c (c fastest: neighbouring threads read neighbouring values).
// Only the item whose k starts a run of equal keys does anything: it adds the run's values into
// out[p, key, c] in sorted order, i.e. in increasing position, starting from the element's value.
template <typename T>
__host__ __device__ inline void lamina_scatter_add_item(const T* values, const long long* sorted, T* out,
                                                        lamina_u64 i, lamina_u64 n, lamina_u64 rows,
                                                        lamina_u64 post) {
    const lamina_u64 c = i % post;
    const lamina_u64 k = (i / post) % n;
    const lamina_u64 p = i / post / n;
    const long long width = (long long)n;
    const long long key = sorted[k] / width;
    if (k > 0 && sorted[k - 1] / width == key) return;  // inside a run: its first item adds it
    T* target = out + (p * rows + (lamina_u64)key) * post + c;
    const T* plane = values + p * n * post + c;
    T sum = *target;
    for (lamina_u64 j = k; j < n && sorted[j] / width == key; ++j) {
        sum = lamina_add(sum, plane[(lamina_u64)(sorted[j] % width) * post]);
    }
    *target = sum;
}

#if !defined(LAMINA_SCATTER_HOST_ONLY)
#define LAMINA_FOR_EACH(i, n) \
    for (lamina_u64 i = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (lamina_u64)blockDim.x * gridDim.x)

// total = pre * n * post work items.
extern "C" __global__ void lamina_scatter_add_f32(const float* values, const long long* sorted, float* out,
                                                  lamina_u64 total, lamina_u64 n, lamina_u64 rows,
                                                  lamina_u64 post) {
    LAMINA_FOR_EACH(i, total) { lamina_scatter_add_item<float>(values, sorted, out, i, n, rows, post); }
}

extern "C" __global__ void lamina_scatter_add_f64(const double* values, const long long* sorted, double* out,
                                                  lamina_u64 total, lamina_u64 n, lamina_u64 rows,
                                                  lamina_u64 post) {
    LAMINA_FOR_EACH(i, total) { lamina_scatter_add_item<double>(values, sorted, out, i, n, rows, post); }
}
#endif
