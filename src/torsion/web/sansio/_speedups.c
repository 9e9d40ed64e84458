/* Optional C accelerator for the HTTP/1.1 core's two hot spots.
 *
 * parse_simple_head: the parser's fast lane, the same grammar as the regular
 *     expression in _readers.py (_FAST_REQUEST_HEAD and _FAST_FIELD_LINE), in
 *     one pass and without building match objects.
 * join_head: a start line and its field lines joined into one bytes object,
 *     as _writers.py does with b"".join.
 *
 * Each function answers exactly what its Python twin answers; the tests run the
 * core with both and compare them on generated input.  Anything unusual is left
 * to Python: the fast lane answers None and the careful path takes over.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* tchar (RFC 9110 section 5.6.2) */
static unsigned char is_tchar[256];
/* field-vchar, SP, HTAB: what the fast lane accepts in a field value */
static unsigned char is_value_char[256];

static PyObject *version_10;
static PyObject *version_11;

enum { N_METHODS = 7 };
static const char *const method_names[N_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
};
/* The common methods as shared objects: no allocation, and comparisons with the
 * constants of the Python code short-circuit on identity. */
static PyObject *method_objects[N_METHODS];

static void
init_tables(void)
{
    const char *specials = "!#$%&'*+-.^_`|~";
    for (int c = '0'; c <= '9'; c++) is_tchar[c] = 1;
    for (int c = 'a'; c <= 'z'; c++) is_tchar[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++) is_tchar[c] = 1;
    for (const char *p = specials; *p; p++) is_tchar[(unsigned char)*p] = 1;
    is_value_char['\t'] = 1;
    for (int c = 0x20; c <= 0x7e; c++) is_value_char[c] = 1;
    for (int c = 0x80; c <= 0xff; c++) is_value_char[c] = 1;
}

static PyObject *
method_object(const char *start, Py_ssize_t length)
{
    for (int i = 0; i < N_METHODS; i++) {
        const char *name = method_names[i];
        if ((Py_ssize_t)strlen(name) == length && memcmp(name, start, length) == 0) {
            Py_INCREF(method_objects[i]);
            return method_objects[i];
        }
    }
    return PyBytes_FromStringAndSize(start, length);
}

/* Add one field to the triples and to the index by lower-case name. */
static int
add_field(PyObject *triples, PyObject *index, const char *name, Py_ssize_t name_len,
          const char *value, Py_ssize_t value_len)
{
    char lower_buf[64];
    char *lower_chars = lower_buf;
    int result = -1;
    PyObject *raw = NULL, *lower = NULL, *val = NULL, *triple = NULL;

    if (name_len > (Py_ssize_t)sizeof(lower_buf)) {
        lower_chars = PyMem_Malloc(name_len);
        if (lower_chars == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < name_len; i++) {
        unsigned char c = (unsigned char)name[i];
        lower_chars[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
    }
    raw = PyBytes_FromStringAndSize(name, name_len);
    lower = PyBytes_FromStringAndSize(lower_chars, name_len);
    val = PyBytes_FromStringAndSize(value, value_len);
    if (raw == NULL || lower == NULL || val == NULL) goto done;
    triple = PyTuple_Pack(3, raw, lower, val);
    if (triple == NULL || PyList_Append(triples, triple) < 0) goto done;

    PyObject *values = PyDict_GetItemWithError(index, lower); /* borrowed */
    if (values != NULL) {
        if (PyList_Append(values, val) < 0) goto done;
    }
    else {
        if (PyErr_Occurred()) goto done;
        values = PyList_New(1);
        if (values == NULL) goto done;
        Py_INCREF(val);
        PyList_SET_ITEM(values, 0, val);
        int failed = PyDict_SetItem(index, lower, values);
        Py_DECREF(values);
        if (failed < 0) goto done;
    }
    result = 0;
done:
    if (lower_chars != lower_buf) PyMem_Free(lower_chars);
    Py_XDECREF(raw);
    Py_XDECREF(lower);
    Py_XDECREF(val);
    Py_XDECREF(triple);
    return result;
}

PyDoc_STRVAR(parse_simple_head_doc,
"parse_simple_head(data, end, max_line, max_fields, /)\n--\n\n"
"The request head in data[:end + 4], whose first CRLF CRLF is at end, as\n"
"(method, target, version, triples, index), or None when the fast lane does not\n"
"accept it (the careful parser then decides).");

static PyObject *
parse_simple_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t end, max_line, max_fields;
    PyObject *result = NULL, *method = NULL, *target = NULL;
    PyObject *triples = NULL, *index = NULL;

    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_simple_head takes 4 arguments");
        return NULL;
    }
    /* Clipped, not OverflowError: the limits are Python ints of any size and the
     * twin compares them as they are. */
    end = PyNumber_AsSsize_t(args[1], NULL);
    if (end == -1 && PyErr_Occurred()) return NULL;
    max_line = PyNumber_AsSsize_t(args[2], NULL);
    if (max_line == -1 && PyErr_Occurred()) return NULL;
    max_fields = PyNumber_AsSsize_t(args[3], NULL);
    if (max_fields == -1 && PyErr_Occurred()) return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *data = view.buf;
    /* Every scan below stops at the CR at data[end]; without it they could run off
     * a buffer that has no terminating NUL (a memoryview of an array, say). */
    if (end < 0 || end > view.len - 4 || memcmp(data + end, "\r\n\r\n", 4) != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "data[end:end + 4] is not CRLF CRLF");
        return NULL;
    }
    const unsigned char *p = data;
    const unsigned char *stop = data + end + 2; /* the CRLF ending the last line */

    /* request-line: method SP target SP "HTTP/1." DIGIT CRLF */
    const unsigned char *method_start = p;
    while (is_tchar[*p]) p++;
    Py_ssize_t method_len = p - method_start;
    if (method_len == 0 || *p != ' ') goto decline;
    p++;
    const unsigned char *target_start = p;
    while (*p >= 0x21 && *p <= 0x7e) p++;
    Py_ssize_t target_len = p - target_start;
    if (target_len == 0 || stop - p < 10 || memcmp(p, " HTTP/1.", 8) != 0) goto decline;
    unsigned char minor = p[8];
    if (minor < '0' || minor > '9' || p[9] != '\r' || p[10] != '\n') goto decline;
    p += 11;
    if (method_len + target_len + 10 > max_line) goto decline;
    if (max_fields < 0) goto decline; /* even with no fields, as the twin does */

    triples = PyList_New(0);
    index = PyDict_New();
    if (triples == NULL || index == NULL) goto error;
    Py_ssize_t count = 0;
    /* field-line: token ":" value CRLF, until the empty line at stop */
    while (p < stop) {
        const unsigned char *name = p;
        while (is_tchar[*p]) p++;
        Py_ssize_t name_len = p - name;
        if (name_len == 0 || *p != ':') goto decline;
        p++;
        const unsigned char *value = p;
        while (is_value_char[*p]) p++;
        if (p[0] != '\r' || p[1] != '\n') goto decline;
        const unsigned char *value_end = p;
        while (value < value_end && (*value == ' ' || *value == '\t')) value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t')) value_end--;
        if (++count > max_fields) goto decline;
        if (add_field(triples, index, (const char *)name, name_len,
                      (const char *)value, value_end - value) < 0) goto error;
        p += 2;
    }
    if (p != stop) goto decline;

    method = method_object((const char *)method_start, method_len);
    target = PyBytes_FromStringAndSize((const char *)target_start, target_len);
    if (method == NULL || target == NULL) goto error;
    PyObject *version;
    if (minor == '1') {
        version = version_11;
        Py_INCREF(version);
    }
    else if (minor == '0') {
        version = version_10;
        Py_INCREF(version);
    }
    else {
        char text[3] = {'1', '.', (char)minor};
        version = PyBytes_FromStringAndSize(text, 3);
        if (version == NULL) goto error;
    }
    result = PyTuple_New(5);
    if (result == NULL) {
        Py_DECREF(version);
        goto error;
    }
    PyTuple_SET_ITEM(result, 0, method);
    PyTuple_SET_ITEM(result, 1, target);
    PyTuple_SET_ITEM(result, 2, version);
    PyTuple_SET_ITEM(result, 3, triples);
    PyTuple_SET_ITEM(result, 4, index);
    PyBuffer_Release(&view);
    return result;

decline:
    Py_XDECREF(triples);
    Py_XDECREF(index);
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
error:
    Py_XDECREF(method);
    Py_XDECREF(target);
    Py_XDECREF(triples);
    Py_XDECREF(index);
    PyBuffer_Release(&view);
    return NULL;
}

PyDoc_STRVAR(join_head_doc,
"join_head(start, triples, /)\n--\n\n"
"start, then b'NAME: VALUE\\r\\n' for each (raw name, name, value) triple, then\n"
"b'\\r\\n', as one bytes object.");

static PyObject *
join_head(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "join_head takes 2 arguments");
        return NULL;
    }
    PyObject *start = args[0];
    PyObject *seq = PySequence_Fast(args[1], "join_head: triples must be a sequence");
    if (seq == NULL) return NULL;
    if (!PyBytes_Check(start)) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_TypeError, "join_head: start must be bytes");
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_ssize_t total = PyBytes_GET_SIZE(start) + 2;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *triple = items[i];
        if (!PyTuple_Check(triple) || PyTuple_GET_SIZE(triple) != 3
            || !PyBytes_Check(PyTuple_GET_ITEM(triple, 0))
            || !PyBytes_Check(PyTuple_GET_ITEM(triple, 2))) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "join_head: triples of bytes expected");
            return NULL;
        }
        total += PyBytes_GET_SIZE(PyTuple_GET_ITEM(triple, 0))
                 + PyBytes_GET_SIZE(PyTuple_GET_ITEM(triple, 2)) + 4;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    char *w = PyBytes_AS_STRING(out);
    memcpy(w, PyBytes_AS_STRING(start), PyBytes_GET_SIZE(start));
    w += PyBytes_GET_SIZE(start);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(items[i], 0);
        PyObject *value = PyTuple_GET_ITEM(items[i], 2);
        memcpy(w, PyBytes_AS_STRING(name), PyBytes_GET_SIZE(name));
        w += PyBytes_GET_SIZE(name);
        *w++ = ':';
        *w++ = ' ';
        memcpy(w, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
        w += PyBytes_GET_SIZE(value);
        *w++ = '\r';
        *w++ = '\n';
    }
    *w++ = '\r';
    *w++ = '\n';
    Py_DECREF(seq);
    return out;
}

static PyMethodDef speedups_methods[] = {
    {"parse_simple_head", (PyCFunction)(void (*)(void))parse_simple_head, METH_FASTCALL,
     parse_simple_head_doc},
    {"join_head", (PyCFunction)(void (*)(void))join_head, METH_FASTCALL, join_head_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "torsion.web.sansio._speedups",
    "C versions of the HTTP/1.1 core's fast lane (optional; Python twins in _readers and _writers).",
    -1,
    speedups_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_tables();
    version_10 = PyBytes_FromStringAndSize("1.0", 3);
    version_11 = PyBytes_FromStringAndSize("1.1", 3);
    if (version_10 == NULL || version_11 == NULL) return NULL;
    for (int i = 0; i < N_METHODS; i++) {
        method_objects[i] = PyBytes_FromString(method_names[i]);
        if (method_objects[i] == NULL) return NULL;
    }
    return PyModule_Create(&speedups_module);
}
