// Lamina CuPy backend: fused in-place optimizer updates, one launch per parameter or per
// eight float32 parameters.
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

// --- Adadelta ------------------------------------------------------------------------------------
// a = rho a + (1 - rho) g^2; d = sqrt(D + eps) g / sqrt(a + eps); D = rho D + (1 - rho) d^2;
// p -= lr d. Base order: a *= rho; a += (g g) c; d = (sqrt(D + eps) g) / sqrt(a + eps); D *= rho;
// D += (d d) c; p -= d lr, with c = 1 - rho rounded to T by the caller.
template <typename T>
__host__ __device__ inline void lamina_adadelta_step(T* param, const T* grad, T* acc_grad, T* acc_delta, lamina_u64 n,
                                                     T lr, T rho, T one_minus_rho, T epsilon) {
    LAMINA_FOR_EACH(i, n) {
        const T g = grad[i];
        const T a = lm_add(lm_mul(acc_grad[i], rho), lm_mul(lm_mul(g, g), one_minus_rho));
        const T d = lm_div(lm_mul(lm_sqrt(lm_add(acc_delta[i], epsilon)), g), lm_sqrt(lm_add(a, epsilon)));
        acc_grad[i] = a;
        acc_delta[i] = lm_add(lm_mul(acc_delta[i], rho), lm_mul(lm_mul(d, d), one_minus_rho));
        param[i] = lm_sub(param[i], lm_mul(d, lr));
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

extern "C" __global__ void lamina_adadelta_f32(float* param, const float* grad, float* acc_grad, float* acc_delta,
                                               lamina_u64 n, float lr, float rho, float one_minus_rho,
                                               float epsilon) {
    lamina_adadelta_step(param, grad, acc_grad, acc_delta, n, lr, rho, one_minus_rho, epsilon);
}

extern "C" __global__ void lamina_adadelta_f64(double* param, const double* grad, double* acc_grad,
                                               double* acc_delta, lamina_u64 n, double lr, double rho,
                                               double one_minus_rho, double epsilon) {
    lamina_adadelta_step(param, grad, acc_grad, acc_delta, n, lr, rho, one_minus_rho, epsilon);
}
#endif  // !LAMINA_OPTIMIZERS_HOST_ONLY


// --- several parameters per launch ---------------------------------------------------------------
// One launch updates up to eight float32 parameters with one rule: slot k (its arrays and element
// count n<k>) belongs to the blocks with blockIdx.y == k, and each plane runs the one-parameter
// step above, grid-stride over its own parameter, so the results are those kernels' bit for bit.
// rule 0, SGD: u = velocity, a = lr, b = momentum, flag = mode.
// rule 1, Adam: u, v, w = m, v, vhat; a = alpha, b = 1 - beta_1, c = 1 - beta_2, d = epsilon,
//         flag = amsgrad.
// rule 2, RMSprop: u = velocity; a = lr, b = rho, c = 1 - rho, d = epsilon.
// Arrays a rule does not read are any valid array (the caller passes the parameter). The caller
// launches gridDim.y = the number of slots in use (the others repeat slot 0 with n = 0) and splits
// longer lists over several launches. float64 parameters take the one-parameter kernels.
// The slots are spelled out so that the signature stays readable (and parseable by the tests).
template <typename T>
__host__ __device__ inline void lamina_update_one(int rule, int flag, T* p, const T* g, T* u, T* v, T* w,
                                                  lamina_u64 n, T a, T b, T c, T d) {
    if (rule == 0)
        lamina_sgd_step(p, g, u, n, a, b, flag);
    else if (rule == 1)
        lamina_adam_step(p, g, u, v, w, n, a, b, c, d, flag);
    else
        lamina_rmsprop_step(p, g, u, n, a, b, c, d);
}

#if !defined(LAMINA_OPTIMIZERS_HOST_ONLY)
#define LAMINA_SLOT(k) \
    case k:            \
        lamina_update_one(rule, flag, p##k, g##k, u##k, v##k, w##k, n##k, a, b, c, d); \
        break

extern "C" __global__ void lamina_update_many_f32(
    float* p0, const float* g0, float* u0, float* v0, float* w0, lamina_u64 n0,
    float* p1, const float* g1, float* u1, float* v1, float* w1, lamina_u64 n1,
    float* p2, const float* g2, float* u2, float* v2, float* w2, lamina_u64 n2,
    float* p3, const float* g3, float* u3, float* v3, float* w3, lamina_u64 n3,
    float* p4, const float* g4, float* u4, float* v4, float* w4, lamina_u64 n4,
    float* p5, const float* g5, float* u5, float* v5, float* w5, lamina_u64 n5,
    float* p6, const float* g6, float* u6, float* v6, float* w6, lamina_u64 n6,
    float* p7, const float* g7, float* u7, float* v7, float* w7, lamina_u64 n7,
    float a, float b, float c, float d, int rule, int flag) {
    switch (blockIdx.y) {
        LAMINA_SLOT(0);
        LAMINA_SLOT(1);
        LAMINA_SLOT(2);
        LAMINA_SLOT(3);
        LAMINA_SLOT(4);
        LAMINA_SLOT(5);
        LAMINA_SLOT(6);
        LAMINA_SLOT(7);
    }
}
#undef LAMINA_SLOT
#endif  // !LAMINA_OPTIMIZERS_HOST_ONLY
