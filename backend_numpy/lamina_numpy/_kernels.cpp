// lamina_numpy._kernels: the NumPy backend's compiled helper.
//
// The hot element-wise work of a training step that NumPy can only do one pass per ufunc: the
// optimizer updates (one pass over each parameter instead of five or six), dropout masks (Philox
// words made and turned into the mask in one pass, with no uint64 temporary; eight blocks at a time
// with AVX-512 where the CPU has it), tanh's gradient (one pass instead of three), sigmoid, one LSTM
// or GRU step forward and backward (around NumPy's own exp and tanh, whose bits no C library would
// reproduce: a few passes instead of fifteen to thirty NumPy operations), max pooling's gradient
// over disjoint windows (one pass instead of three per window tap), and sums and maxima over a
// short last axis (a classifier's softmax and cross-entropy: one loop instead of one NumPy
// inner-loop call per row). The update, Philox
// and recurrent backward arithmetic is not written here: it is the CUDA backend's own
// (kernels/philox.cu, optimizers.cu and recurrent.cu compile as plain C++ too), so the CPU and GPU
// run one definition and agree bit for bit. Built at install time when a C++ compiler is there
// (setup.py, optional); without it lamina_numpy uses its NumPy code, which gives the same bits.
//
// Arrays arrive through the buffer protocol (no NumPy headers needed to build): C-contiguous (or,
// for sigmoid and the LSTM gates, a 2-D block of rows), float32 ('f') or float64 ('d'), of one
// length; anything else raises TypeError/ValueError and the Python caller falls back. The GIL is
// released while a loop runs.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstring>
#include <memory>
#include <new>

#if defined(LAMINA_WITH_NUMPY)  // only the ufunc struct's layout: no NumPy C-API function is called
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#define NO_IMPORT_ARRAY
#define NO_IMPORT_UFUNC
#include <numpy/ndarraytypes.h>
#include <numpy/ufuncobject.h>
#endif

#include "philox.cu"
#include "optimizers.cu"
#include "recurrent.cu"
#include "classifier.cu"

namespace {

// Set by use_vector_paths(False): the tests run the scalar loops on a CPU that has the vector ones.
bool g_scalar_only = false;

// One contiguous float32/float64 buffer, released when it goes out of scope.
struct Buffer {
    Py_buffer view;
    bool held = false;
    ~Buffer() {
        if (held) PyBuffer_Release(&view);
    }
    // kind: 'f' or 'd' (float32 / float64), 0 when the format is neither.
    char kind() const {
        const char* f = view.format ? view.format : "B";
        if (*f == '<' || *f == '=' || *f == '@') ++f;
        if (f[0] == 'f' && f[1] == 0 && view.itemsize == 4) return 'f';
        if (f[0] == 'd' && f[1] == 0 && view.itemsize == 8) return 'd';
        return 0;
    }
    lamina_u64 size() const { return (lamina_u64)(view.len / view.itemsize); }
};

// obj's buffer with `flags` into buf, released when buf goes out of scope (false: Python's error set).
bool acquire(PyObject* obj, Buffer& buf, int flags) {
    if (PyObject_GetBuffer(obj, &buf.view, flags) != 0) return false;
    buf.held = true;
    return true;
}

bool take(PyObject* obj, Buffer& buf, const char* what, bool writable = true) {
    if (!acquire(obj, buf, (writable ? PyBUF_WRITABLE : 0) | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) {
        PyErr_Format(PyExc_TypeError, "%s must be a %sC-contiguous array", what, writable ? "writable " : "");
        return false;
    }
    if (!buf.kind()) {
        PyErr_Format(PyExc_TypeError, "%s must be float32 or float64, got format '%s'", what,
                     buf.view.format ? buf.view.format : "?");
        return false;
    }
    return true;
}

// Every buffer has the first one's dtype and (unless dtype_only) length.
bool same(const Buffer& first, const Buffer& other, const char* what, bool dtype_only = false) {
    if (other.kind() != first.kind() || (!dtype_only && other.size() != first.size())) {
        PyErr_Format(PyExc_ValueError, "%s must match the parameter's dtype%s", what, dtype_only ? "" : " and size");
        return false;
    }
    return true;
}

// A gradient or state of another shape but the same length is an error, as in the per-parameter
// code (which would fail to broadcast it), not something to apply flat.
bool same_shape(const Buffer& param, const Buffer& other, const char* what) {
    bool ok = other.view.ndim == param.view.ndim;
    for (int d = 0; ok && d < param.view.ndim; ++d) ok = other.view.shape[d] == param.view.shape[d];
    if (!ok) PyErr_Format(PyExc_ValueError, "%s must have the parameter's shape", what);
    return ok;
}

// --- optimizer updates, any number of parameters per call ---------------------------------------
// Each update takes sequences (one entry per parameter) of the arrays it reads and writes. Entry i
// of every sequence belongs to parameter i and must match its dtype and length; all parameters
// share the first one's dtype. The loops then run one parameter after another without the GIL.
struct Arrays {
    std::unique_ptr<Buffer[]> bufs;
    Py_ssize_t count = 0;
    int k = 0;
    Buffer& at(Py_ssize_t i, int j) { return bufs[i * k + j]; }
    // Column j of parameter i as T*, nullptr for a column given as None.
    template <typename T> T* ptr(Py_ssize_t i, int j) {
        return at(i, j).held ? (T*)at(i, j).view.buf : nullptr;
    }
};

// seqs[j] (named names[j]) is a list or tuple of arrays, or None where j >= required (that column
// is then absent). Column 1 is the gradient: read, never written.
bool take_arrays(PyObject* const* seqs, const char* const* names, int k, int required, Arrays& out) {
    PyObject* fast[8] = {nullptr};
    bool ok = true;
    for (int j = 0; j < k && ok; ++j) {
        if (seqs[j] == Py_None && j >= required) continue;
        fast[j] = PySequence_Fast(seqs[j], "an update takes a list or tuple of arrays per argument");
        ok = fast[j] != nullptr;
        if (ok && j == 0) out.count = PySequence_Fast_GET_SIZE(fast[0]);
        if (ok && PySequence_Fast_GET_SIZE(fast[j]) != out.count) {
            PyErr_Format(PyExc_ValueError, "%s has %zd entries for %zd parameters", names[j],
                         PySequence_Fast_GET_SIZE(fast[j]), out.count);
            ok = false;
        }
    }
    if (ok) {
        out.k = k;
        out.bufs.reset(new (std::nothrow) Buffer[out.count * k]);  // no C++ exception may leave the module
        if (!out.bufs) {
            PyErr_NoMemory();
            ok = false;
        }
    }
    for (Py_ssize_t i = 0; ok && i < out.count; ++i) {
        for (int j = 0; ok && j < k; ++j) {
            if (!fast[j]) continue;
            Buffer& b = out.at(i, j);
            // one dtype for every array; each parameter's grad and states of its shape
            ok = take(PySequence_Fast_GET_ITEM(fast[j], i), b, names[j], j != 1) &&
                 same(out.at(0, 0), b, names[j], true) && (j == 0 || same_shape(out.at(i, 0), b, names[j]));
        }
    }
    for (int j = 0; j < k; ++j) Py_XDECREF(fast[j]);
    return ok;
}

// --- dropout masks -----------------------------------------------------------------------------
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LAMINA_HAVE_AVX512 1
#include <immintrin.h>
// AVX-512: eight Philox blocks at once, one per 64-bit lane. AVX-512 has no 64x64 -> 128-bit
// multiply, so each round's products are built from four 32x32 -> 64-bit lane products (the
// schoolbook of lamina_mulhi64's portable path); the scalar loop is bound by the one 128-bit
// multiplier (measured on a Zen 5 core: 160 -> 105 us for a 200x500 mask). Same words, same bits.
typedef lamina_u64 lamina_v8u64 __attribute__((vector_size(64)));

__attribute__((target("avx512f,avx512dq,avx512vl"), always_inline)) inline void mul_wide8(
    lamina_v8u64 a, lamina_v8u64 b, lamina_v8u64& lo, lamina_v8u64& hi) {
    const lamina_u64 m = 0xFFFFFFFFULL;
    lamina_v8u64 al = a & m, ah = a >> 32, bl = b & m, bh = b >> 32;
    lamina_v8u64 p0 = al * bl, p1 = al * bh, p2 = ah * bl, p3 = ah * bh;
    lamina_v8u64 mid = (p0 >> 32) + (p1 & m) + (p2 & m);
    hi = p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
    lo = (mid << 32) | (p0 & m);
}

// Blocks 0 .. 8k - 1 of a mask with 32-bit slots (k groups of eight whole blocks, elements
// [0, 64k)); returns 8k. The keep test of lamina_keep, half >= threshold (at most 2^32, which no
// half reaches), is computed as 1 - the sign bit of the 64-bit difference: arithmetic, never a
// branch on random bits. Dropped values are 0 * scale, as in lamina_philox_fill_dropout.
template <typename T>
__attribute__((target("avx512f,avx512dq,avx512vl"))) lamina_u64 fill_dropout_avx512(
    T* out, lamina_u64 full, lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1, lamina_u64 d2,
    lamina_u64 threshold, T scale) {
    const lamina_u64 t32 = threshold;
    const lamina_v8u64 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    lamina_u64 b = 0;
    for (; b + 8 <= full; b += 8) {
        lamina_v8u64 c0 = lane + b, c1 = lane * 0 + d0, c2 = lane * 0 + d1, c3 = lane * 0 + d2;
        lamina_u64 r0 = k0, r1 = k1;
        for (int round = 0; round < LAMINA_PHILOX_ROUNDS; ++round) {  // lamina_philox4x64_10
            if (round > 0) {
                r0 += LAMINA_PHILOX_W0;
                r1 += LAMINA_PHILOX_W1;
            }
            lamina_v8u64 lo0, hi0, lo1, hi1;
            mul_wide8(lane * 0 + LAMINA_PHILOX_M0, c0, lo0, hi0);
            mul_wide8(lane * 0 + LAMINA_PHILOX_M1, c2, lo1, hi1);
            lamina_v8u64 n0 = hi1 ^ c1 ^ r0, n2 = hi0 ^ c3 ^ r1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
        }
        // Element 8 (b + l) + 2j + h is half h of word j of lane l: keep bits per word vector,
        // then a transpose into the output's order.
        T tile[8][8];
        const lamina_v8u64 words[4] = {c0, c1, c2, c3};
        for (int j = 0; j < 4; ++j) {
            lamina_v8u64 klo = 1 - (((words[j] & 0xFFFFFFFFULL) - t32) >> 63);
            lamina_v8u64 khi = 1 - (((words[j] >> 32) - t32) >> 63);
            for (int l = 0; l < 8; ++l) {
                tile[2 * j][l] = (T)(long long)klo[l] * scale;
                tile[2 * j + 1][l] = (T)(long long)khi[l] * scale;
            }
        }
        for (int l = 0; l < 8; ++l)
            for (int e = 0; e < 8; ++e) out[8 * (b + l) + e] = tile[e][l];
    }
    return b;
}

bool has_avx512() {
    static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                            __builtin_cpu_supports("avx512vl");
    return yes;
}
#endif

// Narrow slots (s = 1 .. 16 bits, a dyadic rate): the Philox words are 1/32 .. 1/2 of the work of
// 32-bit slots, and the rest is turning keep bits into values. fill_narrow makes the whole blocks'
// words; an Expand turns a block's four words into its 256 / S values: with AVX-512 eight slots
// compared at once and sixteen values per masked move, elsewhere a table of eight values per byte
// of keep bits. Same test as lamina_keep; returns the whole blocks done.
template <unsigned S, typename T, typename Expand>
lamina_u64 fill_narrow(T* out, lamina_u64 n, lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                       lamina_u64 d2, const Expand& expand) {
    const lamina_u64 per_block = 256 / S, full = n / per_block;
    for (lamina_u64 b = 0; b < full; ++b) {
        lamina_u64 w[4];
        lamina_philox_block(k0, k1, d0, d1, d2, b, w);
        expand(out + per_block * b, w);
    }
    return full;
}

// Keep bits of a word's 64 / S slots (slot j -> bit j).
template <unsigned S>
inline lamina_u64 keep_bits(lamina_u64 w, lamina_u64 threshold) {
    if (S == 1) return threshold == 0 ? ~0ULL : threshold == 1 ? w : 0;  // keep all, the bit, none
    lamina_u64 bits = 0;
    for (unsigned j = 0; j < 64 / S; ++j) bits |= (lamina_u64)lamina_keep(w, j, S, threshold) << j;
    return bits;
}

template <unsigned S, typename T>
struct TableExpand {
    lamina_u64 threshold;
    T values[256][8];  // values[byte][j] = bit j of byte * scale (a drop is 0 * scale, as in philox.cu)
    TableExpand(lamina_u64 t, T scale) : threshold(t) {
        for (unsigned byte = 0; byte < 256; ++byte)
            for (unsigned j = 0; j < 8; ++j) values[byte][j] = (T)((byte >> j) & 1) * scale;
    }
    void operator()(T* o, const lamina_u64 w[4]) const {
        constexpr unsigned per_word = 64 / S;
        for (int k = 0; k < 4; ++k) {
            const lamina_u64 bits = keep_bits<S>(w[k], threshold);
            for (unsigned q = 0; q < per_word; q += 8)
                std::memcpy(o + per_word * k + q, values[(bits >> q) & 255], (per_word - q < 8 ? per_word - q : 8) * sizeof(T));
        }
    }
};

#if defined(LAMINA_HAVE_AVX512)
#define LAMINA_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl")))
// keep_bits with eight slots per vector compare.
template <unsigned S>
LAMINA_AVX512 __attribute__((always_inline)) inline lamina_u64 keep_bits8(lamina_u64 w, lamina_u64 threshold) {
    if (S == 1) return keep_bits<1>(w, threshold);
    constexpr unsigned per_word = 64 / S;
    const lamina_v8u64 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    const __m512i t = _mm512_set1_epi64((long long)threshold);
    lamina_u64 bits = 0;
    for (unsigned g = 0; g < per_word; g += 8) {  // S = 16: lanes 4-7 wrap (& 63) and are masked off below
        const lamina_v8u64 v = ((lane * 0 + w) >> (((lane + g) * S) & 63)) & ((1ULL << S) - 1);
        bits |= (lamina_u64)_mm512_cmpge_epu64_mask((__m512i)v, t) << g;
    }
    return per_word >= 64 ? bits : bits & ((1ULL << per_word) - 1);
}
// One register of mask values from keep bits (bit j -> lane j), keep * scale as in TableExpand,
// and its first `count` lanes stored.
LAMINA_AVX512 __attribute__((always_inline)) inline __m512 keep_lanes(lamina_u64 bits, float scale) {
    return _mm512_mul_ps(_mm512_maskz_mov_ps((__mmask16)bits, _mm512_set1_ps(1.0f)), _mm512_set1_ps(scale));
}
LAMINA_AVX512 __attribute__((always_inline)) inline __m512d keep_lanes(lamina_u64 bits, double scale) {
    return _mm512_mul_pd(_mm512_maskz_mov_pd((__mmask8)bits, _mm512_set1_pd(1.0)), _mm512_set1_pd(scale));
}
LAMINA_AVX512 __attribute__((always_inline)) inline void store_lanes(float* o, __m512 v, unsigned count) {
    _mm512_mask_storeu_ps(o, count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1), v);
}
LAMINA_AVX512 __attribute__((always_inline)) inline void store_lanes(double* o, __m512d v, unsigned count) {
    _mm512_mask_storeu_pd(o, count >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << count) - 1), v);
}

template <unsigned S, typename T>
struct VectorExpand {
    lamina_u64 threshold;
    T scale;
    LAMINA_AVX512 void operator()(T* o, const lamina_u64 w[4]) const {
        constexpr unsigned per_word = 64 / S, lanes = 64 / sizeof(T);
        for (int k = 0; k < 4; ++k) {
            const lamina_u64 bits = keep_bits8<S>(w[k], threshold);
            for (unsigned q = 0; q < per_word; q += lanes)
                store_lanes(o + per_word * k + q, keep_lanes(bits >> q, scale), per_word - q);
        }
    }
};
#endif

template <unsigned S, typename T>
lamina_u64 fill_narrow_best(T* out, lamina_u64 n, lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                            lamina_u64 d2, lamina_u64 threshold, T scale) {
#if defined(LAMINA_HAVE_AVX512)
    if (has_avx512() && !g_scalar_only)
        return fill_narrow<S>(out, n, k0, k1, d0, d1, d2, VectorExpand<S, T>{threshold, scale});
#endif
    return fill_narrow<S>(out, n, k0, k1, d0, d1, d2, TableExpand<S, T>(threshold, scale));
}

// A mask with s-bit slots: the whole blocks by the loops above (32-bit slots: groups of eight
// blocks by AVX-512 where the CPU has it), the rest block by block with the shared definition
// (lamina_philox_fill_dropout, which the CUDA kernels run too). tests/test_numpy_backend.py
// compares the bits with the NumPy code for every slot width, with the vector paths on and off.
template <typename T>
void fill_dropout(T* out, lamina_u64 n, lamina_u64 k0, lamina_u64 k1, lamina_u64 d0, lamina_u64 d1,
                  lamina_u64 d2, unsigned s, lamina_u64 threshold, T scale) {
    const lamina_u64 per = 256 / s, blocks = (n + per - 1) / per;
    lamina_u64 b = 0;
    switch (s) {
        case 1: b = fill_narrow_best<1>(out, n, k0, k1, d0, d1, d2, threshold, scale); break;
        case 2: b = fill_narrow_best<2>(out, n, k0, k1, d0, d1, d2, threshold, scale); break;
        case 4: b = fill_narrow_best<4>(out, n, k0, k1, d0, d1, d2, threshold, scale); break;
        case 8: b = fill_narrow_best<8>(out, n, k0, k1, d0, d1, d2, threshold, scale); break;
        case 16: b = fill_narrow_best<16>(out, n, k0, k1, d0, d1, d2, threshold, scale); break;
        default:
#if defined(LAMINA_HAVE_AVX512)
            if (has_avx512() && !g_scalar_only) b = fill_dropout_avx512(out, n / 8, k0, k1, d0, d1, d2, threshold, scale);
#endif
            break;
    }
    for (; b < blocks; ++b) lamina_philox_fill_dropout<T>(k0, k1, d0, d1, d2, b, n, out, s, threshold, scale);
}

// The slot widths fill_dropout takes (false: Python's ValueError set, naming `fn`).
bool slot_width_ok(unsigned s, const char* fn) {
    if (s == 1 || s == 2 || s == 4 || s == 8 || s == 16 || s == 32) return true;
    PyErr_Format(PyExc_ValueError, "%s: slot width must be 1, 2, 4, 8, 16 or 32 bits, got %u.", fn, s);
    return false;
}

// dropout(out, k0, k1, d0, d1, d2, s, threshold, scale): out[i] = scale or 0 by the keep rule
// (s-bit slots, s one of 1, 2, 4, 8, 16, 32; lamina.backends.philox.dropout_slot).
PyObject* dropout(PyObject*, PyObject* args) {
    PyObject* out_obj;
    unsigned long long k0, k1, d0, d1, d2, threshold;
    unsigned int s;
    double scale;
    if (!PyArg_ParseTuple(args, "OKKKKKIKd", &out_obj, &k0, &k1, &d0, &d1, &d2, &s, &threshold, &scale))
        return nullptr;
    if (!slot_width_ok(s, "dropout")) return nullptr;
    Buffer out;
    if (!take(out_obj, out, "out")) return nullptr;
    lamina_u64 n = out.size();
    Py_BEGIN_ALLOW_THREADS
    if (out.kind() == 'f') {
        fill_dropout((float*)out.view.buf, n, k0, k1, d0, d1, d2, s, threshold, (float)scale);
    } else {
        fill_dropout((double*)out.view.buf, n, k0, k1, d0, d1, d2, s, threshold, scale);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- sigmoid and the recurrent cells, around NumPy's exp and tanh ---------------------------------
// The base sigmoid is exp(-|x|), then max(e, x >= 0) / (1 + e): seven NumPy passes and six
// temporaries (35 us for an LSTM gate block of 128 x 128 inside a training step), and one LSTM or
// GRU step is fifteen to thirty such operations on 64-256 KB blocks. The helper keeps NumPy's own
// exp and tanh (their vector code fixes the bits, which no C library would reproduce) and does
// everything between them in compiled passes, each operation rounded on its own in the base
// composition's order (-ffp-contract=off), so the results are the base class's bit for bit.
//
// Each loop is a struct whose run() is an inline body; best<Loop>(...) runs the copy compiled for
// AVX-512 where the CPU has it (and the tests have not asked for the plain loops), else the plain
// copy: the same IEEE operations on wider registers, so the same bits.
#if defined(LAMINA_HAVE_AVX512)
#define LAMINA_WIDE_OK (has_avx512() && !g_scalar_only)
#else
#define LAMINA_WIDE_OK false
#endif
#define LAMINA_INLINE __attribute__((always_inline)) inline

template <typename Loop, typename... Args>
void run_plain(Args... args) { Loop::run(args...); }
#if defined(LAMINA_HAVE_AVX512)
template <typename Loop, typename... Args>
LAMINA_AVX512 void run_wide(Args... args) { Loop::run(args...); }
#endif
template <typename Loop, typename... Args>
void best(Args... args) {
#if defined(LAMINA_HAVE_AVX512)
    if (LAMINA_WIDE_OK) return run_wide<Loop>(args...);
#endif
    run_plain<Loop>(args...);
}

// tanh_grad(y, g, out): out = g * (1 - y * y) in one pass instead of NumPy's three; each operation
// rounds on its own (-ffp-contract=off), so the bits are those of square, subtract, multiply.
template <typename T>
struct TanhGrad {
    static LAMINA_INLINE void run(const T* y, const T* g, T* out, lamina_u64 n) {
        for (lamina_u64 i = 0; i < n; ++i) {
            T s = y[i] * y[i];
            T d = (T)1 - s;
            out[i] = g[i] * d;
        }
    }
    static void call(const T* y, const T* g, T* out, lamina_u64 n) { best<TanhGrad>(y, g, out, n); }
};

// relu_grad(y, g, out): out = g * (y > 0 ? 1 : 0) in one pass instead of NumPy's comparison, cast and
// multiply (and their two temporaries, 3.5-6 ms for mnist_cnn's 128 x 24 x 24 x 64 block). The same
// IEEE multiply by 1 or 0, so the same bits: 0 * a negative g is -0, a NaN or infinite g gives NaN
// where y <= 0 or y is NaN, and a signalling NaN comes out quiet. The 1 is read at run time: GCC
// would otherwise fold g * 1 into g (it assumes no signalling NaNs) and pass a signalling NaN on.
volatile double g_one = 1.0;

template <typename T>
struct ReluGrad {
    static LAMINA_INLINE void run(const T* y, const T* g, T* out, lamina_u64 n, T one) {
        for (lamina_u64 i = 0; i < n; ++i) out[i] = g[i] * (y[i] > (T)0 ? one : (T)0);
    }
    static void call(const T* y, const T* g, T* out, lamina_u64 n) { best<ReluGrad>(y, g, out, n, (T)g_one); }
};

// An activation's gradient from its output: (y, g, out), one dtype and length, out may be g.
template <template <typename> class Loop>
PyObject* activation_grad(PyObject*, PyObject* args) {
    PyObject *y_obj, *g_obj, *o_obj;
    if (!PyArg_ParseTuple(args, "OOO", &y_obj, &g_obj, &o_obj)) return nullptr;
    Buffer y, g, o;
    if (!take(o_obj, o, "out") || !take(y_obj, y, "y", false) || !same(o, y, "y") || !take(g_obj, g, "g", false) ||
        !same(o, g, "g"))
        return nullptr;
    lamina_u64 n = o.size();
    Py_BEGIN_ALLOW_THREADS
    if (o.kind() == 'f')
        Loop<float>::call((const float*)y.view.buf, (const float*)g.view.buf, (float*)o.view.buf, n);
    else
        Loop<double>::call((const double*)y.view.buf, (const double*)g.view.buf, (double*)o.view.buf, n);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- a Dense layer's activation, dropout and bias gradient in one pass -----------------------------
// dense_grad(y, g, mask or None, kind, d, gb or None, zero_start) -> bool: d = act_grad(y, g * mask) and gb = the
// column sums of d (kind 0: linear, with a mask; 1: tanh, TanhGrad's steps; 2: relu, ReluGrad's), in
// place of NumPy's multiply, the activation's gradient and sum(d, axis=0): the same operations in
// the same order, the sums row after row as NumPy reduces a C-contiguous array over its first axis
// (row 0, then + row 1, + row 2, ...; zero_start: 0 + row 0 first, as NumPy 2 does, which turns a
// -0 into +0). False when a value of d or gb is not finite: the caller then runs the NumPy
// composition, so its warnings and its choice of NaN stay.
template <typename T, int Kind, bool Masked, bool Sum>
struct DenseGrad {
    static LAMINA_INLINE void run(Py_ssize_t rows, Py_ssize_t cols, const T* __restrict__ y, const T* __restrict__ g,
                                  const T* __restrict__ m, T* __restrict__ d, T* __restrict__ gb, T one, T start,
                                  bool* finite) {
        // Without the sums, whether every d is finite: v - v is NaN for an infinity or a NaN, and an
        // integer OR vectorises where a floating-point running sum could not (its order is fixed).
        // With them a d that is not finite makes its column's sum infinite or NaN, checked below.
        int bad = 0;
        for (Py_ssize_t r = 0; r < rows; ++r) {
            const Py_ssize_t at = r * cols;
            for (Py_ssize_t j = 0; j < cols; ++j) {
                const T gm = Masked ? g[at + j] * m[at + j] : g[at + j];
                T v;
                if (Kind == 1) {
                    const T s = y[at + j] * y[at + j];
                    const T u = (T)1 - s;
                    v = gm * u;
                } else if (Kind == 2) {
                    v = gm * (y[at + j] > (T)0 ? one : (T)0);
                } else {
                    v = gm;
                }
                d[at + j] = v;
                if (Sum)
                    gb[j] = (r == 0 ? start : gb[j]) + v;
                else
                    bad |= (v - v) != (T)0;
            }
        }
        if (Sum)
            for (Py_ssize_t j = 0; j < cols; ++j) bad |= (gb[j] - gb[j]) != (T)0;
        *finite = !bad;
    }
};

template <typename T, int Kind, bool Masked>
void dense_grad_run(Py_ssize_t rows, Py_ssize_t cols, const T* y, const T* g, const T* m, T* d, T* gb, T start,
                    bool* finite) {
    if (gb)
        best<DenseGrad<T, Kind, Masked, true>>(rows, cols, y, g, m, d, gb, (T)g_one, start, finite);
    else
        best<DenseGrad<T, Kind, Masked, false>>(rows, cols, y, g, m, d, gb, (T)g_one, start, finite);
}

template <typename T>
bool dense_grad_kind(int kind, bool masked, Py_ssize_t rows, Py_ssize_t cols, const T* y, const T* g, const T* m,
                     T* d, T* gb, bool zero_start) {
    // Row 0 of the sums: -0.0 + v is v for every v (also -0), 0.0 + v turns -0 into +0.
    const T start = zero_start ? (T)0 : -(T)0;
    bool finite = false;
    if (kind == 1 && masked) dense_grad_run<T, 1, true>(rows, cols, y, g, m, d, gb, start, &finite);
    else if (kind == 1) dense_grad_run<T, 1, false>(rows, cols, y, g, m, d, gb, start, &finite);
    else if (kind == 2 && masked) dense_grad_run<T, 2, true>(rows, cols, y, g, m, d, gb, start, &finite);
    else if (kind == 2) dense_grad_run<T, 2, false>(rows, cols, y, g, m, d, gb, start, &finite);
    else if (masked) dense_grad_run<T, 0, true>(rows, cols, y, g, m, d, gb, start, &finite);
    else dense_grad_run<T, 0, false>(rows, cols, y, g, m, d, gb, start, &finite);
    return finite;
}

PyObject* dense_grad(PyObject*, PyObject* args) {
    PyObject *y_obj, *g_obj, *m_obj, *d_obj, *gb_obj;
    int kind, zero_start;
    if (!PyArg_ParseTuple(args, "OOOiOOp", &y_obj, &g_obj, &m_obj, &kind, &d_obj, &gb_obj, &zero_start)) return nullptr;
    if (kind < 0 || kind > 2) {
        PyErr_Format(PyExc_ValueError, "dense_grad: kind must be 0 (linear), 1 (tanh) or 2 (relu), got %d.", kind);
        return nullptr;
    }
    Buffer y, g, m, d, gb;
    const bool masked = m_obj != Py_None, summed = gb_obj != Py_None;
    if (!take(d_obj, d, "d") || !take(y_obj, y, "y", false) || !same(d, y, "y") || !take(g_obj, g, "g", false) ||
        !same(d, g, "g") || (masked && (!take(m_obj, m, "mask", false) || !same(d, m, "mask"))) ||
        (summed && (!take(gb_obj, gb, "gb") || !same(d, gb, "gb", true))))
        return nullptr;
    if (d.view.ndim != 2 || (summed && (Py_ssize_t)gb.size() != d.view.shape[1])) {
        PyErr_SetString(PyExc_ValueError, "dense_grad: d must be 2-D and gb must have one entry per column");
        return nullptr;
    }
    const Py_ssize_t rows = d.view.shape[0], cols = d.view.shape[1];
    bool finite;
    Py_BEGIN_ALLOW_THREADS
    if (d.kind() == 'f')
        finite = dense_grad_kind<float>(kind, masked, rows, cols, (const float*)y.view.buf, (const float*)g.view.buf,
                                        masked ? (const float*)m.view.buf : nullptr, (float*)d.view.buf,
                                        summed ? (float*)gb.view.buf : nullptr, zero_start);
    else
        finite = dense_grad_kind<double>(kind, masked, rows, cols, (const double*)y.view.buf, (const double*)g.view.buf,
                                         masked ? (const double*)m.view.buf : nullptr, (double*)d.view.buf,
                                         summed ? (double*)gb.view.buf : nullptr, zero_start);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(finite);
}

// apply_dropout(x, mask, out, k0, k1, d0, d1, d2, s, threshold, scale) -> bool: mask as dropout()
// fills it, then out = x * mask, in one call instead of the mask and NumPy's multiply. False when
// a product is not finite: the caller then multiplies with NumPy, for its warnings and NaNs.
template <typename T>
struct MaskMultiply {
    static LAMINA_INLINE void run(const T* __restrict__ x, const T* __restrict__ m, T* __restrict__ out,
                                  lamina_u64 n, bool* finite) {
        int bad = 0;  // an integer OR vectorises; v - v is NaN for an infinity or a NaN
        for (lamina_u64 i = 0; i < n; ++i) {
            const T v = x[i] * m[i];
            out[i] = v;
            bad |= (v - v) != (T)0;
        }
        *finite = !bad;
    }
};

PyObject* apply_dropout(PyObject*, PyObject* args) {
    PyObject *x_obj, *m_obj, *out_obj;
    unsigned long long k0, k1, d0, d1, d2, threshold;
    unsigned int s;
    double scale;
    if (!PyArg_ParseTuple(args, "OOOKKKKKIKd", &x_obj, &m_obj, &out_obj, &k0, &k1, &d0, &d1, &d2, &s, &threshold,
                          &scale))
        return nullptr;
    if (!slot_width_ok(s, "apply_dropout")) return nullptr;
    Buffer x, m, out;
    if (!take(out_obj, out, "out") || !take(m_obj, m, "mask") || !same(out, m, "mask") ||
        !take(x_obj, x, "x", false) || !same(out, x, "x"))
        return nullptr;
    const lamina_u64 n = out.size();
    bool finite = true;
    Py_BEGIN_ALLOW_THREADS
    if (out.kind() == 'f') {
        fill_dropout((float*)m.view.buf, n, k0, k1, d0, d1, d2, s, threshold, (float)scale);
        best<MaskMultiply<float>>((const float*)x.view.buf, (const float*)m.view.buf, (float*)out.view.buf, n, &finite);
    } else {
        fill_dropout((double*)m.view.buf, n, k0, k1, d0, d1, d2, s, threshold, scale);
        best<MaskMultiply<double>>((const double*)x.view.buf, (const double*)m.view.buf, (double*)out.view.buf, n,
                                   &finite);
    }
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(finite);
}

// --- a Dense layer's bias, activation and dropout after its product, in one pass -----------------
// dense_forward(y, bias or None, kind, mask or None, out or None[, k0, k1, d0, d1, d2, s, threshold,
// scale]) -> (done_y, done_out), kind 0 linear, 1 tanh, 2 softmax. Linear and tanh: y = tanh(y + bias)
// in place (linear: y + bias), then, with a mask, the mask as dropout() fills it and out = y * mask,
// in place of NumPy's add, tanh and the dropout's call. Softmax (no mask; rows of 1 to 128): y =
// y + bias in place and out = softmax(y) as the NumPy backend's softmax forms it (row maximum,
// difference, exp, row sum in NumPy's order, quotient). The pass goes a few kilobytes at a time, so
// each block is added to, passed through its activation and multiplied while it is in L1 instead of
// three to six passes over the product.
//
// tanh and exp are NumPy's own inner loops (use_numpy_loops gives the helper np.tanh's and np.exp's
// float32 and float64 loops, the ones NumPy's type resolution picks), so their bits are NumPy's by
// construction; the additions, differences, quotients and products are single IEEE operations
// (-ffp-contract=off), NumPy's bits too. A block (whole rows) whose sum (or, without a bias, whose
// input; for softmax also a difference from the row maximum) is not finite stops the pass before
// anything of it is written, and a block whose product is not finite stops it after y: the caller
// finishes from done_y and done_out (flat indices, each at a row's start) with NumPy's own
// operations, so NumPy's warnings and NaNs stay.
#if defined(LAMINA_WITH_NUMPY)
typedef void (*UfuncLoop)(char**, const npy_intp*, const npy_intp*, void*);
struct NumpyLoop {
    UfuncLoop fn = nullptr;
    void* data = nullptr;
};
NumpyLoop g_tanh_f, g_tanh_d, g_exp_f, g_exp_d, g_log_f, g_log_d;

// A unary ufunc's first float32 -> float32 and float64 -> float64 loops (the first match is the loop
// NumPy runs for those dtypes); false if obj is not a ufunc.
bool first_float_loops(PyObject* obj, NumpyLoop* f, NumpyLoop* d) {
    *f = NumpyLoop();
    *d = NumpyLoop();
    if (std::strcmp(Py_TYPE(obj)->tp_name, "numpy.ufunc") != 0) return false;
    const PyUFuncObject* u = (const PyUFuncObject*)obj;
    if (u->nin == 1 && u->nout == 1 && u->functions && u->types) {
        for (int i = u->ntypes - 1; i >= 0; --i) {  // backwards, so the first match is kept
            const char in = u->types[i * u->nargs], res = u->types[i * u->nargs + 1];
            NumpyLoop* to = in == NPY_FLOAT && res == NPY_FLOAT ? f : in == NPY_DOUBLE && res == NPY_DOUBLE ? d : nullptr;
            if (to) {
                to->fn = u->functions[i];
                to->data = u->data ? u->data[i] : nullptr;
            }
        }
    }
    return true;
}

// use_numpy_loops(np.tanh, np.exp, np.log) -> bool: keep the three ufuncs' float loops; True when all
// six exist.
PyObject* use_numpy_loops(PyObject*, PyObject* args) {
    PyObject *tanh_obj, *exp_obj, *log_obj;
    if (!PyArg_ParseTuple(args, "OOO", &tanh_obj, &exp_obj, &log_obj)) return nullptr;
    NumpyLoop tf, td, ef, ed, lf, ld;
    if (!first_float_loops(tanh_obj, &tf, &td) || !first_float_loops(exp_obj, &ef, &ed) ||
        !first_float_loops(log_obj, &lf, &ld)) {
        PyErr_SetString(PyExc_TypeError, "use_numpy_loops expects numpy.tanh, numpy.exp and numpy.log");
        return nullptr;
    }
    g_tanh_f = tf;
    g_tanh_d = td;
    g_exp_f = ef;
    g_exp_d = ed;
    g_log_f = lf;
    g_log_d = ld;
    return PyBool_FromLong(tf.fn && td.fn && ef.fn && ed.fn && lf.fn && ld.fn);
}

// s = y + b (Biased) or y, for `rows` rows of n values, y's rows `stride` apart; whether all finite.
template <typename T, bool Biased>
struct AddBias {
    static LAMINA_INLINE void run(const T* __restrict__ y, const T* __restrict__ b, T* __restrict__ s, Py_ssize_t rows,
                                  Py_ssize_t n, Py_ssize_t stride, bool* finite) {
        int bad = 0;
        for (Py_ssize_t r = 0; r < rows; ++r)
            for (Py_ssize_t j = 0; j < n; ++j) {
                const T v = Biased ? y[r * stride + j] + b[j] : y[r * stride + j];
                s[r * n + j] = v;
                bad |= (v - v) != (T)0;
            }
        *finite = !bad;
    }
};

// Softmax of k rows of n (at most 128) values staged in s (y + bias, all finite): out = the
// differences from each row's maximum, checked finite (else false, nothing of y written), then y = s,
// then NumPy's exp over the whole block in place in out, then each row divided by its sum in NumPy's
// order (classifier.cu's lamina_row_sum; at least 1 and finite, as every exp is in (0, 1]).
template <typename T>
bool softmax_block(T* y, const T* s, T* out, Py_ssize_t k, Py_ssize_t n, const NumpyLoop* exp) {
    int bad = 0;
    for (Py_ssize_t r = 0; r < k; ++r) {
        const T* a = s + r * n;
        T m = a[0];
        for (Py_ssize_t j = 1; j < n; ++j) m = a[j] > m ? a[j] : m;  // finite values: the one maximum
        T* o = out + r * n;
        for (Py_ssize_t j = 0; j < n; ++j) {
            const T v = a[j] - m;
            o[j] = v;
            bad |= (v - v) != (T)0;
        }
    }
    if (bad) return false;
    std::memcpy(y, s, (size_t)(k * n) * sizeof(T));
    char* a[2] = {(char*)out, (char*)out};
    const npy_intp dim = k * n, steps[2] = {(npy_intp)sizeof(T), (npy_intp)sizeof(T)};
    exp->fn(a, &dim, steps, exp->data);
    for (Py_ssize_t r = 0; r < k; ++r) {
        T* o = out + r * n;
        const T sum = lamina_row_sum((const T*)o, (long long)n);
        for (Py_ssize_t j = 0; j < n; ++j) o[j] = o[j] / sum;
    }
    return true;
}

template <typename T>
void dense_forward_blocks(T* y, const T* b, Py_ssize_t rows, Py_ssize_t units, const NumpyLoop* tanh,
                          const NumpyLoop* exp, const T* m, T* out, T* scratch, Py_ssize_t per, Py_ssize_t* done_y,
                          Py_ssize_t* done_out) {
    // Blocks of `per` whole rows, so a stop is always at the start of a row.
    const bool staged = b != nullptr || tanh != nullptr || exp != nullptr;  // else only the product is left
    for (Py_ssize_t r = 0; r < rows; r += per) {
        const Py_ssize_t k = rows - r < per ? rows - r : per, e = r * units, count = k * units;
        T* yy = y + e;
        bool finite = true;
        if (staged) {
            if (b) best<AddBias<T, true>>((const T*)yy, b, scratch, k, units, units, &finite);
            else best<AddBias<T, false>>((const T*)yy, b, scratch, k, units, units, &finite);
            if (finite && exp) finite = softmax_block<T>(yy, scratch, out + e, k, units, exp);
            if (!finite) {
                *done_y = *done_out = e;
                return;
            }
            if (tanh) {
                char* a[2] = {(char*)scratch, (char*)yy};
                const npy_intp dim = count, steps[2] = {(npy_intp)sizeof(T), (npy_intp)sizeof(T)};
                tanh->fn(a, &dim, steps, tanh->data);
            } else if (!exp) {
                std::memcpy(yy, scratch, (size_t)count * sizeof(T));
            }
        }
        if (m) {
            best<MaskMultiply<T>>((const T*)yy, m + e, out + e, (lamina_u64)count, &finite);
            if (!finite) {
                *done_y = e + count;
                *done_out = e;
                return;
            }
        }
    }
    *done_y = *done_out = rows * units;
}

// The mask (when m is given) as dropout() fills it, then the blocks; the buffers as void*, so one
// call site serves both dtypes.
template <typename T>
void dense_forward_run(void* y, const void* b, Py_ssize_t rows, Py_ssize_t units, const NumpyLoop* tanh,
                       const NumpyLoop* exp, void* m, void* out, void* scratch, Py_ssize_t per, lamina_u64 k0,
                       lamina_u64 k1, lamina_u64 d0, lamina_u64 d1, lamina_u64 d2, unsigned s, lamina_u64 threshold,
                       double scale, Py_ssize_t* done_y, Py_ssize_t* done_out) {
    if (m) fill_dropout((T*)m, (lamina_u64)(rows * units), k0, k1, d0, d1, d2, s, threshold, (T)scale);
    dense_forward_blocks<T>((T*)y, (const T*)b, rows, units, tanh, exp, (const T*)m, (T*)out, (T*)scratch, per,
                            done_y, done_out);
}

PyObject* dense_forward(PyObject*, PyObject* args) {
    PyObject *y_obj, *b_obj, *m_obj, *out_obj;
    int kind;
    unsigned long long k0 = 0, k1 = 0, d0 = 0, d1 = 0, d2 = 0, threshold = 0;
    unsigned int s = 0;
    double scale = 1.0;
    if (!PyArg_ParseTuple(args, "OOiOO|KKKKKIKd", &y_obj, &b_obj, &kind, &m_obj, &out_obj, &k0, &k1, &d0, &d1,
                          &d2, &s, &threshold, &scale))
        return nullptr;
    const bool biased = b_obj != Py_None, masked = m_obj != Py_None, softmax = kind == 2;
    if (kind < 0 || kind > 2 || (softmax && masked)) {
        PyErr_SetString(PyExc_ValueError, "dense_forward: kind must be 0 (linear), 1 (tanh) or 2 (softmax, no mask)");
        return nullptr;
    }
    if (masked && !slot_width_ok(s, "dense_forward")) return nullptr;
    Buffer y, b, m, out;
    if (!take(y_obj, y, "y") || (biased && (!take(b_obj, b, "bias", false) || !same(y, b, "bias", true))) ||
        (masked && (!take(m_obj, m, "mask") || !same(y, m, "mask"))) ||
        ((masked || softmax) && (!take(out_obj, out, "out") || !same(y, out, "out"))))
        return nullptr;
    if (y.view.ndim != 2 || (biased && (Py_ssize_t)b.size() != y.view.shape[1]) ||
        (softmax && (y.view.shape[1] < 1 || y.view.shape[1] > LAMINA_MAX_CLASSES))) {
        PyErr_SetString(PyExc_ValueError, "dense_forward: y must be 2-D (rows of 1 to 128 for softmax) and bias must "
                                          "have one entry per column");
        return nullptr;
    }
    const bool f32 = y.kind() == 'f';
    const NumpyLoop* tanh = kind != 1 ? nullptr : f32 ? &g_tanh_f : &g_tanh_d;
    const NumpyLoop* exp = !softmax ? nullptr : f32 ? &g_exp_f : &g_exp_d;
    if ((tanh && !tanh->fn) || (exp && !exp->fn)) {
        PyErr_SetString(PyExc_RuntimeError, "dense_forward: call use_numpy_loops(numpy.tanh, numpy.exp) first");
        return nullptr;
    }
    const Py_ssize_t rows = y.view.shape[0], units = y.view.shape[1];
    // About 16 KB of rows per block (at least one row): the block stays in L1 between the steps.
    const Py_ssize_t per_block = 16384 / (Py_ssize_t)y.view.itemsize, per = units < per_block ? per_block / units : 1;
    Py_ssize_t done_y = 0, done_out = 0;
    // Sized in doubles, room for either dtype; a row wider than the block makes it one row.
    const size_t slots = ((size_t)(per * units) * (size_t)y.view.itemsize + sizeof(double) - 1) / sizeof(double);
    std::unique_ptr<double[]> scratch(new (std::nothrow) double[slots]);
    if (!scratch) return PyErr_NoMemory();
    const auto run = f32 ? dense_forward_run<float> : dense_forward_run<double>;
    Py_BEGIN_ALLOW_THREADS
    run(y.view.buf, biased ? b.view.buf : nullptr, rows, units, tanh, exp, masked ? m.view.buf : nullptr,
        masked || softmax ? out.view.buf : nullptr, scratch.get(), per, k0, k1, d0, d1, d2, s, threshold, scale,
        &done_y, &done_out);
    Py_END_ALLOW_THREADS
    return Py_BuildValue("nn", done_y, done_out);
}
#endif

// --- optimizer updates, any number of parameters per call (continued) ----------------------------
// The steps are optimizers.cu's; each runs through best<>, so where the CPU has AVX-512 the loop is
// compiled for it (the same IEEE operations per element on wider registers: the same bits). The
// plain SSE loop also ran up to 35 % slower or faster with where the linker happened to place it.
template <typename T>
struct SgdLoop {
    static LAMINA_INLINE void run(T* p, const T* g, T* v, lamina_u64 n, T lr, T m, int mode) {
        lamina_sgd_step(p, g, v, n, lr, m, mode);
    }
};
template <typename T>
struct AdamLoop {
    static LAMINA_INLINE void run(T* p, const T* g, T* m, T* v, T* vhat, lamina_u64 n, T alpha, T c1, T c2, T eps,
                                  int amsgrad) {
        lamina_adam_step(p, g, m, v, vhat, n, alpha, c1, c2, eps, amsgrad);
    }
};

// sgd(params, grads, velocities or None, lr, momentum, mode): mode 0 plain, 1 momentum, 2 Nesterov.
PyObject* sgd(PyObject*, PyObject* args) {
    PyObject* seqs[3];
    double lr, momentum;
    int mode;
    if (!PyArg_ParseTuple(args, "OOOddi", &seqs[0], &seqs[1], &seqs[2], &lr, &momentum, &mode)) return nullptr;
    static const char* const names[] = {"param", "grad", "velocity"};
    Arrays a;
    if (!take_arrays(seqs, names, 3, mode ? 3 : 2, a)) return nullptr;
    bool f32 = a.count && a.at(0, 0).kind() == 'f';
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < a.count; ++i) {
        lamina_u64 n = a.at(i, 0).size();
        if (f32)
            best<SgdLoop<float>>(a.ptr<float>(i, 0), a.ptr<const float>(i, 1), mode ? a.ptr<float>(i, 2) : nullptr,
                                 n, (float)lr, (float)momentum, mode);
        else
            best<SgdLoop<double>>(a.ptr<double>(i, 0), a.ptr<const double>(i, 1), mode ? a.ptr<double>(i, 2) : nullptr,
                                  n, lr, momentum, mode);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// adam(params, grads, ms, vs, vhats or None, alpha, 1 - beta_1, 1 - beta_2, epsilon)
PyObject* adam(PyObject*, PyObject* args) {
    PyObject* seqs[5];
    double alpha, c1, c2, eps;
    if (!PyArg_ParseTuple(args, "OOOOOdddd", &seqs[0], &seqs[1], &seqs[2], &seqs[3], &seqs[4], &alpha, &c1,
                          &c2, &eps))
        return nullptr;
    static const char* const names[] = {"param", "grad", "m", "v", "vhat"};
    Arrays a;
    if (!take_arrays(seqs, names, 5, 4, a)) return nullptr;
    int amsgrad = seqs[4] != Py_None;
    bool f32 = a.count && a.at(0, 0).kind() == 'f';
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < a.count; ++i) {
        lamina_u64 n = a.at(i, 0).size();
        if (f32)
            best<AdamLoop<float>>(a.ptr<float>(i, 0), a.ptr<const float>(i, 1), a.ptr<float>(i, 2), a.ptr<float>(i, 3),
                                  a.ptr<float>(i, 4), n, (float)alpha, (float)c1, (float)c2, (float)eps, amsgrad);
        else
            best<AdamLoop<double>>(a.ptr<double>(i, 0), a.ptr<const double>(i, 1), a.ptr<double>(i, 2),
                                   a.ptr<double>(i, 3), a.ptr<double>(i, 4), n, alpha, c1, c2, eps, amsgrad);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// The rules whose step takes (param, grad, one or two states, lr, rho, 1 - rho, epsilon): RMSprop
// (velocity) and Adadelta (accumulated gradient and accumulated delta).
struct RmspropRule {
    static constexpr int states = 1;
    static const char* const* names() {
        static const char* const n[] = {"param", "grad", "velocity"};
        return n;
    }
    template <typename T> static LAMINA_INLINE void run(T* p, const T* g, T* v, T*, lamina_u64 n, T lr, T rho, T c, T eps) {
        lamina_rmsprop_step(p, g, v, n, lr, rho, c, eps);
    }
};
struct AdadeltaRule {
    static constexpr int states = 2;
    static const char* const* names() {
        static const char* const n[] = {"param", "grad", "accumulated_grad", "accumulated_delta"};
        return n;
    }
    template <typename T> static LAMINA_INLINE void run(T* p, const T* g, T* a, T* d, lamina_u64 n, T lr, T rho, T c, T eps) {
        lamina_adadelta_step(p, g, a, d, n, lr, rho, c, eps);
    }
};

// rmsprop(params, grads, velocities, lr, rho, 1 - rho, epsilon)
// adadelta(params, grads, accumulated_grads, accumulated_deltas, lr, rho, 1 - rho, epsilon)
template <typename Rule>
PyObject* rho_rule(PyObject*, PyObject* args) {
    constexpr int k = 2 + Rule::states;
    PyObject* seqs[4] = {nullptr, nullptr, nullptr, nullptr};
    double lr, rho, c, eps;
    const bool parsed = k == 3 ? PyArg_ParseTuple(args, "OOOdddd", &seqs[0], &seqs[1], &seqs[2], &lr, &rho, &c, &eps)
                               : PyArg_ParseTuple(args, "OOOOdddd", &seqs[0], &seqs[1], &seqs[2], &seqs[3], &lr, &rho,
                                                  &c, &eps);
    if (!parsed) return nullptr;
    Arrays a;
    if (!take_arrays(seqs, Rule::names(), k, k, a)) return nullptr;
    bool f32 = a.count && a.at(0, 0).kind() == 'f';
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < a.count; ++i) {
        lamina_u64 n = a.at(i, 0).size();
        if (f32)
            best<Rule>(a.ptr<float>(i, 0), a.ptr<const float>(i, 1), a.ptr<float>(i, 2),
                                       k == 4 ? a.ptr<float>(i, 3) : nullptr, n, (float)lr, (float)rho, (float)c,
                                       (float)eps);
        else
            best<Rule>(a.ptr<double>(i, 0), a.ptr<const double>(i, 1), a.ptr<double>(i, 2),
                                        k == 4 ? a.ptr<double>(i, 3) : nullptr, n, lr, rho, c, eps);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// A 2-D block of rows (no ownership): `rows` rows of `cols` elements, `stride` bytes apart. An LSTM
// gate block is one: unit inner stride, rows 4 * units elements apart.
struct View {
    char* data;
    Py_ssize_t rows, cols, stride, item;
    template <typename T> const T* row(Py_ssize_t r) const { return (const T*)(data + r * stride); }
    View columns(Py_ssize_t first, Py_ssize_t count) const { return View{data + first * item, rows, count, stride, item}; }
};

// An array's buffer as a View: 2-D rows with a unit inner stride (contiguous or a block), or any
// other C-contiguous array as one long row.
struct Rows {
    Buffer buf;
    View v{nullptr, 0, 0, 0, 0};
};

bool take_rows_of(PyObject* obj, Rows& r, const char* what) {
    if (!acquire(obj, r.buf, PyBUF_STRIDES | PyBUF_FORMAT)) return false;
    const Py_buffer& b = r.buf.view;
    if (!r.buf.kind()) {
        PyErr_Format(PyExc_TypeError, "%s must be float32 or float64", what);
        return false;
    }
    r.v.data = (char*)b.buf;
    r.v.item = b.itemsize;
    if (b.ndim == 2 && (b.shape[1] <= 1 || b.strides[1] == b.itemsize) &&
        (b.shape[0] <= 1 || b.strides[0] >= b.shape[1] * b.itemsize)) {
        r.v.rows = b.shape[0];
        r.v.cols = b.shape[1];
        r.v.stride = b.shape[0] <= 1 ? b.shape[1] * b.itemsize : b.strides[0];
        return true;
    }
    if (PyBuffer_IsContiguous(&b, 'C')) {
        r.v.rows = 1;
        r.v.cols = b.len / b.itemsize;
        r.v.stride = b.len;
        return true;
    }
    PyErr_Format(PyExc_TypeError, "%s must be C-contiguous or 2-D rows with a unit inner stride", what);
    return false;
}

// The arguments (x, out): x's rows and a writable C-contiguous out (false: Python's error set).
bool rows_and_output(PyObject* args, Rows& x, Buffer& out, const char* out_name) {
    PyObject *x_obj, *out_obj;
    return PyArg_ParseTuple(args, "OO", &x_obj, &out_obj) && take_rows_of(x_obj, x, "x") && take(out_obj, out, out_name);
}

inline float neg_abs(float a) { return -__builtin_fabsf(a); }  // sign bit only: a NaN keeps its payload
inline double neg_abs(double a) { return -__builtin_fabs(a); }

// The two passes around NumPy's exp, row by row of x into a C-contiguous e of x's element count.
// Finish false: e = -|x|. Finish true: e = max(e, x >= 0 ? 1 : 0) / (e + 1) in place, as the base's
// maximum, add and divide. The indicator is never NaN, so "indicator > e ? indicator : e" is NumPy's
// maximum here (a NaN e wins, equal values are the same bits) and compiles to a vector max.
template <typename T, bool Finish>
struct SigmoidPass {
    static LAMINA_INLINE void run(View x, T* e) {
        for (Py_ssize_t r = 0; r < x.rows; ++r) {
            const T* __restrict__ in = x.row<T>(r);
            T* __restrict__ out = e + r * x.cols;
            for (Py_ssize_t j = 0; j < x.cols; ++j) {
                if (Finish) {
                    const T ej = out[j];
                    const T indicator = in[j] >= (T)0 ? (T)1 : (T)0;
                    out[j] = (indicator > ej ? indicator : ej) / (ej + (T)1);
                } else {
                    out[j] = neg_abs(in[j]);
                }
            }
        }
    }
};

// Both sigmoid passes for planes of a gate buffer: plane q of e (rows * cols elements each) from
// the columns starting at firsts[q] of x.
template <bool Finish, typename T>
void sigmoid_planes(const View& x, const Py_ssize_t* firsts, int planes, Py_ssize_t cols, T* e) {
    for (int q = 0; q < planes; ++q) {
        const View gate = x.columns(firsts[q], cols);
        T* plane = e + q * x.rows * cols;
        best<SigmoidPass<T, Finish>>(gate, plane);
    }
}

// sigmoid_prepare(x, e) / sigmoid_finish(x, e): e = -|x|, then (after np.exp(e, out=e)) the sigmoid
// in place; e C-contiguous with x's dtype and element count.
template <bool Finish>
PyObject* sigmoid_pass(PyObject*, PyObject* args) {
    Rows x;
    Buffer e;
    if (!rows_and_output(args, x, e, "e")) return nullptr;
    if (e.kind() != x.buf.kind() || (Py_ssize_t)e.size() != x.v.rows * x.v.cols) {
        PyErr_SetString(PyExc_ValueError, "sigmoid: e must have x's dtype and number of elements");
        return nullptr;
    }
    const Py_ssize_t first = 0;
    Py_BEGIN_ALLOW_THREADS
    if (e.kind() == 'f') sigmoid_planes<Finish>(x.v, &first, 1, x.v.cols, (float*)e.view.buf);
    else sigmoid_planes<Finish>(x.v, &first, 1, x.v.cols, (double*)e.view.buf);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- one LSTM step forward ------------------------------------------------------------------------
// lstm_gates(z, s, finish): both sigmoid passes for gates i, f, o at once. z is (batch, 4 * units)
// rows (blocks i, f, c, o), s a C-contiguous (3, batch, units) array that gets gates i, f, o; the
// caller runs np.exp(s, out=s) between the passes (one call for the three gates).
PyObject* lstm_gates(PyObject*, PyObject* args) {
    PyObject *z_obj, *s_obj;
    int finish;
    if (!PyArg_ParseTuple(args, "OOp", &z_obj, &s_obj, &finish)) return nullptr;
    Rows z;
    Buffer s;
    if (!take_rows_of(z_obj, z, "z") || !take(s_obj, s, "s")) return nullptr;
    const Py_ssize_t units = z.v.cols / 4;
    if (z.buf.view.ndim != 2 || z.v.cols != 4 * units || s.kind() != z.buf.kind() ||
        (Py_ssize_t)s.size() != 3 * z.v.rows * units) {
        PyErr_SetString(PyExc_ValueError, "lstm_gates: z must be 2-D (batch, 4 * units) and s (3, batch, units) of its dtype");
        return nullptr;
    }
    const Py_ssize_t firsts[3] = {0, units, 3 * units};  // i, f, o; block 2 (c) is tanh's
    Py_BEGIN_ALLOW_THREADS
    if (s.kind() == 'f') {
        if (finish) sigmoid_planes<true>(z.v, firsts, 3, units, (float*)s.view.buf);
        else sigmoid_planes<false>(z.v, firsts, 3, units, (float*)s.view.buf);
    } else {
        if (finish) sigmoid_planes<true>(z.v, firsts, 3, units, (double*)s.view.buf);
        else sigmoid_planes<false>(z.v, firsts, 3, units, (double*)s.view.buf);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// out = a * b + c * d, the products and the sum each rounded on their own (the LSTM carry
// f * c + i * g; the GRU's mix z * h + (1 - z) * hh with its (1 - z) formed inline).
template <typename T, bool OneMinusC>
struct TwoProducts {
    static LAMINA_INLINE void run(Py_ssize_t n, const T* __restrict__ a, const T* __restrict__ b,
                                  const T* __restrict__ c, const T* __restrict__ d, T* __restrict__ out) {
        for (Py_ssize_t k = 0; k < n; ++k) out[k] = a[k] * b[k] + (OneMinusC ? (T)1 - c[k] : c[k]) * d[k];
    }
};

// lstm_carry(f, c, i, g, out): out = f * c + i * g. gru_mix(z, h, hh, out): out = z * h + (1 - z) * hh.
// All C-contiguous, one dtype and length.
template <bool OneMinusC>
PyObject* two_products(PyObject*, PyObject* args) {
    PyObject *a_o, *b_o, *c_o, *d_o, *out_o;
    if (OneMinusC ? !PyArg_ParseTuple(args, "OOOO", &a_o, &b_o, &d_o, &out_o)
                  : !PyArg_ParseTuple(args, "OOOOO", &a_o, &b_o, &c_o, &d_o, &out_o))
        return nullptr;
    if (OneMinusC) c_o = a_o;  // z * h + (1 - z) * hh
    Buffer a, b, c, d, out;
    if (!take(out_o, out, "out") || !take(a_o, a, "a", false) || !same(out, a, "a") || !take(b_o, b, "b", false) ||
        !same(out, b, "b") || !take(c_o, c, "c", false) || !same(out, c, "c") || !take(d_o, d, "d", false) ||
        !same(out, d, "d"))
        return nullptr;
    const Py_ssize_t n = (Py_ssize_t)out.size();
    Py_BEGIN_ALLOW_THREADS
    if (out.kind() == 'f')
        best<TwoProducts<float, OneMinusC>>(n, (const float*)a.view.buf, (const float*)b.view.buf,
                                            (const float*)c.view.buf, (const float*)d.view.buf, (float*)out.view.buf);
    else
        best<TwoProducts<double, OneMinusC>>(n, (const double*)a.view.buf, (const double*)b.view.buf,
                                             (const double*)c.view.buf, (const double*)d.view.buf,
                                             (double*)out.view.buf);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- one LSTM step backward -----------------------------------------------------------------------
// lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, dprev): the protocol's lstm_cell_grad in one pass
// instead of about twenty NumPy operations, with recurrent.cu's element function (the formulas are
// there). i, f, g, o, tc, c, gh, gc (either of the last two may be None) and dprev are
// (batch, units); dz is (batch, 4 * units). All C-contiguous, one dtype.
template <typename T, bool HasGh, bool HasGc>
struct LstmCellGrad {  // recurrent.cu's element function (the CUDA kernel's), row by row
    static LAMINA_INLINE void run(Py_ssize_t rows, Py_ssize_t units, const T* __restrict__ i, const T* __restrict__ f,
                                  const T* __restrict__ g, const T* __restrict__ o, const T* __restrict__ tc,
                                  const T* __restrict__ c, const T* __restrict__ gh, const T* __restrict__ gc,
                                  T* __restrict__ dz, T* __restrict__ dprev) {
        // ivdep: the outputs are arrays of their own (the NumPy backend allocates dz and dprev), which
        // GCC cannot see through the inlined element function, so without it the loop stays scalar (4x).
        const long long n = units;
        for (long long r = 0; r < rows; ++r) {
            T *zi = dz + r * 4 * n, *zf = zi + n, *zg = zf + n, *zo = zg + n;
#pragma GCC ivdep
            for (long long j = 0; j < n; ++j)
                lamina_lstm_cell_grad_at<T, HasGh, HasGc>(r * n + j, j, i, f, g, o, tc, c, gh, gc, zi, zf, zg, zo, dprev);
        }
    }
};

template <typename T>
void lstm_cell_grad_typed(Buffer* b) {
#define LAMINA_P(k) ((const T*)(b[k].held ? b[k].view.buf : nullptr))
    const Py_ssize_t rows = b[0].view.shape[0], units = b[0].view.shape[1];
    const T *i = LAMINA_P(0), *f = LAMINA_P(1), *g = LAMINA_P(2), *o = LAMINA_P(3), *tc = LAMINA_P(4),
            *c = LAMINA_P(5), *gh = LAMINA_P(6), *gc = LAMINA_P(7);
#undef LAMINA_P
    T *dz = (T*)b[8].view.buf, *dprev = (T*)b[9].view.buf;
    if (gh && gc) best<LstmCellGrad<T, true, true>>(rows, units, i, f, g, o, tc, c, gh, gc, dz, dprev);
    else if (gh) best<LstmCellGrad<T, true, false>>(rows, units, i, f, g, o, tc, c, gh, gc, dz, dprev);
    else best<LstmCellGrad<T, false, true>>(rows, units, i, f, g, o, tc, c, gh, gc, dz, dprev);
}

PyObject* lstm_cell_grad(PyObject*, PyObject* args) {
    PyObject* objs[10];
    if (!PyArg_ParseTuple(args, "OOOOOOOOOO", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5],
                          &objs[6], &objs[7], &objs[8], &objs[9]))
        return nullptr;
    static const char* const names[10] = {"i", "f", "g", "o", "tc", "c", "gh", "gc", "dz", "dprev"};
    Buffer bufs[10];
    if (objs[6] == Py_None && objs[7] == Py_None) {
        PyErr_SetString(PyExc_ValueError, "lstm_cell_grad: gh and gc cannot both be None");
        return nullptr;
    }
    for (int k = 0; k < 10; ++k) {
        if (objs[k] == Py_None && (k == 6 || k == 7)) continue;
        if (!take(objs[k], bufs[k], names[k], k >= 8)) return nullptr;
        if (k != 8 && !same(bufs[0], bufs[k], names[k])) return nullptr;
    }
    if (bufs[8].kind() != bufs[0].kind() || bufs[8].size() != 4 * bufs[0].size() || bufs[0].view.ndim != 2 ||
        bufs[8].view.ndim != 2 || bufs[8].view.shape[0] != bufs[0].view.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "lstm_cell_grad: dz must be (batch, 4 * units) beside (batch, units) gates");
        return nullptr;
    }
    Py_BEGIN_ALLOW_THREADS
    if (bufs[0].kind() == 'f') lstm_cell_grad_typed<float>(bufs);
    else lstm_cell_grad_typed<double>(bufs);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- one GRU step forward (Keras' reset_after cell) -----------------------------------------------
// gru_gates(x, inner, pre, e): x = x_t @ kernel + input bias and inner = h @ recurrent_kernel +
// recurrent bias, both (batch, 3 * units) rows (blocks z, r, h); pre and e C-contiguous
// (2, batch, units): pre = x + inner and e = -|pre| for blocks z and r. The caller then runs
// np.exp(e, out=e) and sigmoid_finish(pre, e), which leaves z and r in e.
template <typename T>
struct GruGates {
    static LAMINA_INLINE void run(View x, View inner, T* __restrict__ pre, T* __restrict__ e) {
        const Py_ssize_t units = x.cols / 3, plane = x.rows * units;
        for (int q = 0; q < 2; ++q)
            for (Py_ssize_t r = 0; r < x.rows; ++r) {
                const T* __restrict__ a = x.row<T>(r) + q * units;
                const T* __restrict__ b = inner.row<T>(r) + q * units;
                T* __restrict__ p = pre + q * plane + r * units;
                T* __restrict__ n = e + q * plane + r * units;
                for (Py_ssize_t j = 0; j < units; ++j) {
                    const T s = a[j] + b[j];
                    p[j] = s;
                    n[j] = neg_abs(s);
                }
            }
    }
};

// gru_candidate(x, inner, r, out): out = x_h + r * inner_h (the argument of tanh), x and inner as
// above, r and out C-contiguous (batch, units).
template <typename T>
struct GruCandidate {
    static LAMINA_INLINE void run(View x, const T* __restrict__ r, View inner, T* __restrict__ out) {
        const Py_ssize_t units = x.cols / 3;
        for (Py_ssize_t row = 0; row < x.rows; ++row) {
            const T* __restrict__ a = x.row<T>(row) + 2 * units;
            const T* __restrict__ b = inner.row<T>(row) + 2 * units;
            for (Py_ssize_t j = 0; j < units; ++j) out[row * units + j] = a[j] + r[row * units + j] * b[j];
        }
    }
};

template <bool Candidate>
PyObject* gru_forward_pass(PyObject*, PyObject* args) {
    PyObject *x_o, *inner_o, *mid_o, *out_o;  // gates: (x, inner, pre, e); candidate: (x, inner, r, out)
    if (!PyArg_ParseTuple(args, "OOOO", &x_o, &inner_o, &mid_o, &out_o)) return nullptr;
    Rows x, inner;
    Buffer mid, out;
    if (!take_rows_of(x_o, x, "x") || !take_rows_of(inner_o, inner, "inner") || !take(mid_o, mid, "r", !Candidate) ||
        !take(out_o, out, "out") || !same(out, mid, Candidate ? "r" : "pre"))
        return nullptr;
    const Py_ssize_t planes = Candidate ? 1 : 2;
    const bool ok = x.buf.view.ndim == 2 && inner.buf.view.ndim == 2 && x.v.rows == inner.v.rows &&
                    x.v.cols == inner.v.cols && x.v.cols % 3 == 0 && x.buf.kind() == out.kind() &&
                    inner.buf.kind() == out.kind() && (Py_ssize_t)out.size() == planes * x.v.rows * (x.v.cols / 3);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "gru: x and inner must be (batch, 3 * units) beside (batch, units) arrays of one dtype");
        return nullptr;
    }
    Py_BEGIN_ALLOW_THREADS
    if (out.kind() == 'f') {
        if (Candidate) best<GruCandidate<float>>(x.v, (const float*)mid.view.buf, inner.v, (float*)out.view.buf);
        else best<GruGates<float>>(x.v, inner.v, (float*)mid.view.buf, (float*)out.view.buf);
    } else {
        if (Candidate) best<GruCandidate<double>>(x.v, (const double*)mid.view.buf, inner.v, (double*)out.view.buf);
        else best<GruGates<double>>(x.v, inner.v, (double*)mid.view.buf, (double*)out.view.buf);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- one GRU step backward ------------------------------------------------------------------------
// gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du, direct): the protocol's gru_cell_grad in one
// pass instead of about fifteen NumPy operations, with recurrent.cu's element function. z, r, hh,
// h_prev, dh and direct are C-contiguous (batch, units); inner_h is the h block of the recurrent
// product, 2-D rows; dx and du are C-contiguous (batch, 3 * units), gate blocks z, r, h.
template <typename T>
struct GruCellGrad {  // recurrent.cu's element function (the CUDA kernel's), row by row
    static LAMINA_INLINE void run(Py_ssize_t rows, Py_ssize_t units, const T* __restrict__ z, const T* __restrict__ r,
                                  const T* __restrict__ hh, View inner_h, const T* __restrict__ h_prev,
                                  const T* __restrict__ dh, T* __restrict__ dx, T* __restrict__ du,
                                  T* __restrict__ direct) {
        const long long n = units;
        for (long long row = 0; row < rows; ++row) {
            const T* ih = inner_h.row<T>(row);
            T *x = dx + row * 3 * n, *u = du + row * 3 * n;
#pragma GCC ivdep
            for (long long j = 0; j < n; ++j)
                lamina_gru_cell_grad_at<T>(row * n + j, j, z, r, hh, ih, h_prev, dh, x, x + n, x + 2 * n, u, u + n,
                                           u + 2 * n, direct);
        }
    }
};

PyObject* gru_cell_grad(PyObject*, PyObject* args) {
    PyObject *z_o, *r_o, *hh_o, *ih_o, *hp_o, *dh_o, *dx_o, *du_o, *direct_o;
    if (!PyArg_ParseTuple(args, "OOOOOOOOO", &z_o, &r_o, &hh_o, &ih_o, &hp_o, &dh_o, &dx_o, &du_o, &direct_o))
        return nullptr;
    Buffer z, r, hh, hp, dh, dx, du, direct;
    Rows ih;
    if (!take(z_o, z, "z", false) || !take(r_o, r, "r", false) || !same(z, r, "r") || !take(hh_o, hh, "hh", false) ||
        !same(z, hh, "hh") || !take(hp_o, hp, "h_prev", false) || !same(z, hp, "h_prev") ||
        !take(dh_o, dh, "dh", false) || !same(z, dh, "dh") || !take(direct_o, direct, "direct") ||
        !same(z, direct, "direct") || !take(dx_o, dx, "dx") || !take(du_o, du, "du") ||
        !take_rows_of(ih_o, ih, "inner_h"))
        return nullptr;
    const bool ok = z.view.ndim == 2 && ih.buf.view.ndim == 2 && ih.v.rows == z.view.shape[0] &&
                    ih.v.cols == z.view.shape[1] && ih.buf.kind() == z.kind() && dx.kind() == z.kind() &&
                    du.kind() == z.kind() && dx.size() == 3 * z.size() && du.size() == 3 * z.size();
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "gru_cell_grad: (batch, units) gates, inner_h rows of that shape and "
                                          "(batch, 3 * units) dx and du of one dtype");
        return nullptr;
    }
    const Py_ssize_t rows = z.view.shape[0], units = z.view.shape[1];
    Py_BEGIN_ALLOW_THREADS
    if (z.kind() == 'f')
        best<GruCellGrad<float>>(rows, units, (const float*)z.view.buf, (const float*)r.view.buf,
                                 (const float*)hh.view.buf, ih.v, (const float*)hp.view.buf,
                                 (const float*)dh.view.buf, (float*)dx.view.buf, (float*)du.view.buf,
                                 (float*)direct.view.buf);
    else
        best<GruCellGrad<double>>(rows, units, (const double*)z.view.buf, (const double*)r.view.buf,
                                  (const double*)hh.view.buf, ih.v, (const double*)hp.view.buf,
                                  (const double*)dh.view.buf, (double*)dx.view.buf, (double*)du.view.buf,
                                  (double*)direct.view.buf);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- max pooling's gradient over disjoint windows ------------------------------------------------
// max_pool_grad(x, pooled, grad, dx, (kh, kw), (sh, sw)): for channels-last x (n, H, W, C) (padded as
// the caller pads it), pooled and grad (n, oh, ow, C), with strides at least the window (each input
// in one window at most), every tap of a window gets hit * grad: hit is 1 for the window's first tap
// in row-major order equal to the maximum, 0 for the others; dx (n, H, W, C, zero outside the
// windows) is written in place. The base class's nine comparisons, ORs and multiplies over strided
// views (10 ms for mnist_cnn's pool) become one pass; the products are the same IEEE multiplies
// (0 * grad keeps grad's sign and NaN, as the base's bool * float does). C-contiguous, one float dtype.
template <typename T>
void max_pool_grad_loop(const T* x, const T* pooled, const T* grad, T* dx, long long n, long long h, long long w,
                        long long c, long long oh, long long ow, long long kh, long long kw, long long sh,
                        long long sw, T* taken) {
    // Window by window; within a tap, all channels at once (contiguous, so the compiler vectorizes).
    // taken (c values, the caller's): 1 where the window's maximum was already found.
    for (long long b = 0; b < n; ++b)
        for (long long oy = 0; oy < oh; ++oy)
            for (long long ox = 0; ox < ow; ++ox) {
                const T* __restrict__ p = pooled + ((b * oh + oy) * ow + ox) * c;
                const T* __restrict__ g = grad + ((b * oh + oy) * ow + ox) * c;
                T* __restrict__ t = taken;
                for (long long ch = 0; ch < c; ++ch) t[ch] = (T)0;
                for (long long ky = 0; ky < kh; ++ky)
                    for (long long kx = 0; kx < kw; ++kx) {
                        const long long at = ((b * h + oy * sh + ky) * w + ox * sw + kx) * c;
                        const T* __restrict__ in = x + at;
                        T* __restrict__ out = dx + at;
                        for (long long ch = 0; ch < c; ++ch) {
                            const T hit = (in[ch] == p[ch] && t[ch] == (T)0) ? (T)1 : (T)0;
                            t[ch] = t[ch] + hit;
                            out[ch] = hit * g[ch];
                        }
                    }
            }
}

PyObject* max_pool_grad(PyObject*, PyObject* args) {
    PyObject *x_o, *p_o, *g_o, *dx_o;
    long long kh, kw, sh, sw;
    if (!PyArg_ParseTuple(args, "OOOO(LL)(LL)", &x_o, &p_o, &g_o, &dx_o, &kh, &kw, &sh, &sw)) return nullptr;
    Buffer x, p, g, dx;
    if (!take(dx_o, dx, "dx") || !take(x_o, x, "x", false) || !same(dx, x, "x") || !take(p_o, p, "pooled", false) ||
        !take(g_o, g, "grad", false) || !same(p, g, "grad"))
        return nullptr;
    const Py_buffer &xv = x.view, &pv = p.view;
    bool ok = xv.ndim == 4 && pv.ndim == 4 && p.kind() == x.kind() && xv.shape[0] == pv.shape[0] &&
              xv.shape[3] == pv.shape[3] && kh >= 1 && kw >= 1 && sh >= kh && sw >= kw;
    ok = ok && (pv.shape[1] == 0 || (pv.shape[1] - 1) * sh + kh <= xv.shape[1]) &&
         (pv.shape[2] == 0 || (pv.shape[2] - 1) * sw + kw <= xv.shape[2]);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "max_pool_grad: x (n, H, W, C), pooled and grad (n, oh, ow, C) of one dtype, "
                                          "disjoint windows inside x");
        return nullptr;
    }
    // Sized in doubles, room for either dtype; made here, with the GIL, so a failure is a MemoryError.
    std::unique_ptr<double[]> taken(new (std::nothrow) double[xv.shape[3] > 0 ? xv.shape[3] : 1]);
    if (!taken) return PyErr_NoMemory();
    Py_BEGIN_ALLOW_THREADS
    if (x.kind() == 'f')
        max_pool_grad_loop((const float*)x.view.buf, (const float*)p.view.buf, (const float*)g.view.buf,
                           (float*)dx.view.buf, xv.shape[0], xv.shape[1], xv.shape[2], xv.shape[3], pv.shape[1],
                           pv.shape[2], kh, kw, sh, sw, (float*)taken.get());
    else
        max_pool_grad_loop((const double*)x.view.buf, (const double*)p.view.buf, (const double*)g.view.buf,
                           (double*)dx.view.buf, xv.shape[0], xv.shape[1], xv.shape[2], xv.shape[3], pv.shape[1],
                           pv.shape[2], kh, kw, sh, sw, (double*)taken.get());
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// --- reductions over a short last axis --------------------------------------------------------------
// NumPy reduces the last axis of a (rows, n) array with one inner-loop call per row, each with tens
// of nanoseconds of setup: a softmax's row maximum over 10 classes took 11 us for 200 rows and its row
// sum 5 us, for 2,000 elements. Here one loop runs over all the rows, for rows of at most kShortRow
// elements (on longer rows NumPy's setup is paid back).
constexpr Py_ssize_t kShortRow = LAMINA_MAX_CLASSES;  // classifier.cu's row length

// Each row's sum as NumPy forms it for a row of at most 128 elements: classifier.cu's lamina_row_sum
// (NumPy's pairwise sum's base case). The Python side compares this with np.add.reduce once and never
// calls it if the NumPy it runs with sums in another order. False when some sum is not finite: which
// of two NaNs survives depends on operand order, and NumPy warns of an overflow or of inf - inf, so
// the caller then runs NumPy's reduction instead and out is discarded.
template <typename T>
bool row_sum_loop(const View& x, T* out) {
    bool finite = true;
    for (Py_ssize_t r = 0; r < x.rows; ++r) {
        out[r] = lamina_row_sum(x.row<T>(r), (long long)x.cols);
        finite &= __builtin_isfinite(out[r]) != 0;
    }
    return finite;
}

// Each row's maximum. False when some row holds a NaN or has a maximum of zero: the two cases where
// NumPy's answer depends on the order it compares in (which NaN, which zero's sign survives); the
// caller then runs NumPy's reduction instead and out is discarded. Any other maximum is one value.
template <typename T>
bool row_max_loop(const View& x, T* out) {
    bool clean = true;
    for (Py_ssize_t r = 0; r < x.rows; ++r) {
        const T* a = x.row<T>(r);
        T m = a[0];
        bool nan = a[0] != a[0];
        for (Py_ssize_t j = 1; j < x.cols; ++j) {
            const T v = a[j];
            nan |= v != v;
            m = v > m ? v : m;
        }
        out[r] = m;
        clean &= !nan && m != (T)0;
    }
    return clean;
}

// row_sum(x, out) -> bool and row_max(x, out) -> bool (False: use NumPy's answer, see above): x (rows,
// n) with 1 <= n <= 128 and a unit inner stride, out C-contiguous with x's dtype and one element per row.
template <bool Max>
PyObject* row_reduce(PyObject*, PyObject* args) {
    Rows x;
    Buffer out;
    if (!rows_and_output(args, x, out, "out")) return nullptr;
    if (x.buf.view.ndim != 2 || x.v.cols < 1 || x.v.cols > kShortRow || out.kind() != x.buf.kind() ||
        (Py_ssize_t)out.size() != x.v.rows) {
        PyErr_SetString(PyExc_ValueError, "row_sum/row_max: x must be (rows, n) with 1 <= n <= 128, out one element "
                                          "per row of x's dtype");
        return nullptr;
    }
    bool clean = true;
    Py_BEGIN_ALLOW_THREADS
    if (Max) {
        clean = out.kind() == 'f' ? row_max_loop(x.v, (float*)out.view.buf) : row_max_loop(x.v, (double*)out.view.buf);
    } else {
        clean = out.kind() == 'f' ? row_sum_loop(x.v, (float*)out.view.buf) : row_sum_loop(x.v, (double*)out.view.buf);
    }
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(clean);
}

// --- the classifier's output layer: softmax's gradient and Keras' cross-entropy of probabilities ---
// The base class forms each of these with 4 to 17 NumPy calls on a (batch, classes) block, each a few
// microseconds of call overhead on a few thousand elements. classifier.cu's row functions (which the
// CUDA kernels run too) do the same IEEE operations in the same order, with NumPy's sum order (the
// Python side calls them only where its NumPy was confirmed to sum so); np.log stays NumPy's (it runs
// between ce_forward and ce_loss). Each call returns false when a value on the way is not finite:
// NumPy would warn there, and which NaN survives depends on operand order, so the caller discards
// the output and runs the base class's composition instead.

// The arrays of one of the ops below: C-contiguous, one float dtype; `block` of them hold rows x n
// elements (the first sets rows), the others (per-row values) rows elements. Outputs writable.
struct RowArgs {
    Buffer b[7];
    Py_ssize_t rows = 0, n = 0;
    bool parse(PyObject* const* objs, int count, const char* const* names, const bool* block, const bool* output,
               Py_ssize_t cols) {
        n = cols;
        if (n < 1 || n > kShortRow) {
            PyErr_SetString(PyExc_ValueError, "rows must have 1 to 128 elements");
            return false;
        }
        for (int i = 0; i < count; ++i) {
            if (!take(objs[i], b[i], names[i], output[i])) return false;
            if (i && b[i].kind() != b[0].kind()) {
                PyErr_Format(PyExc_ValueError, "%s must have %s's dtype", names[i], names[0]);
                return false;
            }
            if (i == 0 && (Py_ssize_t)b[0].size() % n) {
                PyErr_Format(PyExc_ValueError, "%s's size is not a multiple of the row length %zd", names[0], n);
                return false;
            }
            if (i == 0) rows = (Py_ssize_t)b[0].size() / n;
            const Py_ssize_t want = block[i] ? rows * n : rows;
            if ((Py_ssize_t)b[i].size() != want) {
                PyErr_Format(PyExc_ValueError, "%s must hold %zd elements", names[i], want);
                return false;
            }
        }
        return true;
    }
};

// Each op: its arrays (names, which hold rows x n elements, which are written), whether it takes the
// clip bounds lo, hi after n, and one row of classifier.cu's functions on the arrays' pointers `a`.
#define LAMINA_ROW_OP_ARRAYS(...)                                                \
    static const char* const* names() {                                         \
        static const char* const v[] = {__VA_ARGS__};                            \
        return v;                                                                \
    }
struct SoftmaxGradOp {
    static constexpr int arrays = 3;
    static constexpr bool bounds = false;
    LAMINA_ROW_OP_ARRAYS("y", "g", "out")
    static constexpr bool block[3] = {true, true, true}, output[3] = {false, false, true};
    template <typename T> static bool row(T* const* a, Py_ssize_t r, Py_ssize_t n, T, T) {
        return lamina_softmax_grad_row(a[0] + r * n, a[1] + r * n, a[2] + r * n, n);
    }
};
struct CeForwardOp {  // y, s, p, c
    static constexpr int arrays = 4;
    static constexpr bool bounds = true;
    LAMINA_ROW_OP_ARRAYS("y", "s", "p", "c")
    static constexpr bool block[4] = {true, false, true, true}, output[4] = {false, true, true, true};
    template <typename T> static bool row(T* const* a, Py_ssize_t r, Py_ssize_t n, T lo, T hi) {
        return lamina_ce_forward_row(a[0] + r * n, a[1] + r, a[2] + r * n, a[3] + r * n, n, lo, hi);
    }
};
struct CeLossOp {  // target, logp, per
    static constexpr int arrays = 3;
    static constexpr bool bounds = false;
    LAMINA_ROW_OP_ARRAYS("target", "logp", "per")
    static constexpr bool block[3] = {true, true, false}, output[3] = {false, false, true};
    template <typename T> static bool row(T* const* a, Py_ssize_t r, Py_ssize_t n, T, T) {
        return lamina_ce_loss_row(a[0] + r * n, a[1] + r * n, a[2] + r, n);
    }
};
struct CeGradOp {  // target first (it sets the rows), g, s, p, c, out
    static constexpr int arrays = 6;
    static constexpr bool bounds = true;
    LAMINA_ROW_OP_ARRAYS("target", "g", "s", "p", "c", "out")
    static constexpr bool block[6] = {true, false, false, true, true, true};
    static constexpr bool output[6] = {false, false, false, false, false, true};
    template <typename T> static bool row(T* const* a, Py_ssize_t r, Py_ssize_t n, T lo, T hi) {
        return lamina_ce_grad_row(a[1][r], a[0] + r * n, a[2][r], a[3] + r * n, a[4] + r * n, a[5] + r * n, n, lo, hi);
    }
};
struct ArgmaxEqualOp {  // a, b, out (never fails)
    static constexpr int arrays = 3;
    static constexpr bool bounds = false;
    LAMINA_ROW_OP_ARRAYS("a", "b", "out")
    static constexpr bool block[3] = {true, true, false}, output[3] = {false, false, true};
    template <typename T> static bool row(T* const* a, Py_ssize_t r, Py_ssize_t n, T, T) {
        a[2][r] = lamina_argmax_equal_row(a[0] + r * n, a[1] + r * n, n);
        return true;
    }
};
#undef LAMINA_ROW_OP_ARRAYS
constexpr bool SoftmaxGradOp::block[], SoftmaxGradOp::output[], CeForwardOp::block[], CeForwardOp::output[];
constexpr bool CeLossOp::block[], CeLossOp::output[], CeGradOp::block[], CeGradOp::output[];
constexpr bool ArgmaxEqualOp::block[], ArgmaxEqualOp::output[];

template <class Op, typename T>
bool run_rows(RowArgs& x, double lo, double hi) {
    T* a[Op::arrays];
    for (int i = 0; i < Op::arrays; ++i) a[i] = (T*)x.b[i].view.buf;
    bool ok = true;
    for (Py_ssize_t r = 0; r < x.rows; ++r) ok &= Op::row(a, r, x.n, (T)lo, (T)hi);
    return ok;
}

// op(arrays..., n[, lo, hi]) -> bool: Op over every row; false when a row met a value that is not finite.
template <class Op>
PyObject* row_op(PyObject*, PyObject* args) {
    const Py_ssize_t count = Op::arrays + 1 + (Op::bounds ? 2 : 0);
    if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) != count) {
        PyErr_Format(PyExc_TypeError, "takes %zd arguments (the arrays, the row length%s)", count,
                     Op::bounds ? ", lo and hi" : "");
        return nullptr;
    }
    PyObject* objs[Op::arrays];
    for (int i = 0; i < Op::arrays; ++i) objs[i] = PyTuple_GET_ITEM(args, i);
    const Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(args, Op::arrays));
    double lo = 0, hi = 0;
    if (Op::bounds) {
        lo = PyFloat_AsDouble(PyTuple_GET_ITEM(args, Op::arrays + 1));
        hi = PyFloat_AsDouble(PyTuple_GET_ITEM(args, Op::arrays + 2));
    }
    if (PyErr_Occurred()) return nullptr;
    RowArgs x;
    if (!x.parse(objs, Op::arrays, Op::names(), Op::block, Op::output, n)) return nullptr;
    bool ok;
    Py_BEGIN_ALLOW_THREADS
    ok = x.b[0].kind() == 'f' ? run_rows<Op, float>(x, lo, hi) : run_rows<Op, double>(x, lo, hi);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(ok);
}

// ce_forward_loss(y, target, s, p, c, logp, per, n, lo, hi) -> bool: the cross-entropy forward pass in
// one call, ce_forward's rows, then NumPy's own log loop (use_numpy_loops) over all of c into logp,
// then ce_loss's rows: the three calls the NumPy backend made, the same operations on the same
// arrays, so the same bits. False, with the outputs to be discarded, where a row meets a value that
// is not finite (the caller then runs the base composition, for NumPy's warnings).
#if defined(LAMINA_WITH_NUMPY)
template <typename T>
bool ce_forward_loss_run(RowArgs& x, const NumpyLoop& log, double lo, double hi) {
    T* a[7];
    for (int i = 0; i < 7; ++i) a[i] = (T*)x.b[i].view.buf;
    const Py_ssize_t n = x.n;
    bool ok = true;
    for (Py_ssize_t r = 0; r < x.rows; ++r)
        ok &= lamina_ce_forward_row(a[0] + r * n, a[2] + r, a[3] + r * n, a[4] + r * n, n, (T)lo, (T)hi);
    if (!ok) return false;
    char* io[2] = {(char*)a[4], (char*)a[5]};
    const npy_intp dim = x.rows * n, steps[2] = {(npy_intp)sizeof(T), (npy_intp)sizeof(T)};
    log.fn(io, &dim, steps, log.data);
    for (Py_ssize_t r = 0; r < x.rows; ++r) ok &= lamina_ce_loss_row(a[1] + r * n, a[5] + r * n, a[6] + r, n);
    return ok;
}

PyObject* ce_forward_loss(PyObject*, PyObject* args) {
    PyObject* objs[7];
    Py_ssize_t n;
    double lo, hi;
    if (!PyArg_ParseTuple(args, "OOOOOOOndd", &objs[0], &objs[1], &objs[2], &objs[3], &objs[4], &objs[5], &objs[6],
                          &n, &lo, &hi))
        return nullptr;
    static const char* const names[] = {"y", "target", "s", "p", "c", "logp", "per"};
    static const bool block[] = {true, true, false, true, true, true, false};
    static const bool output[] = {false, false, true, true, true, true, true};
    RowArgs x;
    if (!x.parse(objs, 7, names, block, output, n)) return nullptr;
    const bool f32 = x.b[0].kind() == 'f';
    const NumpyLoop& log = f32 ? g_log_f : g_log_d;
    if (!log.fn) {
        PyErr_SetString(PyExc_RuntimeError, "ce_forward_loss: call use_numpy_loops(numpy.tanh, numpy.exp, numpy.log) first");
        return nullptr;
    }
    bool ok;
    Py_BEGIN_ALLOW_THREADS
    ok = f32 ? ce_forward_loss_run<float>(x, log, lo, hi) : ce_forward_loss_run<double>(x, log, lo, hi);
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(ok);
}
#endif

// take_rows(src, rows, indices, out) -> bool: out[i] = src[indices[i]] for the `rows` rows of a
// C-contiguous src (any dtype without Python objects; out holds len(indices) rows of the same size, indices are int64,
// negative ones counted from the end as NumPy does). A batch of a shuffled data set is a few
// hundred rows scattered over a large array, so the copy waits on memory, not on bandwidth: each row's
// cache lines are requested a few rows ahead (measured: a 200 x 784 float32 batch of a
// 42,000-row array, 65 us with NumPy's take, 39 us). False, with nothing raised, when an index is
// out of range: the caller's NumPy take then raises NumPy's own error.
PyObject* take_rows(PyObject*, PyObject* args) {
    PyObject *src_obj, *idx_obj, *out_obj;
    long long rows;
    if (!PyArg_ParseTuple(args, "OLOO", &src_obj, &rows, &idx_obj, &out_obj)) return nullptr;
    Buffer src, idx, out;
    if (!acquire(src_obj, src, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) return nullptr;
    if (src.view.format && std::strchr(src.view.format, 'O')) {  // Python objects: copies must count references
        PyErr_SetString(PyExc_TypeError, "take_rows: arrays of Python objects are not copied here");
        return nullptr;
    }
    if (!acquire(idx_obj, idx, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) ||
        !acquire(out_obj, out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE))
        return nullptr;
    const Py_ssize_t n = idx.view.itemsize == 8 ? idx.view.len / 8 : -1;
    const Py_ssize_t row = rows > 0 ? src.view.len / rows : 0;
    if (n < 0 || rows <= 0 || row * rows != src.view.len || out.view.len != n * row) {
        PyErr_SetString(PyExc_ValueError, "take_rows: src rows, int64 indices and out sizes do not agree");
        return nullptr;
    }
    const char* from = (const char*)src.view.buf;
    char* to = (char*)out.view.buf;
    const long long* at = (const long long*)idx.view.buf;
    bool ok = true;
    Py_BEGIN_ALLOW_THREADS
    const Py_ssize_t ahead = 4;  // rows requested before they are copied (2-8 measured alike)
    for (Py_ssize_t i = 0; ok && i < n; ++i) {
        if (i + ahead < n) {
            const long long j = at[i + ahead] < 0 ? at[i + ahead] + rows : at[i + ahead];
            if (j >= 0 && j < rows)
                for (Py_ssize_t o = 0; o < row; o += 64) __builtin_prefetch(from + j * row + o, 0, 0);
        }
        const long long j = at[i] < 0 ? at[i] + rows : at[i];  // negative: from the end, as NumPy
        if (j < 0 || j >= rows) ok = false;
        else std::memcpy(to + i * row, from + j * row, (size_t)row);
    }
    Py_END_ALLOW_THREADS
    return PyBool_FromLong(ok);
}

// use_vector_paths(flag) -> whether a vector path (AVX-512) exists on this CPU; flag False makes the
// helper take its scalar loops (for tests: both must give the same bits).
PyObject* use_vector_paths(PyObject*, PyObject* args) {
    int flag;
    if (!PyArg_ParseTuple(args, "p", &flag)) return nullptr;
    g_scalar_only = !flag;
#if defined(LAMINA_HAVE_AVX512)
    return PyBool_FromLong(has_avx512());
#else
    Py_RETURN_FALSE;
#endif
}

PyMethodDef methods[] = {
    {"tanh_grad", activation_grad<TanhGrad>, METH_VARARGS, "tanh_grad(y, g, out): out = g * (1 - y * y)."},
    {"relu_grad", activation_grad<ReluGrad>, METH_VARARGS, "relu_grad(y, g, out): out = g * (y > 0)."},
    {"sigmoid_prepare", sigmoid_pass<false>, METH_VARARGS, "sigmoid_prepare(x, e): e = -|x| (then np.exp(e, out=e))."},
    {"sigmoid_finish", sigmoid_pass<true>, METH_VARARGS, "sigmoid_finish(x, e): e = max(e, x >= 0) / (e + 1)."},
    {"lstm_gates", lstm_gates, METH_VARARGS, "lstm_gates(z, s, finish): the sigmoid passes of gates i, f, o."},
    {"lstm_carry", two_products<false>, METH_VARARGS, "lstm_carry(f, c, i, g, out): out = f * c + i * g."},
    {"gru_gates", gru_forward_pass<false>, METH_VARARGS, "gru_gates(x, inner, pre, e): pre = x + inner, e = -|pre|."},
    {"gru_candidate", gru_forward_pass<true>, METH_VARARGS, "gru_candidate(x, inner, r, out): x_h + r * inner_h."},
    {"gru_mix", two_products<true>, METH_VARARGS, "gru_mix(z, h, hh, out): out = z * h + (1 - z) * hh."},
    {"max_pool_grad", max_pool_grad, METH_VARARGS, "max_pool_grad(x, pooled, grad, dx, (kh, kw), (sh, sw))."},
    {"gru_cell_grad", gru_cell_grad, METH_VARARGS, "gru_cell_grad(z, r, hh, inner_h, h_prev, dh, dx, du, direct)."},
    {"lstm_cell_grad", lstm_cell_grad, METH_VARARGS, "lstm_cell_grad(i, f, g, o, tc, c, gh, gc, dz, dprev)."},
    {"use_vector_paths", use_vector_paths, METH_VARARGS, "use_vector_paths(flag) -> AVX-512 present."},
    {"sgd", sgd, METH_VARARGS, "sgd(params, grads, velocities, lr, momentum, mode) in place (mode 0/1/2)."},
    {"adam", adam, METH_VARARGS, "adam(params, grads, ms, vs, vhats, alpha, 1-b1, 1-b2, eps) in place."},
    {"adadelta", rho_rule<AdadeltaRule>, METH_VARARGS, "adadelta(params, grads, acc_grads, acc_deltas, lr, rho, 1-rho, eps) in place."},
    {"rmsprop", rho_rule<RmspropRule>, METH_VARARGS, "rmsprop(params, grads, velocities, lr, rho, 1-rho, eps) in place."},
    {"row_sum", row_reduce<false>, METH_VARARGS, "row_sum(x, out) -> bool: NumPy's sum of each short row (False: not all finite)."},
    {"row_max", row_reduce<true>, METH_VARARGS, "row_max(x, out) -> bool: each short row's maximum (False: NaN or zero met)."},
    {"argmax_equal", row_op<ArgmaxEqualOp>, METH_VARARGS, "argmax_equal(a, b, out, n) -> True: 1 where two rows' argmaxes agree."},
    {"softmax_grad", row_op<SoftmaxGradOp>, METH_VARARGS, "softmax_grad(y, g, out, n) -> bool: out = g*y - y*sum(g*y) per row."},
    {"ce_forward", row_op<CeForwardOp>, METH_VARARGS, "ce_forward(y, s, p, c, n, lo, hi) -> bool: s, y / s, clipped."},
    {"ce_loss", row_op<CeLossOp>, METH_VARARGS, "ce_loss(t, logp, per, n) -> bool: per = -sum(t * logp) per row."},
    {"ce_grad", row_op<CeGradOp>, METH_VARARGS, "ce_grad(t, g, s, p, c, out, n, lo, hi) -> bool: the loss's gradient."},
    {"take_rows", take_rows, METH_VARARGS, "take_rows(src, rows, indices, out) -> bool: gather rows."},
    {"dropout", dropout, METH_VARARGS, "dropout(out, k0, k1, d0, d1, d2, s, threshold, scale): fill a mask."},
    {"apply_dropout", apply_dropout, METH_VARARGS, "apply_dropout(x, mask, out, k0, k1, d0, d1, d2, s, threshold, scale) -> bool."},
#if defined(LAMINA_WITH_NUMPY)
    {"use_numpy_loops", use_numpy_loops, METH_VARARGS,
     "use_numpy_loops(numpy.tanh, numpy.exp, numpy.log) -> bool: keep their float loops."},
    {"ce_forward_loss", ce_forward_loss, METH_VARARGS,
     "ce_forward_loss(y, target, s, p, c, logp, per, n, lo, hi) -> bool: ce_forward, log, ce_loss."},
    {"dense_forward", dense_forward, METH_VARARGS, "dense_forward(y, bias, kind, mask, out, ...) -> (done_y, done_out)."},
#endif
    {"dense_grad", dense_grad, METH_VARARGS, "dense_grad(y, g, mask, kind, d, gb, zero_start) -> bool: d = act_grad(y, g * mask), gb = sum(d, 0)."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "lamina_numpy._kernels",
                      "Compiled optimizer updates and dropout masks (see _kernels.cpp).", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
