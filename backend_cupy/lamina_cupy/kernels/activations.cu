// Lamina CuPy backend: element-wise activations that the generic CuPy code does in several launches.
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC); also compiles on its own
// with `nvcc -arch=sm_90 --ptx activations.cu`. No #include: NVRTC has no standard headers, and
// expf/exp/erf are built into both compilers.
//
// Inputs and outputs are C-contiguous arrays of n elements of one dtype (the caller checks).
//
// Each kernel's arithmetic is a __host__ __device__ function of one element (or one column), so a
// test compiles this file as plain C++ and runs it on the CPU against NumPy (tests/test_cupy_backend.py,
// test_activation_kernel_logic_matches_numpy): on the device the operations are *_rn intrinsics (each
// rounded on its own, never fused into a multiply-add), on a host (built with -ffp-contract=off) the
// plain operators; the kernels themselves exist only for a CUDA compiler.

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#define LAMINA_ACTIVATIONS_HOST_ONLY 1
#ifndef __host__  // plain C++: the CUDA qualifiers mean nothing
#define __host__
#define __device__
#endif
#endif

typedef unsigned long long lamina_u64;

// (philox.cu has the same two-line wrappers for its dense forward: each .cu file is compiled by NVRTC
// on its own, without include paths, so the files share no header.)
#if defined(__CUDA_ARCH__)  // the device: each operation rounded on its own by an intrinsic
__device__ inline float lamina_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double lamina_mul(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float lamina_sub(float a, float b) { return __fsub_rn(a, b); }
__device__ inline double lamina_sub(double a, double b) { return __dsub_rn(a, b); }
__device__ inline float lamina_add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double lamina_add(double a, double b) { return __dadd_rn(a, b); }
#else  // a host (built with -ffp-contract=off): the plain operations
template <typename T>
inline T lamina_mul(T a, T b) { return a * b; }
template <typename T>
inline T lamina_sub(T a, T b) { return a - b; }
template <typename T>
inline T lamina_add(T a, T b) { return a + b; }
#endif

#if !defined(LAMINA_ACTIVATIONS_HOST_ONLY)
#define LAMINA_FOR_EACH(i, n) \
    for (lamina_u64 i = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (lamina_u64)blockDim.x * gridDim.x)
#endif

#if !defined(LAMINA_ACTIVATIONS_HOST_ONLY)
// --- sigmoid: 1 / (1 + exp(-x)) without overflow ------------------------------------------------
// exp(-|x|) never overflows; for x >= 0 use 1 / (1 + e), else e / (1 + e) (no cancellation).
// The same formula as the base implementation, in one pass instead of about seven.
extern "C" __global__ void lamina_sigmoid_f32(const float* x, float* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) {
        float xi = x[i];
        float e = expf(-fabsf(xi));
        float d = 1.0f + e;
        out[i] = xi >= 0.0f ? 1.0f / d : e / d;  // NaN: the comparison is false, e / d is NaN
    }
}

extern "C" __global__ void lamina_sigmoid_f64(const double* x, double* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) {
        double xi = x[i];
        double e = exp(-fabs(xi));
        double d = 1.0 + e;
        out[i] = xi >= 0.0 ? 1.0 / d : e / d;
    }
}

// --- erf -----------------------------------------------------------------------------------------
// CUDA's erff is within 2 ulp, which can exceed the protocol's 1e-7 relative bound for float32;
// computing in double (erf is within 2 ulp of double) and rounding once gives the float32 value
// to within about half an ulp. CUDA's double erf meets the 1e-12 float64 bound with room to spare.
extern "C" __global__ void lamina_erf_f32(const float* x, float* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = (float)erf((double)x[i]); }
}

extern "C" __global__ void lamina_erf_f64(const double* x, double* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = erf(x[i]); }
}
#endif

// --- tanh_grad: g * (1 - y * y), tanh's gradient from its output ------------------------------
// One launch instead of square, subtract and multiply; each operation rounded on its own, so the
// bits are those of the three separate ops and of the NumPy backend.
template <typename T>
__host__ __device__ inline T lamina_tanh_grad_one(T y, T g) {
    return lamina_mul(g, lamina_sub((T)1, lamina_mul(y, y)));
}

// --- relu_grad: g * (y > 0), relu's gradient from its output -------------------------------------
// One launch instead of compare, cast and multiply; the same multiply by 1 or 0, so the bits are those
// of the three ops (0 times a negative g is -0; a NaN or infinite g stays NaN where it meets 0).
template <typename T>
__host__ __device__ inline T lamina_relu_grad_one(T y, T g) {
    return lamina_mul(g, y > (T)0 ? (T)1 : (T)0);
}

// --- dense_grad: a Dense layer's backward pass up to its products ----------------------------------
// d = act_grad(y, g * mask) and gb = the column sums of d, in one launch instead of the base class's
// multiply, tanh_grad or relu_grad, and sum. One thread per column walks down the rows in order, so
// gb is the NumPy backend's sum over the first axis (0 + row 0, + row 1, ...) bit for bit, and d's
// elements are those of the separate kernels (each operation rounded on its own). y, g, mask and d
// are C-contiguous (rows, cols); kind 0: linear, 1: tanh, 2: relu; has: bit 0 a mask, bit 1 the sums
// (an absent array is passed as another argument and never touched). Column j of all that:
// __restrict__ and the unrolled loop: d is written apart from the inputs (the backend makes it), so
// the loads of the next rows need not wait for this row's store; on an H200 the column walk took
// 48 us a launch for 200 x 500 (latency-bound: 500 threads, one row at a time).
template <typename T>
__host__ __device__ inline void lamina_dense_grad_column(const T* __restrict__ y, const T* __restrict__ g,
                                                         const T* __restrict__ mask, T* __restrict__ d,
                                                         T* __restrict__ gb, lamina_u64 rows, lamina_u64 cols,
                                                         lamina_u64 j, int kind, int has) {
    T sum = (T)0;
#if defined(__CUDA_ARCH__)
#pragma unroll 4
#endif
    for (lamina_u64 r = 0; r < rows; ++r) {
        const lamina_u64 at = r * cols + j;
        const T gm = (has & 1) ? lamina_mul(g[at], mask[at]) : g[at];
        T v = gm;
        if (kind == 1) {
            v = lamina_tanh_grad_one(y[at], gm);
        } else if (kind == 2) {
            v = lamina_relu_grad_one(y[at], gm);
        }
        d[at] = v;
        sum = lamina_add(sum, v);
    }
    if (has & 2) gb[j] = sum;
}

#if !defined(LAMINA_ACTIVATIONS_HOST_ONLY)
extern "C" __global__ void lamina_tanh_grad_f32(const float* y, const float* g, float* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = lamina_tanh_grad_one(y[i], g[i]); }
}

extern "C" __global__ void lamina_tanh_grad_f64(const double* y, const double* g, double* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = lamina_tanh_grad_one(y[i], g[i]); }
}

extern "C" __global__ void lamina_relu_grad_f32(const float* y, const float* g, float* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = lamina_relu_grad_one(y[i], g[i]); }
}

extern "C" __global__ void lamina_relu_grad_f64(const double* y, const double* g, double* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = lamina_relu_grad_one(y[i], g[i]); }
}

extern "C" __global__ void lamina_dense_grad_f32(const float* __restrict__ y, const float* __restrict__ g,
                                                 const float* __restrict__ mask, float* __restrict__ d,
                                                 float* __restrict__ gb, lamina_u64 rows, lamina_u64 cols, int kind,
                                                 int has) {
    LAMINA_FOR_EACH(j, cols) { lamina_dense_grad_column<float>(y, g, mask, d, gb, rows, cols, j, kind, has); }
}

extern "C" __global__ void lamina_dense_grad_f64(const double* __restrict__ y, const double* __restrict__ g,
                                                 const double* __restrict__ mask, double* __restrict__ d,
                                                 double* __restrict__ gb, lamina_u64 rows, lamina_u64 cols, int kind,
                                                 int has) {
    LAMINA_FOR_EACH(j, cols) { lamina_dense_grad_column<double>(y, g, mask, d, gb, rows, cols, j, kind, has); }
}
#endif
