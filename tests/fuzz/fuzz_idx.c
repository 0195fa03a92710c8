/* libFuzzer target: the IDX reader (and the IDX image/label pair builder). */
#include "fuzz_common.h"
#include "fuzz_reader_budget.h"
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size, ".idx");
    fuzz_budget_install();
    uint8_t *x = NULL;
    int nd = -1, dims[MLCL_IDX_MAX_DIMS];
    mlcl_clear_error();
    int rc = mlcl_idx_load(&x, &nd, dims, p);
    fuzz_check_rc(rc);
    if (rc == MLCL_OK) {
        if (nd < 1 || nd > MLCL_IDX_MAX_DIMS) abort();
        size_t total = 1;
        for (int i = 0; i < nd; i++) { if (dims[i] < 0) abort(); total *= (size_t)dims[i]; }
        volatile uint8_t s = 0;
        for (size_t i = 0; i < total; i++) s ^= x[i]; /* every byte readable */
        (void)s;
        mlcl_idx_free(x);
        /* the same file as images and labels: usually a shape mismatch */
        mlcl_dataset *ds = NULL;
        mlcl_clear_error();
        rc = mlcl_dataset_load_idx(&ds, p, p, 256);
        fuzz_check_rc(rc);
        mlcl_dataset_free(ds);
    } else if (x) abort();
    /* gzip'd, the same bytes give the same status */
    const char *gz = fuzz_write_gz(p, data, size);
    if (gz) {
        uint8_t *y = NULL;
        mlcl_clear_error();
        int rc_plain = mlcl_idx_load(&y, &nd, dims, p);
        mlcl_idx_free(y);
        y = NULL;
        int rc_gz = mlcl_idx_load(&y, &nd, dims, gz);
        fuzz_check_rc(rc_gz);
        if (rc_gz != rc_plain) abort();
        mlcl_idx_free(y);
    }
    if (fuzz_live != 0) abort(); /* everything freed */
    return 0;
}
