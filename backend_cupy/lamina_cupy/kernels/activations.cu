// Lamina CuPy backend: element-wise activations that the generic CuPy code does in several launches.
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC); also compiles on its own
// with `nvcc -arch=sm_90 --ptx activations.cu`. No #include: NVRTC has no standard headers, and
// expf/exp/erf are built into both compilers.
//
// Inputs and outputs are C-contiguous arrays of n elements of one dtype (the caller checks).

typedef unsigned long long lamina_u64;

#define LAMINA_FOR_EACH(i, n) \
    for (lamina_u64 i = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (lamina_u64)blockDim.x * gridDim.x)

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

// --- tanh_grad: g * (1 - y * y), tanh's gradient from its output ------------------------------
// One launch instead of square, subtract and multiply; each operation rounded on its own (the
// *_rn intrinsics, never a fused multiply-add), so the bits are those of the three separate ops
// and of the NumPy backend.
extern "C" __global__ void lamina_tanh_grad_f32(const float* y, const float* g, float* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) {
        float yi = y[i];
        out[i] = __fmul_rn(g[i], __fsub_rn(1.0f, __fmul_rn(yi, yi)));
    }
}

extern "C" __global__ void lamina_tanh_grad_f64(const double* y, const double* g, double* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) {
        double yi = y[i];
        out[i] = __dmul_rn(g[i], __dsub_rn(1.0, __dmul_rn(yi, yi)));
    }
}

// --- relu_grad: g * (y > 0), relu's gradient from its output -------------------------------------
// One launch instead of compare, cast and multiply; the same multiply by 1 or 0, so the bits are those
// of the three ops (0 times a negative g is -0; a NaN or infinite g stays NaN where it meets 0).
extern "C" __global__ void lamina_relu_grad_f32(const float* y, const float* g, float* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = __fmul_rn(g[i], y[i] > 0.0f ? 1.0f : 0.0f); }
}

extern "C" __global__ void lamina_relu_grad_f64(const double* y, const double* g, double* out, lamina_u64 n) {
    LAMINA_FOR_EACH(i, n) { out[i] = __dmul_rn(g[i], y[i] > 0.0 ? 1.0 : 0.0); }
}
