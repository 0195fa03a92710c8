/* Small helpers shared by the Check suites. */
#ifndef MLCL_TESTUTIL_H
#define MLCL_TESTUTIL_H
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlcl.h"

/* The status + out-parameter getters as expressions (NULL / -1 on an error). */
static inline const char *ds_feature_name(const mlcl_dataset *ds, int j)
{
    const char *s = NULL;
    return mlcl_dataset_feature_name(ds, j, &s) == MLCL_OK ? s : NULL;
}
static inline const char *ds_label_name(const mlcl_dataset *ds, int j)
{
    const char *s = NULL;
    return mlcl_dataset_label_name(ds, j, &s) == MLCL_OK ? s : NULL;
}
static inline int batcher_epoch(const mlcl_batcher *b)
{
    int e = -1;
    return mlcl_batcher_epoch(b, &e) == MLCL_OK ? e : -1;
}
static inline int batcher_batches(const mlcl_batcher *b)
{
    int k = -1;
    return mlcl_batcher_batches_per_epoch(b, &k) == MLCL_OK ? k : -1;
}

/* Asserts that expr returns status st and that the last error mentions `needle`. */
#define ck_assert_status_msg(expr, st, needle)                                   \
    do {                                                                          \
        mlcl_clear_error();                                                       \
        int rc__ = (expr);                                                        \
        ck_assert_msg(rc__ == (st), "%s returned %d (%s), expected %d; msg: %s", #expr, rc__, \
                      mlcl_status_str(rc__), (st), mlcl_last_error());            \
        ck_assert_msg(strstr(mlcl_last_error(), (needle)) != NULL,                \
                      "error message '%s' does not mention '%s'", mlcl_last_error(), (needle)); \
    } while (0)

#define ck_assert_ok(expr)                                                        \
    do {                                                                          \
        int rc__ = (expr);                                                        \
        ck_assert_msg(rc__ == 0, "%s failed: %d (%s): %s", #expr, rc__,           \
                      mlcl_status_str(rc__), mlcl_last_error());                  \
    } while (0)

/* Directory holding the shared test data (../shared/data), or NULL. */
static inline const char *test_data_dir(void)
{
    const char *d = getenv("MLCL_DATA_DIR");
    return d ? d : "../shared/data";
}

/* Number of entries in dir other than . and .. (a left-over temporary file shows here). */
static inline int test_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) k++;
    closedir(d);
    return k;
}

/* Runs one suite; returns the process exit status. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
