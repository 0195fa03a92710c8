/* PASCAL VOC trees. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/readers_internal.h"

/* ---------------------------------------------------------------- PASCAL VOC */

/* Reads "<id> [<flag>]" lines. With flags, calls back per line. */
typedef struct {
    mlcl__imglist *l;
    mlcl__strmap *ids;        /* id -> row */
    char **idv;         /* row -> id (owned) */
    size_t nid, cap_idv;
} voc_state;

static int read_voc_list(const char *file, voc_state *v, int add_images, int with_flags, size_t label,
                         uint8_t *seen, int difficult_pos, const char *fn)
{
    mlcl__lines in;
    MLCL_TRY(mlcl__lines_open(&in, file, fn));
    char *line;
    int rc;
    size_t listed = 0;
    while ((rc = mlcl__lines_next(&in, &line)) == 1) {
        char *p = mlcl__skip_ws(line);
        if (!*p) continue;
        char *id = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        char *idend = p;
        p = mlcl__skip_ws(p);
        char *flag = p;
        while (*p && *p != ' ' && *p != '\t') p++;
        char *flagend = p;
        if (!mlcl__is_blank(p)) { rc = mlcl__lines_err(&in, "expected '<image id>%s'", with_flags ? " <1|0|-1>" : ""); goto done; }
        *idend = '\0';
        *flagend = '\0';
        long fl = 1;
        if (with_flags) {
            if (mlcl__parse_long(flag, -1, 1, &fl) != 0) {
                rc = mlcl__lines_err(&in, "flag '%.20s' of image '%.100s' is not 1, 0 or -1", flag, id);
                goto done;
            }
        } else if (*flag) {
            /* the plain <split>.txt lists ids only */
            rc = mlcl__lines_err(&in, "expected only an image id");
            goto done;
        }
        size_t row;
        if (!mlcl__strmap_get(v->ids, id, &row)) {
            if (!add_images) { rc = mlcl__lines_err(&in, "image '%.100s' is not in the split's image list", id); goto done; }
            if (strchr(id, '/') || !strcmp(id, "..") || !strcmp(id, ".")) {
                rc = mlcl__lines_err(&in, "image id '%.100s' is not a file name", id);
                goto done;
            }
            if ((rc = mlcl__grow((void **)&v->idv, &v->cap_idv, v->nid + 1, sizeof *v->idv, fn)) < 0) goto done;
            if (!(v->idv[v->nid] = mlcl__strdup(id))) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
            row = v->nid++;
            if ((rc = mlcl__strmap_put(v->ids, v->idv[row], row, fn)) < 0) goto done;
        } else if (add_images) {
            rc = mlcl__lines_err(&in, "image '%.100s' is listed twice", id);
            goto done;
        }
        if (seen) {
            if (seen[row]) { rc = mlcl__lines_err(&in, "image '%.100s' is listed twice", id); goto done; }
            seen[row] = 1;
        }
        listed++;
        if (with_flags && (fl == 1 || (fl == 0 && difficult_pos)) && (rc = mlcl__imglist_add_pair(v->l, row, label, fn)) < 0)
            goto done;
    }
    if (rc < 0) goto done;
    if (listed == 0) { in.line = 1; rc = mlcl__lines_err(&in, "no image ids"); goto done; }
    rc = MLCL_OK;
done:
    mlcl__lines_close(&in);
    return rc;
}

/* The list of a VOC tree (nothing decoded); l is filled, the caller frees it. */
static int voc_list(mlcl__imglist *l, const char *root, const char *split, const mlcl_manifest_options *o,
                    const char *fn)
{
    if (!*split || strchr(split, '/') || strlen(split) > 200)
        return mlcl__err(MLCL_EINVAL, "%s: split '%.200s' is not a plain name like trainval", fn, split);
    char *main_dir = mlcl__path_join(root, "ImageSets/Main");
    if (!main_dir) return mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn);
    mlcl__strmap ids = { 0 };
    voc_state v = { l, &ids, NULL, 0, 0 };
    char **files = NULL;
    size_t nfiles = 0, cap_files = 0;
    uint8_t *seen = NULL;
    char *img_dir = NULL;
    int rc = MLCL_OK;
    errno = 0;
    DIR *dh = opendir(main_dir);
    if (!dh) {
        rc = mlcl__err(MLCL_EIO, "%s: %s: cannot open ImageSets/Main: %s", fn, root, strerror(errno));
        goto done;
    }
    char suffix[256];
    snprintf(suffix, sizeof suffix, "_%s.txt", split);
    size_t sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t nl = strlen(de->d_name);
        if (nl <= sl || strcmp(de->d_name + nl - sl, suffix)) continue;
        if ((rc = mlcl__grow((void **)&files, &cap_files, nfiles + 1, sizeof *files, fn)) < 0) break;
        if (!(files[nfiles] = mlcl__strdup(de->d_name))) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); break; }
        nfiles++;
        if (nfiles > MLCL__MAX_LABELS) { rc = mlcl__err(MLCL_EFORMAT, "%s: %s: more than %d classes", fn, root, MLCL__MAX_LABELS); break; }
    }
    closedir(dh);
    if (rc < 0) goto done;
    if (nfiles == 0) {
        rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no ImageSets/Main/<class>%s files", fn, root, suffix);
        goto done;
    }
    qsort(files, nfiles, sizeof *files, mlcl__cmp_str);
    char name[512];
    snprintf(name, sizeof name, "%s.txt", split);
    char *list = mlcl__path_join(main_dir, name);
    if (!list) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
    struct stat st;
    int have_list = stat(list, &st) == 0;
    if (have_list) rc = read_voc_list(list, &v, 1, 0, 0, NULL, 0, fn);
    mlcl__free(list);
    if (rc < 0) goto done;
    for (size_t k = 0; k < nfiles; k++) {
        char *cls = files[k];
        cls[strlen(cls) - sl] = '\0';
        if ((rc = mlcl__imglist_add_name(l, cls, fn)) < 0) goto done;
        cls[strlen(cls)] = suffix[0];
        char *f = mlcl__path_join(main_dir, files[k]);
        if (!f) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
        int add = k == 0 && !have_list;
        if (!add && !seen && (rc = mlcl__alloc_array((void **)&seen, v.nid, 1, fn)) < 0) { mlcl__free(f); goto done; }
        if (seen) memset(seen, 0, v.nid);
        rc = read_voc_list(f, &v, add, 1, k, add ? NULL : seen, o->voc_difficult == MLCL_VOC_DIFFICULT_POSITIVE, fn);
        if (rc == MLCL_OK && seen)
            for (size_t i = 0; i < v.nid; i++)
                if (!seen[i]) {
                    rc = mlcl__err(MLCL_EFORMAT, "%s: %s: image '%.100s' is missing from the class list", fn, f, v.idv[i]);
                    break;
                }
        mlcl__free(f);
        if (rc < 0) goto done;
    }
    img_dir = o->image_root ? mlcl__strdup(o->image_root) : mlcl__path_join(root, "JPEGImages");
    if (!img_dir) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
    for (size_t i = 0; i < v.nid; i++) {
        char jn[600];
        snprintf(jn, sizeof jn, "%.500s.jpg", v.idv[i]);
        char *p = mlcl__path_join(img_dir, jn);
        if (!p) { rc = mlcl__err(MLCL_ENOMEM, "%s: out of memory", fn); goto done; }
        rc = mlcl__imglist_add_path(l, p, fn);
        mlcl__free(p);
        if (rc < 0) goto done;
    }
done:
    for (size_t k = 0; k < nfiles; k++) mlcl__free(files[k]);
    mlcl__free(files);
    for (size_t i = 0; i < v.nid; i++) mlcl__free(v.idv[i]);
    mlcl__free(v.idv);
    mlcl__strmap_free(&ids);
    mlcl__free(seen);
    mlcl__free(img_dir);
    mlcl__free(main_dir);
    return rc;
}

int mlcl_dataset_load_voc(mlcl_dataset **out, int *skipped, const char *root, const char *split,
                          const mlcl_manifest_options *o)
{
    static const char fn[] = "mlcl_dataset_load_voc";
    MLCL_CHECK_NULL(fn, out);
    *out = NULL;
    if (skipped) *skipped = 0;
    MLCL_CHECK_NULL(fn, root);
    MLCL_CHECK_NULL(fn, split);
    mlcl_manifest_options def = MLCL_MANIFEST_OPTIONS_INIT;
    if (!o) o = &def;
    MLCL_TRY(mlcl__manifest_check_options(o, fn));
    mlcl__imglist l;
    memset(&l, 0, sizeof l);
    int rc = voc_list(&l, root, split, o, fn);
    if (rc == MLCL_OK) rc = mlcl__imglist_build(out, skipped, &l, o, root, fn);
    mlcl__imglist_free(&l);
    return rc;
}



int mlcl__imglist_read_voc(mlcl__imglist *l, const char *root, const char *split, const mlcl_manifest_options *o,
                           const char *fn)
{
    memset(l, 0, sizeof *l);
    MLCL_TRY(mlcl__manifest_check_options(o, fn));
    int rc = voc_list(l, root, split, o, fn);
    if (rc == MLCL_OK && l->n == 0) rc = mlcl__err(MLCL_EFORMAT, "%s: %s: no images", fn, root);
    if (rc == MLCL_OK && o->n_label_names > 0) rc = mlcl__imglist_remap(l, o, root, fn);
    if (rc < 0) mlcl__imglist_free(l);
    return rc;
}
