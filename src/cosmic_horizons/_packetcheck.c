/* The packet's __post_init__ checks for the usual packet, in C.
 *
 * check_payload and check_metrics are KafkaPayload's and Metrics' __post_init__ (msgspec
 * calls them with the new struct). They accept at once a packet whose every field is of the
 * exact type and form the rules ask for: ids plain ASCII str of 1..max_id characters, a known
 * route, a Metrics, a timestamp already validated (in packet_fields.py's cache), no chunk or a padded
 * standard-base64 ASCII chunk within the limit, four finite floats. Anything else goes to the
 * Python checks given to setup(), which have the final word (and the precise error): this path
 * only ever says yes to what the Python checks accept.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>

#define N_PAYLOAD 8 /* sourceId targetId routeType elementId siteId timestamp metrics chunk */
#define N_METRICS 4

static Py_ssize_t payload_off[N_PAYLOAD];
static Py_ssize_t metrics_off[N_METRICS];
static PyObject *payload_slow = NULL;
static PyObject *metrics_slow = NULL;
static PyTypeObject *metrics_type = NULL;
static PyObject *stamp_cache = NULL;
static PyObject *route_a = NULL;
static PyObject *route_b = NULL;
static Py_ssize_t max_id = 0;
static Py_ssize_t max_chunk = 0;
static unsigned char b64_ok[256];

static int
field_offsets(PyObject *type, PyObject *names, Py_ssize_t *out, Py_ssize_t n)
{
    if (!PyTuple_Check(names) || PyTuple_GET_SIZE(names) != n) {
        PyErr_Format(PyExc_ValueError, "expected %zd field names", n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttr(type, PyTuple_GET_ITEM(names, i));
        if (descr == NULL)
            return -1;
        if (Py_TYPE(descr) != &PyMemberDescr_Type ||
            ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            Py_DECREF(descr);
            PyErr_SetString(PyExc_TypeError, "a field is not an object slot");
            return -1;
        }
        out[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
    }
    return 0;
}

static PyObject *
setup(PyObject *self, PyObject *args)
{
    PyObject *ptype, *pnames, *mtype, *mnames, *pslow, *mslow, *cache, *routes;
    Py_ssize_t mid, mchunk;
    if (!PyArg_ParseTuple(args, "OO!OO!OOO!O!nn", &ptype, &PyTuple_Type, &pnames, &mtype,
                          &PyTuple_Type, &mnames, &pslow, &mslow, &PyDict_Type, &cache,
                          &PyTuple_Type, &routes, &mid, &mchunk))
        return NULL;
    if (!PyType_Check(ptype) || !PyType_Check(mtype) || PyTuple_GET_SIZE(routes) != 2) {
        PyErr_SetString(PyExc_TypeError, "setup(): bad arguments");
        return NULL;
    }
    if (field_offsets(ptype, pnames, payload_off, N_PAYLOAD) < 0 ||
        field_offsets(mtype, mnames, metrics_off, N_METRICS) < 0)
        return NULL;
    Py_XSETREF(payload_slow, Py_NewRef(pslow));
    Py_XSETREF(metrics_slow, Py_NewRef(mslow));
    Py_XSETREF(metrics_type, (PyTypeObject *)Py_NewRef(mtype));
    Py_XSETREF(stamp_cache, Py_NewRef(cache));
    Py_XSETREF(route_a, Py_NewRef(PyTuple_GET_ITEM(routes, 0)));
    Py_XSETREF(route_b, Py_NewRef(PyTuple_GET_ITEM(routes, 1)));
    max_id = mid;
    max_chunk = mchunk;
    Py_RETURN_NONE;
}

#define FIELD(obj, off) (*(PyObject **)((char *)(obj) + (off)))

static inline int
id_ok(PyObject *v)
{
    if (v == NULL || !PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    return n > 0 && n <= max_id;
}

static inline int
route_ok(PyObject *v)
{
    if (v == NULL || !PyUnicode_CheckExact(v))
        return 0;
    if (v == route_a || v == route_b)
        return 1;
    return PyUnicode_Compare(v, route_a) == 0 || PyUnicode_Compare(v, route_b) == 0;
}

/* Padded standard base64 over ASCII: the form packet_fields._check_base64 takes without decoding. */
static int
chunk_ok(PyObject *v)
{
    if (v == Py_None)
        return 1;
    if (v == NULL || !PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    if (n > max_chunk || n % 4 != 0)
        return 0;
    const unsigned char *s = PyUnicode_1BYTE_DATA(v);
    Py_ssize_t body = n;
    while (body > 0 && s[body - 1] == '=')
        body--;
    if (n - body > 2)
        return 0;
    for (Py_ssize_t i = 0; i < body; i++)
        if (!b64_ok[s[i]])
            return 0;
    return 1;
}

static PyObject *
check_payload(PyObject *module, PyObject *obj)
{
    if (payload_slow == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_packetcheck.setup() was not called");
        return NULL;
    }
    PyObject *stamp = FIELD(obj, payload_off[5]);
    PyObject *metrics = FIELD(obj, payload_off[6]);
    if (id_ok(FIELD(obj, payload_off[0])) && id_ok(FIELD(obj, payload_off[1])) &&
        route_ok(FIELD(obj, payload_off[2])) && id_ok(FIELD(obj, payload_off[3])) &&
        id_ok(FIELD(obj, payload_off[4])) && metrics != NULL && Py_TYPE(metrics) == metrics_type &&
        stamp != NULL && PyUnicode_CheckExact(stamp) && chunk_ok(FIELD(obj, payload_off[7]))) {
        int cached = PyDict_Contains(stamp_cache, stamp);
        if (cached < 0)
            return NULL;
        if (cached)
            Py_RETURN_NONE;
    }
    return PyObject_CallOneArg(payload_slow, obj);
}

static PyObject *
check_metrics(PyObject *module, PyObject *obj)
{
    if (metrics_slow == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_packetcheck.setup() was not called");
        return NULL;
    }
    double sum = 0.0;
    for (int i = 0; i < N_METRICS; i++) {
        PyObject *v = FIELD(obj, metrics_off[i]);
        if (v == NULL || !PyFloat_CheckExact(v))
            return PyObject_CallOneArg(metrics_slow, obj);
        sum += PyFloat_AS_DOUBLE(v);
    }
    /* Four floats whose sum is finite are each finite (an infinity or NaN makes it not). */
    if (isfinite(sum))
        Py_RETURN_NONE;
    return PyObject_CallOneArg(metrics_slow, obj);
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Bind the checks to the packet classes and rules."},
    {"check_payload", check_payload, METH_O, "KafkaPayload.__post_init__."},
    {"check_metrics", check_metrics, METH_O, "Metrics.__post_init__."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_packetcheck", "The packet's usual checks in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__packetcheck(void)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (const char *c = alphabet; *c; c++)
        b64_ok[(unsigned char)*c] = 1;
    return PyModule_Create(&module_def);
}
