/* libFuzzer target: the ARFF reader (dense and sparse rows, header parsing). */
#include "fuzz_common.h"
#include "fuzz_reader_budget.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size, ".arff");
    fuzz_budget_install();
    mlcl_dataset *ds = NULL;
    mlcl_clear_error();
    int rc = mlcl_dataset_load_arff(&ds, p, 0, 0);
    fuzz_check_rc(rc);
    if (rc == MLCL_OK) {
        int n, d, c;
        if (mlcl_dataset_dims(ds, &n, &d, &c) != MLCL_OK || n < 0 || d <= 0 || c <= 0) abort();
        mlcl_dataset_free(ds);
    } else if (ds) abort();
    /* the explicit label count, labels first */
    ds = NULL;
    mlcl_clear_error();
    rc = mlcl_dataset_load_arff(&ds, p, 1 + (int)(size % 3), 1);
    fuzz_check_rc(rc);
    mlcl_dataset_free(ds);
    /* gzip'd, the same text gives the same status */
    const char *gz = fuzz_write_gz(p, data, size);
    if (gz) {
        ds = NULL;
        mlcl_clear_error();
        int rc_plain = mlcl_dataset_load_arff(&ds, p, 0, 0);
        mlcl_dataset_free(ds);
        ds = NULL;
        rc = mlcl_dataset_load_arff(&ds, gz, 0, 0);
        fuzz_check_rc(rc);
        if (rc != rc_plain) abort();
        mlcl_dataset_free(ds);
    }
    if (fuzz_live != 0) abort(); /* everything freed */
    return 0;
}
