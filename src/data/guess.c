/* The data format guess (mlcl_data_guess_format()). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "data/readers_internal.h"

/* ---------------------------------------------------------------- format guess */

static int ends_ci(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}

/* Whether a header line (NUL-terminated) looks like a CSV header; *has_path
 * when a field is "path"; *numbers when every field is a number and one of
 * them is not an integer (a headerless table, not a LIBSVM label list). */
static int sniff_header(const char *line, int *has_path, int *numbers)
{
    *has_path = 0;
    *numbers = 0;
    int tabs = strchr(line, '\t') != NULL, commas = strchr(line, ',') != NULL;
    if (!tabs && !commas) return 0;
    char delim = tabs && !commas ? '\t' : ',';
    /* LIBSVM rows hold idx:val tokens */
    for (const char *p = line; *p; p++)
        if (*p == ':' && p > line && p[-1] >= '0' && p[-1] <= '9') {
            const char *q = p - 1;
            while (q > line && q[-1] >= '0' && q[-1] <= '9') q--;
            if (q == line || q[-1] == ' ' || q[-1] == '\t') return 0;
        }
    int non_numeric = 0, non_integer = 0, fields = 0;
    const char *p = line;
    for (;;) {
        const char *e = strchr(p, delim);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t' || *p == '"')) { p++; len--; }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '"' || p[len - 1] == '\r')) len--;
        char tok[64];
        size_t tl = len < sizeof tok - 1 ? len : sizeof tok - 1;
        memcpy(tok, p, tl);
        tok[tl] = '\0';
        if (len == 4 && !strncasecmp(p, "path", 4)) *has_path = 1;
        char *end;
        if (len == 0) non_numeric = 1;
        else {
            (void)strtod(tok, &end);
            if (end == tok || *end || len >= sizeof tok) non_numeric = 1;
            else if (strpbrk(tok, ".eE")) non_integer = 1;
        }
        fields++;
        if (!e) break;
        p = e + 1;
    }
    *numbers = !non_numeric && non_integer && fields >= 2;
    return non_numeric;
}

int mlcl_data_guess_format(mlcl_data_format *format, const char *path)
{
    static const char fn[] = "mlcl_data_guess_format";
    MLCL_CHECK_NULL(fn, format);
    *format = MLCL_FORMAT_UNKNOWN;
    MLCL_CHECK_NULL(fn, path);
    struct stat st;
    if (stat(path, &st) != 0) return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char *m = mlcl__path_join(path, "ImageSets/Main");
        if (!m) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
        if (mlcl__is_dir(m)) *format = MLCL_FORMAT_VOC;
        mlcl__free(m);
        return MLCL_OK;
    }
    if (ends_ci(path, ".npy") || ends_ci(path, ".npz")) { *format = MLCL_FORMAT_NPY; return MLCL_OK; }
    if (ends_ci(path, ".arff") || ends_ci(path, ".arff.gz")) { *format = MLCL_FORMAT_ARFF; return MLCL_OK; }
    if (ends_ci(path, ".json") || ends_ci(path, ".json.gz")) { *format = MLCL_FORMAT_COCO; return MLCL_OK; }
    int named_csv = ends_ci(path, ".csv") || ends_ci(path, ".csv.gz") || ends_ci(path, ".tsv") ||
                    ends_ci(path, ".tsv.gz");
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return mlcl__err(MLCL_EIO, "%s: cannot open '%s': %s", fn, path, errno ? strerror(errno) : "out of memory");
    enum { CAP = 1 << 20 };
    char *buf = mlcl__malloc(CAP + 1);
    if (!buf) { gzclose(f); return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); }
    int k = gzread(f, buf, CAP);
    gzclose(f);
    size_t len = k > 0 ? (size_t)k : 0;
    buf[len] = '\0';
    size_t s = 0;
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB && (unsigned char)buf[2] == 0xBF) s = 3;
    /* the first non-blank line */
    for (;;) {
        while (s < len && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r')) s++;
        if (s < len && buf[s] == '\n') { s++; continue; }
        break;
    }
    char *line = buf + s;
    char *nl = memchr(line, '\n', len - s);
    if (nl) *nl = '\0';
    line[strnlen(line, len - s)] = '\0';
    int has_path = 0, numbers = 0, header;
    if (named_csv) {
        header = sniff_header(line, &has_path, &numbers);
        *format = has_path ? MLCL_FORMAT_IMAGE_CSV : !header && numbers ? MLCL_FORMAT_CSV_NOHEADER : MLCL_FORMAT_CSV;
    } else if (line[0] == '%' || !strncasecmp(line, "@relation", 9)) {
        *format = MLCL_FORMAT_ARFF;
    } else if (line[0] == '{') {
        *format = MLCL_FORMAT_COCO;
    } else if ((header = sniff_header(line, &has_path, &numbers)) != 0) {
        *format = has_path ? MLCL_FORMAT_IMAGE_CSV : MLCL_FORMAT_CSV;
    } else if (numbers) {
        *format = MLCL_FORMAT_CSV_NOHEADER;
    }
    mlcl__free(buf);
    return MLCL_OK;
}
