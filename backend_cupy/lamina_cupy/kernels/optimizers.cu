// Lamina CuPy backend: fused in-place optimizer updates, one launch per parameter.
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC); also compiles on its own
// with `nvcc -arch=sm_90 --ptx optimizers.cu`. No #include: NVRTC has no standard headers.
//
// Each kernel performs exactly the operations of the shared base implementation
// (lamina/backends/base.py), in the same order, every one rounded on its own (the *_rn
// intrinsics are never contracted into a fused multiply-add). Scalars arrive already rounded to
// the parameter's dtype by the caller, as NumPy rounds them. With IEEE division and square root
// (NVRTC's defaults) the results are therefore the NumPy backend's, bit for bit.
//
// All arrays are C-contiguous, of one shape and one dtype (the caller checks, and otherwise uses
// the generic CuPy code). The __global__ functions are extern "C" (no name mangling) with a float
// and a double variant each, so CuPy needs no name_expressions.
//
// The update steps are also plain C++ where no CUDA compiler is at work: the NumPy backend's
// compiled helper (backend_numpy/lamina_numpy/_kernels.cpp) includes this file, so CPU and GPU
// run one definition of each update. There every operation is an ordinary IEEE operation, which
// rounds on its own as long as the compiler does not contract a*b+c into a fused multiply-add:
// the helper is built with -ffp-contract=off.

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#ifndef __host__
#define __host__
#endif
#ifndef __device__
#define __device__
#endif
#define LAMINA_OPTIMIZERS_HOST_ONLY 1
#endif

typedef unsigned long long lamina_u64;

// Separately rounded arithmetic, overloaded for float and double.
#if defined(LAMINA_OPTIMIZERS_HOST_ONLY)
template <typename T> inline T lm_add(T a, T b) { return a + b; }
template <typename T> inline T lm_sub(T a, T b) { return a - b; }
template <typename T> inline T lm_mul(T a, T b) { return a * b; }
template <typename T> inline T lm_div(T a, T b) { return a / b; }
// GCC/Clang builtins (correctly rounded, like sqrtf/sqrt) instead of <cmath>: this file must
// stay free of #include, which NVRTC cannot resolve.
inline float lm_sqrt(float a) { return __builtin_sqrtf(a); }
inline double lm_sqrt(double a) { return __builtin_sqrt(a); }
#else
__device__ inline float lm_add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline float lm_sub(float a, float b) { return __fsub_rn(a, b); }
__device__ inline float lm_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline float lm_div(float a, float b) { return __fdiv_rn(a, b); }
__device__ inline float lm_sqrt(float a) { return __fsqrt_rn(a); }
__device__ inline double lm_add(double a, double b) { return __dadd_rn(a, b); }
__device__ inline double lm_sub(double a, double b) { return __dsub_rn(a, b); }
__device__ inline double lm_mul(double a, double b) { return __dmul_rn(a, b); }
__device__ inline double lm_div(double a, double b) { return __ddiv_rn(a, b); }
__device__ inline double lm_sqrt(double a) { return __dsqrt_rn(a); }
#endif

// NumPy's maximum: NaN wins.
template <typename T>
__host__ __device__ inline T lm_maximum(T a, T b) {
    if (a != a) return a;
    if (b != b) return b;
    return a >= b ? a : b;
}

#if defined(LAMINA_OPTIMIZERS_HOST_ONLY)
#define LAMINA_FOR_EACH(i, n) for (lamina_u64 i = 0; i < (n); ++i)
#else
#define LAMINA_FOR_EACH(i, n) \
    for (lamina_u64 i = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (lamina_u64)blockDim.x * gridDim.x)
#endif

// --- SGD -----------------------------------------------------------------------------------------
// mode 0: p -= lr g                                   (velocity is not read; pass any array)
// mode 1: v = m v - lr g; p += v                      (momentum)
// mode 2: v = m v - lr g; p += m v - lr g             (Nesterov)
// Base order: v *= m; step = g lr; v -= step; then p += v, or p += v m; p -= step.
template <typename T>
__host__ __device__ inline void lamina_sgd_step(T* param, const T* grad, T* velocity, lamina_u64 n, T lr,
                                       T momentum, int mode) {
    LAMINA_FOR_EACH(i, n) {
        T g = grad[i];
        T p = param[i];
        if (mode == 0) {
            param[i] = lm_sub(p, lm_mul(lr, g));
            continue;
        }
        T step = lm_mul(g, lr);
        T v = lm_sub(lm_mul(velocity[i], momentum), step);
        velocity[i] = v;
        if (mode == 2) {
            p = lm_add(p, lm_mul(v, momentum));
            p = lm_sub(p, step);
        } else {
            p = lm_add(p, v);
        }
        param[i] = p;
    }
}

#if !defined(LAMINA_OPTIMIZERS_HOST_ONLY)
extern "C" __global__ void lamina_sgd_f32(float* param, const float* grad, float* velocity,
                                          lamina_u64 n, float lr, float momentum, int mode) {
    lamina_sgd_step(param, grad, velocity, n, lr, momentum, mode);
}

extern "C" __global__ void lamina_sgd_f64(double* param, const double* grad, double* velocity,
                                          lamina_u64 n, double lr, double momentum, int mode) {
    lamina_sgd_step(param, grad, velocity, n, lr, momentum, mode);
}
#endif

// --- Adam / AMSGrad ------------------------------------------------------------------------------
// m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); with amsgrad: vhat = max(vhat, v), used for v;
// p -= alpha m / (sqrt(v) + eps). one_minus_b1 = 1 - b1 and one_minus_b2 = 1 - b2 are computed
// in double and rounded to T by the caller, as the base code does. Without amsgrad, vhat is not
// read (pass any array).
template <typename T>
__host__ __device__ inline void lamina_adam_step(T* param, const T* grad, T* m, T* v, T* vhat, lamina_u64 n,
                                        T alpha, T one_minus_b1, T one_minus_b2, T epsilon,
                                        int amsgrad) {
    LAMINA_FOR_EACH(i, n) {
        T g = grad[i];
        T mi = lm_add(m[i], lm_mul(lm_sub(g, m[i]), one_minus_b1));
        T vi = lm_add(v[i], lm_mul(lm_sub(lm_mul(g, g), v[i]), one_minus_b2));
        m[i] = mi;
        v[i] = vi;
        T second = vi;
        if (amsgrad) {
            second = lm_maximum(vhat[i], vi);
            vhat[i] = second;
        }
        T denom = lm_add(lm_sqrt(second), epsilon);
        param[i] = lm_sub(param[i], lm_div(lm_mul(alpha, mi), denom));
    }
}

#if !defined(LAMINA_OPTIMIZERS_HOST_ONLY)
extern "C" __global__ void lamina_adam_f32(float* param, const float* grad, float* m, float* v,
                                           float* vhat, lamina_u64 n, float alpha,
                                           float one_minus_b1, float one_minus_b2, float epsilon,
                                           int amsgrad) {
    lamina_adam_step(param, grad, m, v, vhat, n, alpha, one_minus_b1, one_minus_b2, epsilon,
                     amsgrad);
}

extern "C" __global__ void lamina_adam_f64(double* param, const double* grad, double* m, double* v,
                                           double* vhat, lamina_u64 n, double alpha,
                                           double one_minus_b1, double one_minus_b2,
                                           double epsilon, int amsgrad) {
    lamina_adam_step(param, grad, m, v, vhat, n, alpha, one_minus_b1, one_minus_b2, epsilon,
                     amsgrad);
}
#endif

// --- RMSprop -------------------------------------------------------------------------------------
// v = rho v + (1 - rho) g^2; p -= lr g / sqrt(v + eps). Base order: v *= rho; v += c (g g);
// p -= (lr g) / sqrt(v + eps), with c = 1 - rho rounded to T by the caller.
template <typename T>
__host__ __device__ inline void lamina_rmsprop_step(T* param, const T* grad, T* velocity, lamina_u64 n,
                                           T lr, T rho, T one_minus_rho, T epsilon) {
    LAMINA_FOR_EACH(i, n) {
        T g = grad[i];
        T vi = lm_add(lm_mul(velocity[i], rho), lm_mul(one_minus_rho, lm_mul(g, g)));
        velocity[i] = vi;
        param[i] = lm_sub(param[i], lm_div(lm_mul(lr, g), lm_sqrt(lm_add(vi, epsilon))));
    }
}

#if !defined(LAMINA_OPTIMIZERS_HOST_ONLY)
extern "C" __global__ void lamina_rmsprop_f32(float* param, const float* grad, float* velocity,
                                              lamina_u64 n, float lr, float rho,
                                              float one_minus_rho, float epsilon) {
    lamina_rmsprop_step(param, grad, velocity, n, lr, rho, one_minus_rho, epsilon);
}

extern "C" __global__ void lamina_rmsprop_f64(double* param, const double* grad, double* velocity,
                                              lamina_u64 n, double lr, double rho,
                                              double one_minus_rho, double epsilon) {
    lamina_rmsprop_step(param, grad, velocity, n, lr, rho, one_minus_rho, epsilon);
}
#endif  // !LAMINA_OPTIMIZERS_HOST_ONLY
