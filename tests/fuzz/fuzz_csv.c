/* libFuzzer target: the CSV/TSV table reader (RFC 4180 records, label
 * choice, imputation) and the data-format guess, on the same bytes. */
#include "fuzz_common.h"
#include <math.h>

static void check(int rc, mlcl_dataset *ds)
{
    fuzz_check_rc(rc);
    if (rc != MLCL_OK) {
        if (ds) abort();
        return;
    }
    int n, d, c;
    if (mlcl_dataset_dims(ds, &n, &d, &c) != MLCL_OK || n <= 0 || d <= 0 || c <= 0) abort();
    const float *x = mlcl_dataset_features(ds);
    const uint8_t *y = mlcl_dataset_labels(ds);
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        if (!isfinite(x[i])) abort(); /* imputation leaves no NaN behind */
    for (size_t i = 0; i < (size_t)n * (size_t)c; i++)
        if (y[i] > 1) abort();
    for (int j = 0; j < d; j++) {
        const char *name = NULL;
        if (mlcl_dataset_feature_name(ds, j, &name) != MLCL_OK || !name) abort();
    }
    mlcl_dataset_free(ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = fuzz_write(data, size, ".csv");
    mlcl_csv_options o = MLCL_CSV_OPTIONS_INIT;
    mlcl_dataset *ds = NULL;
    /* the last column is the label */
    o.n_labels = 1;
    mlcl_clear_error();
    check(mlcl_dataset_load_csv(&ds, p, &o), ds);
    /* labels by prefix, missing values imputed with the mean, tab or auto delimiter */
    ds = NULL;
    o.n_labels = 0;
    o.label_prefix = "y";
    o.impute = MLCL_IMPUTE_MEAN;
    o.delimiter = size % 2 ? '\t' : 0;
    mlcl_clear_error();
    check(mlcl_dataset_load_csv(&ds, p, &o), ds);
    /* labels by name */
    ds = NULL;
    o.label_prefix = NULL;
    o.label_columns = "a,b";
    o.impute = MLCL_IMPUTE_ZERO;
    mlcl_clear_error();
    check(mlcl_dataset_load_csv(&ds, p, &o), ds);
    /* no header line: the last two columns are labels */
    ds = NULL;
    o.label_columns = NULL;
    o.n_labels = 2;
    o.no_header = 1;
    mlcl_clear_error();
    check(mlcl_dataset_load_csv(&ds, p, &o), ds);
    mlcl_data_format fmt = (mlcl_data_format)-1;
    mlcl_clear_error();
    int rc = mlcl_data_guess_format(&fmt, p);
    fuzz_check_rc(rc);
    if (rc == MLCL_OK && (fmt < MLCL_FORMAT_UNKNOWN || fmt > MLCL_FORMAT_CSV_NOHEADER)) abort();
    return 0;
}
