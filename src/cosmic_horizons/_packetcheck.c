/* The packet's __post_init__ checks for the usual packet, in C.
 *
 * check_payload and check_metrics are KafkaPayload's and Metrics' __post_init__ (msgspec
 * calls them with the new struct). They accept at once a packet whose every field is of the
 * exact type and form the rules ask for: ids plain ASCII str of 1..max_id characters, a known
 * route, a Metrics, a timestamp already validated (in packet_fields.py's cache), no chunk or a padded
 * standard-base64 ASCII chunk within the limit, four finite floats. Anything else goes to the
 * Python checks given to setup(), which have the final word (and the precise error): this path
 * only ever says yes to what the Python checks accept.
 *
 * encode_json and encode_json_many write the usual packet as the spec's JSON, byte for byte
 * what msgspec's encoder writes (the fields in order under their wire names, data_chunk
 * left out when None, floats in their shortest round-trip form). A packet this path does not
 * take (a subclass, a string that needs escaping or is not ASCII, a float outside the plain
 * decimal range below) goes to msgspec's encoder, given to setup_json(), whole.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define N_PAYLOAD 8 /* sourceId targetId routeType elementId siteId timestamp metrics chunk */
#define N_METRICS 4

static Py_ssize_t payload_off[N_PAYLOAD];
static Py_ssize_t metrics_off[N_METRICS];
static PyTypeObject *payload_type = NULL;
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
    Py_XSETREF(payload_type, (PyTypeObject *)Py_NewRef(ptype));
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


/* ---- JSON ------------------------------------------------------------------------------ */

static PyObject *json_slow = NULL;     /* msgspec's Encoder.encode */
static char *json_key[N_PAYLOAD];      /* ,"sourceId":  (the first without its comma) */
static Py_ssize_t json_key_len[N_PAYLOAD];
static char *metric_key[N_METRICS];    /* {"vibration":  ,"powerUsage": ... */
static Py_ssize_t metric_key_len[N_METRICS];
static unsigned char json_plain[256];  /* bytes msgspec writes as they are inside a string */
static char *json_buf = NULL;          /* reused for every packet: the GIL is held throughout */
static Py_ssize_t json_cap = 0;

static const double pow10_d[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};
static const uint64_t pow10_u[19] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
    100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
    10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
    100000000000000000ULL, 1000000000000000000ULL,
};
#ifdef __SIZEOF_INT128__
static unsigned __int128 pow10_q[21]; /* 10^0..10^20, filled at import */
#endif

static char *
copy_key(PyObject *name, const char *before, Py_ssize_t *len)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(name, &n);
    if (s == NULL)
        return NULL;
    size_t b = strlen(before);
    char *out = PyMem_Malloc(b + n + 3);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, before, b);
    memcpy(out + b, s, n);
    memcpy(out + b + n, "\":", 2);
    *len = b + n + 2;
    return out;
}

static PyObject *
setup_json(PyObject *self, PyObject *args)
{
    PyObject *pnames, *mnames, *slow;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyTuple_Type, &pnames, &PyTuple_Type, &mnames, &slow))
        return NULL;
    if (PyTuple_GET_SIZE(pnames) != N_PAYLOAD || PyTuple_GET_SIZE(mnames) != N_METRICS) {
        PyErr_SetString(PyExc_ValueError, "setup_json(): expected 8 and 4 wire names");
        return NULL;
    }
    for (int i = 0; i < N_PAYLOAD; i++) {
        PyMem_Free(json_key[i]);
        json_key[i] = copy_key(PyTuple_GET_ITEM(pnames, i), i ? ",\"" : "{\"", &json_key_len[i]);
        if (json_key[i] == NULL)
            return NULL;
    }
    for (int i = 0; i < N_METRICS; i++) {
        PyMem_Free(metric_key[i]);
        metric_key[i] = copy_key(PyTuple_GET_ITEM(mnames, i), i ? ",\"" : "{\"", &metric_key_len[i]);
        if (metric_key[i] == NULL)
            return NULL;
    }
    Py_XSETREF(json_slow, Py_NewRef(slow));
    Py_RETURN_NONE;
}

/* A string msgspec writes between quotes as it is: ASCII with nothing to escape (no control
 * character, quote or backslash), tested eight bytes at a time. */
static inline int
plain_str(PyObject *v)
{
    if (v == NULL || !PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v))
        return 0;
    const unsigned char *s = PyUnicode_1BYTE_DATA(v);
    Py_ssize_t n = PyUnicode_GET_LENGTH(v), i = 0;
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8); /* every byte < 0x80: ASCII */
        uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
        uint64_t hit = (w - ones * 0x20) | (quote - ones) | (slash - ones);
        if (hit & highs)
            return 0;
    }
    for (; i < n; i++)
        if (!json_plain[s[i]])
            return 0;
    return 1;
}

static inline char *
put(char *out, const char *s, Py_ssize_t n)
{
    memcpy(out, s, n);
    return out + n;
}

static inline char *
put_str(char *out, PyObject *v)
{
    *out++ = '"';
    out = put(out, (const char *)PyUnicode_1BYTE_DATA(v), PyUnicode_GET_LENGTH(v));
    *out++ = '"';
    return out;
}

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

/* c * 10^-k in msgspec's plain form: 1971.6, -0.00012, 3.0 (10^14 <= c < 10^18). */
static char *
put_decimal(char *out, int negative, uint64_t c, int k)
{
    char d[20];
    int n = 15;
    while (n < 18 && c >= pow10_u[n])
        n++;
    int i = n;
    while (i >= 2) {
        memcpy(d + i - 2, digit_pairs + 2 * (c % 100), 2);
        c /= 100;
        i -= 2;
    }
    if (i)
        d[0] = (char)('0' + c);
    if (negative)
        *out++ = '-';
    int whole = n - k; /* digits before the point; <= 0 for |x| < 1 */
    if (whole > 0)
        out = put(out, d, whole);
    else
        *out++ = '0';
    *out++ = '.';
    if (whole >= n) { /* an integer: 123.0 */
        *out++ = '0';
        return out;
    }
    int first = whole > 0 ? whole : 0, last = n;
    while (last > first + 1 && d[last - 1] == '0') /* keep one digit after the point */
        last--;
    for (int z = whole; z < 0; z++)
        *out++ = '0';
    return put(out, d + first, last - first);
}

/* The shortest decimal that reads back as x (what msgspec's Ryu writes), in msgspec's plain
 * form, for 1e-4 <= |x| < 1e15 and zero; NULL for any other x (msgspec then writes it).
 *
 * Exact integer arithmetic: x = mant * 2^q, so with D = 2^(2-q) the scaled value
 * |x| * 10^k is (4 mant 10^k) / D and the bounds of x's rounding interval are
 * (4 mant +- 2) 10^k / D (+- 1 on the narrower side below a power of two). With k such that
 * 10^14 <= |x| 10^k < 10^15, the answer has 15, 16 or 17 digits: the first length whose
 * nearest integer c (ties to even) lies inside the interval (inclusive when mant is even,
 * as reading rounds ties to even), written with its trailing zeros dropped. 17 digits
 * always fit: the interval is then wider than one unit. */
static char *
put_float(char *out, double x)
{
    if (x == 0.0) {
        if (signbit(x))
            *out++ = '-';
        return put(out, "0.0", 3);
    }
    double a = fabs(x);
    if (!(a >= 1e-4 && a < 1e15))
        return NULL;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    int e2 = (int)((bits >> 52) & 0x7ff) - 1023; /* -14..49: always a normal number */
    uint64_t mant = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    int sh = 2 - (e2 - 52); /* D = 2^sh, 5..68 */
    const u128 one = 1, center_unit = (u128)mant << 2;
    u128 low_unit = center_unit - ((bits & ((1ULL << 52) - 1)) == 0 ? 1 : 2);
    u128 high_unit = center_unit + 2;
    int inclusive = (mant & 1) == 0;
    /* floor(e2 log10 2) estimates the decimal exponent (off by at most one). */
    int k = 14 - ((e2 * 78913) >> 18);
    if (k < 0)
        k = 0;
    if (k > 18)
        k = 18;
    double s = a * pow10_d[k];
    while (s >= 1e15 && k > 0)
        s = a * pow10_d[--k];
    while (s < 1e14 && k < 18)
        s = a * pow10_d[++k];
    /* The usual reading has 15 digits or fewer: m = round(s) (ties to even, without a libm
     * call: s < 2^52) reads back as x when m / 10^k == |x|, both doubles exact and the
     * division correctly rounded, as reading "m e-k" is; a double's rounding interval there
     * is under 0.23 units wide, so no other 15-digit m does, and the exact path would find
     * this one. */
    volatile double shifted = s + 4503599627370496.0;
    double m_d = shifted - 4503599627370496.0;
    if (m_d >= 1e14 && m_d <= 1e15 && m_d / pow10_d[k] == a)
        return put_decimal(out, x < 0, (uint64_t)m_d, k);
    /* Else exactly: make sure of k, then 15, 16 and 17 digits. */
    for (;;) {
        u128 center = center_unit * pow10_q[k];
        if (center >= (u128)pow10_u[15] << sh && k > 0)
            k--;
        else if (center < (u128)pow10_u[14] << sh && k < 18)
            k++;
        else
            break;
    }
    for (int extra = 0; extra < 3; extra++, k++) {
        u128 p = pow10_q[k];
        u128 center = center_unit * p, low = low_unit * p, high = high_unit * p;
        u128 c = center >> sh, rem = center & ((one << sh) - 1), half = one << (sh - 1);
        if (rem > half || (rem == half && (c & 1)))
            c++;
        u128 cd = c << sh;
        int inside = inclusive ? (low <= cd && cd <= high) : (low < cd && cd < high);
        if (inside)
            return put_decimal(out, x < 0, (uint64_t)c, k);
    }
    return NULL; /* not reached: 17 digits always fit */
}
#else
static char *
put_float(char *out, double x)
{
    return NULL; /* no 128-bit integers: msgspec writes every float */
}
#endif

static int
reserve(Py_ssize_t need)
{
    if (need <= json_cap)
        return 0;
    Py_ssize_t cap = need < 4096 ? 4096 : need;
    char *buf = PyMem_Realloc(json_buf, cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    json_buf = buf;
    json_cap = cap;
    return 0;
}

/* The packet's JSON, or None (no error set) where this path does not take it. */
static PyObject *
json_fast(PyObject *obj)
{
    if (Py_TYPE(obj) != payload_type || json_slow == NULL)
        Py_RETURN_NONE;
    PyObject *f[N_PAYLOAD];
    Py_ssize_t need = 64 + 4 * 32;
    for (int i = 0; i < N_PAYLOAD; i++) {
        f[i] = FIELD(obj, payload_off[i]);
        need += json_key_len[i];
        if (i == 6)
            continue;
        if (i == 7 && f[i] == Py_None)
            continue;
        if (!plain_str(f[i]))
            Py_RETURN_NONE;
        need += PyUnicode_GET_LENGTH(f[i]) + 2;
    }
    PyObject *metrics = f[6];
    if (metrics == NULL || Py_TYPE(metrics) != metrics_type)
        Py_RETURN_NONE;
    for (int i = 0; i < N_METRICS; i++) {
        PyObject *v = FIELD(metrics, metrics_off[i]);
        if (v == NULL || !PyFloat_CheckExact(v))
            Py_RETURN_NONE;
        need += metric_key_len[i];
    }
    if (reserve(need) < 0)
        return NULL;
    char *out = json_buf;
    for (int i = 0; i < 6; i++) {
        out = put(out, json_key[i], json_key_len[i]);
        out = put_str(out, f[i]);
    }
    out = put(out, json_key[6], json_key_len[6]);
    for (int i = 0; i < N_METRICS; i++) {
        out = put(out, metric_key[i], metric_key_len[i]);
        out = put_float(out, PyFloat_AS_DOUBLE(FIELD(metrics, metrics_off[i])));
        if (out == NULL)
            Py_RETURN_NONE;
    }
    *out++ = '}';
    if (f[7] != Py_None) {
        out = put(out, json_key[7], json_key_len[7]);
        out = put_str(out, f[7]);
    }
    *out++ = '}';
    return PyBytes_FromStringAndSize(json_buf, out - json_buf);
}

static PyObject *
encode_json_fast(PyObject *module, PyObject *obj)
{
    return json_fast(obj);
}

static PyObject *
encode_json(PyObject *module, PyObject *obj)
{
    PyObject *v = json_fast(obj);
    if (v != Py_None)
        return v;
    Py_DECREF(v);
    return PyObject_CallOneArg(json_slow, obj);
}

static PyObject *
encode_json_many(PyObject *module, PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "encode_json_many() expects a sequence of packets");
    if (fast == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    PyObject *out = PyList_New(n);
    if (out == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = encode_json(module, items[i]);
        if (v == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, v);
    }
    Py_DECREF(fast);
    return out;
fail:
    Py_XDECREF(out);
    Py_DECREF(fast);
    return NULL;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "Bind the checks to the packet classes and rules."},
    {"check_payload", check_payload, METH_O, "KafkaPayload.__post_init__."},
    {"check_metrics", check_metrics, METH_O, "Metrics.__post_init__."},
    {"setup_json", setup_json, METH_VARARGS, "Bind the JSON writer to the wire names and msgspec."},
    {"encode_json", encode_json, METH_O, "The packet as the spec's JSON (msgspec's bytes)."},
    {"encode_json_fast", encode_json_fast, METH_O, "encode_json's own path: bytes, or None."},
    {"encode_json_many", encode_json_many, METH_O, "encode_json over a sequence: a list."},
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
#ifdef __SIZEOF_INT128__
    pow10_q[0] = 1;
    for (int i = 1; i < 21; i++)
        pow10_q[i] = pow10_q[i - 1] * 10;
#endif
    for (int c = 0x20; c < 0x80; c++)
        json_plain[c] = c != '"' && c != '\\';
    return PyModule_Create(&module_def);
}
