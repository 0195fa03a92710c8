/* libFuzzer target: the multi-label LIBSVM / XC reader. */
#include <string.h>
#include "fuzz_common.h"
#include "fuzz_reader_budget.h"

/* The CSR reader against the dense one: when both read the file, the rows
 * densified from CSR equal the dense rows, labels too. */
static void fuzz_same_rows(mlcl_dataset *sp, mlcl_dataset *de)
{
    int n, d, c, n2, d2, c2, s = 0;
    if (mlcl_dataset_dims(sp, &n, &d, &c) || mlcl_dataset_dims(de, &n2, &d2, &c2)) abort();
    if (n != n2 || d != d2 || c != c2 || mlcl_dataset_is_sparse(sp, &s) || !s) abort();
    const float *xd = mlcl_dataset_features(de);
    float *row = malloc(sizeof(float) * (size_t)d);
    if (!row) return;
    for (int i = 0; i < n; i++) {
        if (mlcl_dataset_gather(row, NULL, NULL, sp, &i, 1)) abort();
        if (memcmp(row, xd + (size_t)i * d, sizeof(float) * (size_t)d)) abort();
    }
    free(row);
    if (memcmp(mlcl_dataset_labels(sp), mlcl_dataset_labels(de), (size_t)n * c)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size, ".svm");
    fuzz_budget_install();
    mlcl_dataset *ds = NULL;
    mlcl_clear_error();
    int rc = mlcl_dataset_load_libsvm(&ds, p, 0, 0, MLCL_LIBSVM_INDEX_AUTO);
    fuzz_check_rc(rc);
    if (rc == MLCL_OK) {
        int n, d, c;
        if (mlcl_dataset_dims(ds, &n, &d, &c) != MLCL_OK || n < 0 || d <= 0 || c <= 0) abort();
        mlcl_dataset_free(ds);
    } else if (ds) abort();
    /* fixed sizes and an explicit zero base */
    ds = NULL;
    mlcl_clear_error();
    rc = mlcl_dataset_load_libsvm(&ds, p, 8, 4, 0);
    fuzz_check_rc(rc);
    mlcl_dataset_free(ds);
    /* gzip'd, the same text gives the same status */
    const char *gz = fuzz_write_gz(p, data, size);
    if (gz) {
        ds = NULL;
        mlcl_clear_error();
        int rc_plain = mlcl_dataset_load_libsvm(&ds, p, 0, 0, MLCL_LIBSVM_INDEX_AUTO);
        mlcl_dataset_free(ds);
        ds = NULL;
        rc = mlcl_dataset_load_libsvm(&ds, gz, 0, 0, MLCL_LIBSVM_INDEX_AUTO);
        fuzz_check_rc(rc);
        if (rc != rc_plain) abort();
        mlcl_dataset_free(ds);
    }
    {
        mlcl_dataset *sp = NULL, *de = NULL;
        mlcl_clear_error();
        int rs = mlcl_dataset_load_libsvm_sparse(&sp, p, 0, 0, MLCL_LIBSVM_INDEX_AUTO);
        fuzz_check_rc(rs);
        if (rs != MLCL_OK && sp) abort();
        int rd = mlcl_dataset_load_libsvm(&de, p, 0, 0, MLCL_LIBSVM_INDEX_AUTO);
        if (rs == MLCL_OK && rd == MLCL_OK) fuzz_same_rows(sp, de);
        mlcl_dataset_free(sp);
        mlcl_dataset_free(de);
    }
    if (fuzz_live != 0) abort(); /* everything freed */
    return 0;
}
