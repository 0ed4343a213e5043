// Lamina CuPy backend: the Philox4x64-10 random stream of lamina.backends.philox, bit for bit.
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC); also compiles on its own
// with `nvcc -arch=sm_90 --ptx philox.cu`. No #include anywhere: NVRTC has no standard headers.
//
// Convention (lamina/backends/philox.py, the same as NumPy's Philox bit generator):
//   key      = (k0, k1) = (seed mod 2^64, (seed >> 64) mod 2^64)
//   counter  = (b, d0, d1, d2) for block b of draw d = d0 + d1 2^64 + d2 2^128
//   element i of a draw is 64-bit word i % 4 of block i / 4
// and from a word w:
//   float32 uniform  (w >> 40) * 2^-24        float64 uniform  (w >> 11) * 2^-53
//   dropout keep     the draw's words are one bit string (bit k = bit k % 64 of word k / 64) cut
//                    into s-bit slots, s = 1, 2, 4, 8, 16 or 32 (lamina.backends.philox.dropout_slot:
//                    the fewest bits that decide the rate exactly); element i reads slot i as v and
//                    is kept when v >= threshold; kept value 1 / (1 - rate). A Philox block (256
//                    bits) decides 256 / s elements.
//
// Everything up to the kernels is __host__ __device__ and free of CUDA-only names, so the test
// suite compiles this file as plain C++ (g++ -x c++, where the CUDA qualifiers are defined away
// below) into a small host program and compares its words with NumPy's Philox: the GPU's
// arithmetic is checked on machines without a GPU. Only __umul64hi (a hardware intrinsic), the *_rn
// intrinsics and tanhf / tanh of the dense forward (a + b, a * b and the host's libm on a host), and
// the grid-stride loops are left for the GPU run to check.

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
// Plain C++ (the host test harness): the CUDA function qualifiers mean nothing there.
#define __host__
#define __device__
#define LAMINA_PHILOX_HOST_ONLY 1
#endif

typedef unsigned long long lamina_u64;

// Random123 / NumPy constants for Philox4x64: multipliers and Weyl key increments.
#define LAMINA_PHILOX_M0 0xD2E7470EE14C6C93ULL
#define LAMINA_PHILOX_M1 0xCA5A826395121157ULL
#define LAMINA_PHILOX_W0 0x9E3779B97F4A7C15ULL
#define LAMINA_PHILOX_W1 0xBB67AE8584CAA73BULL
#define LAMINA_PHILOX_ROUNDS 10

// High 64 bits of the 128-bit product a * b.
__host__ __device__ inline lamina_u64 lamina_mulhi64(lamina_u64 a, lamina_u64 b) {
#if defined(__CUDA_ARCH__)
    return __umul64hi(a, b);
#elif defined(__SIZEOF_INT128__) && !defined(LAMINA_PHILOX_PORTABLE_MULHI)
    // GCC and Clang on 64-bit hosts: one hardware multiply (the NumPy backend's helper runs here).
    __extension__ typedef unsigned __int128 lamina_u128;
    return (lamina_u64)(((lamina_u128)a * b) >> 64);
#else
    // Portable schoolbook product on 32-bit halves (no __int128, so any host compiler works).
    const lamina_u64 mask = 0xFFFFFFFFULL;
    lamina_u64 a_lo = a & mask, a_hi = a >> 32;
    lamina_u64 b_lo = b & mask, b_hi = b >> 32;
    lamina_u64 p0 = a_lo * b_lo;
    lamina_u64 p1 = a_lo * b_hi;
    lamina_u64 p2 = a_hi * b_lo;
    lamina_u64 p3 = a_hi * b_hi;
    lamina_u64 mid = (p0 >> 32) + (p1 & mask) + (p2 & mask);
    return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
#endif
}

// Philox4x64-10 of counter ctr[0..3] under key (k0, k1); the result replaces ctr.
__host__ __device__ inline void lamina_philox4x64_10(lamina_u64 ctr[4], lamina_u64 k0, lamina_u64 k1) {
    for (int round = 0; round < LAMINA_PHILOX_ROUNDS; ++round) {
        if (round > 0) {
            k0 += LAMINA_PHILOX_W0;
            k1 += LAMINA_PHILOX_W1;
        }
        lamina_u64 lo0 = LAMINA_PHILOX_M0 * ctr[0];
        lamina_u64 hi0 = lamina_mulhi64(LAMINA_PHILOX_M0, ctr[0]);
        lamina_u64 lo1 = LAMINA_PHILOX_M1 * ctr[2];
        lamina_u64 hi1 = lamina_mulhi64(LAMINA_PHILOX_M1, ctr[2]);
        lamina_u64 c1 = ctr[1], c3 = ctr[3];
        ctr[0] = hi1 ^ c1 ^ k0;
        ctr[1] = lo1;
        ctr[2] = hi0 ^ c3 ^ k1;
        ctr[3] = lo0;
    }
}

// The four words of block b of draw (d0, d1, d2).
__host__ __device__ inline void lamina_philox_block(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                    lamina_u64 d1, lamina_u64 d2, lamina_u64 b,
                                                    lamina_u64 w[4]) {
    w[0] = b;
    w[1] = d0;
    w[2] = d1;
    w[3] = d2;
    lamina_philox4x64_10(w, k0, k1);
}

// --- words -> numbers (exact: a 24- or 53-bit integer times a power of two) --------------------

__host__ __device__ inline float lamina_uniform_f32(lamina_u64 w) {
    return (float)(w >> 40) * 5.9604644775390625e-08f;  // 2^-24
}

__host__ __device__ inline double lamina_uniform_f64(lamina_u64 w) {
    return (double)(w >> 11) * 1.1102230246251565e-16;  // 2^-53
}

// Slot j (of width s bits, the least significant first) of word w decides one element: kept when
// its value reaches the threshold (2^32 keeps nothing at s = 32). Callers multiply the scale by the keep bit instead of
// branching on it: on a CPU a data-dependent branch mispredicts half the time at rate 0.5
// (measured: 3x slower masks); 0 * scale is +0.0, the same bits as the branch's 0.
__host__ __device__ inline bool lamina_keep(lamina_u64 w, unsigned j, unsigned s, lamina_u64 threshold) {
    return ((w >> (j * s)) & ((1ULL << s) - 1)) >= threshold;
}

// lo + span * u rounded twice, as NumPy computes it: never contracted into one fused multiply-add.
__host__ __device__ inline float lamina_affine_f32(float lo, float span, float u) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(lo, __fmul_rn(span, u));
#else
    volatile float product = span * u;  // volatile: keep a host compiler from fusing too
    return lo + product;
#endif
}

__host__ __device__ inline double lamina_affine_f64(double lo, double span, double u) {
#if defined(__CUDA_ARCH__)
    return __dadd_rn(lo, __dmul_rn(span, u));
#else
    volatile double product = span * u;
    return lo + product;
#endif
}

// --- one block's share of each output: elements [4b, min(4b + 4, n)), or [pb, min(pb + p, n)) with
// p = 256 / s for the dropout outputs (s-bit slots). The kernels run the first three for b = 0 ..
// ceil(n / 4) - 1, one block per thread; the dropout kernels run lamina_dropout_one (below) per
// element, which the host harness checks against lamina_philox_fill_dropout, the NumPy helper's.

__host__ __device__ inline void lamina_philox_fill_bits(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                        lamina_u64 d1, lamina_u64 d2, lamina_u64 b,
                                                        lamina_u64 n, lamina_u64* out) {
    lamina_u64 w[4];
    lamina_philox_block(k0, k1, d0, d1, d2, b, w);
    for (int j = 0; j < 4; ++j) {
        lamina_u64 i = 4 * b + j;
        if (i < n) out[i] = w[j];
    }
}

__host__ __device__ inline void lamina_philox_fill_uniform_f32(lamina_u64 k0, lamina_u64 k1,
                                                               lamina_u64 d0, lamina_u64 d1,
                                                               lamina_u64 d2, lamina_u64 b,
                                                               lamina_u64 n, float* out, float lo,
                                                               float span) {
    lamina_u64 w[4];
    lamina_philox_block(k0, k1, d0, d1, d2, b, w);
    for (int j = 0; j < 4; ++j) {
        lamina_u64 i = 4 * b + j;
        if (i < n) out[i] = lamina_affine_f32(lo, span, lamina_uniform_f32(w[j]));
    }
}

__host__ __device__ inline void lamina_philox_fill_uniform_f64(lamina_u64 k0, lamina_u64 k1,
                                                               lamina_u64 d0, lamina_u64 d1,
                                                               lamina_u64 d2, lamina_u64 b,
                                                               lamina_u64 n, double* out,
                                                               double lo, double span) {
    lamina_u64 w[4];
    lamina_philox_block(k0, k1, d0, d1, d2, b, w);
    for (int j = 0; j < 4; ++j) {
        lamina_u64 i = 4 * b + j;
        if (i < n) out[i] = lamina_affine_f64(lo, span, lamina_uniform_f64(w[j]));
    }
}

// Dropout values (T = float, double), or keep bits (T = unsigned char with scale 1): slot j of word w.
// One function for the three outputs and for both the block fill and the per-element form, so none
// can drift from another.
template <typename T>
__host__ __device__ inline T lamina_dropout_value(lamina_u64 w, unsigned j, unsigned s, lamina_u64 threshold,
                                                  T scale) {
    return (T)((T)lamina_keep(w, j, s, threshold) * scale);
}

template <typename T>
__host__ __device__ inline void lamina_philox_fill_dropout(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                           lamina_u64 d1, lamina_u64 d2, lamina_u64 b,
                                                           lamina_u64 n, T* out, unsigned s,
                                                           lamina_u64 threshold, T scale) {
    lamina_u64 w[4];
    lamina_philox_block(k0, k1, d0, d1, d2, b, w);
    const unsigned per_word = 64 / s;
    for (int k = 0; k < 4; ++k) {  // w[k] by a fixed index: registers, not local memory, on a GPU
        for (unsigned j = 0; j < per_word; ++j) {
            lamina_u64 i = 4 * per_word * b + per_word * k + j;
            if (i < n) out[i] = lamina_dropout_value<T>(w[k], j, s, threshold, scale);
        }
    }
}

// A Dense layer's step after its product (CupyBackend.dense_activation): y = act(y + bias) in place,
// and with dropout the mask as lamina_philox_dropout_* fills it and out = y * mask, in one launch
// instead of CuPy's add, CuPy's tanh and lamina_philox_dropout_apply_*. y, mask and out are
// C-contiguous (n / units, units); has: bit 0 a bias (units values), bit 1 dropout (an absent array
// is passed as another argument and never touched); kind 0: linear, 1: tanh. On the GPU the addition
// and the product are *_rn intrinsics (rounded on their own), tanh is tanhf / tanh, the functions
// CuPy's tanh ufunc calls (`out0 = tanh(in0)`), so each element's bits are those of the three
// launches. On a host (the test harness, built with -ffp-contract=off) they are a + b, a * b and the
// C library's tanhf / tanh. One element per step of a grid-stride loop: lamina_dense_forward_one with
// dropout, lamina_dense_activate without.
#if defined(__CUDA_ARCH__)  // the device: each operation rounded on its own by an intrinsic
__device__ inline float lamina_dense_add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double lamina_dense_add(double a, double b) { return __dadd_rn(a, b); }
__device__ inline float lamina_dense_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double lamina_dense_mul(double a, double b) { return __dmul_rn(a, b); }
#else  // a host (built with -ffp-contract=off): the plain operations
template <typename T>
inline T lamina_dense_add(T a, T b) { return a + b; }
template <typename T>
inline T lamina_dense_mul(T a, T b) { return a * b; }
#endif
// tanhf / tanh: CUDA declares them (on the device, its math library); plain GCC or Clang C++ reaches
// the C library's through the builtins, which need no <math.h>; another host compiler needs the
// includer's <math.h>.
#if defined(LAMINA_PHILOX_HOST_ONLY) && defined(__GNUC__)
__host__ __device__ inline float lamina_dense_tanh(float a) { return __builtin_tanhf(a); }
__host__ __device__ inline double lamina_dense_tanh(double a) { return __builtin_tanh(a); }
#else
__host__ __device__ inline float lamina_dense_tanh(float a) { return tanhf(a); }
__host__ __device__ inline double lamina_dense_tanh(double a) { return tanh(a); }
#endif

// Element i: y[i] = act(y[i] + bias[i % units]); returns the new y[i].
template <typename T>
__host__ __device__ inline T lamina_dense_activate(T* y, const T* bias, lamina_u64 i, lamina_u64 units, int kind,
                                                   int has) {
    T v = y[i];
    if (has & 1) v = lamina_dense_add(v, bias[i % units]);
    if (kind == 1) v = lamina_dense_tanh(v);
    y[i] = v;
    return v;
}

// Element i of a dropout mask, the value lamina_philox_fill_dropout gives it: slot j of word k of
// Philox block b. Each element computes its block again (a Philox block is ~100 integer operations)
// so that neighbouring threads write neighbouring elements; one thread per block (256 / s elements,
// 256 apart between neighbours at rate 0.5) left W1's dense forward at 170 us a launch on an H200.
template <typename T>
__host__ __device__ inline T lamina_dropout_one(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                                                lamina_u64 d2, lamina_u64 i, unsigned s, lamina_u64 threshold,
                                                T scale) {
    const unsigned per_word = 64 / s;
    const lamina_u64 b = i / (4 * per_word), r = i % (4 * per_word);
    lamina_u64 w[4];
    lamina_philox_block(k0, k1, d0, d1, d2, b, w);
    const unsigned k = (unsigned)(r / per_word), j = (unsigned)(r % per_word);
    const lamina_u64 word = k == 0 ? w[0] : k == 1 ? w[1] : k == 2 ? w[2] : w[3];  // no indexed local array
    return lamina_dropout_value<T>(word, j, s, threshold, scale);
}

// Element i with dropout: the mask as lamina_philox_fill_dropout fills it, y = act(y + bias) and
// out = y * mask.
template <typename T>
__host__ __device__ inline void lamina_dense_forward_one(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                         lamina_u64 d1, lamina_u64 d2, lamina_u64 i, T* y,
                                                         const T* bias, T* mask, T* out, lamina_u64 units,
                                                         int kind, int has, unsigned s, lamina_u64 threshold,
                                                         T scale) {
    const T m = lamina_dropout_one<T>(k0, k1, d0, d1, d2, i, s, threshold, scale);
    mask[i] = m;
    out[i] = lamina_dense_mul(lamina_dense_activate<T>(y, bias, i, units, kind, has), m);
}

#if !defined(LAMINA_PHILOX_HOST_ONLY)
// --- kernels: grid-stride loops, over the ceil(n / 4) Philox blocks, or (dropout) over the n elements ---------

#define LAMINA_FOR_EACH_BLOCK_OF(b, n, per)                                                \
    for (lamina_u64 b = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x,                  \
                    b##_count = ((n) + (per) - 1) / (per);                                  \
         b < b##_count; b += (lamina_u64)blockDim.x * gridDim.x)
// Four elements a block (one per word); the dropout kernels take one element a thread.
#define LAMINA_FOR_EACH_BLOCK(b, n) LAMINA_FOR_EACH_BLOCK_OF(b, n, 4)

extern "C" __global__ void lamina_philox_bits(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                              lamina_u64 d1, lamina_u64 d2, lamina_u64* out,
                                              lamina_u64 n) {
    LAMINA_FOR_EACH_BLOCK(b, n) { lamina_philox_fill_bits(k0, k1, d0, d1, d2, b, n, out); }
}

extern "C" __global__ void lamina_philox_uniform_f32(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                     lamina_u64 d1, lamina_u64 d2, float* out,
                                                     lamina_u64 n, float lo, float span) {
    LAMINA_FOR_EACH_BLOCK(b, n) {
        lamina_philox_fill_uniform_f32(k0, k1, d0, d1, d2, b, n, out, lo, span);
    }
}

extern "C" __global__ void lamina_philox_uniform_f64(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                     lamina_u64 d1, lamina_u64 d2, double* out,
                                                     lamina_u64 n, double lo, double span) {
    LAMINA_FOR_EACH_BLOCK(b, n) {
        lamina_philox_fill_uniform_f64(k0, k1, d0, d1, d2, b, n, out, lo, span);
    }
}

extern "C" __global__ void lamina_philox_dropout_f32(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                     lamina_u64 d1, lamina_u64 d2, float* out,
                                                     lamina_u64 n, unsigned s,
                                                     lamina_u64 threshold, float scale) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { out[i] = lamina_dropout_one<float>(k0, k1, d0, d1, d2, i, s, threshold, scale); }
}

extern "C" __global__ void lamina_philox_dropout_f64(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                     lamina_u64 d1, lamina_u64 d2, double* out,
                                                     lamina_u64 n, unsigned s,
                                                     lamina_u64 threshold, double scale) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { out[i] = lamina_dropout_one<double>(k0, k1, d0, d1, d2, i, s, threshold, scale); }
}

// Dropout applied: the mask as lamina_philox_dropout_* fills it, and out = x * mask, in one launch
// instead of the mask's and a multiply's (one multiply: nothing to contract).
template <typename T>
__device__ inline void lamina_dropout_apply(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                                            lamina_u64 d2, const T* x, T* mask, T* out, lamina_u64 n,
                                            unsigned s, lamina_u64 threshold, T scale) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) {
        const T m = lamina_dropout_one<T>(k0, k1, d0, d1, d2, i, s, threshold, scale);
        mask[i] = m;
        out[i] = x[i] * m;
    }
}

extern "C" __global__ void lamina_philox_dropout_apply_f32(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                           lamina_u64 d1, lamina_u64 d2, const float* x,
                                                           float* mask, float* out, lamina_u64 n, unsigned s,
                                                           lamina_u64 threshold, float scale) {
    lamina_dropout_apply<float>(k0, k1, d0, d1, d2, x, mask, out, n, s, threshold, scale);
}

extern "C" __global__ void lamina_philox_dropout_apply_f64(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                                           lamina_u64 d1, lamina_u64 d2, const double* x,
                                                           double* mask, double* out, lamina_u64 n, unsigned s,
                                                           lamina_u64 threshold, double scale) {
    lamina_dropout_apply<double>(k0, k1, d0, d1, d2, x, mask, out, n, s, threshold, scale);
}

// The dense forward's grid-stride loop over the n elements (lamina_dense_forward_one and
// lamina_dense_activate, above).
template <typename T>
__device__ inline void lamina_dense_forward(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1, lamina_u64 d2,
                                            T* y, const T* bias, T* mask, T* out, lamina_u64 n, lamina_u64 units,
                                            int kind, int has, unsigned s, lamina_u64 threshold, T scale) {
    if (has & 2) {
        LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) {
            lamina_dense_forward_one<T>(k0, k1, d0, d1, d2, i, y, bias, mask, out, units, kind, has, s, threshold,
                                        scale);
        }
    } else {
        LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { lamina_dense_activate<T>(y, bias, i, units, kind, has); }
    }
}

extern "C" __global__ void lamina_dense_forward_f32(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                                                    lamina_u64 d2, float* y, const float* bias, float* mask,
                                                    float* out, lamina_u64 n, lamina_u64 units, int kind, int has,
                                                    unsigned s, lamina_u64 threshold, float scale) {
    lamina_dense_forward<float>(k0, k1, d0, d1, d2, y, bias, mask, out, n, units, kind, has, s, threshold, scale);
}

extern "C" __global__ void lamina_dense_forward_f64(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                                                    lamina_u64 d2, double* y, const double* bias, double* mask,
                                                    double* out, lamina_u64 n, lamina_u64 units, int kind, int has,
                                                    unsigned s, lamina_u64 threshold, double scale) {
    lamina_dense_forward<double>(k0, k1, d0, d1, d2, y, bias, mask, out, n, units, kind, has, s, threshold, scale);
}

extern "C" __global__ void lamina_philox_keep(lamina_u64 k0, lamina_u64 k1, lamina_u64 d0,
                                              lamina_u64 d1, lamina_u64 d2, unsigned char* out,
                                              lamina_u64 n, unsigned s, lamina_u64 threshold) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { out[i] = lamina_dropout_one<unsigned char>(k0, k1, d0, d1, d2, i, s, threshold, 1); }
}

// --- graph twins: the dropout kernels above with their Philox words read from device memory --------
// A CUDA graph launches its kernels with the arguments they were captured with, so a kernel that took
// its key and counter by value would draw the captured step's mask at every launch. These twins read
// (k0, k1, d0, d1, d2) from words[0..4] instead; the host writes each step's words there before it
// launches the graph (lamina_cupy/_graph.py). Same bodies, so the same bits as the kernels above.
#define LAMINA_WORDS(w) w[0], w[1], w[2], w[3], w[4]

extern "C" __global__ void lamina_philox_dropout_w_f32(const lamina_u64* words, float* out, lamina_u64 n, unsigned s,
                                                       lamina_u64 threshold, float scale) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { out[i] = lamina_dropout_one<float>(LAMINA_WORDS(words), i, s, threshold, scale); }
}

extern "C" __global__ void lamina_philox_dropout_w_f64(const lamina_u64* words, double* out, lamina_u64 n, unsigned s,
                                                       lamina_u64 threshold, double scale) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { out[i] = lamina_dropout_one<double>(LAMINA_WORDS(words), i, s, threshold, scale); }
}

extern "C" __global__ void lamina_philox_keep_w(const lamina_u64* words, unsigned char* out, lamina_u64 n, unsigned s,
                                                lamina_u64 threshold) {
    LAMINA_FOR_EACH_BLOCK_OF(i, n, 1) { out[i] = lamina_dropout_one<unsigned char>(LAMINA_WORDS(words), i, s, threshold, 1); }
}

extern "C" __global__ void lamina_philox_dropout_apply_w_f32(const lamina_u64* words, const float* x, float* mask,
                                                             float* out, lamina_u64 n, unsigned s,
                                                             lamina_u64 threshold, float scale) {
    lamina_dropout_apply<float>(LAMINA_WORDS(words), x, mask, out, n, s, threshold, scale);
}

extern "C" __global__ void lamina_philox_dropout_apply_w_f64(const lamina_u64* words, const double* x, double* mask,
                                                             double* out, lamina_u64 n, unsigned s,
                                                             lamina_u64 threshold, double scale) {
    lamina_dropout_apply<double>(LAMINA_WORDS(words), x, mask, out, n, s, threshold, scale);
}

extern "C" __global__ void lamina_dense_forward_w_f32(const lamina_u64* words, float* y, const float* bias, float* mask,
                                                      float* out, lamina_u64 n, lamina_u64 units, int kind, int has,
                                                      unsigned s, lamina_u64 threshold, float scale) {
    lamina_dense_forward<float>(LAMINA_WORDS(words), y, bias, mask, out, n, units, kind, has, s, threshold, scale);
}

extern "C" __global__ void lamina_dense_forward_w_f64(const lamina_u64* words, double* y, const double* bias,
                                                      double* mask, double* out, lamina_u64 n, lamina_u64 units,
                                                      int kind, int has, unsigned s, lamina_u64 threshold,
                                                      double scale) {
    lamina_dense_forward<double>(LAMINA_WORDS(words), y, bias, mask, out, n, units, kind, has, s, threshold, scale);
}
#endif  // !LAMINA_PHILOX_HOST_ONLY
