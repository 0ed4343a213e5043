// Lamina CuPy backend: a classifier's output layer — softmax's gradient from its output, Keras'
// cross-entropy of probabilities with its gradient, and the categorical accuracy — one launch each
// instead of the base class's 4, 7 (around CuPy's log: two launches here), 17 and 4 (docs/cupy.md).
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC with --fmad=false); also
// compiles on its own with `nvcc -arch=sm_90 --ptx classifier.cu`. No #include: NVRTC has no
// standard headers.
//
// One row (one sample's classes, at most LAMINA_MAX_CLASSES of them) is written once below as
// __host__ __device__ functions: the NumPy backend's compiled helper (backend_numpy/lamina_numpy/
// _kernels.cpp) includes this file as plain C++ and runs them over its rows, a GPU thread runs them
// for one row. Each operation is rounded on its own, in the base composition's order (--fmad=false
// here, -ffp-contract=off there), and a row's sum is NumPy's pairwise sum for rows this short, so the
// CPU and the GPU give the NumPy backend's bits (the log between the two forward kernels is each
// library's own). Each row function also says whether every value on its way was finite: the CPU
// helper then leaves a row that is not to NumPy (for its warnings and its choice of NaN); a GPU has
// no warnings to give, and its kernels ignore the flag.
//
// Layout: (rows, n) arrays are C-contiguous; per-row values (s, g, the loss) are C-contiguous arrays
// of `rows` elements. The caller checks all of this, and n <= LAMINA_MAX_CLASSES, and uses the
// generic code otherwise.

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#ifndef __host__  // plain C++: the CUDA qualifiers mean nothing (another .cu file may have said so already)
#define __host__
#define __device__
#endif
#endif

#define LAMINA_MAX_CLASSES 128

// false for inf and NaN (inf - inf and NaN - NaN are NaN, which is unequal to itself); no header needed
template <typename T>
__host__ __device__ inline bool lamina_finite(T v) {
    const T d = v - v;
    return d == d;
}

// NumPy's sum of a row of at most 128 elements: its pairwise sum's base case (fewer than 8 elements
// added in order; else eight running sums over blocks of eight, combined as ((r0 + r1) + (r2 + r3)) +
// ((r4 + r5) + (r6 + r7)), then the leftover elements in order), added to the reduction's start +0.
// The NumPy backend checks once per process that its NumPy sums in this order before using it.
template <typename T>
__host__ __device__ inline T lamina_row_sum(const T* a, long long n) {
    const long long blocks_end = n - n % 8;
    T res;
    if (n < 8) {
        res = (T)-0.0;
        for (long long i = 0; i < n; ++i) res += a[i];
    } else {
        T s[8];
        for (int k = 0; k < 8; ++k) s[k] = a[k];
        for (long long i = 8; i < blocks_end; i += 8)
            for (int k = 0; k < 8; ++k) s[k] += a[i + k];
        res = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        for (long long i = blocks_end; i < n; ++i) res += a[i];
    }
    return (T)0 + res;
}

// The index of a row's first maximum, a NaN counting as the maximum (NumPy's argmax).
template <typename T>
__host__ __device__ inline long long lamina_row_argmax(const T* a, long long n) {
    long long best = 0;
    T m = a[0];
    if (m != m) return 0;
    for (long long j = 1; j < n; ++j) {
        const T v = a[j];
        if (v != v) return j;
        if (v > m) {
            m = v;
            best = j;
        }
    }
    return best;
}

// 1 where the two rows' argmaxes agree, else 0 (Keras' categorical accuracy of one sample).
template <typename T>
__host__ __device__ inline T lamina_argmax_equal_row(const T* a, const T* b, long long n) {
    return lamina_row_argmax(a, n) == lamina_row_argmax(b, n) ? (T)1 : (T)0;
}

// out = g * y - y * sum(g * y) for one row (out may not overlap y or g).
template <typename T>
__host__ __device__ inline bool lamina_softmax_grad_row(const T* y, const T* g, T* out, long long n) {
    for (long long j = 0; j < n; ++j) out[j] = g[j] * y[j];
    const T sum = lamina_row_sum((const T*)out, n);
    bool ok = lamina_finite(sum);
    for (long long j = 0; j < n; ++j) {
        const T ys = y[j] * sum, v = out[j] - ys;
        ok = ok & lamina_finite(out[j]) & lamina_finite(ys) & lamina_finite(v);
        out[j] = v;
    }
    return ok;
}

// s = sum(y), p = y / s, c = clip(p, lo, hi) (NumPy's clip: maximum with lo, then minimum with hi).
template <typename T>
__host__ __device__ inline bool lamina_ce_forward_row(const T* y, T* s, T* p, T* c, long long n, T lo, T hi) {
    const T sr = lamina_row_sum(y, n);
    *s = sr;
    bool ok = lamina_finite(sr);
    for (long long j = 0; j < n; ++j) {
        const T q = y[j] / sr;
        p[j] = q;
        ok = ok & lamina_finite(q);
        const T low = q < lo ? lo : q;
        c[j] = low > hi ? hi : low;
    }
    return ok;
}

// per = -sum(t * logp).
template <typename T>
__host__ __device__ inline bool lamina_ce_loss_row(const T* t, const T* logp, T* per, long long n) {
    T prod[LAMINA_MAX_CLASSES];
    for (long long j = 0; j < n; ++j) prod[j] = t[j] * logp[j];
    const T sum = lamina_row_sum((const T*)prod, n);
    *per = -sum;
    return lamina_finite(sum);
}

// The gradient with respect to y given g (the row's loss gradient): gp = (-g * t) * (1 / c) where
// lo <= p <= hi, else 0 (the clip's gradient), then out = gp / s + sum(-((gp * p) / s)). An overflow
// or a NaN on the way shows in a value checked below.
template <typename T>
__host__ __device__ inline bool lamina_ce_grad_row(T g, const T* t, T s, const T* p, const T* c, T* out,
                                                   long long n, T lo, T hi) {
    T q[LAMINA_MAX_CLASSES];
    const T gn = -g;
    bool ok = true;
    for (long long j = 0; j < n; ++j) {
        const T v = (gn * t[j]) * ((T)1 / c[j]);
        ok = ok & lamina_finite(v);
        const T gp = (p[j] >= lo) & (p[j] <= hi) ? v : (T)0;
        out[j] = gp;
        q[j] = -((gp * p[j]) / s);
    }
    const T gs = lamina_row_sum((const T*)q, n);
    ok = ok & lamina_finite(gs);
    for (long long j = 0; j < n; ++j) {
        const T v = out[j] / s + gs;
        ok = ok & lamina_finite(v);
        out[j] = v;
    }
    return ok;
}

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
typedef unsigned long long lamina_u64;

// One thread per row, grid-stride; the kernels are written out per dtype (no macro), so that the
// tests can read their signatures.
#define LAMINA_FOR_EACH_ROW(r, rows) \
    for (lamina_u64 r = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x; r < (rows); \
         r += (lamina_u64)blockDim.x * gridDim.x)

extern "C" __global__ void lamina_argmax_equal_f32(const float* a, const float* b, float* out, lamina_u64 rows,
                                                lamina_u64 n) {
    LAMINA_FOR_EACH_ROW(r, rows) out[r] = lamina_argmax_equal_row(a + r * n, b + r * n, (long long)n);
}

extern "C" __global__ void lamina_softmax_grad_f32(const float* y, const float* g, float* out, lamina_u64 rows,
                                                lamina_u64 n) {
    LAMINA_FOR_EACH_ROW(r, rows) lamina_softmax_grad_row(y + r * n, g + r * n, out + r * n, (long long)n);
}

extern "C" __global__ void lamina_ce_forward_f32(const float* y, float* s, float* p, float* c, lamina_u64 rows, lamina_u64 n,
                                              float lo, float hi) {
    LAMINA_FOR_EACH_ROW(r, rows) lamina_ce_forward_row(y + r * n, s + r, p + r * n, c + r * n, (long long)n, lo, hi);
}

extern "C" __global__ void lamina_ce_loss_f32(const float* t, const float* logp, float* per, lamina_u64 rows, lamina_u64 n) {
    LAMINA_FOR_EACH_ROW(r, rows) lamina_ce_loss_row(t + r * n, logp + r * n, per + r, (long long)n);
}

extern "C" __global__ void lamina_ce_grad_f32(const float* t, const float* g, const float* s, const float* p, const float* c,
                                           float* out, lamina_u64 rows, lamina_u64 n, float lo, float hi) {
    LAMINA_FOR_EACH_ROW(r, rows)
    lamina_ce_grad_row(g[r], t + r * n, s[r], p + r * n, c + r * n, out + r * n, (long long)n, lo, hi);
}

extern "C" __global__ void lamina_argmax_equal_f64(const double* a, const double* b, double* out, lamina_u64 rows,
                                                lamina_u64 n) {
    LAMINA_FOR_EACH_ROW(r, rows) out[r] = lamina_argmax_equal_row(a + r * n, b + r * n, (long long)n);
}

extern "C" __global__ void lamina_softmax_grad_f64(const double* y, const double* g, double* out, lamina_u64 rows,
                                                lamina_u64 n) {
    LAMINA_FOR_EACH_ROW(r, rows) lamina_softmax_grad_row(y + r * n, g + r * n, out + r * n, (long long)n);
}

extern "C" __global__ void lamina_ce_forward_f64(const double* y, double* s, double* p, double* c, lamina_u64 rows, lamina_u64 n,
                                              double lo, double hi) {
    LAMINA_FOR_EACH_ROW(r, rows) lamina_ce_forward_row(y + r * n, s + r, p + r * n, c + r * n, (long long)n, lo, hi);
}

extern "C" __global__ void lamina_ce_loss_f64(const double* t, const double* logp, double* per, lamina_u64 rows, lamina_u64 n) {
    LAMINA_FOR_EACH_ROW(r, rows) lamina_ce_loss_row(t + r * n, logp + r * n, per + r, (long long)n);
}

extern "C" __global__ void lamina_ce_grad_f64(const double* t, const double* g, const double* s, const double* p, const double* c,
                                           double* out, lamina_u64 rows, lamina_u64 n, double lo, double hi) {
    LAMINA_FOR_EACH_ROW(r, rows)
    lamina_ce_grad_row(g[r], t + r * n, s[r], p + r * n, c + r * n, out + r * n, (long long)n, lo, hi);
}

#endif
