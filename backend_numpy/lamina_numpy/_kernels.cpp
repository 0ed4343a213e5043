// lamina_numpy._kernels: the NumPy backend's compiled helper.
//
// The hot element-wise work of a training step that NumPy can only do one pass per ufunc: the
// optimizer updates (one pass over each parameter instead of five or six) and dropout masks
// (Philox words made and turned into the mask in one pass, with no uint64 temporary). The
// arithmetic is not written here: it is the CUDA backend's own (kernels/philox.cu and
// kernels/optimizers.cu compile as plain C++ too), so the CPU and GPU run one definition and
// agree bit for bit. Built at install time when a C++ compiler is there (setup.py, optional);
// without it lamina_numpy uses its NumPy code, which gives the same bits.
//
// Arrays arrive through the buffer protocol (no NumPy headers needed to build): C-contiguous,
// float32 ('f') or float64 ('d'), of one length; anything else raises TypeError/ValueError and
// the Python caller falls back. The GIL is released while a loop runs.

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "philox.cu"
#include "optimizers.cu"

namespace {

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

bool take(PyObject* obj, Buffer& buf, const char* what) {
    if (PyObject_GetBuffer(obj, &buf.view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a writable C-contiguous array", what);
        return false;
    }
    buf.held = true;
    if (!buf.kind()) {
        PyErr_Format(PyExc_TypeError, "%s must be float32 or float64, got format '%s'", what,
                     buf.view.format ? buf.view.format : "?");
        return false;
    }
    return true;
}

// Every buffer has the first one's dtype and length.
bool same(const Buffer& first, const Buffer& other, const char* what) {
    if (other.kind() != first.kind() || other.size() != first.size()) {
        PyErr_Format(PyExc_ValueError, "%s must match the parameter's dtype and size", what);
        return false;
    }
    return true;
}

// sgd(param, grad, velocity or None, lr, momentum, mode): mode 0 plain, 1 momentum, 2 Nesterov.
PyObject* sgd(PyObject*, PyObject* args) {
    PyObject *p_obj, *g_obj, *v_obj;
    double lr, momentum;
    int mode;
    if (!PyArg_ParseTuple(args, "OOOddi", &p_obj, &g_obj, &v_obj, &lr, &momentum, &mode)) return nullptr;
    Buffer p, g, v;
    if (!take(p_obj, p, "param") || !take(g_obj, g, "grad") || !same(p, g, "grad")) return nullptr;
    if (mode != 0 && (!take(v_obj, v, "velocity") || !same(p, v, "velocity"))) return nullptr;
    lamina_u64 n = p.size();
    Py_BEGIN_ALLOW_THREADS
    if (p.kind() == 'f') {
        lamina_sgd_step((float*)p.view.buf, (const float*)g.view.buf, mode ? (float*)v.view.buf : nullptr,
                        n, (float)lr, (float)momentum, mode);
    } else {
        lamina_sgd_step((double*)p.view.buf, (const double*)g.view.buf, mode ? (double*)v.view.buf : nullptr,
                        n, lr, momentum, mode);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// adam(param, grad, m, v, vhat or None, alpha, 1 - beta_1, 1 - beta_2, epsilon)
PyObject* adam(PyObject*, PyObject* args) {
    PyObject *p_obj, *g_obj, *m_obj, *v_obj, *h_obj;
    double alpha, c1, c2, eps;
    if (!PyArg_ParseTuple(args, "OOOOOdddd", &p_obj, &g_obj, &m_obj, &v_obj, &h_obj, &alpha, &c1, &c2, &eps))
        return nullptr;
    Buffer p, g, m, v, h;
    if (!take(p_obj, p, "param") || !take(g_obj, g, "grad") || !same(p, g, "grad") || !take(m_obj, m, "m") ||
        !same(p, m, "m") || !take(v_obj, v, "v") || !same(p, v, "v"))
        return nullptr;
    int amsgrad = h_obj != Py_None;
    if (amsgrad && (!take(h_obj, h, "vhat") || !same(p, h, "vhat"))) return nullptr;
    lamina_u64 n = p.size();
    Py_BEGIN_ALLOW_THREADS
    if (p.kind() == 'f') {
        lamina_adam_step((float*)p.view.buf, (const float*)g.view.buf, (float*)m.view.buf, (float*)v.view.buf,
                         amsgrad ? (float*)h.view.buf : nullptr, n, (float)alpha, (float)c1, (float)c2,
                         (float)eps, amsgrad);
    } else {
        lamina_adam_step((double*)p.view.buf, (const double*)g.view.buf, (double*)m.view.buf,
                         (double*)v.view.buf, amsgrad ? (double*)h.view.buf : nullptr, n, alpha, c1, c2, eps,
                         amsgrad);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// rmsprop(param, grad, velocity, lr, rho, 1 - rho, epsilon)
PyObject* rmsprop(PyObject*, PyObject* args) {
    PyObject *p_obj, *g_obj, *v_obj;
    double lr, rho, c, eps;
    if (!PyArg_ParseTuple(args, "OOOdddd", &p_obj, &g_obj, &v_obj, &lr, &rho, &c, &eps)) return nullptr;
    Buffer p, g, v;
    if (!take(p_obj, p, "param") || !take(g_obj, g, "grad") || !same(p, g, "grad") ||
        !take(v_obj, v, "velocity") || !same(p, v, "velocity"))
        return nullptr;
    lamina_u64 n = p.size();
    Py_BEGIN_ALLOW_THREADS
    if (p.kind() == 'f') {
        lamina_rmsprop_step((float*)p.view.buf, (const float*)g.view.buf, (float*)v.view.buf, n, (float)lr,
                            (float)rho, (float)c, (float)eps);
    } else {
        lamina_rmsprop_step((double*)p.view.buf, (const double*)g.view.buf, (double*)v.view.buf, n, lr, rho, c,
                            eps);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

// dropout(out, k0, k1, d0, d1, d2, threshold, scale): out[i] = scale or 0 by the keep rule.
PyObject* dropout(PyObject*, PyObject* args) {
    PyObject* out_obj;
    unsigned long long k0, k1, d0, d1, d2, threshold;
    double scale;
    if (!PyArg_ParseTuple(args, "OKKKKKKd", &out_obj, &k0, &k1, &d0, &d1, &d2, &threshold, &scale))
        return nullptr;
    Buffer out;
    if (!take(out_obj, out, "out")) return nullptr;
    lamina_u64 n = out.size(), blocks = (n + 7) / 8;  // eight elements per Philox block
    bool single = out.kind() == 'f';
    Py_BEGIN_ALLOW_THREADS
    if (single) {
        float* o = (float*)out.view.buf;
        for (lamina_u64 b = 0; b < blocks; ++b)
            lamina_philox_fill_dropout_f32(k0, k1, d0, d1, d2, b, n, o, threshold, (float)scale);
    } else {
        double* o = (double*)out.view.buf;
        for (lamina_u64 b = 0; b < blocks; ++b)
            lamina_philox_fill_dropout_f64(k0, k1, d0, d1, d2, b, n, o, threshold, scale);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"sgd", sgd, METH_VARARGS, "sgd(param, grad, velocity, lr, momentum, mode) in place (mode 0/1/2)."},
    {"adam", adam, METH_VARARGS, "adam(param, grad, m, v, vhat, alpha, 1-b1, 1-b2, eps) in place."},
    {"rmsprop", rmsprop, METH_VARARGS, "rmsprop(param, grad, velocity, lr, rho, 1-rho, eps) in place."},
    {"dropout", dropout, METH_VARARGS, "dropout(out, k0, k1, d0, d1, d2, threshold, scale): fill a mask."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "lamina_numpy._kernels",
                      "Compiled optimizer updates and dropout masks (see _kernels.cpp).", -1, methods,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
