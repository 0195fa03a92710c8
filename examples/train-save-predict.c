/*
 * train-save-predict: the whole life of a model in one program.
 *
 *   1. train MulSupCon_CLD on Yeast (a few epochs),
 *   2. export the trained model and save it to a file,
 *   3. free everything (trainer, model, training data),
 *   4. load the model in a fresh handle and score the test rows,
 *   5. print each row's top labels by name.
 *
 *   bin/train-save-predict [DATA_DIR [MODEL_FILE]]
 *
 * DATA_DIR holds yeast-train.arff.gz and yeast-test.arff.gz (default: the
 * MLCL_DATA_DIR environment variable, else ../shared/data).
 */
#include <stdio.h>
#include <stdlib.h>
#include <mlcl.h>

#define CHECK(call)                                                                   \
    do {                                                                              \
        int rc_ = (call);                                                             \
        if (rc_ != MLCL_OK) {                                                         \
            fprintf(stderr, "train-save-predict: %s: %s\n", #call, mlcl_last_error()); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("MLCL_DATA_DIR");
    if (!dir) dir = "../shared/data";
    const char *model_path = argc > 2 ? argv[2] : "yeast.mlcl";
    char train_path[4096], test_path[4096];
    snprintf(train_path, sizeof train_path, "%s/yeast-train.arff.gz", dir);
    snprintf(test_path, sizeof test_path, "%s/yeast-test.arff.gz", dir);

    /* 1. train (short: 2 + 3 epochs instead of the paper's 400 + 100) */
    mlcl_dataset *train;
    CHECK(mlcl_dataset_load_arff(&train, train_path, 0, 0));
    mlcl_train_options opts;
    CHECK(mlcl_train_options_init(&opts, MLCL_TRAIN_OPTIONS_VERSION));
    CHECK(mlcl_train_options_preset(&opts, "yeast"));
    opts.pretrain_epochs = 2;
    opts.finetune_epochs = 3;
    mlcl_trainer *trainer;
    CHECK(mlcl_trainer_create(&trainer, &opts, train));
    CHECK(mlcl_trainer_run(trainer));

    /* 2. export (label names and the training-set hash come from the dataset) and save */
    mlcl_model_export_options eo;
    CHECK(mlcl_model_export_options_init(&eo, MLCL_MODEL_EXPORT_OPTIONS_VERSION));
    eo.train = train;
    eo.train_path = train_path;
    mlcl_model *model;
    CHECK(mlcl_trainer_export_model_ex(trainer, &model, &eo));
    CHECK(mlcl_model_save(model, model_path));

    /* 3. nothing of the training run is needed any more */
    mlcl_model_free(model);
    mlcl_trainer_free(trainer);
    mlcl_dataset_free(train);

    /* 4. a fresh handle from the file */
    mlcl_model *m;
    CHECK(mlcl_model_load(&m, model_path));
    int d, c, h;
    CHECK(mlcl_model_dims(m, &d, &c, &h));
    printf("loaded %s: %d features -> %d labels (embedding %d)\n", model_path, d, c, h);
    mlcl_dataset *test;
    CHECK(mlcl_dataset_load_arff(&test, test_path, c, 0));
    int n, td, tc;
    CHECK(mlcl_dataset_dims(test, &n, &td, &tc));
    if (td != d || tc != c) {
        fprintf(stderr, "train-save-predict: the test set has %d features and %d labels, the model %d and %d\n", td, tc, d, c);
        return 1;
    }
    float *scores = malloc(sizeof(float) * (size_t)n * c);
    uint8_t *decisions = malloc((size_t)n * c);
    if (!scores || !decisions) return 1;
    CHECK(mlcl_model_predict(m, n, mlcl_dataset_features(test), scores));
    CHECK(mlcl_model_predict_labels(m, n, mlcl_dataset_features(test), decisions));

    /* 5. the top three labels of the first rows, by name, beside the true labels */
    const uint8_t *y = mlcl_dataset_labels(test);
    for (int i = 0; i < 5 && i < n; i++) {
        const float *s = scores + (size_t)i * c;
        int top[3] = { -1, -1, -1 };
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < c; j++) {
                int used = 0;
                for (int q = 0; q < k; q++) used |= top[q] == j;
                if (!used && (top[k] < 0 || s[j] > s[top[k]])) top[k] = j;
            }
        printf("row %d: top", i);
        for (int k = 0; k < 3; k++) {
            const char *name;
            CHECK(mlcl_model_label_name(m, top[k], &name));
            printf(" %s %.3f%s", name, (double)s[top[k]], y[(size_t)i * c + top[k]] ? " (true)" : "");
        }
        int predicted = 0;
        for (int j = 0; j < c; j++) predicted += decisions[(size_t)i * c + j];
        printf("; %d labels above their thresholds\n", predicted);
    }
    mlcl_metrics met = MLCL_METRICS_INIT;
    CHECK(mlcl_metrics_compute(&met, n, c, scores, y, 0.5f));
    printf("test mAP %.4f, micro-F1 %.4f over %d rows\n", met.mAP, met.miF1, n);
    free(scores);
    free(decisions);
    mlcl_dataset_free(test);
    mlcl_model_free(m);
    return 0;
}
