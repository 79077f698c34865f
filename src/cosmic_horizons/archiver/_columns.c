/* Packets in their canonical JSON form, cut straight into Arrow column buffers.
 *
 * The archiver's hot path: a packet as this project's encoder writes it (the spec's field
 * order, no whitespace, no escapes in strings) is split into its fields without building a
 * Python object per field. Anything else -- other field orders, whitespace, escapes,
 * invalid UTF-8, numbers outside JSON's grammar, non-canonical base64 -- is not ok here and
 * goes through the msgspec path, which has the final word. So this code only has to be
 * right about the inputs it accepts; it never rejects a packet on its own.
 *
 * A row is ok when it has that form and passes the packet's other rules too (ids of 1 to
 * max_id_chars characters, a known route, a real calendar timestamp in the strict form,
 * finite metrics, canonical base64 within max_chunk_chars): the caller checks nothing more.
 *
 * split(values, max_chunk_chars, max_id_chars) -> (ok, strings, floats, chunks, n_ok)
 *   ok:      bytes, one 0/1 per value
 *   strings: six (int32 offsets, utf-8 data) pairs: sourceId targetId routeType elementId
 *            siteId timestamp, for the ok values in order
 *   floats:  four float64 buffers: vibration powerUsage noiseFloor rfiLevel
 *   chunks:  (validity bytes 0/1, int32 offsets, decoded bytes) of data_chunk
 * OverflowError when a column passes 2 GiB (int32 offsets): the caller falls back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

typedef struct {
    char *data;
    Py_ssize_t len, cap;
} Buf;

static int buf_grow(Buf *b, Py_ssize_t more) {
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *p = PyMem_Realloc(b->data, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static inline int buf_reserve(Buf *b, Py_ssize_t more) {
    return b->len + more <= b->cap ? 0 : buf_grow(b, more);
}

static inline int buf_put(Buf *b, const void *src, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    if (n) memcpy(b->data + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

static int put_offset(Buf *offsets, Py_ssize_t end) {
    if (end > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "column larger than 2 GiB");
        return -1;
    }
    int32_t v = (int32_t)end;
    return buf_put(offsets, &v, sizeof v);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_ok(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + need >= n) return 0; /* truncated sequence */
        for (int k = 1; k <= need; k++) {
            unsigned char d = s[i + k];
            if ((d & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)) return 0;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += need + 1;
    }
    return 1;
}

/* Expect the literal lit at *p; advance past it. */
static inline int lit(const char **p, const char *end, const char *text, size_t n) {
    if ((size_t)(end - *p) < n || memcmp(*p, text, n) != 0) return 0;
    *p += n;
    return 1;
}
#define LIT(p, end, s) lit(p, end, s, sizeof(s) - 1)

/* A JSON string body up to (not past) its closing quote, without escapes or control
 * characters. */
static int str_span(const char **p, const char *end, const char **start, Py_ssize_t *len) {
    const char *q = *p;
    unsigned char high = 0;
    /* Eight bytes at a time while none is a quote, a backslash or a control character
     * (the exact tests of the loop below; a word with any of them goes to that loop). */
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t high_bits = 0;
    while (end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        uint64_t quote = w ^ (ones * '"'), slash = w ^ (ones * '\\');
        uint64_t hit = ((quote - ones) & ~quote) | ((slash - ones) & ~slash) |
                       ((w - ones * 0x20) & ~w);
        if (hit & highs) break;
        high_bits |= w;
        q += 8;
    }
    if (high_bits & highs) high = 0x80;
    while (q < end && *q != '"') {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c == '\\') return 0;
        high |= c;
        q++;
    }
    if (q >= end) return 0;
    if ((high & 0x80) && !utf8_ok((const unsigned char *)*p, q - *p)) return 0;
    *start = *p;
    *len = q - *p;
    *p = q; /* at the closing quote, which the next literal starts with */
    return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as a correctly rounded double. */
static int number(const char **p, const char *end, double *out) {
    const char *s = *p, *q = *p;
    if (q < end && *q == '-') q++;
    if (q >= end) return 0;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        while (q < end && is_digit(*q)) q++;
    } else {
        return 0;
    }
    if (q < end && *q == '.') {
        q++;
        if (q >= end || !is_digit(*q)) return 0;
        while (q < end && is_digit(*q)) q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (q >= end || !is_digit(*q)) return 0;
        while (q < end && is_digit(*q)) q++;
    }
    /* Clinger's fast path: a mantissa of at most 2^53 scaled by 10^-22..10^22 is one
     * correctly rounded IEEE operation on exact values. */
    {
        const char *r = s;
        int neg = 0;
        if (*r == '-') {
            neg = 1;
            r++;
        }
        /* m is exact only while digits <= 19 (10^19 - 1 < 2^64); past that it has wrapped
         * modulo 2^64 -- 2^64 itself, or 1 followed by 64 zeros, wraps to 0 -- and is not
         * used. */
        uint64_t m = 0;
        int digits = 0, frac = 0, has_point = 0, has_exp = 0;
        long exp10 = 0;
        for (; r < q && is_digit(*r); r++, digits++) m = m * 10 + (uint64_t)(*r - '0');
        if (r < q && *r == '.') {
            has_point = 1;
            for (r++; r < q && is_digit(*r); r++, digits++, frac++)
                m = m * 10 + (uint64_t)(*r - '0');
        }
        if (r < q) { /* exponent */
            has_exp = 1;
            r++;
            int eneg = 0;
            if (*r == '+' || *r == '-') eneg = *r++ == '-';
            long e = 0;
            for (; r < q && is_digit(*r) && e < 100000; r++) e = e * 10 + (*r - '0');
            exp10 = eneg ? -e : e;
        }
        exp10 -= frac;
        if (digits == 1 && m == 0 && !has_point && !has_exp) {
            /* The literal "0" or "-0" (JSON allows no other integer zero): the integer 0,
             * which becomes +0.0 as msgspec does it. */
            *out = 0.0;
            *p = q;
            return 1;
        }
        if (digits <= 19 && m <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
            static const double P10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                         1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                         1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
            double v = (double)m;
            v = exp10 >= 0 ? v * P10[exp10] : v / P10[-exp10];
            *out = neg ? -v : v;
            *p = q;
            return 1;
        }
    }
    char text[64];
    Py_ssize_t n = q - s;
    if (n > 17 && memchr(s, '.', (size_t)n) == NULL && memchr(s, 'e', (size_t)n) == NULL &&
        memchr(s, 'E', (size_t)n) == NULL)
        return 0; /* an integer beyond 64 bits: the msgspec path decides how it becomes a float */
    if (n >= (Py_ssize_t)sizeof text) return 0; /* long numbers: the msgspec path */
    memcpy(text, s, (size_t)n);
    text[n] = '\0';
    char *stop = NULL;
    double v = PyOS_string_to_double(text, &stop, NULL); /* no exception: inf on overflow */
    if (v == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (stop != text + n) return 0;
    *out = v;
    *p = q;
    return 1;
}

static signed char B64[256];
/* Each character's 6 bits already shifted to their place in a quad's 24; B64_BAD: none. */
#define B64_BAD 0x80000000u
static uint32_t B64S[4][256];

static void b64_init(void) {
    memset(B64, -1, sizeof B64);
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; i++) B64[(unsigned char)a[i]] = (signed char)i;
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < 256; c++)
            B64S[k][c] = B64[c] < 0 ? B64_BAD : (uint32_t)B64[c] << (18 - 6 * k);
}

/* Canonical standard base64 (length a multiple of 4, '=' only as the last one or two
 * characters): what binascii.a2b_base64(strict_mode=True) accepts. ``pads`` is the number of
 * '=' at the end (b64_pads). Checks and decodes in one pass; 0 when a character is not in the
 * alphabet (``out`` then holds garbage that the caller does not keep). */
static int b64_decode_checked(const unsigned char *s, Py_ssize_t n, Py_ssize_t pads,
                              unsigned char *out) {
    Py_ssize_t full = pads ? n - 4 : n;
    unsigned char *o = out;
    uint32_t bad = 0;
    for (Py_ssize_t i = 0; i < full; i += 4) {
        uint32_t v = B64S[0][s[i]] | B64S[1][s[i + 1]] | B64S[2][s[i + 2]] | B64S[3][s[i + 3]];
        bad |= v;
        o[0] = (unsigned char)(v >> 16);
        o[1] = (unsigned char)(v >> 8);
        o[2] = (unsigned char)v;
        o += 3;
    }
    if (bad & B64_BAD) return 0; /* checked once at the end: the loop never branches on it */
    if (pads) {
        const unsigned char *t = s + n - 4;
        int32_t a = B64[t[0]], b = B64[t[1]], c = pads == 2 ? 0 : B64[t[2]];
        if ((a | b | c) < 0) return 0;
        uint32_t v = ((uint32_t)a << 18) | ((uint32_t)b << 12) | ((uint32_t)c << 6);
        o[0] = (unsigned char)(v >> 16);
        if (pads == 1) o[1] = (unsigned char)(v >> 8);
    }
    return 1;
}

/* The '=' at the end of a base64 text whose length is a multiple of 4 (0, 1 or 2). */
static Py_ssize_t b64_pads(const unsigned char *s, Py_ssize_t n) {
    if (n == 0 || s[n - 1] != '=') return 0;
    return s[n - 2] == '=' ? 2 : 1;
}

#define NSTR 6
#define NNUM 4

typedef struct {
    const char *str[NSTR];
    Py_ssize_t str_len[NSTR];
    double num[NNUM];
    const unsigned char *chunk; /* NULL: no data_chunk */
    Py_ssize_t chunk_len, chunk_bytes, chunk_pads;
} Row;

/* Two ASCII digits at s as a number, or -1. */
static int two_digits(const char *s) {
    if (!is_digit(s[0]) || !is_digit(s[1])) return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* The packet's timestamp rule, strictly: YYYY-MM-DDTHH:MM:SS, then .1 to 9 digits or none,
 * then Z or +-HH:MM; a real calendar date from year 1 to 9999, hours to 23, minutes and
 * seconds to 59, offsets to 23:59. A subset of what the packet accepts (which takes any
 * number of fraction digits): anything else goes to the msgspec path. */
static int timestamp_ok(const char *s, Py_ssize_t n) {
    static const int DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return 0;
    int hi = two_digits(s), lo = two_digits(s + 2);
    int month = two_digits(s + 5), day = two_digits(s + 8);
    int hour = two_digits(s + 11), minute = two_digits(s + 14), second = two_digits(s + 17);
    if (hi < 0 || lo < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 ||
        minute < 0 || minute > 59 || second < 0 || second > 59)
        return 0;
    int year = hi * 100 + lo;
    if (year < 1) return 0;
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (day > DAYS[month - 1] + (month == 2 && leap)) return 0;
    Py_ssize_t i = 19;
    if (i < n && s[i] == '.') {
        Py_ssize_t digits = 0;
        for (i++; i < n && is_digit(s[i]); i++) digits++;
        if (digits < 1 || digits > 9) return 0;
    }
    if (i + 1 == n && s[i] == 'Z') return 1;
    if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':') return 0;
    int oh = two_digits(s + i + 1), om = two_digits(s + i + 4);
    return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

/* 1 to max_id characters (code points) of valid UTF-8. */
static int id_ok(const char *s, Py_ssize_t n, Py_ssize_t max_id) {
    if (n < 1) return 0;
    if (n <= max_id) return 1; /* at most n characters */
    Py_ssize_t chars = 0;
    for (Py_ssize_t i = 0; i < n; i++) chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    return chars <= max_id;
}

static int route_ok(const char *s, Py_ssize_t n) {
    return (n == 11 && memcmp(s, "node_to_hub", 11) == 0) ||
           (n == 10 && memcmp(s, "hub_to_hub", 10) == 0);
}

/* The rules past the JSON shape (docs/packet.md), on a parsed row: ids, route, timestamp,
 * finite metrics (the chunk's rules are checked as it is decoded). */
static int rules_ok(const Row *r, Py_ssize_t max_id) {
    for (int k = 0; k < NNUM; k++)
        if (!isfinite(r->num[k])) return 0;
    return id_ok(r->str[0], r->str_len[0], max_id) && id_ok(r->str[1], r->str_len[1], max_id) &&
           route_ok(r->str[2], r->str_len[2]) && id_ok(r->str[3], r->str_len[3], max_id) &&
           id_ok(r->str[4], r->str_len[4], max_id) && timestamp_ok(r->str[5], r->str_len[5]);
}

static int parse(const char *p, Py_ssize_t n, Py_ssize_t max_chunk, Row *r) {
    const char *end = p + n;
    /* Each key a literal: its length is known here, so the comparison is inlined. */
#define STR_FIELD(k, key) \
    if (!LIT(&p, end, key) || !str_span(&p, end, &r->str[k], &r->str_len[k])) return 0
#define NUM_FIELD(k, key) \
    if (!LIT(&p, end, key) || !number(&p, end, &r->num[k])) return 0
    STR_FIELD(0, "{\"sourceId\":\"");
    STR_FIELD(1, "\",\"targetId\":\"");
    STR_FIELD(2, "\",\"routeType\":\"");
    STR_FIELD(3, "\",\"elementId\":\"");
    STR_FIELD(4, "\",\"siteId\":\"");
    STR_FIELD(5, "\",\"timestamp\":\"");
    NUM_FIELD(0, "\",\"metrics\":{\"vibration\":");
    NUM_FIELD(1, ",\"powerUsage\":");
    NUM_FIELD(2, ",\"noiseFloor\":");
    NUM_FIELD(3, ",\"rfiLevel\":");
#undef STR_FIELD
#undef NUM_FIELD
    if (!LIT(&p, end, "}")) return 0;
    r->chunk = NULL;
    if (LIT(&p, end, "}")) return p == end;
    if (LIT(&p, end, ",\"data_chunk\":null}")) return p == end;
    if (!LIT(&p, end, ",\"data_chunk\":\"")) return 0;
    /* The first quote ends the chunk: an escape, a control or non-ASCII character before it
     * is not base64, which b64_decode_checked then refuses (so the row is not ok here). */
    const char *s = p;
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (q == NULL) return 0;
    Py_ssize_t len = q - s;
    p = q;
    if (!LIT(&p, end, "\"}") || p != end) return 0;
    if (len > max_chunk || len % 4) return 0;
    Py_ssize_t pads = b64_pads((const unsigned char *)s, len);
    r->chunk = (const unsigned char *)s;
    r->chunk_len = len;
    r->chunk_pads = pads;
    r->chunk_bytes = len / 4 * 3 - pads;
    return 1;
}

static PyObject *as_bytes(Buf *b) {
    return PyBytes_FromStringAndSize(b->data ? b->data : "", b->len);
}

/* Where the rows come from: a sequence of bytes-like objects, or one buffer cut by sizes. */
typedef struct {
    PyObject **items;        /* sequence mode */
    const char *blob;        /* packed mode */
    const int64_t *sizes;
    Py_ssize_t blob_len, pos;
} Source;

/* Row i's bytes: 1 and (*data, *len) set, 0 for a missing or unreadable value, -1 on a
 * packed source that does not add up. */
static int row_bytes(Source *src, Py_ssize_t i, Py_buffer *view, const char **data, Py_ssize_t *len,
                     int *release) {
    *release = 0;
    if (src->items) {
        PyObject *item = src->items[i];
        if (item == Py_None) return 0;
        if (PyObject_GetBuffer(item, view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            return 0;
        }
        *release = 1;
        *data = (const char *)view->buf;
        *len = view->len;
        return 1;
    }
    int64_t size = src->sizes[i];
    if (size < 0) return 0;
    if (size > src->blob_len - src->pos) {
        PyErr_SetString(PyExc_ValueError, "sizes add up to more than the packed values");
        return -1;
    }
    *data = src->blob + src->pos;
    *len = (Py_ssize_t)size;
    src->pos += (Py_ssize_t)size;
    return 1;
}

static PyObject *split_rows(Source *src, Py_ssize_t n, Py_ssize_t max_chunk, Py_ssize_t max_id) {

    PyObject *result = NULL, *strings = NULL, *floats = NULL;
    PyObject *ok = PyBytes_FromStringAndSize(NULL, n);
    Buf soff[NSTR] = {{0}}, sdat[NSTR] = {{0}}, nums[NNUM] = {{0}};
    Buf cvalid = {0}, coff = {0}, cdat = {0};
    Py_ssize_t n_ok = 0;
    if (ok == NULL) goto done;
    char *okp = PyBytes_AS_STRING(ok);
    /* Sized once for the usual packet: growing them row by row costs copies and fresh pages. */
    for (int k = 0; k < NSTR; k++)
        if (buf_reserve(&soff[k], 4 * (n + 1)) < 0 || buf_reserve(&sdat[k], 24 * n) < 0 ||
            put_offset(&soff[k], 0) < 0)
            goto done;
    for (int k = 0; k < NNUM; k++)
        if (buf_reserve(&nums[k], 8 * n) < 0) goto done;
    if (buf_reserve(&cvalid, n) < 0 || buf_reserve(&coff, 4 * (n + 1)) < 0 ||
        put_offset(&coff, 0) < 0)
        goto done;

    for (Py_ssize_t i = 0; i < n; i++) {
        okp[i] = 0;
        Py_buffer view;
        const char *data = NULL;
        Py_ssize_t len = 0;
        int release;
        int got = row_bytes(src, i, &view, &data, &len, &release);
        if (got < 0) goto done;
        if (got == 0) continue;
        Row r;
        int good = parse(data, len, max_chunk, &r) && rules_ok(&r, max_id);
        if (good && r.chunk != NULL) {
            /* checked and decoded in place at the end of the column; kept only if ok */
            if (buf_reserve(&cdat, r.chunk_bytes) < 0) {
                if (release) PyBuffer_Release(&view);
                goto done;
            }
            good = b64_decode_checked(r.chunk, r.chunk_len, r.chunk_pads,
                                      (unsigned char *)cdat.data + cdat.len);
        }
        if (good) {
            for (int k = 0; k < NSTR; k++) {
                if (buf_put(&sdat[k], r.str[k], r.str_len[k]) < 0 ||
                    put_offset(&soff[k], sdat[k].len) < 0) {
                    if (release) PyBuffer_Release(&view);
                    goto done;
                }
            }
            for (int k = 0; k < NNUM; k++) {
                if (buf_put(&nums[k], &r.num[k], sizeof(double)) < 0) {
                    if (release) PyBuffer_Release(&view);
                    goto done;
                }
            }
            char valid = r.chunk != NULL;
            if (buf_put(&cvalid, &valid, 1) < 0) {
                if (release) PyBuffer_Release(&view);
                goto done;
            }
            if (valid) cdat.len += r.chunk_bytes;
            if (put_offset(&coff, cdat.len) < 0) {
                if (release) PyBuffer_Release(&view);
                goto done;
            }
            okp[i] = 1;
            n_ok++;
        }
        if (release) PyBuffer_Release(&view);
    }

    strings = PyTuple_New(NSTR);
    floats = PyTuple_New(NNUM);
    if (strings == NULL || floats == NULL) goto fail;
    for (int k = 0; k < NSTR; k++) {
        PyObject *pair = Py_BuildValue("(NN)", as_bytes(&soff[k]), as_bytes(&sdat[k]));
        if (pair == NULL) goto fail;
        PyTuple_SET_ITEM(strings, k, pair);
    }
    for (int k = 0; k < NNUM; k++) {
        PyObject *b = as_bytes(&nums[k]);
        if (b == NULL) goto fail;
        PyTuple_SET_ITEM(floats, k, b);
    }
    result = Py_BuildValue("(ONN(NNN)n)", ok, strings, floats, as_bytes(&cvalid),
                           as_bytes(&coff), as_bytes(&cdat), n_ok);
    goto done;
fail:
    Py_XDECREF(strings);
    Py_XDECREF(floats);

done:
    Py_XDECREF(ok);
    for (int k = 0; k < NSTR; k++) {
        PyMem_Free(soff[k].data);
        PyMem_Free(sdat[k].data);
    }
    for (int k = 0; k < NNUM; k++) PyMem_Free(nums[k].data);
    PyMem_Free(cvalid.data);
    PyMem_Free(coff.data);
    PyMem_Free(cdat.data);
    return result;
}

static PyObject *split(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *values;
    Py_ssize_t max_chunk, max_id;
    if (!PyArg_ParseTuple(args, "Onn:split", &values, &max_chunk, &max_id)) return NULL;
    PyObject *seq = PySequence_Fast(values, "values must be a sequence");
    if (seq == NULL) return NULL;
    Source src = {PySequence_Fast_ITEMS(seq), NULL, NULL, 0, 0};
    PyObject *result = split_rows(&src, PySequence_Fast_GET_SIZE(seq), max_chunk, max_id);
    Py_DECREF(seq);
    return result;
}

static PyObject *split_packed(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer blob, sizes;
    Py_ssize_t max_chunk, max_id;
    if (!PyArg_ParseTuple(args, "y*y*nn:split_packed", &blob, &sizes, &max_chunk, &max_id))
        return NULL;
    PyObject *result = NULL;
    if (sizes.len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "sizes must be int64 values");
    } else {
        Source src = {NULL, (const char *)blob.buf, (const int64_t *)sizes.buf, blob.len, 0};
        result = split_rows(&src, sizes.len / (Py_ssize_t)sizeof(int64_t), max_chunk, max_id);
    }
    PyBuffer_Release(&blob);
    PyBuffer_Release(&sizes);
    return result;
}


/* ---- the consumer's side --------------------------------------------------------------- */

static PyObject *call0(PyObject *method, PyObject *self) {
    return PyObject_Vectorcall(method, &self, 1, NULL);
}

/* gather(msgs) -> (partition, offsets, timestamps, keys, values), each a list, or None when
 * a message carries an error or the batch spans partitions (the Python path then cuts it).
 * One pass over a consumed batch for what the archiver keeps of each record; a timestamp
 * below zero (none) counts as the epoch. */
static PyObject *gather(PyObject *self, PyObject *msgs) {
    (void)self;
    if (!PyList_Check(msgs)) {
        PyErr_SetString(PyExc_TypeError, "gather() expects a list of messages");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(msgs);
    if (n == 0) Py_RETURN_NONE;
    PyTypeObject *type = Py_TYPE(PyList_GET_ITEM(msgs, 0));
    static const char *names[6] = {"error", "partition", "offset", "timestamp", "key", "value"};
    PyObject *m[6] = {NULL};
    PyObject *lists[4] = {NULL};
    PyObject *result = NULL, *zero = NULL;
    long first = -1;
    for (int k = 0; k < 6; k++)
        if ((m[k] = PyObject_GetAttrString((PyObject *)type, names[k])) == NULL) goto done;
    for (int k = 0; k < 4; k++)
        if ((lists[k] = PyList_New(n)) == NULL) goto done;
    if ((zero = PyLong_FromLong(0)) == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *msg = PyList_GET_ITEM(msgs, i);
        if (Py_TYPE(msg) != type) goto none;
        PyObject *err = call0(m[0], msg);
        if (err == NULL) goto done;
        Py_DECREF(err);
        if (err != Py_None) goto none;
        PyObject *part = call0(m[1], msg);
        if (part == NULL) goto done;
        long p = PyLong_AsLong(part);
        Py_DECREF(part);
        if (p == -1 && PyErr_Occurred()) goto done;
        if (i == 0)
            first = p;
        else if (p != first)
            goto none;
        PyObject *offset = call0(m[2], msg);
        if (offset == NULL) goto done;
        PyList_SET_ITEM(lists[0], i, offset);
        PyObject *ts = call0(m[3], msg);
        if (ts == NULL) goto done;
        if (!PyTuple_Check(ts) || PyTuple_GET_SIZE(ts) != 2) {
            Py_DECREF(ts);
            PyErr_SetString(PyExc_TypeError, "timestamp() is not a (type, ms) pair");
            goto done;
        }
        PyObject *ms = PyTuple_GET_ITEM(ts, 1);
        int negative = PyObject_RichCompareBool(ms, zero, Py_LT);
        if (negative < 0) {
            Py_DECREF(ts);
            goto done;
        }
        PyList_SET_ITEM(lists[1], i, Py_NewRef(negative ? zero : ms));
        Py_DECREF(ts);
        PyObject *key = call0(m[4], msg);
        if (key == NULL) goto done;
        PyList_SET_ITEM(lists[2], i, key);
        PyObject *value = call0(m[5], msg);
        if (value == NULL) goto done;
        PyList_SET_ITEM(lists[3], i, value);
    }
    result = Py_BuildValue("(lOOOO)", first, lists[0], lists[1], lists[2], lists[3]);
    goto done;
none:
    result = Py_NewRef(Py_None);
done:
    for (int k = 0; k < 6; k++) Py_XDECREF(m[k]);
    for (int k = 0; k < 4; k++) Py_XDECREF(lists[k]);
    Py_XDECREF(zero);
    return result;
}

/* Copy a list of bytes-like-or-None into out at *pos, their sizes (-1: None) into sizes. */
static int pack_blobs(PyObject *items, int64_t *sizes, char *out, Py_ssize_t cap, Py_ssize_t *pos) {
    Py_ssize_t n = PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        int64_t size = -1;
        if (item != Py_None) {
            const char *data;
            Py_ssize_t len;
            Py_buffer view;
            int release = 0;
            if (PyBytes_CheckExact(item)) {
                data = PyBytes_AS_STRING(item);
                len = PyBytes_GET_SIZE(item);
            } else {
                if (PyObject_GetBuffer(item, &view, PyBUF_SIMPLE) < 0) return -1;
                data = view.buf;
                len = view.len;
                release = 1;
            }
            if (len > cap - *pos) {
                if (release) PyBuffer_Release(&view);
                PyErr_SetString(PyExc_ValueError, "the block is too small for the range");
                return -1;
            }
            memcpy(out + *pos, data, (size_t)len);
            *pos += len;
            size = len;
            if (release) PyBuffer_Release(&view);
        }
        memcpy(sizes + i, &size, sizeof size);
    }
    return 0;
}

static int pack_ints(PyObject *items, int64_t *out) {
    Py_ssize_t n = PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        long long v = PyLong_AsLongLong(PyList_GET_ITEM(items, i));
        if (v == -1 && PyErr_Occurred()) return -1;
        int64_t w = (int64_t)v;
        memcpy(out + i, &w, sizeof w);
    }
    return 0;
}

/* pack_range(offsets, timestamps, keys, values, block) -> (key bytes, value bytes): the
 * range written in records.py's block layout (four int64 rows: offsets, timestamps, key
 * sizes, value sizes, -1 for none; then the keys, then the values), in one pass over each. */
static PyObject *pack_range(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *offsets, *stamps, *keys, *values;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "O!O!O!O!w*:pack_range", &PyList_Type, &offsets, &PyList_Type,
                          &stamps, &PyList_Type, &keys, &PyList_Type, &values, &out))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = PyList_GET_SIZE(offsets);
    if (PyList_GET_SIZE(stamps) != n || PyList_GET_SIZE(keys) != n ||
        PyList_GET_SIZE(values) != n) {
        PyErr_SetString(PyExc_ValueError, "pack_range(): columns of different lengths");
        goto done;
    }
    if (out.len < 32 * n) {
        PyErr_SetString(PyExc_ValueError, "the block is too small for the range");
        goto done;
    }
    int64_t *table = (int64_t *)out.buf; /* written with memcpy: any alignment */
    if (pack_ints(offsets, table) < 0 || pack_ints(stamps, table + n) < 0) goto done;
    Py_ssize_t pos = 32 * n;
    if (pack_blobs(keys, table + 2 * n, out.buf, out.len, &pos) < 0) goto done;
    Py_ssize_t klen = pos - 32 * n;
    if (pack_blobs(values, table + 3 * n, out.buf, out.len, &pos) < 0) goto done;
    result = Py_BuildValue("(nn)", klen, pos - 32 * n - klen);
done:
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS,
     "split(values, max_chunk_chars, max_id_chars) -> (ok, strings, floats, chunks, n_ok): canonical "
     "packets cut into Arrow column buffers."},
    {"split_packed", split_packed, METH_VARARGS,
     "split_packed(blob, sizes, max_chunk_chars, max_id_chars): the same for values packed one after "
     "another in blob, with int64 sizes (-1: no value)."},
    {"gather", gather, METH_O,
     "gather(msgs) -> (partition, offsets, timestamps, keys, values), or None for a batch "
     "with an error event or several partitions."},
    {"pack_range", pack_range, METH_VARARGS,
     "pack_range(offsets, timestamps, keys, values, block) -> (key bytes, value bytes): a "
     "range written in the shared-memory block layout."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_columns",
    "Canonical packets cut into Arrow column buffers (the archiver's fast path).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__columns(void) {
    b64_init();
    return PyModule_Create(&module);
}
