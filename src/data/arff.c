/* ARFF reader (Weka / MEKA / Mulan): dense and sparse rows, gzip or plain. */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "data/data_internal.h"

#define ARFF_MAX_ATTRS (1 << 24)

typedef struct {
    char *name;
    int nominal;   /* 1: values[] holds the declared values */
    int n_values;
    char **values;
    int is_label;  /* role after the label split */
    int pos;       /* index among features or labels */
} arff_attr;

typedef struct {
    mlcl__lines in;
    arff_attr *attrs;
    size_t n_attrs, cap_attrs;
    char *relation;
    long relation_line;
} arff_reader;

static void free_attrs(arff_reader *a)
{
    for (size_t i = 0; i < a->n_attrs; i++) {
        mlcl__free(a->attrs[i].name);
        for (int k = 0; k < a->attrs[i].n_values; k++) mlcl__free(a->attrs[i].values[k]);
        mlcl__free(a->attrs[i].values);
    }
    mlcl__free(a->attrs);
    mlcl__free(a->relation);
}

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

static int add_value(arff_reader *a, arff_attr *at, const char *v, int *cap)
{
    if (at->n_values == *cap) {
        size_t c = (size_t)*cap;
        MLCL_TRY(mlcl__grow((void **)&at->values, &c, c + 1, sizeof(char *), a->in.fn));
        *cap = (int)(c > INT_MAX ? INT_MAX : c);
    }
    if (!(at->values[at->n_values] = mlcl__strdup(v)))
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", a->in.fn);
    at->n_values++;
    return MLCL_OK;
}

/* @attribute <name> <type> */
static int parse_attribute(arff_reader *a, char *p)
{
    if (a->n_attrs >= ARFF_MAX_ATTRS)
        return mlcl__lines_err(&a->in, "more than %d attributes", ARFF_MAX_ATTRS);
    MLCL_TRY(mlcl__grow((void **)&a->attrs, &a->cap_attrs, a->n_attrs + 1, sizeof *a->attrs, a->in.fn));
    arff_attr *at = &a->attrs[a->n_attrs];
    memset(at, 0, sizeof *at);
    a->n_attrs++; /* counted now so that free_attrs releases it on error */
    char *name, delim;
    int rc = take_token(&p, " \t{", &name, &delim);
    if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in an attribute name");
    if (rc == -2 || !*name) return mlcl__lines_err(&a->in, "malformed @attribute line");
    if (!(at->name = mlcl__strdup(name))) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", a->in.fn);
    if (delim == '{') p--; /* the type starts at the brace */
    p = mlcl__skip_ws(p);
    if (*p == '{') {
        at->nominal = 1;
        p++;
        int cap = 0;
        for (;;) {
            char *v;
            rc = take_token(&p, ",}", &v, &delim);
            if (rc == -1) return mlcl__lines_err(&a->in, "unterminated quote in the values of '%s'", at->name);
            if (rc == -2) return mlcl__lines_err(&a->in, "malformed nominal values of '%s'", at->name);
            if (delim == '\0') return mlcl__lines_err(&a->in, "nominal values of '%s' lack the closing '}'", at->name);
            if (!(*v == '\0' && delim == '}' && at->n_values == 0)) {
                if (!*v) return mlcl__lines_err(&a->in, "empty nominal value in '%s'", at->name);
                MLCL_TRY(add_value(a, at, v, &cap));
            }
            if (delim == '}') break;
        }
        if (at->n_values == 0) return mlcl__lines_err(&a->in, "nominal attribute '%s' has no values", at->name);
        if (!mlcl__is_blank(p)) return mlcl__lines_err(&a->in, "text after the nominal values of '%s'", at->name);
        return MLCL_OK;
    }
    char *type = p;
    char *e = type;
    while (*e && *e != ' ' && *e != '\t') e++;
    char save = *e;
    *e = '\0';
    if (!strcasecmp(type, "numeric") || !strcasecmp(type, "real") || !strcasecmp(type, "integer")) {
        *e = save;
        if (!mlcl__is_blank(e)) return mlcl__lines_err(&a->in, "text after the type of '%s'", at->name);
        return MLCL_OK;
    }
    if (!*type) return mlcl__lines_err(&a->in, "attribute '%s' has no type", at->name);
    return mlcl__lines_err(&a->in, "attribute '%s' has type '%s'; only numeric, real, integer and nominal {...} are supported",
                           at->name, type);
}

/* The MEKA option "-C N" in the relation name: N > 0 first N, N < 0 last -N. */
static int meka_labels(const char *rel, long *out)
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
            if (mlcl__parse_long(num, -ARFF_MAX_ATTRS, ARFF_MAX_ATTRS, &v) != 0 || v == 0) return -1;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Stores one value of attribute `at` into the current row. */
static int store_value(arff_reader *a, const arff_attr *at, const char *tok, float *xrow, uint8_t *yrow)
{
    if (tok[0] == '?' && tok[1] == '\0')
        return mlcl__lines_err(&a->in, "missing value '?' for '%s' is not supported", at->name);
    if (at->is_label) {
        if (!strcmp(tok, "0") || !strcmp(tok, "1")) {
            yrow[at->pos] = (uint8_t)(tok[0] - '0');
            return MLCL_OK;
        }
        return mlcl__lines_err(&a->in, "label '%s' has value '%s' (expected 0 or 1)", at->name, tok);
    }
    if (at->nominal) {
        for (int k = 0; k < at->n_values; k++)
            if (!strcmp(at->values[k], tok)) { xrow[at->pos] = (float)k; return MLCL_OK; }
        return mlcl__lines_err(&a->in, "value '%s' is not one of the declared values of '%s'", tok, at->name);
    }
    int rc = mlcl__parse_float(&a->in, tok, &xrow[at->pos]);
    if (rc == -1) return mlcl__lines_err(&a->in, "'%s' for '%s' is not a number", tok, at->name);
    if (rc == -2) return mlcl__lines_err(&a->in, "'%s' for '%s' is not a finite float", tok, at->name);
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
            return mlcl__lines_err(&a->in, "empty value %zu ('%s')%s", k + 1, a->attrs[k].name,
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
        if (!a->relation || meka_labels(a->relation, &nl) != 0) {
            if (a->relation) a->in.line = a->relation_line;
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
    /* ---- rows */
    float *x = NULL;
    uint8_t *y = NULL;
    size_t cap_x = 0, cap_y = 0, n = 0;
    for (;;) {
        rc = mlcl__lines_next(&a->in, &line);
        if (rc < 0) goto fail;
        if (rc == 0) break;
        char *p = mlcl__skip_ws(line);
        if (!*p || *p == '%') continue;
        if (n >= (size_t)INT_MAX - 1) { rc = mlcl__lines_err(&a->in, "more than %d rows", INT_MAX - 1); goto fail; }
        if ((rc = mlcl__grow((void **)&x, &cap_x, (n + 1) * (size_t)d, sizeof *x, fn)) < 0) goto fail;
        if ((rc = mlcl__grow((void **)&y, &cap_y, (n + 1) * (size_t)c, 1, fn)) < 0) goto fail;
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
    mlcl_dataset *ds;
    if ((rc = mlcl__dataset_alloc(&ds, (int)n, d, c, fn)) < 0) goto fail;
    memcpy(ds->x, x, n * (size_t)d * sizeof *x);
    memcpy(ds->y, y, n * (size_t)c);
    mlcl__dataset_pack(ds);
    mlcl__free(x);
    mlcl__free(y);
    if ((rc = mlcl__alloc_array((void **)&ds->feat_names, (size_t)d, sizeof(char *), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->label_names, (size_t)c, sizeof(char *), fn)) < 0) {
        mlcl_dataset_free(ds);
        return rc;
    }
    for (size_t i = 0; i < a->n_attrs; i++) {
        char **slot = a->attrs[i].is_label ? &ds->label_names[a->attrs[i].pos] : &ds->feat_names[a->attrs[i].pos];
        *slot = a->attrs[i].name; /* ownership moves to the dataset */
        a->attrs[i].name = NULL;
    }
    *out = ds;
    return MLCL_OK;
fail:
    mlcl__free(x);
    mlcl__free(y);
    return rc;
}

int mlcl_dataset_load_arff(mlcl_dataset **out, const char *path, int n_labels, int labels_first)
{
    static const char fn[] = "mlcl_dataset_load_arff";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, path);
    if (n_labels < 0) return mlcl__err(MLCL_EINVAL, "%s: n_labels must be >= 0 (got %d)", fn, n_labels);
    arff_reader a;
    memset(&a, 0, sizeof a);
    MLCL_TRY(mlcl__lines_open(&a.in, path, fn));
    int rc = load(&a, out, n_labels, labels_first);
    free_attrs(&a);
    mlcl__lines_close(&a.in);
    return rc;
}
