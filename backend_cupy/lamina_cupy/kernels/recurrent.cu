// Lamina CuPy backend: one LSTM or GRU time step, forward and backward, in one launch each instead
// of the ten to twenty launches of the base class's composition (docs/cupy.md).
//
// Loaded at run time by lamina_cupy (cupy.RawModule, compiled by NVRTC with --fmad=false); also
// compiles on its own with `nvcc -arch=sm_90 --ptx recurrent.cu`. No #include: NVRTC has no
// standard headers.
//
// The backward steps are plain arithmetic, written once below as __host__ __device__ functions of
// one element: the NumPy backend's compiled helper (backend_numpy/lamina_numpy/_kernels.cpp)
// includes this file as plain C++ and runs the same functions in its loops, so the CPU and the GPU
// share one definition, tested bit for bit against the base class on every machine. Each operation
// is rounded on its own, in the base composition's order (--fmad=false here, -ffp-contract=off
// there). The forward kernels also need exp and tanh: they use CUDA's expf/exp and tanhf/tanh in the
// formulas of activations.cu's sigmoid and CuPy's tanh. The sigmoid matches that kernel's bits; CuPy
// compiles its own tanh with FMA contraction allowed, so tanh may differ from the composition's in
// the last bit (the GPU test allows a few ulp), as any GPU's differs from NumPy's.
//
// Layout: a step's (batch, units) arrays are C-contiguous; z (LSTM, 4 blocks i, f, c, o) and the
// GRU's x, inner, dx and du (3 blocks z, r, h) are C-contiguous (batch, blocks * units). Outputs never
// overlap inputs (except an output that is an input element for element). The caller checks all of
// this and uses the generic code otherwise.

#if !defined(__CUDACC__) && !defined(__CUDACC_RTC__)
#define LAMINA_RECURRENT_HOST_ONLY 1
#ifndef __host__  // plain C++: the CUDA qualifiers mean nothing (optimizers.cu may have said so already)
#define __host__
#define __device__
#endif
#endif

typedef unsigned long long lamina_u64;

// --- LSTM step backward ---------------------------------------------------------------------------
// Element k of a step, column j of its row: i, f, g, o (gate activations), tc = tanh(c_new), c (the
// carry the step read), gh and gc (the gradients of h and c_new; HasGh / HasGc say which exist) at
// k; dz holds the row's four gate blocks i, f, c, o (column j of each is written); dprev[k] = dc * f:
//   dc = gh*o * (1 - tc*tc) [+ gc]      dz_o = gh*tc * (o * (1 - o))   (dc = gc, dz_o = 0 without gh)
//   dz_i = dc*g * (i * (1 - i))    dz_f = dc*c * (f * (1 - f))    dz_g = dc*i * (1 - g*g)
template <typename T, bool HasGh, bool HasGc>
__host__ __device__ inline void lamina_lstm_cell_grad_at(long long k, long long j, const T* __restrict__ i,
                                                         const T* __restrict__ f, const T* __restrict__ g,
                                                         const T* __restrict__ o, const T* __restrict__ tc,
                                                         const T* __restrict__ c, const T* __restrict__ gh,
                                                         const T* __restrict__ gc, T* __restrict__ dz_i,
                                                         T* __restrict__ dz_f, T* __restrict__ dz_g,
                                                         T* __restrict__ dz_o, T* __restrict__ dprev) {
    const T one = (T)1;
    T dc;
    if (HasGh) {
        const T through_h = gh[k] * o[k];
        dc = through_h * (one - tc[k] * tc[k]);
        if (HasGc) dc = dc + gc[k];
        dz_o[j] = (gh[k] * tc[k]) * (o[k] * (one - o[k]));
    } else {
        dc = gc[k];
        dz_o[j] = (T)0;
    }
    dz_i[j] = (dc * g[k]) * (i[k] * (one - i[k]));
    dz_f[j] = (dc * c[k]) * (f[k] * (one - f[k]));
    dz_g[j] = (dc * i[k]) * (one - g[k] * g[k]);
    dprev[k] = dc * f[k];
}

// --- GRU step backward (Keras' reset_after cell) ----------------------------------------------------
// Element k, column j: z, rg (the reset gate), hh (the candidate), h_prev, dh at k; inner_h is the
// row's h block of the recurrent product; dx_* and du_* are the row's blocks z, r, h of dx and du;
// direct[k] = dh * z:
//   dx_h = dh*(1 - z) * (1 - hh*hh)     du_z = dh*(h_prev - hh) * (z * (1 - z))
//   du_r = dx_h*inner_h * (r * (1 - r))    du_h = dx_h * r    dx_z, dx_r = du_z, du_r
template <typename T>
__host__ __device__ inline void lamina_gru_cell_grad_at(long long k, long long j, const T* __restrict__ z,
                                                        const T* __restrict__ rg, const T* __restrict__ hh,
                                                        const T* __restrict__ inner_h, const T* __restrict__ h_prev,
                                                        const T* __restrict__ dh, T* __restrict__ dx_z,
                                                        T* __restrict__ dx_r, T* __restrict__ dx_h,
                                                        T* __restrict__ du_z, T* __restrict__ du_r,
                                                        T* __restrict__ du_h, T* __restrict__ direct) {
    const T one = (T)1;
    const T d_pre_h = (dh[k] * (one - z[k])) * (one - hh[k] * hh[k]);
    const T d_z = (dh[k] * (h_prev[k] - hh[k])) * (z[k] * (one - z[k]));
    const T d_r = (d_pre_h * inner_h[j]) * (rg[k] * (one - rg[k]));
    dx_h[j] = d_pre_h;
    du_z[j] = d_z;
    dx_z[j] = d_z;
    du_r[j] = d_r;
    dx_r[j] = d_r;
    du_h[j] = d_pre_h * rg[k];
    direct[k] = dh[k] * z[k];
}

#if !defined(LAMINA_RECURRENT_HOST_ONLY)
// --- kernels: grid-stride over the n = batch * units elements of a step ------------------------------

#define LAMINA_FOR_EACH_CELL(k, n) \
    for (lamina_u64 k = (lamina_u64)blockIdx.x * blockDim.x + threadIdx.x; k < (n); \
         k += (lamina_u64)blockDim.x * gridDim.x)

// Overloads, so one template serves float and double.
__device__ inline float lamina_exp(float a) { return expf(a); }
__device__ inline double lamina_exp(double a) { return exp(a); }
__device__ inline float lamina_tanh(float a) { return tanhf(a); }
__device__ inline double lamina_tanh(double a) { return tanh(a); }
__device__ inline float lamina_abs(float a) { return fabsf(a); }
__device__ inline double lamina_abs(double a) { return fabs(a); }

// activations.cu's sigmoid: exp(-|x|), then 1 / (1 + e) for x >= 0 and e / (1 + e) below.
template <typename T>
__device__ inline T lamina_sigmoid_of(T x) {
    const T e = lamina_exp(-lamina_abs(x));
    const T d = (T)1 + e;
    return x >= (T)0 ? (T)1 / d : e / d;
}

// has: bit 0 = gh given, bit 1 = gc given (an absent one is any array of the right size: unread).
template <typename T>
__device__ inline void lamina_lstm_cell_grad_all(const T* i, const T* f, const T* g, const T* o, const T* tc,
                                                 const T* c, const T* gh, const T* gc, T* dz, T* dprev,
                                                 lamina_u64 n, lamina_u64 units, int has) {
    LAMINA_FOR_EACH_CELL(k, n) {
        const long long j = (long long)(k % units);
        T* row = dz + (k / units) * 4 * units;
        T *zi = row, *zf = row + units, *zg = row + 2 * units, *zo = row + 3 * units;
        if (has == 3) lamina_lstm_cell_grad_at<T, true, true>((long long)k, j, i, f, g, o, tc, c, gh, gc, zi, zf, zg, zo, dprev);
        else if (has == 1) lamina_lstm_cell_grad_at<T, true, false>((long long)k, j, i, f, g, o, tc, c, gh, gc, zi, zf, zg, zo, dprev);
        else lamina_lstm_cell_grad_at<T, false, true>((long long)k, j, i, f, g, o, tc, c, gh, gc, zi, zf, zg, zo, dprev);
    }
}

extern "C" __global__ void lamina_lstm_cell_grad_f32(const float* i, const float* f, const float* g, const float* o,
                                                     const float* tc, const float* c, const float* gh,
                                                     const float* gc, float* dz, float* dprev, lamina_u64 n,
                                                     lamina_u64 units, int has) {
    lamina_lstm_cell_grad_all<float>(i, f, g, o, tc, c, gh, gc, dz, dprev, n, units, has);
}

extern "C" __global__ void lamina_lstm_cell_grad_f64(const double* i, const double* f, const double* g,
                                                     const double* o, const double* tc, const double* c,
                                                     const double* gh, const double* gc, double* dz,
                                                     double* dprev, lamina_u64 n, lamina_u64 units, int has) {
    lamina_lstm_cell_grad_all<double>(i, f, g, o, tc, c, gh, gc, dz, dprev, n, units, has);
}

template <typename T>
__device__ inline void lamina_gru_cell_grad_all(const T* z, const T* r, const T* hh, const T* inner,
                                                const T* h_prev, const T* dh, T* dx, T* du, T* direct,
                                                lamina_u64 n, lamina_u64 units) {
    LAMINA_FOR_EACH_CELL(k, n) {
        const long long j = (long long)(k % units);
        const lamina_u64 at = (k / units) * 3 * units;  // row start in inner, dx and du
        T *x = dx + at, *u = du + at;
        lamina_gru_cell_grad_at<T>((long long)k, j, z, r, hh, inner + at + 2 * units, h_prev, dh, x, x + units,
                                   x + 2 * units, u, u + units, u + 2 * units, direct);
    }
}

extern "C" __global__ void lamina_gru_cell_grad_f32(const float* z, const float* r, const float* hh,
                                                    const float* inner, const float* h_prev, const float* dh,
                                                    float* dx, float* du, float* direct, lamina_u64 n,
                                                    lamina_u64 units) {
    lamina_gru_cell_grad_all<float>(z, r, hh, inner, h_prev, dh, dx, du, direct, n, units);
}

extern "C" __global__ void lamina_gru_cell_grad_f64(const double* z, const double* r, const double* hh,
                                                    const double* inner, const double* h_prev, const double* dh,
                                                    double* dx, double* du, double* direct, lamina_u64 n,
                                                    lamina_u64 units) {
    lamina_gru_cell_grad_all<double>(z, r, hh, inner, h_prev, dh, dx, du, direct, n, units);
}

// --- LSTM step forward: i, f, o = sigmoid, g = tanh, c_new = f c + i g, tc = tanh(c_new), h = o tc --
template <typename T>
__device__ inline void lamina_lstm_cell_forward_all(const T* z, const T* c, T* i, T* f, T* g, T* o, T* c_new,
                                                    T* tc, T* h, lamina_u64 n, lamina_u64 units) {
    LAMINA_FOR_EACH_CELL(k, n) {
        const T* row = z + (k / units) * 4 * units + k % units;
        const T ik = lamina_sigmoid_of(row[0]), fk = lamina_sigmoid_of(row[units]);
        const T gk = lamina_tanh(row[2 * units]), ok = lamina_sigmoid_of(row[3 * units]);
        const T ck = fk * c[k] + ik * gk;
        const T t = lamina_tanh(ck);
        i[k] = ik;
        f[k] = fk;
        g[k] = gk;
        o[k] = ok;
        c_new[k] = ck;
        tc[k] = t;
        h[k] = ok * t;
    }
}

extern "C" __global__ void lamina_lstm_cell_forward_f32(const float* z, const float* c, float* i, float* f, float* g,
                                                        float* o, float* c_new, float* tc, float* h, lamina_u64 n,
                                                        lamina_u64 units) {
    lamina_lstm_cell_forward_all<float>(z, c, i, f, g, o, c_new, tc, h, n, units);
}

extern "C" __global__ void lamina_lstm_cell_forward_f64(const double* z, const double* c, double* i, double* f,
                                                        double* g, double* o, double* c_new, double* tc, double* h,
                                                        lamina_u64 n, lamina_u64 units) {
    lamina_lstm_cell_forward_all<double>(z, c, i, f, g, o, c_new, tc, h, n, units);
}

// --- GRU step forward: z, r = sigmoid(x + inner), hh = tanh(x_h + r inner_h), h = z h + (1 - z) hh ----
template <typename T>
__device__ inline void lamina_gru_cell_forward_all(const T* x, const T* inner, const T* h, T* z, T* r, T* hh,
                                                   T* h_new, lamina_u64 n, lamina_u64 units) {
    LAMINA_FOR_EACH_CELL(k, n) {
        const lamina_u64 at = (k / units) * 3 * units + k % units;
        const T zk = lamina_sigmoid_of(x[at] + inner[at]);
        const T rk = lamina_sigmoid_of(x[at + units] + inner[at + units]);
        const T hk = lamina_tanh(x[at + 2 * units] + rk * inner[at + 2 * units]);
        z[k] = zk;
        r[k] = rk;
        hh[k] = hk;
        h_new[k] = zk * h[k] + ((T)1 - zk) * hk;
    }
}

extern "C" __global__ void lamina_gru_cell_forward_f32(const float* x, const float* inner, const float* h, float* z,
                                                       float* r, float* hh, float* h_new, lamina_u64 n,
                                                       lamina_u64 units) {
    lamina_gru_cell_forward_all<float>(x, inner, h, z, r, hh, h_new, n, units);
}

extern "C" __global__ void lamina_gru_cell_forward_f64(const double* x, const double* inner, const double* h,
                                                       double* z, double* r, double* hh, double* h_new, lamina_u64 n,
                                                       lamina_u64 units) {
    lamina_gru_cell_forward_all<double>(x, inner, h, z, r, hh, h_new, n, units);
}
#endif
