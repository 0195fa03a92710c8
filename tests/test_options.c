/* Every option struct: the _INIT macro and the _init() function give the
 * same bytes, and a wrong version is refused. */
#include "testutil.h"
#include "mlcl/comm.h"

#define CHECK_INIT(T, INITM, fn, VER)                                                    \
    do {                                                                                 \
        static const T expect = INITM;                                                   \
        T got;                                                                           \
        memset(&got, 0xAB, sizeof got);                                                  \
        ck_assert_ok(fn(&got, VER));                                                     \
        ck_assert_msg(memcmp(&expect, &got, sizeof got) == 0, #fn " differs from " #INITM); \
        ck_assert_status_msg(fn(&got, (VER) + 1000), MLCL_EVERSION, "version");          \
        ck_assert_status_msg(fn(NULL, VER), MLCL_EINVAL, "NULL");                        \
    } while (0)

START_TEST(init_macros_equal_functions)
{
    CHECK_INIT(mlcl_queue_options, MLCL_QUEUE_OPTIONS_INIT, mlcl_queue_options_init, MLCL_QUEUE_OPTIONS_VERSION);
    CHECK_INIT(mlcl_comm, MLCL_COMM_INIT, mlcl_comm_init, MLCL_COMM_VERSION);
    CHECK_INIT(mlcl_loss_options, MLCL_LOSS_OPTIONS_INIT, mlcl_loss_options_init, MLCL_LOSS_OPTIONS_VERSION);
    CHECK_INIT(mlcl_loss_parts, MLCL_LOSS_PARTS_INIT, mlcl_loss_parts_init, MLCL_LOSS_PARTS_VERSION);
    CHECK_INIT(mlcl_loss_inputs, MLCL_LOSS_INPUTS_INIT, mlcl_loss_inputs_init, MLCL_LOSS_INPUTS_VERSION);
    CHECK_INIT(mlcl_encoder_options, MLCL_ENCODER_OPTIONS_INIT, mlcl_encoder_options_init, MLCL_ENCODER_OPTIONS_VERSION);
    CHECK_INIT(mlcl_mlp_spec, MLCL_MLP_SPEC_INIT, mlcl_mlp_spec_init, MLCL_MLP_SPEC_VERSION);
    CHECK_INIT(mlcl_resnet_spec, MLCL_RESNET_SPEC_INIT, mlcl_resnet_spec_init, MLCL_RESNET_SPEC_VERSION);
    CHECK_INIT(mlcl_optim_options, MLCL_OPTIM_OPTIONS_INIT, mlcl_optim_options_init, MLCL_OPTIM_OPTIONS_VERSION);
    CHECK_INIT(mlcl_sched_options, MLCL_SCHED_OPTIONS_INIT, mlcl_sched_options_init, MLCL_SCHED_OPTIONS_VERSION);
    CHECK_INIT(mlcl_metrics, MLCL_METRICS_INIT, mlcl_metrics_init, MLCL_METRICS_VERSION);
    CHECK_INIT(mlcl_moco_options, MLCL_MOCO_OPTIONS_INIT, mlcl_moco_options_init, MLCL_MOCO_OPTIONS_VERSION);
    CHECK_INIT(mlcl_train_options, MLCL_TRAIN_OPTIONS_INIT, mlcl_train_options_init, MLCL_TRAIN_OPTIONS_VERSION);
    CHECK_INIT(mlcl_trainer_ex_options, MLCL_TRAINER_EX_OPTIONS_INIT, mlcl_trainer_ex_options_init, MLCL_TRAINER_EX_OPTIONS_VERSION);
    CHECK_INIT(mlcl_simclr_options, MLCL_SIMCLR_OPTIONS_INIT, mlcl_simclr_options_init, MLCL_SIMCLR_OPTIONS_VERSION);
    CHECK_INIT(mlcl_allocator, MLCL_ALLOCATOR_INIT, mlcl_allocator_init, MLCL_ALLOCATOR_VERSION);
    CHECK_INIT(mlcl_loader_batch, MLCL_LOADER_BATCH_INIT, mlcl_loader_batch_init, MLCL_LOADER_BATCH_VERSION);
    CHECK_INIT(mlcl_loader_stats, MLCL_LOADER_STATS_INIT, mlcl_loader_stats_init, MLCL_LOADER_STATS_VERSION);
}
END_TEST

START_TEST(defaults_are_the_documented_ones)
{
    mlcl_loss_options l = MLCL_LOSS_OPTIONS_INIT;
    ck_assert_int_eq(l.method, MLCL_LOSS_LD);
    ck_assert_int_eq(l.variant, MLCL_LD_CLD);
    ck_assert_int_eq(l.mask, MLCL_MASK_ANY);
    ck_assert_float_eq(l.alpha, 0.1f);
    ck_assert_float_eq(l.beta, 1.0f);
    ck_assert_float_eq(l.tau, 0.1f);
    ck_assert_float_eq(l.sigma, 0.01f);
    ck_assert_int_eq(l.reduction, MLCL_REDUCE_MEAN);
    ck_assert_int_eq(l.dweight_grad, 0);
    mlcl_train_options t = MLCL_TRAIN_OPTIONS_INIT;
    ck_assert_int_eq(t.pretrain_epochs, 400);
    ck_assert_int_eq(t.finetune_epochs, 100);
    ck_assert_float_eq(t.pretrain_lr, 4e-5f);
    ck_assert_float_eq(t.finetune_lr, 4e-4f);
    ck_assert_ptr_null(t.moco); /* the MoCo defaults */
    ck_assert_int_eq(t.pretrain_step_size, 50);
    ck_assert_float_eq(t.finetune_gamma, 0.1f);
    mlcl_moco_options mo = MLCL_MOCO_OPTIONS_INIT;
    ck_assert_ptr_null(mo.optim);
    ck_assert_ptr_null(mo.loss);
    ck_assert_ptr_null(mo.hidden);
    ck_assert_int_eq(mo.n_hidden, 0);
    ck_assert_int_eq(mo.max_batch, 0);
    ck_assert_float_eq(mo.momentum, 0.999f);
    ck_assert_ok(mlcl_train_options_preset(&t, "scene"));
    ck_assert_int_eq(t.batch, 256);
    ck_assert_ptr_nonnull(t.moco);
    ck_assert_int_eq(t.moco->queue_size, 1024);
    ck_assert_status_msg(mlcl_train_options_preset(&t, "mnist"), MLCL_EINVAL, "mnist");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("options");
    tcase_add_test(tc, init_macros_equal_functions);
    tcase_add_test(tc, defaults_are_the_documented_ones);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
