/* ARFF reader (Weka / MEKA / Mulan): dense and sparse rows, gzip or plain. */
#include <ctype.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "data/data_internal.h"

/* Attributes a file may declare: the dense width limit (docs/formats.md, Limits). */
#define ARFF_MAX_ATTRS MLCL_DATA_MAX_COLS

typedef struct {
    size_t name;   /* offset of the name in the reader's pool */
    int nominal;   /* 1: a nominal attribute */
    int n_values;
    size_t first;  /* its values are vals[first .. first + n_values) */
    int is_label;  /* role after the label split */
    int pos;       /* index among features or labels */
} arff_attr;

/* One nominal value for the lookup: sorted by (string, declared index). */
typedef struct {
    const char *s;
    int k;
} arff_val;

typedef struct {
    mlcl__lines in;
    arff_attr *attrs;
    size_t n_attrs, cap_attrs;
    char *pool;            /* attribute names and nominal values, NUL-terminated */
    size_t pool_len, pool_cap;
    size_t *vals;          /* pool offsets of the nominal values, in declared order */
    size_t n_vals, cap_vals;
    arff_val *sorted;      /* per nominal attribute, its values sorted (after the header) */
    char *relation;
    long relation_line;
    const char *linebuf;   /* the current line, for column numbers */
    /* CSR mode (mlcl_dataset_load_arff_sparse): the feature positions the
     * current row stored into the scratch row, in increasing order */
    int track;
    int *touched;
    size_t n_touched;
} arff_reader;

static void free_attrs(arff_reader *a)
{
    mlcl__free(a->attrs);
    mlcl__free(a->pool);
    mlcl__free(a->vals);
    mlcl__free(a->sorted);
    mlcl__free(a->relation);
}

/* The header's own memory (attributes, names, values) counts against the budget. */
static int header_budget(arff_reader *a, size_t more)
{
    double bytes = (double)a->pool_len + (double)more + (double)a->n_vals * (sizeof(size_t) + sizeof(arff_val)) +
                   (double)a->n_attrs * sizeof(arff_attr);
    return mlcl__lines_budget(&a->in, bytes, "the header (attribute names and nominal values)");
}

/* Appends a string to the pool; *off receives its offset. */
static int pool_add(arff_reader *a, const char *str, size_t *off)
{
    size_t len = strlen(str) + 1;
    MLCL_TRY(header_budget(a, len));
    MLCL_TRY(mlcl__grow((void **)&a->pool, &a->pool_cap, a->pool_len + len, 1, a->in.fn));
    memcpy(a->pool + a->pool_len, str, len);
    *off = a->pool_len;
    a->pool_len += len;
    return MLCL_OK;
}

static const char *attr_name(const arff_reader *a, const arff_attr *at) { return a->pool + at->name; }

static long col_of(const arff_reader *a, const char *p) { return (long)(p - a->linebuf) + 1; }

/* Matches a case-insensitive keyword followed by white space or the end. */
static int keyword(const char *p, const char *kw, const char **rest)
{
    size_t n = strlen(kw);
    if (strncasecmp(p, kw, n) != 0) return 0;
    if (p[n] && p[n] != ' ' && p[n] != '\t') return 0;
    *rest = p + n;
    return 1;
}

/*
 * Takes one token at *pp: a quoted string ('...' or "...", backslash escapes)
 * or the text up to one of `delims` (trailing blanks trimmed). NUL-terminates
 * it in place, stores the delimiter that ended it in *delim (0 at the end of
 * the line) and advances *pp past that delimiter.
 * Returns 0, -1 on an unterminated quote, -2 on text after a closing quote.
 */
static int take_token(char **pp, const char *delims, char **tok, char *delim)
{
    char *p = mlcl__skip_ws(*pp);
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        char *w = p;
        *tok = p;
        while (*p && *p != q) {
            if (*p == '\\' && p[1]) p++;
            *w++ = *p++;
        }
        if (!*p) return -1;
        p++;
        *w = '\0';
        if (*p && !strchr(delims, *p)) { /* blanks, then a delimiter or the end */
            p = mlcl__skip_ws(p);
            if (*p && !strchr(delims, *p)) return -2;
        }
    } else {
        *tok = p;
        while (*p && !strchr(delims, *p)) p++;
        char *e = p;
        while (e > *tok && (e[-1] == ' ' || e[-1] == '\t')) e--;
        char d = *p;
        *e = '\0';
        *delim = d;
        *pp = d ? p + 1 : p;
        return 0;
    }
    *delim = *p;
    *pp = *p ? p + 1 : p;
    return 0;
}

static int add_value(arff_reader *a, arff_attr *at, const char *v)
{
    size_t off;
    MLCL_TRY(pool_add(a, v, &off));
    MLCL_TRY(mlcl__grow((void **)&a->vals, &a->cap_vals, a->n_vals + 1, sizeof *a->vals, a->in.fn));
    a->vals[a->n_vals++] = off;
    at->n_values++;
    return MLCL_OK;
}

static int cmp_val(const void *x, const void *y)
{
    const arff_val *p = x, *q = y;
    int c = strcmp(p->s, q->s);
    return c ? c : (p->k > q->k) - (p->k < q->k);
}

/* Builds the sorted lookup of every nominal attribute (the pool no longer moves). */
static int index_values(arff_reader *a)
{
    if (a->n_vals == 0) return MLCL_OK;
    MLCL_TRY(mlcl__alloc_array((void **)&a->sorted, a->n_vals, sizeof *a->sorted, a->in.fn));
    for (size_t i = 0; i < a->n_attrs; i++) {
        const arff_attr *at = &a->attrs[i];
        if (!at->nominal) continue;
        arff_val *v = a->sorted + at->first;
        for (int k = 0; k < at->n_values; k++) {
            v[k].s = a->pool + a->vals[at->first + (size_t)k];
            v[k].k = k;
        }
        qsort(v, (size_t)at->n_values, sizeof *v, cmp_val);
    }
    return MLCL_OK;
}

/* The declared index of value tok of a nominal attribute (the first one when
 * declared twice), or -1: a binary search, O(log n_values). */
static int find_value(const arff_reader *a, const arff_attr *at, const char *tok)
{
    const arff_val *v = a->sorted + at->first;
    size_t lo = 0, hi = (size_t)at->n_values;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].s, tok) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < (size_t)at->n_values && strcmp(v[lo].s, tok) == 0 ? v[lo].k : -1;
}

/* @attribute <name> <type> */
static int parse_attribute(arff_reader *a, char *p)
{
    if (a->n_attrs >= ARFF_MAX_ATTRS)
        return mlcl__lines_err(&a->in, "more than %d attributes (MLCL_DATA_MAX_COLS)", ARFF_MAX_ATTRS);
    MLCL_TRY(header_budget(a, sizeof(arff_attr)));
    MLCL_TRY(mlcl__grow((void **)&a->attrs, &a->cap_attrs, a->n_attrs + 1, sizeof *a->attrs, a->in.fn));
    arff_attr *at = &a->attrs[a->n_attrs];
    memset(at, 0, sizeof *at);
    a->n_attrs++; /* counted now so that free_attrs releases it on error */
    char *name, delim;
    int rc = take_token(&p, " \t{", &name, &delim);
    if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in an attribute name");
    if (rc == -2 || !*name) return mlcl__lines_err(&a->in, "malformed @attribute line");
    size_t name_off;
    MLCL_TRY(pool_add(a, name, &name_off));
    at = &a->attrs[a->n_attrs - 1];
    at->name = name_off;
    at->first = a->n_vals;
    const char *aname = name; /* still valid: the line buffer */
    if (delim == '{') p--; /* the type starts at the brace */
    p = mlcl__skip_ws(p);
    if (*p == '{') {
        at->nominal = 1;
        p++;
        for (;;) {
            char *v;
            rc = take_token(&p, ",}", &v, &delim);
            if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in the values of '%s'", aname);
            if (rc == -2) return mlcl__lines_err(&a->in, "malformed nominal values of '%s'", aname);
            if (delim == '\0') return mlcl__lines_err(&a->in, "nominal values of '%s' lack the closing '}'", aname);
            if (!(*v == '\0' && delim == '}' && at->n_values == 0)) {
                if (!*v) return mlcl__lines_err(&a->in, "empty nominal value in '%s'", aname);
                MLCL_TRY(add_value(a, at, v));
            }
            if (delim == '}') break;
        }
        if (at->n_values == 0) return mlcl__lines_err(&a->in, "nominal attribute '%s' has no values", aname);
        if (!mlcl__is_blank(p)) return mlcl__lines_err(&a->in, "text after the nominal values of '%s'", aname);
        return MLCL_OK;
    }
    char *type = p;
    char *e = type;
    while (*e && *e != ' ' && *e != '\t') e++;
    char save = *e;
    *e = '\0';
    if (!strcasecmp(type, "numeric") || !strcasecmp(type, "real") || !strcasecmp(type, "integer")) {
        *e = save;
        if (!mlcl__is_blank(e)) return mlcl__lines_err(&a->in, "text after the type of '%s'", aname);
        return MLCL_OK;
    }
    if (!*type) return mlcl__lines_err(&a->in, "attribute '%s' has no type", aname);
    return mlcl__lines_err(&a->in, "attribute '%s' has type '%s'; only numeric, real, integer and nominal {...} are supported",
                           aname, type);
}

/* The MEKA option "-C N" in the relation name: N > 0 first N, N < 0 last -N.
 * Returns 0 with *out set, -1 when there is no -C, -2 when -C's value is not
 * a non-zero integer within +-ARFF_MAX_ATTRS (its text in bad[]). */
static int meka_labels(const char *rel, long *out, char bad[32])
{
    const char *p = rel;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        const char *t = p;
        while (*p && !isspace((unsigned char)*p)) p++;
        if (p - t == 2 && t[0] == '-' && t[1] == 'C') {
            while (*p && isspace((unsigned char)*p)) p++;
            char num[32];
            size_t k = 0;
            while (p[k] && !isspace((unsigned char)p[k]) && k < sizeof num - 1) { num[k] = p[k]; k++; }
            num[k] = '\0';
            long v;
            if (mlcl__parse_long(num, -ARFF_MAX_ATTRS, ARFF_MAX_ATTRS, &v) != 0 || v == 0) {
                memcpy(bad, num, k + 1);
                return -2;
            }
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Stores one value of attribute `at` into the current row. */
static int store_value(arff_reader *a, const arff_attr *at, const char *tok, float *xrow, uint8_t *yrow)
{
    const char *name = attr_name(a, at);
    if (tok[0] == '?' && tok[1] == '\0')
        return mlcl__lines_err(&a->in, "missing value '?' for '%s' is not supported", name);
    if (at->is_label) {
        if (!strcmp(tok, "0") || !strcmp(tok, "1")) {
            yrow[at->pos] = (uint8_t)(tok[0] - '0');
            return MLCL_OK;
        }
        return mlcl__lines_err(&a->in, "label '%s' has value '%s' (expected 0 or 1)", name, tok);
    }
    if (at->nominal) {
        int k = find_value(a, at, tok);
        if (k >= 0) {
            if (a->track) a->touched[a->n_touched++] = at->pos;
            xrow[at->pos] = (float)k;
            return MLCL_OK;
        }
        return mlcl__lines_err(&a->in, "value '%s' is not one of the declared values of '%s'", tok, name);
    }
    if (a->track) a->touched[a->n_touched++] = at->pos; /* (each attribute once a row) */
    int rc = mlcl__parse_float(&a->in, tok, &xrow[at->pos]);
    if (rc == -1) return mlcl__lines_err(&a->in, "'%s' for '%s' is not a number", tok, name);
    if (rc == -2) return mlcl__lines_col_err(&a->in, col_of(a, tok), "'%s' for '%s' is not a finite float", tok, name);
    if (rc == -3)
        return mlcl__lines_col_err(&a->in, col_of(a, tok), "'%s' for '%s' exceeds the magnitude limit %g (MLCL_DATA_MAX_ABS)",
                                   tok, name, MLCL_DATA_MAX_ABS);
    return MLCL_OK;
}

static int parse_dense(arff_reader *a, char *p, float *xrow, uint8_t *yrow)
{
    size_t k = 0;
    for (;;) {
        char *tok, delim;
        int rc = take_token(&p, ",", &tok, &delim);
        if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in value %zu", k + 1);
        if (rc == -2) return mlcl__lines_err(&a->in, "text after a quoted value %zu", k + 1);
        if (k >= a->n_attrs)
            return mlcl__lines_err(&a->in, "row has more than %zu values", a->n_attrs);
        if (!*tok)
            return mlcl__lines_err(&a->in, "empty value %zu ('%s')%s", k + 1, attr_name(a, &a->attrs[k]),
                                   delim == '\0' ? " (truncated row?)" : "");
        MLCL_TRY(store_value(a, &a->attrs[k], tok, xrow, yrow));
        k++;
        if (delim == '\0') break;
    }
    if (k < a->n_attrs)
        return mlcl__lines_err(&a->in, "row has %zu values, expected %zu (truncated row?)", k, a->n_attrs);
    return MLCL_OK;
}

static int parse_sparse(arff_reader *a, char *p, float *xrow, uint8_t *yrow)
{
    p++; /* '{' */
    long prev = -1;
    p = mlcl__skip_ws(p);
    if (*p == '}') { p++; goto tail; }
    for (;;) {
        char *itok, *vtok, delim;
        int rc = take_token(&p, " \t,}", &itok, &delim);
        if (rc < 0 || !*itok) return mlcl__lines_err(&a->in, "malformed sparse entry");
        if (delim != ' ' && delim != '\t')
            return mlcl__lines_err(&a->in, "sparse entry '%s' has no value%s", itok,
                                   delim == '\0' ? " (truncated row?)" : "");
        long idx;
        if (mlcl__parse_long(itok, 0, LONG_MAX, &idx) != 0)
            return mlcl__lines_err(&a->in, "sparse index '%s' is not a non-negative integer", itok);
        if (idx >= (long)a->n_attrs)
            return mlcl__lines_err(&a->in, "sparse index %ld is out of range (%zu attributes)", idx, a->n_attrs);
        if (idx <= prev)
            return mlcl__lines_err(&a->in, "sparse indices must be ascending (%ld after %ld)", idx, prev);
        prev = idx;
        rc = take_token(&p, ",}", &vtok, &delim);
        if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in a sparse value");
        if (rc == -2) return mlcl__lines_err(&a->in, "text after a quoted sparse value");
        if (delim == '\0') return mlcl__lines_err(&a->in, "sparse row lacks the closing '}' (truncated row?)");
        if (!*vtok) return mlcl__lines_err(&a->in, "sparse index %ld has an empty value", idx);
        MLCL_TRY(store_value(a, &a->attrs[idx], vtok, xrow, yrow));
        if (delim == '}') break;
    }
tail:
    if (!mlcl__is_blank(p))
        return mlcl__lines_err(&a->in, "text after the sparse row's '}' (instance weights are not supported)");
    return MLCL_OK;
}

static int name_blocks(arff_reader *a, mlcl_dataset *ds, const char *fn);
static int load_rows_csr(arff_reader *a, mlcl_dataset **out, int d, int c, long data_line);

static int load(arff_reader *a, mlcl_dataset **out, int n_labels, int labels_first)
{
    const char *fn = a->in.fn;
    char *line;
    int rc, seen_any = 0;
    long data_line = 0;
    /* ---- header */
    for (;;) {
        rc = mlcl__lines_next(&a->in, &line);
        if (rc < 0) return rc;
        if (rc == 0) {
            a->in.line++;
            if (!seen_any) return mlcl__lines_err(&a->in, "empty file (no @relation, @attribute or @data)");
            return mlcl__lines_err(&a->in, "end of file before @data");
        }
        char *p = mlcl__skip_ws(line);
        if (!*p || *p == '%') continue;
        seen_any = 1;
        const char *rest;
        if (keyword(p, "@relation", &rest)) {
            char *r = (char *)rest, *name, delim;
            rc = take_token(&r, "", &name, &delim);
            if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in the relation name");
            mlcl__free(a->relation);
            if (!(a->relation = mlcl__strdup(name))) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
            a->relation_line = a->in.line;
        } else if (keyword(p, "@attribute", &rest)) {
            MLCL_TRY(parse_attribute(a, (char *)rest));
        } else if (keyword(p, "@data", &rest)) {
            if (!mlcl__is_blank(rest)) return mlcl__lines_err(&a->in, "text after @data");
            data_line = a->in.line;
            break;
        } else {
            return mlcl__lines_err(&a->in, "expected @relation, @attribute or @data, found '%.40s'", p);
        }
    }
    /* ---- label split */
    if (a->n_attrs == 0) return mlcl__lines_err(&a->in, "no @attribute before @data");
    long nl;
    int first;
    if (n_labels > 0) {
        nl = n_labels;
        first = labels_first != 0;
    } else {
        char bad[32] = "";
        int mk = a->relation ? meka_labels(a->relation, &nl, bad) : -1;
        if (mk != 0) {
            if (a->relation) a->in.line = a->relation_line;
            if (mk == -2)
                return mlcl__lines_err(&a->in, "the relation name's MEKA option '-C %s' is not a label count "
                                       "(a non-zero integer N, |N| <= %d); pass n_labels", bad, (int)ARFF_MAX_ATTRS);
            return mlcl__lines_err(&a->in, "the relation name '%s' has no MEKA option '-C N'; pass n_labels",
                                   a->relation ? a->relation : "");
        }
        first = nl > 0;
        if (nl < 0) nl = -nl;
    }
    if (nl >= (long)a->n_attrs)
        return mlcl__lines_err(&a->in, "%ld labels requested but only %zu attributes (at least one feature needed)",
                               nl, a->n_attrs);
    int c = (int)nl, d = (int)(a->n_attrs - (size_t)nl);
    for (size_t i = 0, f = 0, l = 0; i < a->n_attrs; i++) {
        int lab = first ? i < (size_t)c : i >= (size_t)d;
        a->attrs[i].is_label = lab;
        a->attrs[i].pos = lab ? (int)l++ : (int)f++;
    }
    MLCL_TRY(index_values(a));
    if (a->track) return load_rows_csr(a, out, d, c, data_line);
    /* ---- rows: x and y grow with the rows actually read, within the budget */
    const size_t row_bytes = (size_t)d * sizeof(float) + (size_t)c;
    size_t max_rows = mlcl__zsrc_budget(&a->in.src) / row_bytes; /* row_bytes <= 5 MiB */
    float *x = NULL;
    uint8_t *y = NULL;
    size_t cap_x = 0, cap_y = 0, n = 0;
    for (;;) {
        rc = mlcl__lines_next(&a->in, &line);
        if (rc < 0) goto fail;
        if (rc == 0) break;
        char *p = mlcl__skip_ws(line);
        if (!*p || *p == '%') continue;
        a->linebuf = line;
        if (n >= (size_t)INT_MAX - 1) { rc = mlcl__lines_err(&a->in, "more than %d rows", INT_MAX - 1); goto fail; }
        if (n + 1 > max_rows) /* grows with the bytes read from a pipe */
            max_rows = mlcl__zsrc_budget(&a->in.src) / row_bytes;
        if (n + 1 > max_rows) {
            char what[96];
            snprintf(what, sizeof what, "%zu rows of %d features and %d labels", n + 1, d, c);
            rc = mlcl__lines_budget(&a->in, (double)(n + 1) * (double)row_bytes, what);
            goto fail;
        }
        if ((rc = mlcl__grow_max((void **)&x, &cap_x, (n + 1) * (size_t)d, max_rows * (size_t)d, sizeof *x, fn)) < 0)
            goto fail;
        if ((rc = mlcl__grow_max((void **)&y, &cap_y, (n + 1) * (size_t)c, max_rows * (size_t)c, 1, fn)) < 0) goto fail;
        float *xr = x + n * (size_t)d;
        uint8_t *yr = y + n * (size_t)c;
        memset(xr, 0, (size_t)d * sizeof *xr);
        memset(yr, 0, (size_t)c);
        rc = *p == '{' ? parse_sparse(a, p, xr, yr) : parse_dense(a, p, xr, yr);
        if (rc < 0) goto fail;
        n++;
    }
    if (n == 0) {
        a->in.line = data_line;
        rc = mlcl__lines_err(&a->in, "no data rows after @data");
        goto fail;
    }
    /* the dataset takes the row buffers as they are: no second copy */
    mlcl_dataset *ds;
    rc = mlcl__dataset_adopt(&ds, (int)n, d, c, x, y, fn);
    x = NULL;
    y = NULL;
    if (rc < 0) goto fail;
    mlcl__dataset_pack(ds);
    if ((rc = name_blocks(a, ds, fn)) < 0) return rc;
    *out = ds;
    return MLCL_OK;
fail:
    mlcl__free(x);
    mlcl__free(y);
    return rc;
}

/* Attribute names into the dataset, one block per role; frees ds on failure. */
static int name_blocks(arff_reader *a, mlcl_dataset *ds, const char *fn)
{
    int rc, d = ds->d, c = ds->c;
    size_t flen = 1, llen = 1;
    for (size_t i = 0; i < a->n_attrs; i++) *(a->attrs[i].is_label ? &llen : &flen) += strlen(attr_name(a, &a->attrs[i])) + 1;
    if ((rc = mlcl__alloc_array((void **)&ds->feat_names, (size_t)d, sizeof(char *), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->label_names, (size_t)c, sizeof(char *), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->feat_pool, flen, 1, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->label_pool, llen, 1, fn)) < 0) {
        mlcl_dataset_free(ds);
        return rc;
    }
    char *fw = ds->feat_pool, *lw = ds->label_pool;
    for (size_t i = 0; i < a->n_attrs; i++) {
        const arff_attr *at = &a->attrs[i];
        const char *nm = attr_name(a, at);
        size_t len = strlen(nm) + 1;
        char **w = at->is_label ? &lw : &fw;
        memcpy(*w, nm, len);
        (at->is_label ? ds->label_names : ds->feat_names)[at->pos] = *w;
        *w += len;
    }
    return MLCL_OK;
}

/* The rows as CSR: each row is parsed into one dense scratch row (d floats),
 * whose stored non-zero features are appended to the CSR arrays, then
 * cleared (O(stored values) a row for sparse rows). The budget counts the
 * CSR arrays (with their growth) and the dense labels. */
static int load_rows_csr(arff_reader *a, mlcl_dataset **out, int d, int c, long data_line)
{
    const char *fn = a->in.fn;
    float *xr = NULL, *val = NULL;
    int *col = NULL;
    int64_t *ptr = NULL;
    uint8_t *y = NULL;
    size_t cap_val = 0, cap_col = 0, cap_ptr = 0, cap_y = 0, n = 0, nnz = 0;
    char *line;
    int rc;
    if ((rc = mlcl__alloc_array((void **)&xr, (size_t)d, sizeof *xr, fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&a->touched, a->n_attrs, sizeof *a->touched, fn)) < 0 ||
        (rc = mlcl__grow((void **)&ptr, &cap_ptr, 1, sizeof *ptr, fn)) < 0)
        goto fail;
    ptr[0] = 0;
    uint8_t *yr0 = NULL;
    for (;;) {
        rc = mlcl__lines_next(&a->in, &line);
        if (rc < 0) goto fail;
        if (rc == 0) break;
        char *p = mlcl__skip_ws(line);
        if (!*p || *p == '%') continue;
        a->linebuf = line;
        if (n >= (size_t)INT_MAX - 1) { rc = mlcl__lines_err(&a->in, "more than %d rows", INT_MAX - 1); goto fail; }
        if ((rc = mlcl__grow((void **)&y, &cap_y, (n + 1) * (size_t)c, 1, fn)) < 0 ||
            (rc = mlcl__grow((void **)&ptr, &cap_ptr, n + 2, sizeof *ptr, fn)) < 0)
            goto fail;
        yr0 = y + n * (size_t)c;
        memset(yr0, 0, (size_t)c);
        a->n_touched = 0;
        rc = *p == '{' ? parse_sparse(a, p, xr, yr0) : parse_dense(a, p, xr, yr0);
        if (rc == MLCL_OK && (rc = mlcl__grow((void **)&col, &cap_col, nnz + a->n_touched, sizeof *col, fn)) == MLCL_OK)
            rc = mlcl__grow((void **)&val, &cap_val, nnz + a->n_touched, sizeof *val, fn);
        for (size_t k = 0; k < a->n_touched; k++) {
            int j = a->touched[k];
            /* (a -0 is kept: densified, the rows equal the dense reader's bit for bit) */
            if (rc == MLCL_OK && (xr[j] != 0.0f || signbit(xr[j]))) { col[nnz] = j; val[nnz] = xr[j]; nnz++; }
            xr[j] = 0.0f;
        }
        if (rc < 0) goto fail;
        n++;
        ptr[n] = (int64_t)nnz;
        double staged = (double)(cap_col * sizeof *col + cap_val * sizeof *val + cap_ptr * sizeof *ptr) + (double)cap_y;
        if ((n & 255) == 0 || staged > (double)MLCL_DATA_BUDGET_MIN) {
            char what[128];
            snprintf(what, sizeof what, "%zu rows (%zu non-zeros in CSR) and %d labels", n, nnz, c);
            if ((rc = mlcl__lines_budget(&a->in, staged, what)) < 0) goto fail;
        }
    }
    if (n == 0) {
        a->in.line = data_line;
        rc = mlcl__lines_err(&a->in, "no data rows after @data");
        goto fail;
    }
    mlcl__free(xr);
    xr = NULL;
    if (!col && ((rc = mlcl__grow((void **)&col, &cap_col, 1, sizeof *col, fn)) < 0 ||
                 (rc = mlcl__grow((void **)&val, &cap_val, 1, sizeof *val, fn)) < 0))
        goto fail;
    mlcl_dataset *ds;
    rc = mlcl__dataset_adopt_csr(&ds, (int)n, d, c, ptr, col, val, y, fn);
    ptr = NULL; col = NULL; val = NULL; y = NULL;
    if (rc < 0) goto fail;
    if ((rc = name_blocks(a, ds, fn)) < 0) goto fail;
    *out = ds;
    return MLCL_OK;
fail:
    mlcl__free(xr); mlcl__free(val); mlcl__free(col); mlcl__free(ptr); mlcl__free(y);
    return rc;
}

static int load_path(mlcl_dataset **out, const char *path, int n_labels, int labels_first, int csr,
                     const char *fn)
{
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, path);
    if (n_labels < 0) return mlcl__err(MLCL_EINVAL, "%s: n_labels must be >= 0 (got %d)", fn, n_labels);
    arff_reader a;
    memset(&a, 0, sizeof a);
    a.track = csr;
    MLCL_TRY(mlcl__lines_open(&a.in, path, fn));
    int rc = load(&a, out, n_labels, labels_first);
    mlcl__free(a.touched);
    free_attrs(&a);
    mlcl__lines_close(&a.in);
    return rc;
}

int mlcl_dataset_load_arff(mlcl_dataset **out, const char *path, int n_labels, int labels_first)
{
    return load_path(out, path, n_labels, labels_first, 0, "mlcl_dataset_load_arff");
}

int mlcl_dataset_load_arff_sparse(mlcl_dataset **out, const char *path, int n_labels, int labels_first)
{
    return load_path(out, path, n_labels, labels_first, 1, "mlcl_dataset_load_arff_sparse");
}
