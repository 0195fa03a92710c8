/* libFuzzer target: the image-manifest readers on the same bytes, as a COCO
 * instances JSON, a CSV/TSV manifest and a PASCAL VOC class list. The images
 * the manifests name mostly do not exist: with skip_bad_images the readers
 * must still parse the whole manifest and fail cleanly ("none of the images
 * could be read") or, when a name happens to be a readable file, succeed.
 * Decoding runs on the calling thread so the allocation cap applies. */
#include "fuzz_common.h"
#include <string.h>
#include <sys/stat.h>

static void check(int rc, mlcl_dataset *ds, int skipped)
{
    fuzz_check_rc(rc);
    if (rc != MLCL_OK) {
        if (ds) abort();
        return;
    }
    int n, d, c, ch, h, w;
    if (mlcl_dataset_dims(ds, &n, &d, &c) != MLCL_OK || n <= 0 || c <= 0 || skipped < 0) abort();
    if (mlcl_dataset_image_shape(ds, &ch, &h, &w) != MLCL_OK || ch * h * w != d) abort();
    for (int j = 0; j < c; j++) {
        const char *name = NULL;
        if (mlcl_dataset_label_name(ds, j, &name) != MLCL_OK || !name) abort();
    }
    mlcl_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mlcl_manifest_options o = MLCL_MANIFEST_OPTIONS_INIT;
    o.height = o.width = 4;
    o.threads = 1;
    o.skip_bad_images = 1;
    o.image_root = "/nonexistent-mlcl-fuzz";
    mlcl_dataset *ds = NULL;
    int skipped = -1;

    const char *p = fuzz_write(data, size, ".json");
    mlcl_clear_error();
    check(mlcl_dataset_load_coco(&ds, &skipped, p, &o), ds, skipped);

    ds = NULL;
    p = fuzz_write(data, size, ".json"); /* same path; the manifest reader ignores the name */
    mlcl_clear_error();
    check(mlcl_dataset_load_image_csv(&ds, &skipped, p, &o), ds, skipped);
    ds = NULL;
    static const char *const names[2] = { "cat", "dog" };
    o.label_names = names;
    o.n_label_names = 2;
    mlcl_clear_error();
    check(mlcl_dataset_load_image_csv(&ds, &skipped, p, &o), ds, skipped);
    o.label_names = NULL;
    o.n_label_names = 0;

    /* VOC: the bytes as cat_trainval.txt of a per-process tree */
    static char root[256], list[512];
    if (!root[0]) {
        snprintf(root, sizeof root, "%s.voc", fuzz_path(""));
        char d[400];
        mkdir(root, 0700);
        snprintf(d, sizeof d, "%s/ImageSets", root);
        mkdir(d, 0700);
        snprintf(d, sizeof d, "%s/ImageSets/Main", root);
        mkdir(d, 0700);
        snprintf(list, sizeof list, "%s/cat_trainval.txt", d);
    }
    FILE *f = fopen(list, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    ds = NULL;
    o.voc_difficult = (int)(size & 1);
    mlcl_clear_error();
    check(mlcl_dataset_load_voc(&ds, &skipped, root, "trainval", &o), ds, skipped);
    return 0;
}
