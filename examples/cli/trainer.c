/*
 * trainer.c: the trainer of the run (encoder, views, --stream loaders,
 * validation, --resume) and the training itself (--log, the progress, the
 * checkpoints, a signal's graceful stop)
 */
#include "cli.h"

/* the backbone, the views and the trainer; --resume */
int run_trainer(run *r)
{
    mlcl_encoder *backbone = NULL;
    int rc;
    r->ex = (mlcl_trainer_ex_options)MLCL_TRAINER_EX_OPTIONS_INIT;
    if (r->simclr || r->resnet) {
        int ic = 3, ih = r->manifest_side, iw = r->manifest_side; /* --stream: the loaders' output */
        if (!r->stream && (mlcl_dataset_image_shape(r->train, &ic, &ih, &iw) != MLCL_OK || ic <= 0)) {
            fprintf(stderr, "mlcl-train: --encoder %s / --views %s need images, and this training set has no image shape\n", r->encoder, r->views);
            return 2;
        }
        int side_h = r->image_size > 0 ? r->image_size : ih, side_w = r->image_size > 0 ? r->image_size : iw;
        if (r->simclr) {
            mlcl_simclr_options_init(&r->pre_v, MLCL_SIMCLR_OPTIONS_VERSION);
            r->pre_v.out_h = side_h; r->pre_v.out_w = side_w;
            r->ex.pretrain_views = &r->pre_v;
            if (r->ft_simclr) {
                /* fine-tuning: crop and flip only (SimCLR's linear-evaluation augmentation) */
                mlcl_simclr_options_init(&r->ft_v, MLCL_SIMCLR_OPTIONS_VERSION);
                r->ft_v.out_h = side_h; r->ft_v.out_w = side_w;
                r->ft_v.jitter_p = 0; r->ft_v.gray_p = 0; r->ft_v.blur_p = 0;
                r->ex.finetune_views = &r->ft_v;
            }
        }
        r->sh.channels = ic;
        r->sh.side = side_h > side_w ? side_h : side_w;
        if (r->resnet) {
            /* the activations first (before the network exists), then with its parameter count */
            if (check_budget(&r->sh)) return 2;
            mlcl_resnet_spec rs;
            mlcl_resnet_spec_init(&rs, MLCL_RESNET_SPEC_VERSION);
            rs.depth = atoi(r->encoder + 6); /* the name matched one of ENCODER_CHOICES exactly */
            rs.stem = r->sh.small_stem ? MLCL_RESNET_STEM_SMALL : MLCL_RESNET_STEM_IMAGENET;
            rs.in_channels = ic; rs.height = side_h; rs.width = side_w;
            rs.base_width = r->base_width;
            mlcl_encoder_options eo;
            mlcl_encoder_options_init(&eo, MLCL_ENCODER_OPTIONS_VERSION);
            eo.max_batch = r->o.batch;
            eo.seed = r->o.seed;
            rc = mlcl_encoder_create_resnet(&backbone, &rs, &eo);
            if (rc != MLCL_OK) {
                fprintf(stderr, "mlcl-train: --encoder %s: %s\n", r->encoder, mlcl_last_error());
                return 2;
            }
            r->ex.backbone = backbone;
            size_t np = 0;
            mlcl_encoder_param_count(backbone, &np);
            r->sh.resnet_params = (double)np;
            if (check_budget(&r->sh)) { mlcl_encoder_free(backbone); return 2; }
            if (!r->a.quiet)
                fprintf(stderr, "mlcl-train: encoder %s (base width %d, %zu parameters) on %dx%dx%d views\n",
                        r->encoder, r->base_width, np, ic, side_h, side_w);
        } else if (check_budget(&r->sh)) {
            return 2;
        }
    }
    if (r->stream) {
        rc = MLCL_OK;
        if (r->o.method != MLCL_METHOD_NONE && r->o.pretrain_epochs > 0)
            rc = stream_loader(&r->pre_ld, r->ilist, r->o.batch, r->manifest_side, r->loader_threads, r->prefetch, r->o.seed, 2, r->ex.pretrain_views);
        if (rc == MLCL_OK && r->o.finetune_epochs > 0)
            rc = stream_loader(&r->ft_ld, r->ilist, r->o.batch, r->manifest_side, r->loader_threads, r->prefetch, r->o.seed + 1,
                               r->ex.finetune_views ? 1 : 0, r->ex.finetune_views);
        if (rc == MLCL_OK) rc = mlcl_trainer_create_stream(&r->a.trainer, &r->o, r->pre_ld, r->ft_ld, backbone);
        if (rc == MLCL_OK && !r->a.quiet)
            fprintf(stderr, "mlcl-train: --stream: %d loader threads per loader, %d batches prefetched (rings of %.1f MB in all)\n",
                    r->loader_threads, r->prefetch, r->sh.ring / 1048576.0);
    } else {
        rc = mlcl_trainer_create_ex(&r->a.trainer, &r->o, r->train, &r->ex);
    }
    mlcl_encoder_free(backbone);
    /* before --resume: the checkpoint names the validation settings it was made with */
    if (rc == MLCL_OK && r->val) rc = mlcl_trainer_set_validation(r->a.trainer, r->val, &r->vopt);
    if (rc == MLCL_OK && r->resume_path) {
        rc = mlcl_trainer_load(r->a.trainer, r->resume_path);
        if (rc == MLCL_OK) {
            int ph, ep;
            mlcl_trainer_position(r->a.trainer, &ph, &ep);
            r->resumed_phase = ph;
            if (!r->a.quiet) {
                if (ph >= 3)
                    fprintf(stderr, "mlcl-train: resumed from %s: the run it holds is finished; nothing is trained "
                            "(although %d+%d epochs are asked for), the model is evaluated as it is\n",
                            r->resume_path, r->o.pretrain_epochs, r->o.finetune_epochs);
                else
                    fprintf(stderr, "mlcl-train: resumed from %s at phase %d epoch %d: %d pretraining and %d fine-tuning epochs to go\n",
                            r->resume_path, ph, ep, ph == 1 ? r->o.pretrain_epochs - ep : 0,
                            ph == 1 ? r->o.finetune_epochs : r->o.finetune_epochs - ep);
            }
        }
    }
    if (rc != MLCL_OK) {
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        return 1;
    }
    return 0;
}

/* training: a signal now stops at the next step, with a checkpoint */
int run_train(run *r)
{
    int rc = MLCL_OK;
    if (mpi_attach(&r->a, &r->log_path, &r->json_path)) return 1;
    if (r->log_path) {
        /* a new file with the old rows (when resuming) or the header, renamed
         * over the target now; the epochs are appended to it as they end */
        if (sf_open(&r->a.log, "--log", r->log_pi.canon)) return 1;
        FILE *old = r->resume_path ? fopen(r->log_pi.canon, "r") : NULL;
        char buf[65536], want[512];
        size_t k;
        FILE *hf = fmemopen(want, sizeof want, "w");
        if (hf) { log_header(hf); fclose(hf); } else { want[0] = 0; }
        if (old && fgets(buf, sizeof buf, old)) {
            /* the resumed run's rows under their header, which must be this version's */
            if (strcmp(buf, want)) {
                fclose(old);
                sf_abort(&r->a.log);
                return fail(1, "--log %s: its columns (%.*s) are not the ones this version writes; "
                            "resume into a new --log file", r->log_path, (int)strcspn(buf, "\r\n"), buf);
            }
            fputs(buf, r->a.log.f);
            while ((k = fread(buf, 1, sizeof buf, old)) > 0) fwrite(buf, 1, k, r->a.log.f);
        } else {
            log_header(r->a.log.f);
        }
        if (old) {
            int bad = ferror(old);
            fclose(old);
            if (bad) { sf_abort(&r->a.log); return fail(1, "--log %s: cannot read the rows of the resumed run", r->log_path); }
        }
        if (sf_commit(&r->a.log, 1)) return 1;
    }
    r->a.test = r->test;
    {
        /* the steps of an epoch, as the trainer runs them: pretraining drops a
         * ragged last batch, fine-tuning only a last batch of one row */
        long long B = r->o.batch < r->n ? r->o.batch : r->n;
        r->a.spe[1] = r->n / B;
        r->a.spe[2] = r->n / B + (r->n % B >= 2);
    }
    r->a.bar = r->a.tty && !r->a.quiet && !r->a.silent;
    if (r->a.eval_every && !r->a.quiet && !r->a.silent)
        fprintf(stderr, "mlcl-train: --eval-every %d: the fine-tuning lines and the log give the metrics at threshold 0.5 "
                "on the %s rows\n", r->a.eval_every, r->on_test ? "test" : "held-out (--val-split)");
    r->a.last_t = now_s();
    mlcl_trainer_set_callback(r->a.trainer, progress_cb, &r->a);
    if (g_comm) mlcl_trainer_set_callback(r->a.trainer, mpi_progress_cb, &r->a);

    /* a signal now stops at the next step, with a checkpoint */
    g_graceful = 1;
    int done = 0;
    while (!done && !g_stop) {
        rc = mlcl_trainer_run_epochs(r->a.trainer, 1, &done);
        if (rc != MLCL_OK) break;
        if (r->ckpt_path && (rc = mlcl_trainer_save(r->a.trainer, r->ckpt_path)) != MLCL_OK) break;
    }
    g_graceful = 0;
    if (rc == MLCL_EINTERRUPTED || (rc == MLCL_OK && g_stop)) {
        bar_end(&r->a);
        int src = r->ckpt_path ? mlcl_trainer_save(r->a.trainer, r->ckpt_path) : MLCL_OK;
        const char *ck = !r->ckpt_path ? "no --checkpoint given" : src == MLCL_OK ? "checkpoint written" : mlcl_last_error();
        int status;
        if (g_stop) {
            fprintf(stderr, "mlcl-train: stopped by signal %d; %s\n", (int)g_stop, ck);
            status = 130;
        } else {
            fprintf(stderr, "mlcl-train: --log %s: write failed: %s; training stopped; %s\n", r->log_path, strerror(r->a.log_err), ck);
            status = 1;
        }
        if (log_close(&r->a.log)) status = status == 130 ? 130 : 1;
        return status;
    }
    if (rc != MLCL_OK) {
        bar_end(&r->a);
        fprintf(stderr, "mlcl-train: %s\n", mlcl_last_error());
        log_close(&r->a.log);
        return 1;
    }
    bar_end(&r->a); /* --patience may have ended fine-tuning before its last epoch, with the bar drawn */
    return 0;
}
