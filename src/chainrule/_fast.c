/* chainrule._fast: the fast path of Tensor's operators and the facade's ufuncs, in C.
 *
 * When no transformation watches a tensor, nothing requires its gradient and anomaly
 * detection is off, an operator has no graph to record: it is the NumPy call and a new
 * Tensor around the result. In Python that costs a frame and eight attribute stores, about
 * twice the NumPy call on small arrays; here it is one type check and one allocation.
 *
 * This file decides nothing. Every case it does not handle (a tracked operand, an error the
 * implementation raised, keyword arguments, lists) goes to the Python function that
 * core/tensor.py or numpy.py registered for it, which is the whole behaviour; the package
 * runs the same without this module (CHAINRULE_PURE_PYTHON=1, or no C compiler at install).
 *
 * What Python registers (setup(), called once by core/tensor.py):
 *   Tensor           the Python class; only its exact instances take the fast path
 *   tape_trace       the default trace of a new tensor, and its level
 *   state            core.trace.STATE, whose slot `anomaly` is read on every fast call
 *   plain            the classes the facade passes straight to NumPy (arrays, numbers)
 *   binary, unary: (implementation, Python fallback...) per operator
 *   reductions: (implementation, Python method, the same on an exact ndarray)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

typedef struct {
    PyObject_HEAD
    PyObject *value, *trace, *level, *node, *tangent, *requires_grad, *grad, *version;
    PyObject *weakrefs;
} TensorObject;

static PyTypeObject TensorBaseType;

/* --- what setup() registers ------------------------------------------------------------- */

enum { ADD, SUB, MUL, DIV, MATMUL, N_BINARY };
enum { NEG, ABS, N_UNARY };
enum { SUM, MEAN, PROD, MAX, MIN, N_REDUCTION };

static const char *binary_names[N_BINARY] = {"add", "sub", "mul", "truediv", "matmul"};
static const char *unary_names[N_UNARY] = {"neg", "abs"};
static const char *reduction_names[N_REDUCTION] = {"sum", "mean", "prod", "max", "min"};

static PyTypeObject *tensor_type;          /* NULL until setup(): everything goes slow */
static PyObject *tape_trace, *tape_level, *state;
static Py_ssize_t anomaly_offset = -1;     /* where STATE keeps `anomaly` (a __slots__ slot) */
static PyObject *str_anomaly;

#define MAX_PLAIN 32
static PyTypeObject *plain_types[MAX_PLAIN];
static int n_plain;

static PyObject *binary_impl[N_BINARY], *binary_left[N_BINARY], *binary_right[N_BINARY];
static PyObject *unary_impl[N_UNARY], *unary_slow[N_UNARY];
static PyObject *reduction_impl[N_REDUCTION], *reduction_slow[N_REDUCTION];
static PyObject *reduction_method[N_REDUCTION];   /* ndarray's own: on exact ndarrays */
static PyTypeObject *array_type;

/* --- the checks ------------------------------------------------------------------------- */

/* 1 when o is false, 0 when true, -1 on error. Most calls end at the first comparison. */
static inline int
is_false(PyObject *o)
{
    if (o == Py_False || o == Py_None || o == tape_level)
        return 1;
    if (o == Py_True)
        return 0;
    int r = PyObject_IsTrue(o);
    return r < 0 ? -1 : !r;
}

static inline int
anomaly_on(void)
{
    PyObject *flag;
    if (anomaly_offset >= 0) {
        flag = *(PyObject **)((char *)state + anomaly_offset);
        if (flag == Py_False)
            return 0;
        if (flag == NULL || flag == Py_True)
            return 1;
        Py_INCREF(flag);
    }
    else if ((flag = PyObject_GetAttr(state, str_anomaly)) == NULL) {
        PyErr_Clear();
        return 1;      /* cannot tell: the slow path checks */
    }
    int r = is_false(flag);
    Py_DECREF(flag);
    if (r < 0)
        PyErr_Clear();
    return r != 1;
}

/* A tensor the fast path may unwrap: exactly Tensor, at the tape's level, not requiring grad. */
static inline int
untracked(PyObject *o)
{
    if (!Py_IS_TYPE(o, tensor_type))
        return 0;
    TensorObject *t = (TensorObject *)o;
    if (t->value == NULL || t->level == NULL || t->requires_grad == NULL)
        return 0;
    int a = is_false(t->level), b = a == 1 ? is_false(t->requires_grad) : 0;
    if (a < 0 || b < 0) {
        PyErr_Clear();
        return 0;
    }
    return a == 1 && b == 1;
}

static inline int
is_plain(PyObject *o)
{
    PyTypeObject *type = Py_TYPE(o);
    for (int i = 0; i < n_plain; i++)
        if (plain_types[i] == type)
            return 1;
    return 0;
}

/* Errors after which the Python path must run: it converts, broadcasts or explains. */
static inline int
recoverable(void)
{
    return PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_TypeError)
           || PyErr_ExceptionMatches(PyExc_IndexError);
}

/* A new Tensor around `value` (a reference this function takes over). */
static PyObject *
wrap(PyObject *value)
{
    if (value == NULL)
        return NULL;
    TensorObject *t = (TensorObject *)tensor_type->tp_alloc(tensor_type, 0);
    if (t == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    t->value = value;
    t->trace = Py_NewRef(tape_trace);
    t->level = Py_NewRef(tape_level);
    t->node = Py_NewRef(Py_None);
    t->tangent = Py_NewRef(Py_None);
    t->requires_grad = Py_NewRef(Py_False);
    t->grad = Py_NewRef(Py_None);
    t->version = PyLong_FromLong(0);
    if (t->version == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static PyObject *
call2(PyObject *fn, PyObject *a, PyObject *b)
{
    PyObject *args[2] = {a, b};
    return PyObject_Vectorcall(fn, args, 2, NULL);
}

/* --- the operations ----------------------------------------------------------------------- */

/* a op b: untracked operands (tensors or anything else) go to impl at once; otherwise, or
 * if impl raised a recoverable error, left(a, b) when a is a tensor, else right(b, a). */
static PyObject *
binary_op(PyObject *a, PyObject *b, PyObject *impl, PyObject *left, PyObject *right)
{
    if (left == NULL)
        Py_RETURN_NOTIMPLEMENTED;
    int ta = PyObject_TypeCheck(a, &TensorBaseType), tb = PyObject_TypeCheck(b, &TensorBaseType);
    if ((!ta || untracked(a)) && (!tb || untracked(b)) && !anomaly_on()) {
        PyObject *args[2] = {ta ? ((TensorObject *)a)->value : a,
                             tb ? ((TensorObject *)b)->value : b};
        Py_INCREF(args[0]);   /* held for the call, whatever it does to the tensors */
        Py_INCREF(args[1]);
        PyObject *r = PyObject_Vectorcall(impl, args, 2, NULL);
        Py_DECREF(args[0]);
        Py_DECREF(args[1]);
        if (r != NULL)
            return wrap(r);
        if (!recoverable())
            return NULL;
        PyErr_Clear();
    }
    if (ta)
        return call2(left, a, b);
    if (tb)
        return call2(right, b, a);
    Py_RETURN_NOTIMPLEMENTED;
}

static PyObject *
unary_op(PyObject *a, PyObject *impl, PyObject *slow)
{
    if (slow == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "chainrule._fast: setup() was not called");
        return NULL;
    }
    if (untracked(a) && !anomaly_on()) {
        PyObject *value = Py_NewRef(((TensorObject *)a)->value);
        PyObject *r = PyObject_Vectorcall(impl, &value, 1, NULL);
        Py_DECREF(value);
        if (r != NULL)
            return wrap(r);
        if (!recoverable())
            return NULL;
        PyErr_Clear();
    }
    return PyObject_Vectorcall(slow, &a, 1, NULL);
}

#define BINARY_SLOT(fname, OP) \
    static PyObject *fname(PyObject *a, PyObject *b) \
    { return binary_op(a, b, binary_impl[OP], binary_left[OP], binary_right[OP]); }
BINARY_SLOT(tensor_add, ADD)
BINARY_SLOT(tensor_sub, SUB)
BINARY_SLOT(tensor_mul, MUL)
BINARY_SLOT(tensor_div, DIV)
BINARY_SLOT(tensor_matmul, MATMUL)

static PyObject *tensor_neg(PyObject *a) { return unary_op(a, unary_impl[NEG], unary_slow[NEG]); }
static PyObject *tensor_abs(PyObject *a) { return unary_op(a, unary_impl[ABS], unary_slow[ABS]); }

/* x.sum(*args, **kwargs): impl(value, *args, **kwargs) when untracked, else the Python method. */
#define MAX_REDUCTION_ARGS 8
static PyObject *
reduction(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int op)
{
    PyObject *slow = reduction_slow[op];
    if (slow == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "chainrule._fast: setup() was not called");
        return NULL;
    }
    Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    if (total >= MAX_REDUCTION_ARGS) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most 2 arguments (%zd given)",
                     reduction_names[op], total);
        return NULL;
    }
    PyObject *stack[MAX_REDUCTION_ARGS];
    stack[0] = self;
    for (Py_ssize_t i = 0; i < total; i++)
        stack[i + 1] = args[i];
    if (untracked(self) && !anomaly_on()) {
        stack[0] = Py_NewRef(((TensorObject *)self)->value);
        PyObject *impl = Py_IS_TYPE(stack[0], array_type) ? reduction_method[op] : reduction_impl[op];
        PyObject *r = PyObject_Vectorcall(impl, stack, nargs + 1, kwnames);
        Py_DECREF(stack[0]);
        if (r != NULL)
            return wrap(r);
        if (!recoverable())
            return NULL;
        PyErr_Clear();
        stack[0] = self;
    }
    return PyObject_Vectorcall(slow, stack, nargs + 1, kwnames);
}

#define REDUCTION_METHOD(fname, OP) \
    static PyObject *fname(PyObject *self, PyObject *const *args, Py_ssize_t n, PyObject *kw) \
    { return reduction(self, args, n, kw, OP); }
REDUCTION_METHOD(tensor_sum, SUM)
REDUCTION_METHOD(tensor_mean, MEAN)
REDUCTION_METHOD(tensor_prod, PROD)
REDUCTION_METHOD(tensor_max, MAX)
REDUCTION_METHOD(tensor_min, MIN)

/* --- TensorBase: the slots Tensor keeps, and the operators above ---------------------------- */

static int
tensor_traverse(TensorObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->value);
    Py_VISIT(self->trace);
    Py_VISIT(self->level);
    Py_VISIT(self->node);
    Py_VISIT(self->tangent);
    Py_VISIT(self->requires_grad);
    Py_VISIT(self->grad);
    Py_VISIT(self->version);
    return 0;
}

static int
tensor_clear(TensorObject *self)
{
    Py_CLEAR(self->value);
    Py_CLEAR(self->trace);
    Py_CLEAR(self->level);
    Py_CLEAR(self->node);
    Py_CLEAR(self->tangent);
    Py_CLEAR(self->requires_grad);
    Py_CLEAR(self->grad);
    Py_CLEAR(self->version);
    return 0;
}

/* The Python subclass's own dealloc (subtype_dealloc) visits and releases the class itself. */
static void
tensor_dealloc(TensorObject *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    tensor_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef tensor_members[] = {
    {"_value", T_OBJECT_EX, offsetof(TensorObject, value), 0, NULL},
    {"_trace", T_OBJECT_EX, offsetof(TensorObject, trace), 0, NULL},
    {"_level", T_OBJECT_EX, offsetof(TensorObject, level), 0, NULL},
    {"_node", T_OBJECT_EX, offsetof(TensorObject, node), 0, NULL},
    {"_tangent", T_OBJECT_EX, offsetof(TensorObject, tangent), 0, NULL},
    {"requires_grad", T_OBJECT_EX, offsetof(TensorObject, requires_grad), 0,
     "Whether backward() computes this tensor's gradient."},
    {"grad", T_OBJECT_EX, offsetof(TensorObject, grad), 0,
     "The gradient backward() left here (None before)."},
    {"_version", T_OBJECT_EX, offsetof(TensorObject, version), 0, NULL},
    {NULL}
};

static PyMethodDef tensor_methods[] = {
    {"sum", (PyCFunction)(void (*)(void))tensor_sum, METH_FASTCALL | METH_KEYWORDS,
     "sum(axis=None, keepdims=False): the sum of the elements (NumPy's sum), differentiable."},
    {"mean", (PyCFunction)(void (*)(void))tensor_mean, METH_FASTCALL | METH_KEYWORDS,
     "mean(axis=None, keepdims=False): the mean of the elements, differentiable."},
    {"prod", (PyCFunction)(void (*)(void))tensor_prod, METH_FASTCALL | METH_KEYWORDS,
     "prod(axis=None, keepdims=False): the product of the elements, differentiable."},
    {"max", (PyCFunction)(void (*)(void))tensor_max, METH_FASTCALL | METH_KEYWORDS,
     "max(axis=None, keepdims=False): the largest element; ties share the gradient."},
    {"min", (PyCFunction)(void (*)(void))tensor_min, METH_FASTCALL | METH_KEYWORDS,
     "min(axis=None, keepdims=False): the smallest element; ties share the gradient."},
    {NULL}
};

static PyNumberMethods tensor_as_number = {
    .nb_add = tensor_add,
    .nb_subtract = tensor_sub,
    .nb_multiply = tensor_mul,
    .nb_true_divide = tensor_div,
    .nb_matrix_multiply = tensor_matmul,
    .nb_negative = (unaryfunc)tensor_neg,
    .nb_absolute = (unaryfunc)tensor_abs,
};

static PyTypeObject TensorBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chainrule._fast.TensorBase",
    .tp_doc = "The storage and fast operators of chainrule's Tensor (core/tensor.py).",
    .tp_basicsize = sizeof(TensorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_dealloc = (destructor)tensor_dealloc,
    .tp_traverse = (traverseproc)tensor_traverse,
    .tp_clear = (inquiry)tensor_clear,
    .tp_weaklistoffset = offsetof(TensorObject, weakrefs),
    .tp_members = tensor_members,
    .tp_methods = tensor_methods,
    .tp_as_number = &tensor_as_number,
};

/* --- Ufunc: the facade's ufuncs (cnp.tanh, cnp.multiply, ...) -------------------------------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *dict;
    PyObject *target;    /* NumPy's ufunc: arrays and numbers go here */
    PyObject *impl;      /* the primitive's implementation: untracked tensors */
    PyObject *left;      /* tensor op: unary(x) or left(x1, x2) */
    PyObject *right;     /* right(x2, x1) for a plain x1 and a tensor x2 (binary only) */
    PyObject *python;    /* the Python function: everything else */
    int nin;
} UfuncObject;

static PyObject *
ufunc_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    UfuncObject *u = (UfuncObject *)self;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (kwnames == NULL && n == u->nin && tensor_type != NULL) {
        if (n == 1) {
            if (is_plain(args[0]))
                return PyObject_Vectorcall(u->target, args, 1, NULL);
            if (Py_IS_TYPE(args[0], tensor_type))
                return unary_op(args[0], u->impl, u->left);
        }
        else {
            int p1 = is_plain(args[0]), p2 = is_plain(args[1]);
            int t1 = Py_IS_TYPE(args[0], tensor_type), t2 = Py_IS_TYPE(args[1], tensor_type);
            if (p1 && p2)
                return PyObject_Vectorcall(u->target, args, 2, NULL);
            if ((t1 && (p2 || t2)) || (t2 && p1))
                return binary_op(args[0], args[1], u->impl, u->left, u->right);
        }
    }
    return PyObject_Vectorcall(u->python, args, nargsf, kwnames);
}

static PyObject *
ufunc_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"python", "target", "impl", "left", "right", NULL};
    PyObject *python, *target, *impl, *left, *right = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|O:Ufunc", names,
                                     &python, &target, &impl, &left, &right))
        return NULL;
    UfuncObject *u = (UfuncObject *)type->tp_alloc(type, 0);
    if (u == NULL)
        return NULL;
    u->vectorcall = ufunc_vectorcall;
    u->python = Py_NewRef(python);
    u->target = Py_NewRef(target);
    u->impl = Py_NewRef(impl);
    u->left = Py_NewRef(left);
    u->right = Py_NewRef(right);
    u->nin = right == Py_None ? 1 : 2;
    /* look like the Python function: name, doc, module, __wrapped__ */
    static const char *copied[] = {"__name__", "__qualname__", "__doc__", "__module__",
                                   "__wrapped__", NULL};
    u->dict = PyDict_New();
    if (u->dict == NULL) {
        Py_DECREF(u);
        return NULL;
    }
    for (int i = 0; copied[i] != NULL; i++) {
        PyObject *value = PyObject_GetAttrString(python, copied[i]);
        if (value == NULL) {
            PyErr_Clear();
            continue;
        }
        int failed = PyDict_SetItemString(u->dict, copied[i], value);
        Py_DECREF(value);
        if (failed) {
            Py_DECREF(u);
            return NULL;
        }
    }
    return (PyObject *)u;
}

static int
ufunc_traverse(UfuncObject *u, visitproc visit, void *arg)
{
    Py_VISIT(u->dict);
    Py_VISIT(u->target);
    Py_VISIT(u->impl);
    Py_VISIT(u->left);
    Py_VISIT(u->right);
    Py_VISIT(u->python);
    return 0;
}

static int
ufunc_clear(UfuncObject *u)
{
    Py_CLEAR(u->dict);
    Py_CLEAR(u->target);
    Py_CLEAR(u->impl);
    Py_CLEAR(u->left);
    Py_CLEAR(u->right);
    Py_CLEAR(u->python);
    return 0;
}

static void
ufunc_dealloc(UfuncObject *u)
{
    PyObject_GC_UnTrack(u);
    ufunc_clear(u);
    Py_TYPE(u)->tp_free((PyObject *)u);
}

static PyObject *
ufunc_repr(UfuncObject *u)
{
    PyObject *name = u->dict ? PyDict_GetItemString(u->dict, "__name__") : NULL;
    return name ? PyUnicode_FromFormat("<chainrule.numpy ufunc %U>", name)
                : PyUnicode_FromString("<chainrule.numpy ufunc>");
}

/* As a class attribute it binds like a function does. */
static PyObject *
ufunc_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *
ufunc_get_python(UfuncObject *u, void *closure)
{
    return Py_NewRef(u->python);
}

static PyGetSetDef ufunc_getset[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, NULL, NULL},
    {"python", (getter)ufunc_get_python, NULL, "The Python function behind this ufunc.", NULL},
    {NULL}
};

static PyTypeObject UfuncType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chainrule._fast.Ufunc",
    .tp_doc = "Ufunc(python, target, impl, left, right=None): one of the facade's ufuncs; "
              "plain arrays go to NumPy's ufunc `target`, untracked tensors to `impl`, "
              "everything else to the Python function `python`.",
    .tp_basicsize = sizeof(UfuncObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = ufunc_new,
    .tp_dealloc = (destructor)ufunc_dealloc,
    .tp_traverse = (traverseproc)ufunc_traverse,
    .tp_clear = (inquiry)ufunc_clear,
    .tp_repr = (reprfunc)ufunc_repr,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(UfuncObject, vectorcall),
    .tp_dictoffset = offsetof(UfuncObject, dict),
    .tp_descr_get = ufunc_get,
    .tp_getset = ufunc_getset,
};

/* --- arrays on 64-byte boundaries ------------------------------------------------------------
 *
 * malloc aligns to 16 bytes, so a large NumPy array starts anywhere within a 64-byte cache
 * line; a float32 loop over one that starts mid-line runs 5-35% slower (its vector loads
 * straddle two lines), and a W1 training step about 6% slower. NumPy lets a library choose
 * where array data comes from (NEP 49): a "mem_handler" capsule holding the functions below,
 * installed by PyDataMem_SetHandler for the current context. Each array keeps the handler
 * that allocated it and is freed by it, so arrays made before or after mix freely.
 *
 * Each block is malloc'd 64 bytes larger; the array starts at the first 64-byte boundary
 * past the block's start and the byte before it holds the distance back (1 to 64). Blocks
 * of 4 MiB and more are advised onto huge pages, as NumPy's own handler does. The structs
 * are NEP 49's (version 1), declared here so that the build needs no NumPy headers.
 */

#define ALIGNMENT 64
#define HUGE_PAGE_SIZE ((size_t)1 << 22)

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} DataAllocator;

typedef struct {
    char name[127];
    uint8_t version;
    DataAllocator allocator;
} DataHandler;

static int huge_pages = 1;     /* NUMPY_MADVISE_HUGEPAGE=0 turns it off, as for NumPy */

/* The aligned address inside `block` (NULL stays NULL), with its distance stored before it. */
static void *
aligned_in(void *block, size_t size)
{
    if (block == NULL)
        return NULL;
    uintptr_t start = ((uintptr_t)block + ALIGNMENT) & ~(uintptr_t)(ALIGNMENT - 1);
    ((unsigned char *)start)[-1] = (unsigned char)(start - (uintptr_t)block);
#ifdef MADV_HUGEPAGE
    if (huge_pages && size >= HUGE_PAGE_SIZE) {
        uintptr_t page = (start + 4095) & ~(uintptr_t)4095;
        madvise((void *)page, size - (page - start), MADV_HUGEPAGE);
    }
#endif
    return (void *)start;
}

static void *
block_of(void *ptr)
{
    return (unsigned char *)ptr - ((unsigned char *)ptr)[-1];
}

static void *
aligned_malloc(void *ctx, size_t size)
{
    if (size > SIZE_MAX - ALIGNMENT)
        return NULL;
    return aligned_in(malloc(size + ALIGNMENT), size);
}

static void *
aligned_calloc(void *ctx, size_t nelem, size_t elsize)
{
    if (elsize != 0 && nelem > (SIZE_MAX - ALIGNMENT) / elsize)
        return NULL;
    size_t size = nelem * elsize;
    return aligned_in(calloc(size + ALIGNMENT, 1), size);   /* calloc: fresh pages stay lazy */
}

static void *
aligned_realloc(void *ctx, void *ptr, size_t new_size)
{
    if (ptr == NULL)
        return aligned_malloc(ctx, new_size);
    if (new_size > SIZE_MAX - ALIGNMENT)
        return NULL;
    size_t before = ((unsigned char *)ptr)[-1];
    unsigned char *block = realloc(block_of(ptr), new_size + ALIGNMENT);
    if (block == NULL)
        return NULL;              /* the old block is untouched, as realloc promises */
    unsigned char *start = (unsigned char *)(((uintptr_t)block + ALIGNMENT)
                                             & ~(uintptr_t)(ALIGNMENT - 1));
    if ((size_t)(start - block) != before)   /* the block moved to another offset: follow it */
        memmove(start, block + before, new_size);
    return aligned_in(block, new_size);      /* the same address; now its distance byte */
}

static void
aligned_free(void *ctx, void *ptr, size_t size)
{
    if (ptr != NULL)
        free(block_of(ptr));
}

static DataHandler aligned_handler = {
    "chainrule_aligned64", 1,
    {NULL, aligned_malloc, aligned_calloc, aligned_realloc, aligned_free},
};

/* NumPy's C-API table (the _ARRAY_API capsule of its multiarray module), or NULL. */
static void **
numpy_api(void)
{
    static const char *modules[] = {"numpy._core._multiarray_umath",
                                    "numpy.core._multiarray_umath", NULL};
    for (int i = 0; modules[i] != NULL; i++) {
        PyObject *module = PyImport_ImportModule(modules[i]);
        if (module == NULL) {
            PyErr_Clear();
            continue;
        }
        PyObject *capsule = PyObject_GetAttrString(module, "_ARRAY_API");
        Py_DECREF(module);
        if (capsule == NULL) {
            PyErr_Clear();
            continue;
        }
        void **api = PyCapsule_GetPointer(capsule, NULL);
        Py_DECREF(capsule);
        if (api != NULL)
            return api;
        PyErr_Clear();
    }
    return NULL;
}

/* Indices in NumPy's C-API table, fixed by its ABI (numpy/__multiarray_api.h). */
enum { API_FEATURE_VERSION = 211, API_SET_HANDLER = 304, API_DEFAULT_HANDLER = 306 };
#define NUMPY_1_22_FEATURES 0x0f   /* the first with PyDataMem_SetHandler */

static PyObject *
align_arrays(PyObject *module, PyObject *on)
{
    int enable = PyObject_IsTrue(on);
    if (enable < 0)
        return NULL;
    void **api = numpy_api();
    if (api == NULL || ((unsigned int (*)(void))api[API_FEATURE_VERSION])() < NUMPY_1_22_FEATURES)
        Py_RETURN_FALSE;          /* an old NumPy: arrays stay where malloc puts them */
    PyObject *(*set_handler)(PyObject *) = (PyObject *(*)(PyObject *))api[API_SET_HANDLER];
    const char *setting = getenv("NUMPY_MADVISE_HUGEPAGE");
    huge_pages = setting == NULL || strcmp(setting, "0") != 0;
    PyObject *handler = enable ? PyCapsule_New(&aligned_handler, "mem_handler", NULL)
                               : Py_NewRef(*(PyObject **)api[API_DEFAULT_HANDLER]);
    if (handler == NULL)
        return NULL;
    PyObject *previous = set_handler(handler);
    Py_DECREF(handler);
    if (previous == NULL)
        return NULL;
    Py_DECREF(previous);
    Py_RETURN_TRUE;
}

/* --- setup ------------------------------------------------------------------------------- */

/* table[name] -> a tuple of `width` objects, stored into the arrays in `columns`. */
static int
read_table(PyObject *table, const char **names, int count, int width, PyObject **columns[])
{
    for (int i = 0; i < count; i++) {
        PyObject *row = PyDict_GetItemString(table, names[i]);
        if (row == NULL || !PyTuple_Check(row) || PyTuple_GET_SIZE(row) != width) {
            PyErr_Format(PyExc_ValueError, "chainrule._fast.setup: '%s' needs a tuple of %d",
                         names[i], width);
            return -1;
        }
        for (int j = 0; j < width; j++)
            Py_XSETREF(columns[j][i], Py_NewRef(PyTuple_GET_ITEM(row, j)));
    }
    return 0;
}

static PyObject *
setup(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"tensor", "tape_trace", "tape_level", "state", "plain", "array",
                            "binary", "unary", "reductions", NULL};
    PyObject *tensor, *trace, *level, *st, *plain, *array, *binary, *unary, *reductions;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOOOO!O!O!O!:setup", names,
                                     &PyType_Type, &tensor, &trace, &level, &st, &plain,
                                     &PyType_Type, &array,
                                     &PyDict_Type, &binary, &PyDict_Type, &unary,
                                     &PyDict_Type, &reductions))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)tensor, &TensorBaseType)) {
        PyErr_SetString(PyExc_TypeError, "chainrule._fast.setup: tensor must subclass TensorBase");
        return NULL;
    }
    PyObject **binary_columns[] = {binary_impl, binary_left, binary_right};
    PyObject **unary_columns[] = {unary_impl, unary_slow};
    PyObject **reduction_columns[] = {reduction_impl, reduction_slow, reduction_method};
    if (read_table(binary, binary_names, N_BINARY, 3, binary_columns) < 0
        || read_table(unary, unary_names, N_UNARY, 2, unary_columns) < 0
        || read_table(reductions, reduction_names, N_REDUCTION, 3, reduction_columns) < 0)
        return NULL;

    PyObject *seq = PySequence_Fast(plain, "chainrule._fast.setup: plain must be iterable");
    if (seq == NULL)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) > MAX_PLAIN) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "chainrule._fast.setup: too many plain classes");
        return NULL;
    }
    n_plain = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *cls = PySequence_Fast_GET_ITEM(seq, i);
        if (PyType_Check(cls))
            plain_types[n_plain++] = (PyTypeObject *)Py_NewRef(cls);   /* kept for good */
    }
    Py_DECREF(seq);

    /* STATE.anomaly is a __slots__ slot: read it by its offset, not by attribute lookup */
    anomaly_offset = -1;
    PyObject *descr = _PyType_Lookup(Py_TYPE(st), str_anomaly);
    if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX)
            anomaly_offset = member->offset;
    }
    Py_XSETREF(tensor_type, (PyTypeObject *)Py_NewRef(tensor));
    Py_XSETREF(array_type, (PyTypeObject *)Py_NewRef(array));
    Py_XSETREF(tape_trace, Py_NewRef(trace));
    Py_XSETREF(tape_level, Py_NewRef(level));
    Py_XSETREF(state, Py_NewRef(st));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"align_arrays", (PyCFunction)align_arrays, METH_O,
     "align_arrays(on): NumPy arrays made from now on (in this context) start on 64-byte "
     "boundaries (on) or where NumPy's own allocator puts them (off); whether NumPy allows it."},
    {"setup", (PyCFunction)(void (*)(void))setup, METH_VARARGS | METH_KEYWORDS,
     "setup(tensor, tape_trace, tape_level, state, plain, array, binary, unary, reductions): "
     "register the Python side (called once by chainrule.core.tensor)."},
    {NULL}
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "chainrule._fast",
    "The fast path of Tensor's operators and the facade's ufuncs, in C (see _fast.c).",
    -1, module_methods,
};

PyMODINIT_FUNC
PyInit__fast(void)
{
    if (PyType_Ready(&TensorBaseType) < 0 || PyType_Ready(&UfuncType) < 0)
        return NULL;
    str_anomaly = PyUnicode_InternFromString("anomaly");
    if (str_anomaly == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "TensorBase", (PyObject *)&TensorBaseType) < 0
        || PyModule_AddObjectRef(m, "Ufunc", (PyObject *)&UfuncType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
