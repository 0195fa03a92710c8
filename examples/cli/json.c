/* json.c: JSON documents with jansson and their line layout (json.h) */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int utf8_len(const unsigned char *p)
{
    unsigned char ch = p[0];
    if (ch < 0x80) return 1;
    int len = ch >= 0xc2 && ch <= 0xdf ? 2 : ch >= 0xe0 && ch <= 0xef ? 3 : ch >= 0xf0 && ch <= 0xf4 ? 4 : 0;
    for (int i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (len == 3 && ((ch == 0xe0 && p[1] < 0xa0) || (ch == 0xed && p[1] >= 0xa0))) return 0;
    if (len == 4 && ((ch == 0xf0 && p[1] < 0x90) || (ch == 0xf4 && p[1] >= 0x90))) return 0;
    return len;
}

json_t *cli_json_text(const char *s)
{
    if (!s) return json_null();
    size_t n = strlen(s), k = 0;
    /* a stray byte becomes the 3 bytes of U+FFFD */
    char *b = malloc(3 * n + 1);
    if (!b) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int len = utf8_len(p);
        if (len == 0) {
            memcpy(b + k, "\xef\xbf\xbd", 3);
            k += 3;
            p++;
        } else {
            memcpy(b + k, p, (size_t)len);
            k += (size_t)len;
            p += len;
        }
    }
    json_t *j = json_stringn(b, k);
    free(b);
    return j;
}

json_t *cli_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

int cli_json_set(json_t *obj, const char *key, json_t *value)
{
    if (!value) return -1;
    return json_object_set_new(obj, key, value) == 0 ? 0 : -1;
}

static int is_container(const json_t *v)
{
    return json_is_object(v) || json_is_array(v);
}

static int put(FILE *f, const char *s)
{
    return fputs(s, f) == EOF ? -1 : 0;
}

static int dump(FILE *f, const json_t *v, size_t flags)
{
    return json_dumpf(v, f, flags | JSON_ENCODE_ANY);
}

/* an array of objects or arrays: "[\n  elem,\n  elem\n ]" */
static int dump_rows(FILE *f, const json_t *a, size_t flags)
{
    size_t n = json_array_size(a);
    if (put(f, "[")) return -1;
    for (size_t i = 0; i < n; i++) {
        if (put(f, i ? ",\n  " : "\n  ") || dump(f, json_array_get(a, i), flags)) return -1;
    }
    return put(f, n ? "\n ]" : "]");
}

int cli_json_write(FILE *f, const json_t *doc, int precision)
{
    size_t flags = JSON_REAL_PRECISION(precision);
    if (!json_is_object(doc) || put(f, "{")) return -1;
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)doc, key, v) {
        json_t *k = json_string(key);
        int rc = !k || put(f, first ? "" : is_container(v) ? ",\n " : ", ") || dump(f, k, flags) || put(f, ": ");
        json_decref(k);
        if (rc) return -1;
        if (json_is_array(v) && json_array_size(v) > 0 && is_container(json_array_get(v, 0)))
            rc = dump_rows(f, v, flags);
        else
            rc = dump(f, v, flags);
        if (rc) return -1;
        first = 0;
    }
    return put(f, "}\n") || ferror(f) ? -1 : 0;
}
