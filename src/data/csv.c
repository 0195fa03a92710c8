/* CSV/TSV tables (RFC 4180 records, gzip or plain) as vector datasets, and
 * the record reader shared with the CSV image manifests. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "data/readers_internal.h"

#define CSV_CHUNK (1u << 16)

/* ---------------------------------------------------------------- records */

static int gz_fail(mlcl__csv *r)
{
    int errnum = 0;
    const char *m = gzerror(r->f, &errnum);
    if (errnum == Z_ERRNO)
        return mlcl__err(MLCL_EIO, "%s: %s: line %ld: read error: %s", r->fn, r->path, r->line + 1,
                         strerror(errno));
    if (errnum == Z_MEM_ERROR) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", r->fn);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: line %ld: corrupt or truncated gzip data (%s)", r->fn,
                     r->path, r->line + 1, m ? m : "?");
}

/* Refills the input chunk; 1 data, 0 end of file, < 0 error. */
static int fill(mlcl__csv *r)
{
    if (r->eof) return 0;
    int k = gzread(r->f, r->ibuf, CSV_CHUNK);
    if (k < 0) return gz_fail(r);
    if (k == 0) {
        int errnum = 0;
        gzerror(r->f, &errnum);
        if (errnum != Z_OK && errnum != Z_STREAM_END) return gz_fail(r);
        r->eof = 1;
        return 0;
    }
    r->ipos = 0;
    r->ilen = (size_t)k;
    return 1;
}

/* Next byte, or -1 at the end of file, or < -1 on error (status - 1). */
static inline int getb(mlcl__csv *r)
{
    if (r->ipos == r->ilen) {
        int rc = fill(r);
        if (rc < 0) return rc - 1;
        if (rc == 0) return -1;
    }
    return r->ibuf[r->ipos++];
}

static inline int peekb(mlcl__csv *r)
{
    if (r->ipos == r->ilen) {
        int rc = fill(r);
        if (rc < 0) return rc - 1;
        if (rc == 0) return -1;
    }
    return r->ibuf[r->ipos];
}

int mlcl__csv_err(const mlcl__csv *r, long col, const char *fmt, ...)
{
    char msg[512], where[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (col < 0)
        snprintf(where, sizeof where, "line %ld", r->rec_line);
    else if (r->names && (size_t)col < r->n_names)
        snprintf(where, sizeof where, "line %ld, column %ld ('%.200s')", r->rec_line, col + 1,
                 r->names[col]);
    else
        snprintf(where, sizeof where, "line %ld, column %ld", r->rec_line, col + 1);
    return mlcl__err(MLCL_EFORMAT, "%s: %s: %s: %s", r->fn, r->path, where, msg);
}

static int put(mlcl__csv *r, char ch)
{
    if (r->rec_len >= (size_t)MLCL_CSV_MAX_RECORD)
        return mlcl__csv_err(r, -1, "record longer than %d bytes", MLCL_CSV_MAX_RECORD);
    if (r->rec_len + 1 >= r->rec_cap) {
        MLCL_TRY(mlcl__grow((void **)&r->rec, &r->rec_cap, r->rec_len + 2, 1, r->fn));
    }
    r->rec[r->rec_len++] = ch;
    return MLCL_OK;
}

static int new_field(mlcl__csv *r)
{
    MLCL_TRY(mlcl__grow((void **)&r->fld, &r->fld_cap, r->nfld + 1, sizeof *r->fld, r->fn));
    r->fld[r->nfld++] = r->rec_len;
    return MLCL_OK;
}

/* Ends the current field: trims the blanks around an unquoted field. */
static int end_field(mlcl__csv *r, int quoted)
{
    size_t start = r->fld[r->nfld - 1];
    if (!quoted) {
        size_t e = r->rec_len, s = start;
        while (e > s && (r->rec[e - 1] == ' ' || (r->rec[e - 1] == '\t' && r->delim != '\t'))) e--;
        while (s < e && (r->rec[s] == ' ' || (r->rec[s] == '\t' && r->delim != '\t'))) s++;
        if (s > start) memmove(r->rec + start, r->rec + s, e - s);
        r->rec_len = start + (e - s);
    }
    return put(r, '\0');
}

/* Reads one record (possibly blank); 1 ok, 0 end of file before any byte. */
static int read_record(mlcl__csv *r, int *blank)
{
    r->rec_len = 0;
    r->nfld = 0;
    r->rec_line = r->line + 1;
    int ch = getb(r);
    if (ch < -1) return ch + 1;
    if (ch == -1) return 0;
    *blank = 1;
    MLCL_TRY(new_field(r));
    int quoted = 0;
    for (;;) {
        /* at the start of a field's contents */
        while (ch == ' ' || (ch == '\t' && r->delim != '\t')) {
            MLCL_TRY(put(r, (char)ch));
            ch = getb(r);
        }
        if (ch < -1) return ch + 1;
        if (ch == '"') {
            /* quoted field: drop the blanks before the quote */
            r->rec_len = r->fld[r->nfld - 1];
            quoted = 1;
            *blank = 0;
            for (;;) {
                ch = getb(r);
                if (ch < -1) return ch + 1;
                if (ch == -1) return mlcl__csv_err(r, (long)r->nfld - 1, "unterminated quoted field");
                if (ch == 0) {
                    r->rec_line = r->line + 1;
                    return mlcl__csv_err(r, (long)r->nfld - 1, "NUL byte in the data");
                }
                if (ch == '"') {
                    int nx = peekb(r);
                    if (nx < -1) return nx + 1;
                    if (nx == '"') { r->ipos++; MLCL_TRY(put(r, '"')); continue; }
                    break;
                }
                if (ch == '\n') r->line++;
                MLCL_TRY(put(r, (char)ch));
            }
            ch = getb(r);
            while (ch == ' ' || (ch == '\t' && r->delim != '\t') || ch == '\r') {
                if (ch == '\r') {
                    int nx = peekb(r);
                    if (nx < -1) return nx + 1;
                    if (nx == '\n' || nx == -1) { ch = getb(r); break; }
                    break;
                }
                ch = getb(r);
            }
            if (ch < -1) return ch + 1;
            if (ch != r->delim && ch != '\n' && ch != -1)
                return mlcl__csv_err(r, (long)r->nfld - 1, "text after a closing quote");
        } else {
            quoted = 0;
            while (ch != r->delim && ch != '\n' && ch != -1) {
                if (ch < -1) return ch + 1;
                if (ch == 0) return mlcl__csv_err(r, (long)r->nfld - 1, "NUL byte in the data");
                if (ch == '\r') {
                    int nx = peekb(r);
                    if (nx < -1) return nx + 1;
                    if (nx == '\n' || nx == -1) { ch = getb(r); break; }
                }
                *blank = 0;
                MLCL_TRY(put(r, (char)ch));
                ch = getb(r);
            }
            if (ch < -1) return ch + 1;
        }
        MLCL_TRY(end_field(r, quoted));
        if (ch == r->delim) {
            *blank = 0;
            MLCL_TRY(new_field(r));
            ch = getb(r);
            continue;
        }
        /* '\n' or end of file */
        r->line++;
        return 1;
    }
}

int mlcl__csv_next(mlcl__csv *r)
{
    for (;;) {
        int blank = 0;
        int rc = read_record(r, &blank);
        if (rc <= 0) return rc;
        if (!blank) return 1;
    }
}

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

int mlcl__csv_open(mlcl__csv *r, const char *path, int delim, const char *fn)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->fn = fn;
    if (delim != 0 && delim != ',' && delim != '\t' && delim != ';')
        return mlcl__err(MLCL_EINVAL, "%s: delimiter must be ',', ';', '\\t' or 0 (got 0x%02x)", fn,
                         (unsigned)delim);
    r->cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (r->cloc == (locale_t)0) return mlcl__err(MLCL_ENOMEM, "%s: cannot create the C locale", fn);
    errno = 0;
    r->f = gzopen(path, "rb");
    if (!r->f) {
        int e = errno;
        mlcl__csv_close(r);
        return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, e ? strerror(e) : "out of memory");
    }
    if (!(r->ibuf = mlcl__malloc(CSV_CHUNK))) {
        mlcl__csv_close(r);
        return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    }
    int rc = fill(r);
    if (rc < 0) { mlcl__csv_close(r); return rc; }
    /* a UTF-8 byte-order mark */
    if (r->ilen >= 3 && r->ibuf[0] == 0xEF && r->ibuf[1] == 0xBB && r->ibuf[2] == 0xBF) r->ipos = 3;
    if (!delim) {
        if (has_suffix(path, ".tsv") || has_suffix(path, ".tsv.gz") || has_suffix(path, ".tab")) {
            delim = '\t';
        } else {
            int tabs = 0, commas = 0;
            for (size_t i = r->ipos; i < r->ilen && r->ibuf[i] != '\n'; i++) {
                tabs += r->ibuf[i] == '\t';
                commas += r->ibuf[i] == ',';
            }
            delim = tabs > 0 && commas == 0 ? '\t' : ',';
        }
    }
    r->delim = (char)delim;
    return MLCL_OK;
}

int mlcl__csv_header(mlcl__csv *r)
{
    int rc = mlcl__csv_next(r);
    if (rc < 0) return rc;
    if (rc == 0) {
        r->rec_line = r->line > 0 ? r->line : 1;
        return mlcl__csv_err(r, -1, "empty file (a header line is needed)");
    }
    MLCL_TRY(mlcl__alloc_array((void **)&r->names, r->nfld, sizeof(char *), r->fn));
    r->n_names = r->nfld;
    for (size_t k = 0; k < r->nfld; k++)
        if (!(r->names[k] = mlcl__strdup(mlcl__csv_field(r, k))))
            return mlcl__err(MLCL_ENOMEM, "%s: out of memory", r->fn);
    return MLCL_OK;
}

void mlcl__csv_close(mlcl__csv *r)
{
    if (r->f) gzclose(r->f);
    r->f = NULL;
    mlcl__free(r->ibuf);
    mlcl__free(r->rec);
    mlcl__free(r->fld);
    if (r->names)
        for (size_t k = 0; k < r->n_names; k++) mlcl__free(r->names[k]);
    mlcl__free(r->names);
    r->ibuf = NULL; r->rec = NULL; r->fld = NULL; r->names = NULL;
    if (r->cloc != (locale_t)0) freelocale(r->cloc);
    r->cloc = (locale_t)0;
}

int mlcl__csv_is_missing(const char *s)
{
    return !*s || !strcmp(s, "NA") || !strcmp(s, "N/A") || !strcmp(s, "NaN") || !strcmp(s, "nan") ||
           !strcmp(s, "null") || !strcmp(s, "?");
}

/* ---------------------------------------------------------------- tables */

int mlcl_csv_options_init(mlcl_csv_options *o, unsigned int version)
{
    MLCL__STRUCT_INIT("mlcl_csv_options_init", o, version, MLCL_CSV_OPTIONS_VERSION, mlcl_csv_options, MLCL_CSV_OPTIONS_INIT);
}

static int parse_num(const mlcl__csv *r, const char *tok, double *out)
{
    char *end;
    errno = 0;
    double v = strtod_l(tok, &end, r->cloc);
    if (end == tok || *end) return -1;
    *out = v;
    return 0;
}

/* Marks the label columns; returns the number of labels or < 0. */
static int choose_labels(mlcl__csv *r, const mlcl_csv_options *o, uint8_t *is_label, const char *fn)
{
    size_t ncol = r->n_names;
    int ways = (o->n_labels > 0) + (o->label_columns != NULL) + (o->label_prefix != NULL);
    if (ways == 0)
        return mlcl__err(MLCL_EINVAL, "%s: %s: say which columns are labels (n_labels, label_columns or label_prefix)",
                         fn, r->path);
    if (ways > 1)
        return mlcl__err(MLCL_EINVAL, "%s: give only one of n_labels, label_columns and label_prefix", fn);
    size_t c = 0;
    if (o->n_labels > 0) {
        if ((size_t)o->n_labels >= ncol)
            return mlcl__err(MLCL_EINVAL, "%s: %s: %d label columns requested but the header has %zu columns (at least one feature needed)",
                             fn, r->path, o->n_labels, ncol);
        size_t k0 = o->labels_first ? 0 : ncol - (size_t)o->n_labels;
        for (size_t k = k0; k < k0 + (size_t)o->n_labels; k++) is_label[k] = 1;
        c = (size_t)o->n_labels;
    } else if (o->label_columns) {
        const char *p = o->label_columns;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            while (len > 0 && *p == ' ') { p++; len--; }
            while (len > 0 && p[len - 1] == ' ') len--;
            if (len == 0) return mlcl__err(MLCL_EINVAL, "%s: label_columns '%s' has an empty name", fn, o->label_columns);
            size_t hit = ncol, hits = 0;
            for (size_t k = 0; k < ncol; k++)
                if (strlen(r->names[k]) == len && !memcmp(r->names[k], p, len)) { hit = k; hits++; }
            if (hits == 0)
                return mlcl__err(MLCL_EINVAL, "%s: %s: label column '%.*s' is not in the header", fn, r->path,
                                 (int)(len > 200 ? 200 : len), p);
            if (hits > 1)
                return mlcl__err(MLCL_EINVAL, "%s: %s: label column '%.*s' appears %zu times in the header", fn,
                                 r->path, (int)(len > 200 ? 200 : len), p, hits);
            if (is_label[hit])
                return mlcl__err(MLCL_EINVAL, "%s: label column '%.*s' is named twice", fn,
                                 (int)(len > 200 ? 200 : len), p);
            is_label[hit] = 1;
            c++;
            if (!e) break;
            p = e + 1;
        }
    } else {
        size_t pl = strlen(o->label_prefix);
        if (pl == 0) return mlcl__err(MLCL_EINVAL, "%s: label_prefix is empty", fn);
        for (size_t k = 0; k < ncol; k++)
            if (!strncmp(r->names[k], o->label_prefix, pl)) { is_label[k] = 1; c++; }
        if (c == 0)
            return mlcl__err(MLCL_EINVAL, "%s: %s: no column name starts with label_prefix '%s'", fn, r->path,
                             o->label_prefix);
    }
    if (c >= ncol)
        return mlcl__err(MLCL_EINVAL, "%s: %s: every column is a label (at least one feature needed)", fn, r->path);
    if (c > (size_t)INT_MAX || ncol - c > (size_t)INT_MAX)
        return mlcl__err(MLCL_EOVERFLOW, "%s: %s: %zu columns", fn, r->path, ncol);
    return (int)c;
}

/* A headerless table: the columns are named c1, c2, ... after the first record,
 * which stays in r as data. */
static int synth_header(mlcl__csv *r)
{
    int rc = mlcl__csv_next(r);
    if (rc < 0) return rc;
    if (rc == 0) {
        r->rec_line = r->line > 0 ? r->line : 1;
        return mlcl__csv_err(r, -1, "empty file");
    }
    MLCL_TRY(mlcl__alloc_array((void **)&r->names, r->nfld, sizeof(char *), r->fn));
    r->n_names = r->nfld;
    for (size_t k = 0; k < r->nfld; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "c%zu", k + 1);
        if (!(r->names[k] = mlcl__strdup(nm))) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", r->fn);
    }
    return MLCL_OK;
}

static int load_csv(mlcl__csv *r, mlcl_dataset **out, const mlcl_csv_options *o, const char *fn)
{
    MLCL_TRY(o->no_header ? synth_header(r) : mlcl__csv_header(r));
    int pending = o->no_header != 0; /* the first record is already read */
    size_t ncol = r->n_names;
    uint8_t *is_label = NULL;
    float *x = NULL;
    uint8_t *y = NULL;
    size_t cap_x = 0, cap_y = 0, n = 0;
    mlcl_dataset *ds = NULL;
    int rc = mlcl__alloc_array((void **)&is_label, ncol, 1, fn);
    if (rc < 0) return rc;
    int c = choose_labels(r, o, is_label, fn);
    if (c < 0) { rc = c; goto done; }
    int d = (int)(ncol - (size_t)c);
    long missing = 0;
    while (pending || (rc = mlcl__csv_next(r)) == 1) {
        pending = 0;
        if (r->nfld != ncol) {
            rc = mlcl__csv_err(r, -1, "%zu fields, but the %s %zu columns", r->nfld,
                               o->no_header ? "first line has" : "header has", ncol);
            goto done;
        }
        if (n >= (size_t)INT_MAX - 1) { rc = mlcl__csv_err(r, -1, "more than %d rows", INT_MAX - 1); goto done; }
        if ((rc = mlcl__grow((void **)&x, &cap_x, (n + 1) * (size_t)d, sizeof *x, fn)) < 0) goto done;
        if ((rc = mlcl__grow((void **)&y, &cap_y, (n + 1) * (size_t)c, 1, fn)) < 0) goto done;
        float *xr = x + n * (size_t)d;
        uint8_t *yr = y + n * (size_t)c;
        size_t f = 0, l = 0;
        for (size_t k = 0; k < ncol; k++) {
            const char *tok = mlcl__csv_field(r, k);
            double v;
            if (is_label[k]) {
                if (mlcl__csv_is_missing(tok)) {
                    rc = mlcl__csv_err(r, (long)k, "missing label value (labels are never imputed)");
                    goto done;
                }
                if (parse_num(r, tok, &v) != 0 || (v != 0.0 && v != 1.0)) {
                    rc = mlcl__csv_err(r, (long)k, "label value '%.40s' is not 0 or 1", tok);
                    goto done;
                }
                yr[l++] = (uint8_t)(v == 1.0);
                continue;
            }
            if (mlcl__csv_is_missing(tok)) {
                if (o->impute == MLCL_IMPUTE_NONE) {
                    rc = mlcl__csv_err(r, (long)k, "missing value '%.40s' (pass an impute option: mean or zero)", tok);
                    goto done;
                }
                xr[f++] = NAN; /* filled in below */
                missing++;
                continue;
            }
            if (parse_num(r, tok, &v) != 0) {
                rc = mlcl__csv_err(r, (long)k, "'%.40s' is not a number", tok);
                goto done;
            }
            if (!isfinite(v) || fabs(v) > FLT_MAX) {
                rc = mlcl__csv_err(r, (long)k, "'%.40s' is not a finite float", tok);
                goto done;
            }
            xr[f++] = (float)v;
        }
        n++;
    }
    if (rc < 0) goto done;
    if (n == 0) {
        r->rec_line = r->line;
        rc = mlcl__csv_err(r, -1, "no data rows after the header (a table without one needs no_header)");
        goto done;
    }
    if (missing > 0) {
        for (int j = 0; j < d; j++) {
            double s = 0.0;
            size_t present = 0;
            for (size_t i = 0; i < n; i++) {
                float v = x[i * (size_t)d + (size_t)j];
                if (!isnan(v)) { s += v; present++; }
            }
            float fill_v = 0.0f;
            if (o->impute == MLCL_IMPUTE_MEAN) {
                if (present == 0) {
                    size_t k = 0;
                    for (size_t q = 0, jj = 0; q < ncol; q++)
                        if (!is_label[q] && jj++ == (size_t)j) { k = q; break; }
                    rc = mlcl__err(MLCL_EFORMAT, "%s: %s: column %zu ('%.200s') has no value to take the mean of",
                                   fn, r->path, k + 1, r->names[k]);
                    goto done;
                }
                if (present) fill_v = (float)(s / (double)present);
            }
            for (size_t i = 0; i < n; i++)
                if (isnan(x[i * (size_t)d + (size_t)j])) x[i * (size_t)d + (size_t)j] = fill_v;
        }
    }
    if ((rc = mlcl__dataset_alloc(&ds, (int)n, d, c, fn)) < 0) goto done;
    mlcl__free(ds->x);
    ds->x = x; /* capacity >= n * d */
    x = NULL;
    memcpy(ds->y, y, n * (size_t)c);
    mlcl__dataset_pack(ds);
    if ((rc = mlcl__alloc_array((void **)&ds->feat_names, (size_t)d, sizeof(char *), fn)) < 0 ||
        (rc = mlcl__alloc_array((void **)&ds->label_names, (size_t)c, sizeof(char *), fn)) < 0)
        goto done;
    for (size_t k = 0, f = 0, l = 0; k < ncol; k++) {
        char **slot = is_label[k] ? &ds->label_names[l++] : &ds->feat_names[f++];
        *slot = r->names[k]; /* ownership moves to the dataset */
        r->names[k] = NULL;
    }
    *out = ds;
    ds = NULL;
    rc = MLCL_OK;
done:
    mlcl_dataset_free(ds);
    mlcl__free(is_label);
    mlcl__free(x);
    mlcl__free(y);
    return rc;
}

int mlcl_dataset_load_csv(mlcl_dataset **out, const char *path, const mlcl_csv_options *o)
{
    static const char fn[] = "mlcl_dataset_load_csv";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    MLCL_CHECK_NULL(fn, path);
    MLCL_CHECK_NULL(fn, o);
    MLCL_CHECK_VERSION(fn, o, MLCL_CSV_OPTIONS_VERSION);
    if (o->impute != MLCL_IMPUTE_NONE && o->impute != MLCL_IMPUTE_MEAN && o->impute != MLCL_IMPUTE_ZERO)
        return mlcl__err(MLCL_EINVAL, "%s: o->impute %d is not an mlcl_impute value", fn, o->impute);
    if (o->n_labels < 0) return mlcl__err(MLCL_EINVAL, "%s: o->n_labels must be >= 0 (got %d)", fn, o->n_labels);
    mlcl__csv r;
    MLCL_TRY(mlcl__csv_open(&r, path, o->delimiter, fn));
    int rc = load_csv(&r, out, o, fn);
    mlcl__csv_close(&r);
    return rc;
}
