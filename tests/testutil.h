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

/* MoCo options with their own storage for the widths, the loss and the
 * optimiser (mlcl_moco_options holds pointers to them). */
typedef struct test_moco {
    mlcl_moco_options o;
    int hidden[MLCL_MLP_MAX_HIDDEN];
    mlcl_loss_options loss;
    mlcl_optim_options optim;
} test_moco;

/* Defaults, with o.hidden pointing at the default widths 256, 512, 256 in m
 * (o.loss and o.optim stay NULL: test_moco_loss / test_moco_optim set them). */
static inline mlcl_moco_options *test_moco_init(test_moco *m)
{
    static const int w[] = { 256, 512, 256 };
    static const mlcl_optim_options od = MLCL_MOCO_OPTIM_INIT;
    memset(m, 0, sizeof *m);
    mlcl_moco_options_init(&m->o, MLCL_MOCO_OPTIONS_VERSION);
    mlcl_loss_options_init(&m->loss, MLCL_LOSS_OPTIONS_VERSION);
    m->optim = od;
    memcpy(m->hidden, w, sizeof w);
    m->o.n_hidden = 3;
    m->o.hidden = m->hidden;
    return &m->o;
}

/* The MoCo options of a train options under construction, in static storage
 * keyed by the options' address: (re)initialised to the defaults and attached
 * (o->moco) unless o->moco already points at them. */
static inline test_moco *test_moco_of(mlcl_train_options *o)
{
    static test_moco pool[32];
    static const mlcl_train_options *key[32];
    static int next;
    int i = 0;
    while (i < 32 && key[i] != o) i++;
    if (i == 32) { i = next; next = (next + 1) % 32; key[i] = o; }
    if (o->moco != &pool[i].o) {
        test_moco *m = &pool[i];
        test_moco_init(m);
        if (o->moco) { /* a copy of options pointing elsewhere (o2 = o): copy on write */
            const mlcl_moco_options *src = o->moco;
            m->o = *src;
            if (src->hidden) memcpy(m->hidden, src->hidden, sizeof(int) * (size_t)src->n_hidden);
            m->o.hidden = src->hidden ? m->hidden : NULL;
            if (src->loss) { m->loss = *src->loss; m->o.loss = &m->loss; }
            if (src->optim) { m->optim = *src->optim; m->o.optim = &m->optim; }
        }
        o->moco = &m->o;
    }
    return &pool[i];
}

/* The loss options of test_moco_of(o), attached (o->moco->loss). */
static inline mlcl_loss_options *test_moco_loss(mlcl_train_options *o)
{
    test_moco *m = test_moco_of(o);
    m->o.loss = &m->loss;
    return &m->loss;
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
