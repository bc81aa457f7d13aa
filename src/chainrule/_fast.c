/* chainrule._fast: the fast path of Tensor's operators and the facade's ufuncs, in C; with
 * it the common cases of bind (Bind, installed as Primitive.__call__), the reverse pass's loop
 * (drain) and NumPy arrays on 64-byte boundaries (align_arrays), each described where it is.
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
 *   state            core.trace.STATE, whose slots `anomaly`, `grad_enabled` and `changes`
 *                    (the in-place clock) are read by offset
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
static Py_ssize_t changes_offset = -1;     /* and `changes`, the in-place clock */
static PyObject *str_anomaly, *str_changes;

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

/* --- Primitive.__call__: core/trace.py's bind, its two common cases in C ---------------------
 *
 * Calling a primitive runs bind. When no argument is a Tensor (the rules of a first-order
 * reverse pass, whose values are plain arrays) it is the implementation and nothing else;
 * when the tensors are all the tape's (level 0) it is the implementation on their values,
 * and a new tensor around the result, with a graph node when one of them requires grad and
 * gradients are recorded. Both are done here, without a Python frame for bind; traced
 * values, anomaly detection and errors (which bind explains) go to the Python bind.
 */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *python;     /* core.trace.bind */
    PyObject *node_type;  /* core.tensor.Node */
} BindObject;

static PyObject *str_impl, *str_differentiable, *str_grad_enabled;
static Py_ssize_t grad_enabled_offset = -1;

static inline int
grad_enabled(void)
{
    PyObject *flag = grad_enabled_offset >= 0 ? *(PyObject **)((char *)state + grad_enabled_offset)
                                              : NULL;
    return flag == Py_True ? 1 : flag == Py_False ? 0 : -1;
}

/* A Tensor on the tape around `value` (taken over), recorded by `node` (taken over). */
static PyObject *
recorded(PyObject *value, PyObject *node)
{
    PyObject *t = wrap(value);
    if (t == NULL) {
        Py_DECREF(node);
        return NULL;
    }
    Py_SETREF(((TensorObject *)t)->node, node);
    Py_SETREF(((TensorObject *)t)->requires_grad, Py_NewRef(Py_True));
    return t;
}

static PyObject *
bind_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    BindObject *b = (BindObject *)self;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    if (n < 1 || tensor_type == NULL || anomaly_on())
        goto python;
    int tensors = 0, record = 0;
    for (Py_ssize_t i = 1; i < n; i++) {
        if (!Py_IS_TYPE(args[i], tensor_type))
            continue;
        TensorObject *t = (TensorObject *)args[i];
        if (t->value == NULL || t->level == NULL || t->requires_grad == NULL
            || is_false(t->level) != 1)
            goto python;                     /* traced by a transformation, or odd */
        int needs = is_false(t->requires_grad);
        if (needs < 0) {
            PyErr_Clear();
            goto python;
        }
        tensors = 1;
        record |= !needs;
    }
    PyObject *impl = PyObject_GetAttr(args[0], str_impl);
    if (impl == NULL)
        return NULL;
    PyObject *out;
    if (!tensors) {
        out = PyObject_Vectorcall(impl, args + 1, n - 1, kwnames);
    }
    else {
        /* the values under the tensors, then the keyword values, as vectorcall lays them out */
        Py_ssize_t total = n - 1 + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
        PyObject *small[16], **call = total <= 16 ? small : PyMem_Malloc(total * sizeof(PyObject *));
        if (call == NULL) {
            Py_DECREF(impl);
            return PyErr_NoMemory();
        }
        for (Py_ssize_t i = 1; i <= total; i++)
            call[i - 1] = i < n && Py_IS_TYPE(args[i], tensor_type)
                              ? ((TensorObject *)args[i])->value : args[i];
        out = PyObject_Vectorcall(impl, call, n - 1, kwnames);
        if (call != small)
            PyMem_Free(call);
    }
    Py_DECREF(impl);
    if (out == NULL) {
        if (!recoverable())
            return NULL;
        PyErr_Clear();                       /* bind runs it again and explains the error */
        goto python;
    }
    if (!tensors)
        return out;
    if (record) {
        int enabled = grad_enabled();
        PyObject *flag = enabled == 1 ? PyObject_GetAttr(args[0], str_differentiable) : NULL;
        int differentiable = flag ? PyObject_IsTrue(flag) : 0;
        Py_XDECREF(flag);
        if (enabled < 0 || differentiable < 0) {
            Py_DECREF(out);
            PyErr_Clear();
            goto python;
        }
        if (differentiable) {                /* Node(prim, args, params, out) */
            PyObject *inputs = PyTuple_New(n - 1), *params = PyDict_New(), *node = NULL;
            if (inputs != NULL && params != NULL) {
                for (Py_ssize_t i = 1; i < n; i++)
                    PyTuple_SET_ITEM(inputs, i - 1, Py_NewRef(args[i]));
                Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0, k = 0;
                for (; k < nkw; k++)
                    if (PyDict_SetItem(params, PyTuple_GET_ITEM(kwnames, k), args[n + k]) < 0)
                        break;
                if (k == nkw) {
                    PyObject *nargs[4] = {args[0], inputs, params, out};
                    node = PyObject_Vectorcall(b->node_type, nargs, 4, NULL);
                }
            }
            Py_XDECREF(inputs);
            Py_XDECREF(params);
            if (node == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            return recorded(out, node);
        }
    }
    return wrap(out);
python:
    return PyObject_Vectorcall(b->python, args, nargsf, kwnames);
}

static PyObject *
bind_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"python", "node", NULL};
    PyObject *python, *node_type;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO:Bind", names, &python, &node_type))
        return NULL;
    BindObject *b = (BindObject *)type->tp_alloc(type, 0);
    if (b == NULL)
        return NULL;
    b->vectorcall = bind_vectorcall;
    b->python = Py_NewRef(python);
    b->node_type = Py_NewRef(node_type);
    return (PyObject *)b;
}

static int
bind_traverse(BindObject *b, visitproc visit, void *arg)
{
    Py_VISIT(b->python);
    Py_VISIT(b->node_type);
    return 0;
}

static int
bind_clear(BindObject *b)
{
    Py_CLEAR(b->python);
    Py_CLEAR(b->node_type);
    return 0;
}

static void
bind_dealloc(BindObject *b)
{
    PyObject_GC_UnTrack(b);
    bind_clear(b);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyObject *
bind_get_python(BindObject *b, void *closure)
{
    return Py_NewRef(b->python);
}

static PyGetSetDef bind_getset[] = {
    {"python", (getter)bind_get_python, NULL, "The Python bind behind this one.", NULL},
    {NULL}
};

static PyTypeObject BindType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "chainrule._fast.Bind",
    .tp_doc = "Bind(python, node): Primitive.__call__, the common cases of core.trace.bind "
              "(`python`) in C; `node` is the graph node class.",
    .tp_basicsize = sizeof(BindObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
                | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_new = bind_new,
    .tp_dealloc = (destructor)bind_dealloc,
    .tp_traverse = (traverseproc)bind_traverse,
    .tp_clear = (inquiry)bind_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(BindObject, vectorcall),
    .tp_descr_get = ufunc_get,
    .tp_getset = bind_getset,
};

/* --- float buffers: what the array helpers below take ------------------------------------------ */

/* 'd' or 'f' for a buffer of native float64 or float32, 0 for any other type. */
static char
float_kind(const Py_buffer *view)
{
    const char *format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@')
        format++;
    return format[1] == '\0' && (*format == 'd' || *format == 'f') ? *format : 0;
}

/* A float64/float32 matrix's buffer (writable if asked), or 0 with no exception for anything
 * else: the caller answers None and Python decides. */
static int
float_matrix(PyObject *a, Py_buffer *view, int writable, char *kind)
{
    if (PyObject_GetBuffer(a, view, PyBUF_RECORDS_RO | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        PyErr_Clear();
        return 0;
    }
    *kind = float_kind(view);
    if (view->ndim != 2 || *kind == 0) {
        PyBuffer_Release(view);
        return 0;
    }
    return 1;
}

/* A C-contiguous float64/float32 buffer (writable if asked) whose kind is `want` ('d' or 'f';
 * 0: either), or 0 with no exception and nothing held for anything else. */
static char
contiguous_floats(PyObject *a, Py_buffer *view, int writable, char want)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(a, view, flags) < 0) {
        PyErr_Clear();
        return 0;
    }
    char kind = float_kind(view);
    if (kind == 0 || (want != 0 && kind != want)) {
        PyBuffer_Release(view);
        return 0;
    }
    return kind;
}

/* --- is a matrix exactly symmetric? -----------------------------------------------------------
 *
 * ops/_factor.py factorizes a matrix by Cholesky when it equals its transpose exactly. Comparing
 * a[i, j] with a[j, i] reads one of them a whole row apart; done block by block, both blocks
 * stay in cache: 20-30 µs for 256×256 where NumPy's blockwise comparison costs 150-170.
 * Blocks of 16: rows a power of two bytes apart fall into few cache sets, and four blocks of
 * 32 (two read, two written) no longer fit them (measured at 256×256: 16 is 1.5-1.7x quicker).
 * float64 and float32 matrices (any strides); None for anything else (Python decides).
 */

#define SYMMETRY_BLOCK 16

#define SYMMETRIC_LOOP(T)                                                                   \
    for (Py_ssize_t bi = 0; bi < n && same_all; bi += SYMMETRY_BLOCK)                       \
        for (Py_ssize_t bj = bi; bj < n && same_all; bj += SYMMETRY_BLOCK)                  \
            for (Py_ssize_t i = bi; i < bi + SYMMETRY_BLOCK && i < n && same_all; i++)      \
                for (Py_ssize_t j = bj > i + 1 ? bj : i + 1;                                \
                     j < bj + SYMMETRY_BLOCK && j < n; j++)                                 \
                    if (*(T *)(data + i * s0 + j * s1) != *(T *)(data + j * s0 + i * s1)) { \
                        same_all = 0;                                                       \
                        break;                                                              \
                    }

static PyObject *
symmetric(PyObject *module, PyObject *a)
{
    Py_buffer view;
    char kind;
    if (!float_matrix(a, &view, 0, &kind))
        Py_RETURN_NONE;
    PyObject *result = Py_None;
    if (view.shape[0] == view.shape[1]) {
        const char *data = view.buf;
        Py_ssize_t n = view.shape[0], s0 = view.strides[0], s1 = view.strides[1];
        int same_all = 1;      /* NaN != NaN: a matrix with a NaN off the diagonal is not */
        Py_BEGIN_ALLOW_THREADS
        if (kind == 'd') {
            SYMMETRIC_LOOP(double)
        }
        else {
            SYMMETRIC_LOOP(float)
        }
        Py_END_ALLOW_THREADS
        result = same_all ? Py_True : Py_False;
    }
    PyBuffer_Release(&view);
    return Py_NewRef(result);
}

/* --- the other triangle, and diagonal matrices ------------------------------------------------
 *
 * LAPACK's inverse from a Cholesky factor (potri) fills one triangle; the rules need the whole
 * symmetric matrix. Copying the lower triangle onto the upper block by block (both blocks in
 * cache): about 20 µs at 256×256 where NumPy's blockwise copies cost 60-120.
 *
 * The same blocks give a + aᵀ (the Gram rule's C̄ + C̄ᵀ, sym(M) in the matrix rules) in
 * 30-50 µs at 256×256 where NumPy's `a + a.T` (a stride of a whole row) costs 150-200.
 *
 * A solve's right-hand side that is diagonal (the cotangent of a trace) turns a product with
 * the inverse into a column scaling; `diagonal_only` answers whether every entry off the main
 * diagonal is zero, stopping at the first that is not (a dense matrix costs nothing to refuse).
 */

#define MIRROR_LOOP(T)                                                                      \
    for (Py_ssize_t bi = 0; bi < n; bi += SYMMETRY_BLOCK)                                   \
        for (Py_ssize_t bj = bi; bj < n; bj += SYMMETRY_BLOCK)                              \
            for (Py_ssize_t i = bi; i < bi + SYMMETRY_BLOCK && i < n; i++)                  \
                for (Py_ssize_t j = bj > i + 1 ? bj : i + 1;                                \
                     j < bj + SYMMETRY_BLOCK && j < n; j++)                                 \
                    *(T *)(data + i * s0 + j * s1) = *(T *)(data + j * s0 + i * s1);

#define DIAGONAL_LOOP(T)                                                                    \
    for (Py_ssize_t i = 0; i < rows && zero_off; i++)                                       \
        for (Py_ssize_t j = 0; j < cols; j++)                                               \
            if (i != j && *(const T *)(data + i * s0 + j * s1) != 0) {                      \
                zero_off = 0;                                                               \
                break;                                                                      \
            }

#define ADD_TRANSPOSE_LOOP(T)                                                               \
    for (Py_ssize_t bi = 0; bi < n; bi += SYMMETRY_BLOCK)                                   \
        for (Py_ssize_t bj = bi; bj < n; bj += SYMMETRY_BLOCK)                              \
            for (Py_ssize_t i = bi; i < bi + SYMMETRY_BLOCK && i < n; i++)                  \
                for (Py_ssize_t j = bj > i ? bj : i; j < bj + SYMMETRY_BLOCK && j < n; j++) { \
                    T sum = *(const T *)(in + i * s0 + j * s1)                              \
                            + *(const T *)(in + j * s0 + i * s1);                           \
                    *(T *)(res + i * r0 + j * r1) = sum;                                    \
                    *(T *)(res + j * r0 + i * r1) = sum;                                    \
                }

#define COPY_LOOP(T)                                                                        \
    for (Py_ssize_t bi = 0; bi < rows; bi += SYMMETRY_BLOCK)                                \
        for (Py_ssize_t bj = 0; bj < cols; bj += SYMMETRY_BLOCK)                            \
            for (Py_ssize_t i = bi; i < bi + SYMMETRY_BLOCK && i < rows; i++)               \
                for (Py_ssize_t j = bj; j < bj + SYMMETRY_BLOCK && j < cols; j++)           \
                    *(T *)(res + i * r0 + j * r1) = *(const T *)(in + i * s0 + j * s1);

static PyObject *
mirror_lower(PyObject *module, PyObject *a)
{
    Py_buffer view;
    char kind;
    if (!float_matrix(a, &view, 1, &kind))
        Py_RETURN_NONE;
    if (view.shape[0] != view.shape[1]) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    char *data = view.buf;
    Py_ssize_t n = view.shape[0], s0 = view.strides[0], s1 = view.strides[1];
    Py_BEGIN_ALLOW_THREADS
    if (kind == 'd') {
        MIRROR_LOOP(double)
    }
    else {
        MIRROR_LOOP(float)
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_TRUE;
}

/* The first and one past the last byte a 2-D buffer's elements span (strides of either sign). */
static void
extent(const Py_buffer *view, const char **low, const char **high)
{
    const char *start = view->buf, *end = view->buf;
    for (int axis = 0; axis < 2; axis++) {
        Py_ssize_t reach = (view->shape[axis] - 1) * view->strides[axis];
        if (reach < 0)
            start += reach;
        else
            end += reach;
    }
    *low = start;
    *high = end + view->itemsize;
}

static int
overlap(const Py_buffer *a, const Py_buffer *b)
{
    const char *a_low, *a_high, *b_low, *b_high;
    if (a->shape[0] == 0 || a->shape[1] == 0 || b->shape[0] == 0 || b->shape[1] == 0)
        return 0;
    extent(a, &a_low, &a_high);
    extent(b, &b_low, &b_high);
    return a_low < b_high && b_low < a_high;
}

/* out = a + aᵀ (`transpose_added`, a square) or out[...] = a, for float64/float32 matrices `a`
 * and `out` of one shape and type in any layouts (`out` writable, its span of memory apart
 * from a's); None, with nothing written, for anything else. The copy turns C order into
 * Fortran order for LAPACK: 25-35 µs at 256×256 where NumPy's copy, a stride of a row,
 * costs 145. */
static PyObject *
into_matrix(PyObject *const *args, Py_ssize_t nargs, const char *usage, int transpose_added)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s takes two arrays", usage);
        return NULL;
    }
    Py_buffer view, into;
    char kind, out_kind;
    if (!float_matrix(args[0], &view, 0, &kind))
        Py_RETURN_NONE;
    if (!float_matrix(args[1], &into, 1, &out_kind)) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    PyObject *result = Py_None;
    Py_ssize_t rows = view.shape[0], cols = view.shape[1], n = rows;
    if (kind == out_kind && into.shape[0] == rows && into.shape[1] == cols
        && !overlap(&view, &into) && (!transpose_added || rows == cols)) {
        const char *in = view.buf;
        char *res = into.buf;
        Py_ssize_t s0 = view.strides[0], s1 = view.strides[1];
        Py_ssize_t r0 = into.strides[0], r1 = into.strides[1];
        Py_BEGIN_ALLOW_THREADS
        if (transpose_added && kind == 'd') {
            ADD_TRANSPOSE_LOOP(double)
        }
        else if (transpose_added) {
            ADD_TRANSPOSE_LOOP(float)
        }
        else if (kind == 'd') {
            COPY_LOOP(double)
        }
        else {
            COPY_LOOP(float)
        }
        Py_END_ALLOW_THREADS
        result = Py_True;
    }
    PyBuffer_Release(&into);
    PyBuffer_Release(&view);
    return Py_NewRef(result);
}

static PyObject *
add_transpose(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return into_matrix(args, nargs, "add_transpose(a, out)", 1);
}

static PyObject *
copy_into(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return into_matrix(args, nargs, "copy_into(a, out)", 0);
}

static PyObject *
diagonal_only(PyObject *module, PyObject *a)
{
    Py_buffer view;
    char kind;
    if (!float_matrix(a, &view, 0, &kind))
        Py_RETURN_NONE;
    const char *data = view.buf;
    Py_ssize_t rows = view.shape[0], cols = view.shape[1], s0 = view.strides[0],
               s1 = view.strides[1];
    int zero_off = 1;          /* NaN != 0: a NaN off the diagonal is not zero */
    Py_BEGIN_ALLOW_THREADS
    if (kind == 'd') {
        DIAGONAL_LOOP(double)
    }
    else {
        DIAGONAL_LOOP(float)
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_NewRef(zero_off ? Py_True : Py_False);
}

/* --- y += αx in one pass ----------------------------------------------------------------------
 *
 * An optimizer's step, w -= lr·g, in NumPy is two passes: a temporary lr·g, then the
 * subtraction (reading w, the temporary, writing w). For W1's 270,000 float32 weights the
 * single pass (read w and g, write w) takes about half as long: 30 against 54 µs a step.
 * Tensor.add_/sub_ with `alpha` use it; the product is rounded to the tensor's type before
 * the sum, as NumPy's two passes round it (setup.py builds with -ffp-contract=off, so the
 * compiler fuses nothing into an FMA either), and the answer is the same to the last bit.
 * Both buffers C-contiguous, of one type (float64/float32) and one shape, y writable and
 * either the very buffer x is or apart from it; None, with nothing written, for anything else.
 */

/* Four at a time, the buffers declared apart (restrict): the compiler makes vector code of
 * the group at -O2. On x86-64 Linux (glibc) with GCC or Clang, a second copy is compiled for
 * AVX2 and the loader picks it where the processor has it (target_clones, an ifunc): NumPy's
 * own loops use AVX2, and with SSE2 alone the single pass is no quicker than NumPy's two.
 * y += αy, one buffer, goes through the plain loop (restrict would lie). */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) \
    && (defined(__GNUC__) || defined(__clang__))
#define WIDER_VECTORS __attribute__((target_clones("avx2", "default")))
#else
#define WIDER_VECTORS
#endif
#ifdef _MSC_VER                   /* C99's restrict, by the name MSVC knows in C89 mode too */
#define RESTRICT __restrict
#else
#define RESTRICT restrict
#endif

#define AXPY_FUNCTION(name, T)                                                              \
    static void WIDER_VECTORS                                                               \
    name(T *RESTRICT y, const T *RESTRICT x, T alpha, Py_ssize_t count)                     \
    {                                                                                       \
        Py_ssize_t i = 0;                                                                   \
        for (; i + 4 <= count; i += 4) {                                                    \
            y[i] += alpha * x[i];                                                           \
            y[i + 1] += alpha * x[i + 1];                                                   \
            y[i + 2] += alpha * x[i + 2];                                                   \
            y[i + 3] += alpha * x[i + 3];                                                   \
        }                                                                                   \
        for (; i < count; i++)                                                              \
            y[i] += alpha * x[i];                                                           \
    }

AXPY_FUNCTION(axpy_double, double)
AXPY_FUNCTION(axpy_float, float)

#define AXPY_SELF(T)                                                                        \
    {                                                                                       \
        T *y = into.buf, scale = (T)alpha;                                                  \
        for (Py_ssize_t i = 0; i < count; i++)                                              \
            y[i] += scale * y[i];                                                           \
    }

static int
same_shape(const Py_buffer *a, const Py_buffer *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int axis = 0; axis < a->ndim; axis++)
        if (a->shape[axis] != b->shape[axis])
            return 0;
    return 1;
}

/* Whether two buffers share no byte. */
static int
apart(const Py_buffer *a, const Py_buffer *b)
{
    const char *a_low = a->buf, *b_low = b->buf;
    return a_low + a->len <= b_low || b_low + b->len <= a_low;
}

static PyObject *
axpy(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "axpy(y, x, alpha) takes two arrays and a number");
        return NULL;
    }
    double alpha = PyFloat_AsDouble(args[2]);
    if (alpha == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_buffer view, into;
    char kind = contiguous_floats(args[1], &view, 0, 0);
    if (kind == 0)
        Py_RETURN_NONE;
    if (!contiguous_floats(args[0], &into, 1, kind)) {
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    const char *x_low = view.buf, *y_low = into.buf;
    PyObject *result = Py_None;
    if (same_shape(&view, &into) && (x_low == y_low || apart(&view, &into))) {
        Py_ssize_t count = into.len / into.itemsize;
        Py_BEGIN_ALLOW_THREADS
        if (x_low == y_low && kind == 'd')
            AXPY_SELF(double)
        else if (x_low == y_low)
            AXPY_SELF(float)
        else if (kind == 'd')
            axpy_double(into.buf, view.buf, alpha, count);
        else
            axpy_float(into.buf, view.buf, (float)alpha, count);
        Py_END_ALLOW_THREADS
        result = Py_True;
    }
    PyBuffer_Release(&into);
    PyBuffer_Release(&view);
    return Py_NewRef(result);
}

/* --- g·[y > 0]: relu's backward in one pass ---------------------------------------------------
 *
 * relu's rules (and the fused dense layer's, for relu) pass a cotangent where the output is
 * positive: g·[y > 0]. NumPy does it as two loops, a boolean mask and a float × bool product
 * whose mixed types go through a slow conversion: 12-13 µs for W1's 128×256 float32 layer,
 * 6 µs through this (the call and the output's allocation included). The product is kept
 * (not a select) so that the answer is NumPy's to the last bit: g·1 where y > 0, g·0
 * elsewhere (-0.0 for a negative g, NaN for an infinite or NaN one).
 * The comparison can raise the invalid flag on a NaN, so GCC needs -fno-trapping-math (setup.py)
 * before it makes vector code of the loop. All three buffers C-contiguous, of one type and one
 * shape, `out` writable and apart from the other two; None, with nothing written, otherwise.
 */

#define MASK_POSITIVE_FUNCTION(name, T)                                                     \
    static void WIDER_VECTORS                                                               \
    name(T *RESTRICT out, const T *RESTRICT g, const T *RESTRICT y, Py_ssize_t count)       \
    {                                                                                       \
        Py_ssize_t i = 0;                                                                   \
        for (; i + 4 <= count; i += 4) {                                                    \
            out[i] = g[i] * (T)(y[i] > 0);                                                  \
            out[i + 1] = g[i + 1] * (T)(y[i + 1] > 0);                                      \
            out[i + 2] = g[i + 2] * (T)(y[i + 2] > 0);                                      \
            out[i + 3] = g[i + 3] * (T)(y[i + 3] > 0);                                      \
        }                                                                                   \
        for (; i < count; i++)                                                              \
            out[i] = g[i] * (T)(y[i] > 0);                                                  \
    }

MASK_POSITIVE_FUNCTION(mask_positive_double, double)
MASK_POSITIVE_FUNCTION(mask_positive_float, float)

static PyObject *
mask_positive(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "mask_positive(out, g, y) takes three arrays");
        return NULL;
    }
    Py_buffer out, g, y;
    char kind = contiguous_floats(args[0], &out, 1, 0);
    if (kind == 0)
        Py_RETURN_NONE;
    if (!contiguous_floats(args[1], &g, 0, kind)) {
        PyBuffer_Release(&out);
        Py_RETURN_NONE;
    }
    if (!contiguous_floats(args[2], &y, 0, kind)) {
        PyBuffer_Release(&g);
        PyBuffer_Release(&out);
        Py_RETURN_NONE;
    }
    PyObject *result = Py_None;
    if (same_shape(&out, &g) && same_shape(&out, &y) && apart(&out, &g) && apart(&out, &y)) {
        Py_ssize_t count = out.len / out.itemsize;
        Py_BEGIN_ALLOW_THREADS
        if (kind == 'd')
            mask_positive_double(out.buf, g.buf, y.buf, count);
        else
            mask_positive_float(out.buf, g.buf, y.buf, count);
        Py_END_ALLOW_THREADS
        result = Py_True;
    }
    PyBuffer_Release(&y);
    PyBuffer_Release(&g);
    PyBuffer_Release(&out);
    return Py_NewRef(result);
}

/* --- arrays on 64-byte boundaries ------------------------------------------------------------
 *
 * malloc aligns to 16 bytes, so a large NumPy array starts anywhere within a 64-byte cache
 * line; a float32 loop over one that starts mid-line runs 5-35% slower (its vector loads
 * straddle two lines), and a W1 training step about 6% slower. NumPy lets a library choose
 * where array data comes from (NEP 49): a "mem_handler" capsule holding the functions below,
 * installed by PyDataMem_SetHandler for the current context. Each array keeps the handler
 * that allocated it and is freed by it, so arrays made before or after mix freely.
 *
 * Each block is malloc'd 72 bytes larger: its first 8 hold the array's size (for the pool
 * below), the array starts at the first 64-byte boundary past them and the byte before it
 * holds the distance back to the block (9 to 72). Blocks of 4 MiB and more are advised onto
 * huge pages, as NumPy's own handler does. The structs are NEP 49's (version 1), declared
 * here so that the build needs no NumPy headers.
 */

#define ALIGNMENT 64
#define HEADER sizeof(size_t)       /* each block starts with the size of its array */
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

/* The aligned address inside `block` (NULL stays NULL), with the array's size stored at the
 * block's start and the distance back to it in the byte before the array. */
static void *
aligned_in(void *block, size_t size)
{
    if (block == NULL)
        return NULL;
    memcpy(block, &size, HEADER);
    uintptr_t start = ((uintptr_t)block + HEADER + ALIGNMENT) & ~(uintptr_t)(ALIGNMENT - 1);
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

static size_t
size_of(void *block)
{
    size_t size;
    memcpy(&size, block, HEADER);
    return size;
}

/* --- freed blocks kept for the next array of the same size -------------------------------
 *
 * A gradient makes the same few sizes of temporary over and over, and glibc's bins hand
 * freed blocks of 1 KiB or more back out first in, first out: the next 256x256 matrix lands
 * on the block freed longest ago, long gone from the cache. The pool keeps the most recently
 * freed blocks of POOL_MIN bytes or more (up to POOL_SLOTS of them, POOL_BYTES in all) and
 * gives out the newest one of the exact size asked for, still warm; the oldest go back to
 * malloc to make room. NumPy calls these functions holding the GIL; the lock is for a
 * caller that does not. */

#define POOL_SLOTS 32
#define POOL_MIN ((size_t)16 << 10)
#define POOL_BYTES ((size_t)64 << 20)

static struct { void *block; size_t size; } pool[POOL_SLOTS];   /* oldest first */
static int pool_count;
static size_t pool_bytes;
static PyThread_type_lock pool_lock;

static void *
pool_take(size_t size)
{
    void *block = NULL;
    if (size < POOL_MIN || pool_lock == NULL)
        return NULL;
    PyThread_acquire_lock(pool_lock, WAIT_LOCK);
    for (int i = pool_count - 1; i >= 0; i--) {
        if (pool[i].size == size) {
            block = pool[i].block;
            pool_bytes -= size;
            memmove(&pool[i], &pool[i + 1], (pool_count - i - 1) * sizeof pool[0]);
            pool_count--;
            break;
        }
    }
    PyThread_release_lock(pool_lock);
    return block;
}

/* Keep `block` (its array `size` bytes), or say no (0); the oldest kept go back to malloc. */
static int
pool_keep(void *block, size_t size)
{
    if (size < POOL_MIN || size > POOL_BYTES / 4 || pool_lock == NULL)
        return 0;
    void *evicted[POOL_SLOTS];
    int n_evicted = 0;
    PyThread_acquire_lock(pool_lock, WAIT_LOCK);
    while (pool_count == POOL_SLOTS || pool_bytes + size > POOL_BYTES) {
        evicted[n_evicted++] = pool[0].block;
        pool_bytes -= pool[0].size;
        memmove(&pool[0], &pool[1], (pool_count - 1) * sizeof pool[0]);
        pool_count--;
    }
    pool[pool_count].block = block;
    pool[pool_count].size = size;
    pool_count++;
    pool_bytes += size;
    PyThread_release_lock(pool_lock);
    for (int i = 0; i < n_evicted; i++)
        free(evicted[i]);
    return 1;
}

static void *
aligned_malloc(void *ctx, size_t size)
{
    if (size > SIZE_MAX - ALIGNMENT - HEADER)
        return NULL;
    void *block = pool_take(size);
    return aligned_in(block != NULL ? block : malloc(size + ALIGNMENT + HEADER), size);
}

static void *
aligned_calloc(void *ctx, size_t nelem, size_t elsize)
{
    if (elsize != 0 && nelem > (SIZE_MAX - ALIGNMENT - HEADER) / elsize)
        return NULL;
    size_t size = nelem * elsize;
    void *block = pool_take(size);
    if (block != NULL) {                        /* a kept block: warm, but not zero */
        void *start = aligned_in(block, size);
        memset(start, 0, size);
        return start;
    }
    return aligned_in(calloc(size + ALIGNMENT + HEADER, 1), size);   /* fresh pages stay lazy */
}

static void *
aligned_realloc(void *ctx, void *ptr, size_t new_size)
{
    if (ptr == NULL)
        return aligned_malloc(ctx, new_size);
    if (new_size > SIZE_MAX - ALIGNMENT - HEADER)
        return NULL;
    size_t before = ((unsigned char *)ptr)[-1];
    size_t kept = size_of(block_of(ptr));
    unsigned char *block = realloc(block_of(ptr), new_size + ALIGNMENT + HEADER);
    if (block == NULL)
        return NULL;              /* the old block is untouched, as realloc promises */
    unsigned char *start = (unsigned char *)(((uintptr_t)block + HEADER + ALIGNMENT)
                                             & ~(uintptr_t)(ALIGNMENT - 1));
    if ((size_t)(start - block) != before)   /* the block moved to another offset: follow it */
        memmove(start, block + before, kept < new_size ? kept : new_size);
    return aligned_in(block, new_size);      /* the same address; now its size and distance */
}

static void
aligned_free(void *ctx, void *ptr, size_t size)
{
    if (ptr == NULL)
        return;
    void *block = block_of(ptr);
    if (!pool_keep(block, size_of(block)))
        free(block);
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

/* --- the reverse pass's loop --------------------------------------------------------------------
 *
 * core/backward.py's _drain and _backprop_node for the common case: the rules run on plain
 * values (not create_graph) and nobody watches the pass node by node. For each node, newest
 * first: its rules (the joint vjp_all, or one rule per input that needs a gradient), each
 * cotangent brought to its input's shape and dtype, added to the input's adjoint (or to the
 * leaf's gradient), the input queued at its first contribution, then the node's saved values
 * freed unless the graph is retained. Anything else (values already freed, an input changed
 * in place since, anomaly detection, a rule this loop cannot find) goes, before anything of
 * the node is run, to `process`: the Python function for one node, which is the behaviour.
 */

static PyObject *str_prim, *str_args, *str_params, *str_out, *str_grad, *str_seq, *str_clock,
    *str_vjp_all, *str_vjps, *str_variadic_vjp, *str_wanted, *str_shape, *str_dtype;
static PyObject *heap_push, *heap_pop;

static int
intern_names(void)
{
    struct { PyObject **slot; const char *name; } names[] = {
        {&str_prim, "prim"}, {&str_args, "args"}, {&str_params, "params"}, {&str_out, "out"},
        {&str_grad, "grad"}, {&str_seq, "seq"}, {&str_clock, "clock"},
        {&str_vjp_all, "vjp_all"}, {&str_vjps, "vjps"}, {&str_variadic_vjp, "variadic_vjp"},
        {&str_wanted, "wanted"}, {&str_shape, "shape"}, {&str_dtype, "dtype"},
        {&str_impl, "impl"}, {&str_differentiable, "differentiable"},
        {&str_grad_enabled, "grad_enabled"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL)
            return -1;
    return 0;
}

/* 1 if a and b (shape tuples, dtypes) are equal, 0 if not, -1 on error. */
static inline int
same(PyObject *a, PyObject *b)
{
    return a == b ? 1 : PyObject_RichCompareBool(a, b, Py_EQ);
}

/* Whether gx already has value's shape and dtype (as backward.py asks): 1, 0, or -1. */
static int
fits(PyObject *gx, PyObject *value)
{
    int result = 0;
    PyObject *gs = PyObject_GetAttr(gx, str_shape), *vs = NULL, *gd = NULL, *vd = NULL;
    if (gs == NULL || (vs = PyObject_GetAttr(value, str_shape)) == NULL)
        goto missing;
    if ((result = same(gs, vs)) != 1)
        goto done;
    if ((gd = PyObject_GetAttr(gx, str_dtype)) == NULL
        || (vd = PyObject_GetAttr(value, str_dtype)) == NULL)
        goto missing;
    result = same(gd, vd);
    goto done;
missing:                       /* no shape or dtype (a Python number): fit_to decides */
    if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        result = 0;
    }
    else
        result = -1;
done:
    Py_XDECREF(gs);
    Py_XDECREF(vs);
    Py_XDECREF(gd);
    Py_XDECREF(vd);
    return result;
}

/* Add gx to input x's adjoint (its node's, or the leaf's entry in leaf_grads). */
static int
send(PyObject *x, PyObject *gx, PyObject *leaf_grads, PyObject *queue)
{
    PyObject *parent = ((TensorObject *)x)->node;
    if (parent == NULL || parent == Py_None) {            /* a leaf: leaf_grads[id(x)] */
        PyObject *key = PyLong_FromVoidPtr(x);
        if (key == NULL)
            return -1;
        PyObject *entry = PyDict_GetItemWithError(leaf_grads, key);
        PyObject *total = NULL, *pair = NULL;
        int failed = -1;
        if (entry == NULL && PyErr_Occurred())
            goto leaf_done;
        if (entry != NULL && PyTuple_Check(entry) && PyTuple_GET_SIZE(entry) == 2)
            total = PyNumber_Add(PyTuple_GET_ITEM(entry, 1), gx);
        else
            total = Py_NewRef(gx);
        if (total == NULL || (pair = PyTuple_Pack(2, x, total)) == NULL)
            goto leaf_done;
        failed = PyDict_SetItem(leaf_grads, key, pair);
    leaf_done:
        Py_DECREF(key);
        Py_XDECREF(total);
        Py_XDECREF(pair);
        return failed;
    }
    PyObject *grad = PyObject_GetAttr(parent, str_grad);
    if (grad == NULL)
        return -1;
    if (grad != Py_None) {                                  /* a later contribution: the sum */
        PyObject *total = PyNumber_Add(grad, gx);
        Py_DECREF(grad);
        if (total == NULL)
            return -1;
        int failed = PyObject_SetAttr(parent, str_grad, total);
        Py_DECREF(total);
        return failed;
    }
    Py_DECREF(grad);                                        /* the first: queue the node */
    if (PyObject_SetAttr(parent, str_grad, gx) < 0)
        return -1;
    PyObject *seq = PyObject_GetAttr(parent, str_seq);
    PyObject *priority = seq ? PyNumber_Negative(seq) : NULL;
    Py_XDECREF(seq);
    PyObject *item = priority ? PyTuple_Pack(2, priority, parent) : NULL;
    Py_XDECREF(priority);
    if (item == NULL)
        return -1;
    PyObject *pushed[2] = {queue, item};
    PyObject *r = PyObject_Vectorcall(heap_push, pushed, 2, NULL);
    Py_DECREF(item);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

#define MAX_INPUTS 16

/* One node; 1 when done, 0 when it is for `process` (nothing was run), -1 on error. */
static int
backprop_node(PyObject *node, PyObject *g, PyObject *level, int retain, PyObject *leaf_grads,
              PyObject *queue, PyObject *fit_to)
{
    int result = 0;
    PyObject *args = NULL, *clock = NULL, *changes = NULL, *prim = NULL, *params = NULL;
    PyObject *ans = NULL, *joint = NULL, *vjps = NULL, *call = NULL, *kwargs = NULL;
    PyObject *shares = NULL, *rules[MAX_INPUTS] = {NULL};
    int wanted[MAX_INPUTS];

    args = PyObject_GetAttr(node, str_args);
    if (args == NULL)
        return -1;
    Py_ssize_t n = PyTuple_Check(args) ? PyTuple_GET_SIZE(args) : MAX_INPUTS + 1;
    if (n > MAX_INPUTS || changes_offset < 0)               /* freed, or unusual: Python */
        goto done;
    changes = *(PyObject **)((char *)state + changes_offset);
    if (changes == NULL)
        goto done;
    if ((clock = PyObject_GetAttr(node, str_clock)) == NULL)
        goto error;
    int unchanged = same(clock, changes);                   /* nothing changed in place since */
    if (unchanged != 1)
        goto check;
    if ((prim = PyObject_GetAttr(node, str_prim)) == NULL
        || (params = PyObject_GetAttr(node, str_params)) == NULL
        || (ans = PyObject_GetAttr(node, str_out)) == NULL
        || (joint = PyObject_GetAttr(prim, str_vjp_all)) == NULL)
        goto error;
    if (!PyDict_CheckExact(params))
        goto done;
    /* the inputs one level down, and which of them need a gradient */
    if ((call = PyTuple_New(n + 2)) == NULL)
        goto error;
    PyTuple_SET_ITEM(call, 0, Py_NewRef(g));
    PyTuple_SET_ITEM(call, 1, Py_NewRef(ans));
    int any = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyTuple_GET_ITEM(args, i);
        wanted[i] = 0;
        if (Py_IS_TYPE(x, tensor_type)) {
            TensorObject *t = (TensorObject *)x;
            if (t->value == NULL || t->level == NULL || t->requires_grad == NULL)
                goto done;
            int here = same(t->level, level);
            if (here < 0)
                goto error;
            if (here) {
                int needs = PyObject_IsTrue(t->requires_grad);
                if (needs < 0)
                    goto error;
                wanted[i] = needs;
                any |= needs;
                PyTuple_SET_ITEM(call, i + 2, Py_NewRef(t->value));
                continue;
            }
        }
        PyTuple_SET_ITEM(call, i + 2, Py_NewRef(x));
    }
    if (joint == Py_None) {                                 /* one rule per input: all found? */
        PyObject *variadic = PyObject_GetAttr(prim, str_variadic_vjp);
        if (variadic == NULL)
            goto error;
        int plain = variadic == Py_None;
        Py_DECREF(variadic);
        if (!plain || (vjps = PyObject_GetAttr(prim, str_vjps)) == NULL || !PyDict_Check(vjps))
            goto checked;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (!wanted[i])
                continue;
            PyObject *key = PyLong_FromSsize_t(i);
            PyObject *rule = key ? PyDict_GetItemWithError(vjps, key) : NULL;
            Py_XDECREF(key);
            if (rule == NULL) {
                if (PyErr_Occurred())
                    goto error;
                goto done;                                  /* missing: Python says so */
            }
            rules[i] = Py_NewRef(rule);
        }
    }
    /* from here on the node is run: errors propagate */
    result = 1;
    if (any && joint != Py_None) {
        PyObject *flags = PyTuple_New(n);
        if (flags == NULL)
            goto error;
        for (Py_ssize_t i = 0; i < n; i++)
            PyTuple_SET_ITEM(flags, i, Py_NewRef(wanted[i] ? Py_True : Py_False));
        kwargs = PyDict_Copy(params);
        int failed = kwargs == NULL || PyDict_SetItem(kwargs, str_wanted, flags) < 0;
        Py_DECREF(flags);
        if (failed)
            goto error;
        PyObject *made = PyObject_Call(joint, call, kwargs);
        if (made == NULL)
            goto error;
        shares = PySequence_Fast(made, "vjp_all must return a sequence");
        Py_DECREF(made);
        if (shares == NULL)
            goto error;
        if (PySequence_Fast_GET_SIZE(shares) < n) {
            PyErr_Format(PyExc_ValueError, "the joint reverse rule (vjp_all) of %R returned %zd "
                         "cotangents for %zd inputs; return one per input, None where "
                         "`wanted` says it is not needed", prim, PySequence_Fast_GET_SIZE(shares), n);
            goto error;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!wanted[i])
            continue;
        PyObject *gx;
        if (shares != NULL)
            gx = Py_NewRef(PySequence_Fast_GET_ITEM(shares, i));
        else if (rules[i] == Py_None)                       /* not differentiable */
            continue;
        else if ((gx = PyObject_Call(rules[i], call, params)) == NULL)
            goto error;
        if (gx == Py_None) {                                /* given to another input */
            Py_DECREF(gx);
            continue;
        }
        PyObject *value = PyTuple_GET_ITEM(call, i + 2);
        int ok = fits(gx, value);
        if (ok == 0) {                                      /* fit_to(gx, shape, dtype) */
            PyObject *shape = PyObject_GetAttr(value, str_shape);
            PyObject *dtype = shape ? PyObject_GetAttr(value, str_dtype) : NULL;
            PyObject *fitted = NULL;
            if (dtype != NULL) {
                PyObject *fargs[3] = {gx, shape, dtype};
                fitted = PyObject_Vectorcall(fit_to, fargs, 3, NULL);
            }
            Py_XDECREF(shape);
            Py_XDECREF(dtype);
            Py_SETREF(gx, fitted);
            if (gx == NULL)
                goto error;
        }
        else if (ok < 0) {
            Py_DECREF(gx);
            goto error;
        }
        int failed = send(PyTuple_GET_ITEM(args, i), gx, leaf_grads, queue);
        Py_DECREF(gx);
        if (failed)
            goto error;
    }
    if (!retain && (PyObject_SetAttr(node, str_args, Py_None) < 0
                    || PyObject_SetAttr(node, str_out, Py_None) < 0))
        goto error;
    goto done;
checked:
    if (PyErr_Occurred())
        goto error;
    goto done;
check:
    if (unchanged < 0)
        goto error;
    goto done;
error:
    result = -1;
done:
    for (int i = 0; i < MAX_INPUTS; i++)
        Py_XDECREF(rules[i]);
    Py_XDECREF(args);
    Py_XDECREF(clock);
    Py_XDECREF(prim);
    Py_XDECREF(params);
    Py_XDECREF(ans);
    Py_XDECREF(joint);
    Py_XDECREF(vjps);
    Py_XDECREF(call);
    Py_XDECREF(kwargs);
    Py_XDECREF(shares);
    return result;
}

/* --- cr.compile's replay ------------------------------------------------------------------------
 *
 * A recorded program (compiler.py) is a list of steps on numbered slots; replaying it is one
 * call per step. The Python loop spends about a third of a small step unpacking the step and
 * indexing the slots; here each step is a tuple (implementation, operand slots, parameters or
 * None, result slot, slots released after it, the slot whose buffer takes the result or -1).
 */

static PyObject *str_out_names;   /* ("out",): the keyword of a result written into a buffer */

static PyObject *
replay(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "replay(steps: tuple, slots: list)");
        return NULL;
    }
    PyObject *steps = args[0], *slots = args[1];
    Py_ssize_t n_slots = PyList_GET_SIZE(slots);
    if (str_out_names == NULL && (str_out_names = Py_BuildValue("(s)", "out")) == NULL)
        return NULL;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(steps); k++) {
        PyObject *step = PyTuple_GET_ITEM(steps, k);
        if (!PyTuple_Check(step) || PyTuple_GET_SIZE(step) != 6) {
            PyErr_Format(PyExc_TypeError, "replay: step %zd is not a 6-tuple", k);
            return NULL;
        }
        PyObject *impl = PyTuple_GET_ITEM(step, 0), *operands = PyTuple_GET_ITEM(step, 1);
        PyObject *params = PyTuple_GET_ITEM(step, 2), *dead = PyTuple_GET_ITEM(step, 4);
        Py_ssize_t out = PyLong_AsSsize_t(PyTuple_GET_ITEM(step, 3));
        Py_ssize_t into = PyLong_AsSsize_t(PyTuple_GET_ITEM(step, 5));
        if ((out == -1 || into == -1) && PyErr_Occurred())
            return NULL;
        Py_ssize_t n = PyTuple_Check(operands) ? PyTuple_GET_SIZE(operands) : MAX_INPUTS;
        if (n >= MAX_INPUTS || out < 0 || out >= n_slots || into >= n_slots) {
            PyErr_Format(PyExc_ValueError, "replay: step %zd does not fit the slots", k);
            return NULL;
        }
        if (params != Py_None && !PyDict_Check(params)) {
            PyErr_Format(PyExc_TypeError, "replay: step %zd's parameters are not a dict", k);
            return NULL;
        }
        PyObject *stack[MAX_INPUTS + 1];
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t s = PyLong_AsSsize_t(PyTuple_GET_ITEM(operands, i));
            if (s < 0 || s >= n_slots) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_ValueError, "replay: step %zd reads slot %zd", k, s);
                return NULL;
            }
            stack[i] = PyList_GET_ITEM(slots, s);     /* borrowed: the list holds them */
        }
        PyObject *result;
        if (into >= 0) {     /* an operand dies here: the result goes into its buffer */
            stack[n] = PyList_GET_ITEM(slots, into);
            result = PyObject_Vectorcall(impl, stack, n, str_out_names);
        }
        else if (params != Py_None)
            result = PyObject_VectorcallDict(impl, stack, n, params);
        else
            result = PyObject_Vectorcall(impl, stack, n, NULL);
        if (result == NULL)
            return NULL;
        PyList_SetItem(slots, out, result);           /* steals the reference */
        for (Py_ssize_t i = 0; PyTuple_Check(dead) && i < PyTuple_GET_SIZE(dead); i++) {
            Py_ssize_t s = PyLong_AsSsize_t(PyTuple_GET_ITEM(dead, i));
            if (s < 0 || s >= n_slots) {
                if (!PyErr_Occurred())
                    PyErr_Format(PyExc_ValueError, "replay: step %zd releases slot %zd", k, s);
                return NULL;
            }
            PyList_SetItem(slots, s, Py_NewRef(Py_None));
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
drain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6 || !PyList_Check(args[0]) || !PyDict_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "drain(queue: list, level, retain, leaf_grads: dict, process, fit_to)");
        return NULL;
    }
    PyObject *queue = args[0], *level = args[1], *leaf_grads = args[3];
    PyObject *process = args[4], *fit_to = args[5];
    int retain = PyObject_IsTrue(args[2]);
    if (retain < 0 || tensor_type == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "chainrule._fast: setup() was not called");
        return NULL;
    }
    if (heap_pop == NULL) {
        PyObject *heapq = PyImport_ImportModule("heapq");
        if (heapq == NULL)
            return NULL;
        heap_push = PyObject_GetAttrString(heapq, "heappush");
        heap_pop = heap_push ? PyObject_GetAttrString(heapq, "heappop") : NULL;
        Py_DECREF(heapq);
        if (heap_pop == NULL)
            return NULL;
    }
    while (PyList_GET_SIZE(queue) > 0) {
        PyObject *item = PyObject_Vectorcall(heap_pop, &queue, 1, NULL);
        if (item == NULL)
            return NULL;
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
            Py_DECREF(item);
            PyErr_SetString(PyExc_TypeError, "drain: the queue holds (priority, node) pairs");
            return NULL;
        }
        PyObject *node = Py_NewRef(PyTuple_GET_ITEM(item, 1));
        Py_DECREF(item);
        PyObject *g = PyObject_GetAttr(node, str_grad);      /* g, node.grad = node.grad, None */
        int r = g == NULL || PyObject_SetAttr(node, str_grad, Py_None) < 0 ? -1
                : anomaly_on() ? 0
                : backprop_node(node, g, level, retain, leaf_grads, queue, fit_to);
        if (r == 0) {
            PyObject *pargs[7] = {node, g, level, Py_False, args[2], leaf_grads, queue};
            PyObject *done = PyObject_Vectorcall(process, pargs, 7, NULL);
            r = done == NULL ? -1 : 1;
            Py_XDECREF(done);
        }
        Py_DECREF(node);
        Py_XDECREF(g);
        if (r < 0)
            return NULL;
    }
    Py_RETURN_NONE;
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

/* Where an object of this type keeps the __slots__ slot `name`, or -1. */
static Py_ssize_t
slot_offset(PyObject *o, PyObject *name)
{
    PyObject *descr = _PyType_Lookup(Py_TYPE(o), name);
    if (descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == T_OBJECT_EX)
            return member->offset;
    }
    return -1;
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

    /* STATE.anomaly and .changes are __slots__ slots: read by offset, not by attribute lookup */
    anomaly_offset = slot_offset(st, str_anomaly);
    changes_offset = slot_offset(st, str_changes);
    grad_enabled_offset = slot_offset(st, str_grad_enabled);
    Py_XSETREF(tensor_type, (PyTypeObject *)Py_NewRef(tensor));
    Py_XSETREF(array_type, (PyTypeObject *)Py_NewRef(array));
    Py_XSETREF(tape_trace, Py_NewRef(trace));
    Py_XSETREF(tape_level, Py_NewRef(level));
    Py_XSETREF(state, Py_NewRef(st));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"symmetric", (PyCFunction)symmetric, METH_O,
     "symmetric(a): whether a square float64/float32 matrix equals its transpose exactly; "
     "None for anything else."},
    {"mirror_lower", (PyCFunction)mirror_lower, METH_O,
     "mirror_lower(a): copy the lower triangle of a square float64/float32 matrix onto its upper "
     "one, in place; True, or None (nothing done) for anything else or a read-only array."},
    {"add_transpose", (PyCFunction)(void (*)(void))add_transpose, METH_FASTCALL,
     "add_transpose(a, out): out = a + aᵀ for a square float64/float32 matrix, block by block; "
     "True, or None (nothing written) for anything else."},
    {"copy_into", (PyCFunction)(void (*)(void))copy_into, METH_FASTCALL,
     "copy_into(a, out): out[...] = a for float64/float32 matrices of one shape, block by "
     "block; True, or None (nothing written) for anything else."},
    {"diagonal_only", (PyCFunction)diagonal_only, METH_O,
     "diagonal_only(a): whether every entry of a float64/float32 matrix off its main diagonal "
     "is zero; None for anything else."},
    {"axpy", (PyCFunction)(void (*)(void))axpy, METH_FASTCALL,
     "axpy(y, x, alpha): y += alpha·x in one pass, for C-contiguous float64/float32 arrays of "
     "one shape and type (alpha rounded to it); True, or None (nothing written) otherwise."},
    {"mask_positive", (PyCFunction)(void (*)(void))mask_positive, METH_FASTCALL,
     "mask_positive(out, g, y): out = g·[y > 0] in one pass (relu's backward), NumPy's answer to "
     "the last bit; three C-contiguous float64/float32 arrays of one type and shape, out apart "
     "from g and y. True, or None with nothing written."},
    {"replay", (PyCFunction)(void (*)(void))replay, METH_FASTCALL,
     "replay(steps, slots): run a cr.compile program's steps (impl, operand slots, params or "
     "None, result slot, released slots, buffer slot or -1) on the list of slots, in place."},
    {"drain", (PyCFunction)(void (*)(void))drain, METH_FASTCALL,
     "drain(queue, level, retain, leaf_grads, process, fit_to): core/backward.py's reverse-pass "
     "loop for rules on plain values; nodes it does not handle go to process(node, g, level, "
     "False, retain, leaf_grads, queue)."},
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
    if (PyType_Ready(&TensorBaseType) < 0 || PyType_Ready(&UfuncType) < 0
        || PyType_Ready(&BindType) < 0)
        return NULL;
    str_anomaly = PyUnicode_InternFromString("anomaly");
    str_changes = PyUnicode_InternFromString("changes");
    if (str_anomaly == NULL || str_changes == NULL || intern_names() < 0)
        return NULL;
    pool_lock = PyThread_allocate_lock();   /* NULL: no pool, arrays still aligned */
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "TensorBase", (PyObject *)&TensorBaseType) < 0
        || PyModule_AddObjectRef(m, "Ufunc", (PyObject *)&UfuncType) < 0
        || PyModule_AddObjectRef(m, "Bind", (PyObject *)&BindType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
