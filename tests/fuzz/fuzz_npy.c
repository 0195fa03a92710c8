/* libFuzzer target: the .npy reader, the .npz (zip) reader and the NumPy
 * dataset loader, on the same bytes. */
#include "fuzz_common.h"
#include "fuzz_reader_budget.h"
#include <string.h>

static void check_array(int rc, float *x, int nd, const int64_t *shape)
{
    fuzz_check_rc(rc);
    if (rc != MLCL_OK) {
        if (x) abort();
        return;
    }
    if (nd < 0 || nd > MLCL_NPY_MAX_DIMS) abort();
    size_t total = 1;
    for (int i = 0; i < nd; i++) {
        if (shape[i] < 0) abort();
        total *= (size_t)shape[i];
    }
    if (total > 0 && !x) abort();
    volatile float s = 0.0f;
    for (size_t i = 0; i < total; i++) s += x[i]; /* every element readable */
    (void)s;
    mlcl_npy_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size, ".npz");
    fuzz_budget_install();
    float *x = NULL;
    int nd = -1;
    int64_t shape[MLCL_NPY_MAX_DIMS];
    mlcl_clear_error();
    check_array(mlcl_npy_read(&x, &nd, shape, p, NULL, 1), x, nd, shape); /* as .npy */
    x = NULL;
    mlcl_clear_error();
    int rc = mlcl_npy_read(&x, &nd, shape, p, "x", 0);                     /* as .npz */
    check_array(rc, x, nd, shape);
    if (rc == MLCL_OK) {
        mlcl_dataset *ds = NULL;
        mlcl_clear_error();
        rc = mlcl_dataset_load_npy(&ds, p, "x", p, "y", 1);
        fuzz_check_rc(rc);
        if ((rc == MLCL_OK) != (ds != NULL)) abort();
        mlcl_dataset_free(ds);
    }
    if (fuzz_live != 0) abort(); /* everything freed */
    return 0;
}
