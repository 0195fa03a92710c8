/*
 * paths.c: inputs and outputs checked before any data is read (a regular file
 * or nothing, in a writable directory, not an input, not another output) and
 * the safe files: written to a temporary file renamed over the target
 */
#include "cli.h"

/* ------------------------------------------------------------ output and input paths */
static pathinfo g_in[64], g_out[8];
static int g_nin, g_nout;

const char *file_kind(mode_t m)
{
    return S_ISCHR(m) ? "character device" : S_ISBLK(m) ? "block device" : S_ISFIFO(m) ? "FIFO"
         : S_ISSOCK(m) ? "socket" : S_ISDIR(m) ? "directory" : "special file";
}

/* dir (at least ".") and base of path; returns -1 when there is no base name */
int split_path(const char *path, char *dir, size_t n, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(dir, n, "."); *base = path; }
    else if (slash == path) { snprintf(dir, n, "/"); *base = slash + 1; }
    else { snprintf(dir, n, "%.*s", (int)(slash - path), path); *base = slash + 1; }
    return **base && strcmp(*base, ".") && strcmp(*base, "..") ? 0 : -1;
}

/* dirs: 0 a file is expected, 1 a file or a folder (--mosaic-dir), 2 a folder of images (--image-root),
 * 3 a file or a VOC tree */
int add_input_kind(const char *flagname, const char *path, int dirs)
{
    if (g_nin == (int)(sizeof g_in / sizeof g_in[0])) return 0;
    pathinfo *p = &g_in[g_nin];
    memset(p, 0, sizeof *p);
    p->flag = flagname;
    p->path = path;
    struct stat st;
    if (stat(path, &st) != 0) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    if (S_ISDIR(st.st_mode) && !dirs)
        return fail(2, "%s %s: is a directory, a file is expected", flagname, path);
    if (!S_ISDIR(st.st_mode) && dirs == 2) return fail(2, "%s %s: is not a directory", flagname, path);
    if (access(path, R_OK) != 0) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    p->exists = 1;
    p->tree = dirs == 2 ? 2 : dirs == 3 && S_ISDIR(st.st_mode);
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    if (!realpath(path, p->canon)) snprintf(p->canon, sizeof p->canon, "%s", path);
    g_nin++;
    return 0;
}

int add_input(const char *flagname, const char *path)
{
    return add_input_kind(flagname, path, !strcmp(flagname, "--mosaic-dir"));
}

/* a folder of the images the manifest @p path reads: an output there must not be an image (tree 2) */
void add_image_folder(const char *flagname, const char *path, const char *dir)
{
    struct stat st;
    if (g_nin == (int)(sizeof g_in / sizeof g_in[0]) || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return;
    pathinfo *p = &g_in[g_nin];
    memset(p, 0, sizeof *p);
    if (!realpath(dir, p->canon)) return;
    p->flag = flagname;
    p->path = path;
    p->tree = 2;
    g_nin++;
}

/* the regular files of the Fashion-MNIST directory are inputs too */
void add_dir_inputs(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    static char names[16][PATH_MAX];
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < 16) {
        if (e->d_name[0] == '.') continue;
        snprintf(names[k], PATH_MAX, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(names[k], &st) == 0 && S_ISREG(st.st_mode) && g_nin < (int)(sizeof g_in / sizeof g_in[0])) {
            pathinfo *p = &g_in[g_nin++];
            memset(p, 0, sizeof *p);
            p->flag = "--mosaic-dir";
            p->path = names[k];
            p->exists = 1; p->dev = st.st_dev; p->ino = st.st_ino;
            if (!realpath(names[k], p->canon)) snprintf(p->canon, sizeof p->canon, "%s", names[k]);
            k++;
        }
    }
    closedir(d);
}

/* A file the CLI (or the library, for --checkpoint) will write: a regular
 * file or nothing, in an existing writable directory, not an input (except
 * @p may_equal, the checkpoint being resumed), not another output. */
int check_output_file(const char *flagname, const char *path, const char *may_equal, pathinfo *p)
{
    memset(p, 0, sizeof *p);
    p->flag = flagname;
    p->path = path;
    char dir[PATH_MAX], rdir[PATH_MAX];
    const char *base;
    struct stat st, lst;
    if (lstat(path, &lst) == 0) {
        if (S_ISLNK(lst.st_mode) && stat(path, &st) != 0)
            return fail(2, "%s %s: is a dangling symbolic link; give the file it should create", flagname, path);
        if (!S_ISLNK(lst.st_mode)) st = lst;
        if (S_ISDIR(st.st_mode)) return fail(2, "%s %s: is a directory, a file name is expected", flagname, path);
        if (!S_ISREG(st.st_mode))
            return fail(2, "%s %s: is a %s, not a regular file: refusing to write over it", flagname, path, file_kind(st.st_mode));
        p->exists = 1;
        p->dev = st.st_dev;
        p->ino = st.st_ino;
        if (!realpath(path, p->canon)) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    } else if (errno != ENOENT) {
        return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    }
    if (split_path(p->exists ? p->canon : path, dir, sizeof dir, &base) != 0)
        return fail(2, "%s %s: is a directory name, a file name is expected", flagname, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(2, "%s %s: the directory %s does not exist", flagname, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(2, "%s %s: cannot write into the directory %s: %s", flagname, path, dir, strerror(errno));
    if (!p->exists) {
        if (!realpath(dir, rdir)) return fail(2, "%s %s: %s: %s", flagname, path, dir, strerror(errno));
        if (snprintf(p->canon, sizeof p->canon, "%s/%s", strcmp(rdir, "/") ? rdir : "", base) >= (int)sizeof p->canon)
            return fail(2, "%s %s: the path is too long", flagname, path);
    }
    for (int i = 0; i < g_nin; i++) {
        const pathinfo *q = &g_in[i];
        int same = (p->exists && q->exists && p->dev == q->dev && p->ino == q->ino) || !strcmp(p->canon, q->canon);
        if (same && !(may_equal && q->path == may_equal))
            return fail(2, "%s %s: is the same file as %s %s: refusing to overwrite an input", flagname, path, q->flag, q->path);
        size_t ql = strlen(q->canon);
        const char *rest = p->canon + ql + 1;
        if (q->tree && ql > 1 && !strncmp(p->canon, q->canon, ql) && p->canon[ql] == '/') {
            if (q->tree == 1 && (!strncmp(rest, "ImageSets/", 10) || !strncmp(rest, "JPEGImages/", 11)))
                return fail(2, "%s %s: is inside the VOC folder %s %s: refusing to write among its files", flagname, path,
                            q->flag, q->path);
            const char *ext = strrchr(rest, '.');
            /* an existing image there may be one the manifest lists (--plot writes its own PNGs in its folder) */
            if (q->tree == 2 && p->exists && strcmp(flagname, "--plot") && ext &&
                (!strcasecmp(ext, ".jpg") || !strcasecmp(ext, ".jpeg") || !strcasecmp(ext, ".png")))
                return fail(2, "%s %s: is an image in %s, the image folder of %s %s: refusing to overwrite "
                            "what may be one of its images", flagname, path, q->canon, q->flag, q->path);
        }
    }
    for (int i = 0; i < g_nout; i++) {
        const pathinfo *q = &g_out[i];
        if ((p->exists && q->exists && p->dev == q->dev && p->ino == q->ino) || !strcmp(p->canon, q->canon))
            return fail(2, "%s %s and %s %s are the same file", q->flag, q->path, flagname, path);
    }
    if (g_nout < (int)(sizeof g_out / sizeof g_out[0])) g_out[g_nout++] = *p;
    return 0;
}

/* --plot DIR: an existing directory or a new one in a writable directory; the
 * files it will hold are checked like any output */
int check_output_dir(const char *flagname, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return fail(2, "%s %s: exists and is a %s, not a directory", flagname, path,
                        S_ISREG(st.st_mode) ? "regular file" : file_kind(st.st_mode));
        if (access(path, W_OK | X_OK) != 0) return fail(2, "%s %s: cannot write into it: %s", flagname, path, strerror(errno));
        static char files[3][PATH_MAX];
        static const char *names[3] = { "distributions.csv", "distributions.png", "curves.png" };
        for (int k = 0; k < 3; k++) {
            snprintf(files[k], PATH_MAX, "%s/%s", path, names[k]);
            pathinfo tmp;
            if (check_output_file(flagname, files[k], NULL, &tmp)) return 2;
        }
        return 0;
    }
    if (errno != ENOENT) return fail(2, "%s %s: %s", flagname, path, strerror(errno));
    char dir[PATH_MAX], trimmed[PATH_MAX];
    const char *base;
    /* "plots/" names the directory plots */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    if (len >= sizeof trimmed) return fail(2, "%s %s: the path is too long", flagname, path);
    memcpy(trimmed, path, len);
    trimmed[len] = 0;
    if (split_path(trimmed, dir, sizeof dir, &base) != 0) return fail(2, "%s %s: not a usable directory name", flagname, path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(2, "%s %s: the directory %s does not exist", flagname, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(2, "%s %s: cannot create it in %s: %s", flagname, path, dir, strerror(errno));
    return 0;
}

/* ------------------------------------------------------------ safe files
 * Written to a temporary file in the target's directory; renamed over the
 * target (a regular file or nothing) after every write, the flush, the fsync
 * and the close succeeded; on any failure the temporary file is removed and
 * the target is untouched. */
mode_t g_umask;

int sf_open(safe_file *s, const char *flagname, const char *target)
{
    memset(s, 0, sizeof *s);
    s->flag = flagname;
    s->slot = -1;
    snprintf(s->target, sizeof s->target, "%s", target);
    char dir[PATH_MAX];
    const char *base;
    if (split_path(target, dir, sizeof dir, &base) != 0) return fail(1, "%s %s: no file name", flagname, target);
    if (snprintf(s->tmp, sizeof s->tmp, "%s/.%s.XXXXXX", dir, base) >= (int)sizeof s->tmp)
        return fail(1, "%s %s: the path is too long", flagname, target);
    int fd = mkstemp(s->tmp);
    if (fd < 0) return fail(1, "%s %s: cannot create a temporary file in %s: %s", flagname, target, dir, strerror(errno));
    s->slot = tmp_register(s->tmp);
    struct stat st;
    mode_t mode = stat(target, &st) == 0 ? (st.st_mode & 07777) : (0666 & ~g_umask);
    if (fchmod(fd, mode) != 0 || !(s->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(s->tmp);
        tmp_unregister(s->slot);
        return fail(1, "%s %s: %s", flagname, target, strerror(e));
    }
    return 0;
}

void sf_abort(safe_file *s)
{
    if (s->f) fclose(s->f);
    s->f = NULL;
    if (s->tmp[0]) unlink(s->tmp);
    s->tmp[0] = 0;
    tmp_unregister(s->slot);
    s->slot = -1;
}

/* flush, fsync, (close unless keep_open), rename over the target */
int sf_commit(safe_file *s, int keep_open)
{
    int e = 0;
    const char *what = "write";
    if (fflush(s->f) != 0 || ferror(s->f)) { e = errno ? errno : EIO; }
    else if (fsync(fileno(s->f)) != 0) { e = errno; what = "fsync"; }
    else if (!keep_open) {
        FILE *f = s->f;
        s->f = NULL;
        if (fclose(f) != 0) { e = errno; what = "close"; }
    }
    if (e) {
        sf_abort(s);
        return fail(1, "%s %s: %s failed: %s", s->flag, s->target, what, strerror(e));
    }
    struct stat st;
    if (lstat(s->target, &st) == 0 && !S_ISREG(st.st_mode)) {
        sf_abort(s);
        return fail(1, "%s %s: is now a %s, not a regular file: not replacing it", s->flag, s->target, file_kind(st.st_mode));
    }
    if (rename(s->tmp, s->target) != 0) {
        e = errno;
        sf_abort(s);
        return fail(1, "%s %s: rename failed: %s", s->flag, s->target, strerror(e));
    }
    s->tmp[0] = 0;
    tmp_unregister(s->slot);
    s->slot = -1;
    char dir[PATH_MAX];
    const char *base;
    split_path(s->target, dir, sizeof dir, &base);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) e = errno;
        close(dfd);
        if (e) return fail(1, "%s %s: fsync of the directory %s failed: %s", s->flag, s->target, dir, strerror(e));
    }
    return 0;
}

/* the log after its rename: appended to, flushed every epoch, closed at the end */
int log_close(safe_file *s)
{
    if (!s->f) return 0;
    FILE *f = s->f;
    s->f = NULL;
    int e = 0;
    const char *what = "write";
    if (fflush(f) != 0 || ferror(f)) e = errno ? errno : EIO;
    else if (fsync(fileno(f)) != 0) { e = errno; what = "fsync"; }
    if (fclose(f) != 0 && !e) { e = errno; what = "close"; }
    if (e) return fail(1, "%s %s: %s failed: %s", s->flag, s->target, what, strerror(e));
    return 0;
}

/* inputs and outputs, before any data is read */
int run_check_paths(run *r)
{
    if (r->train_path && add_input_kind("--train", r->train_df.path, r->train_df.format == MLCL_FORMAT_VOC ? 3 : 0)) return 2;
    if (r->test_path && add_input_kind("--test", r->test_df.path, r->test_df.format == MLCL_FORMAT_VOC ? 3 : 0)) return 2;
    if (G(FL_IMAGE_ROOT)) {
        if (add_input_kind("--image-root", V(FL_IMAGE_ROOT), 2)) return 2;
    } else {
        /* the image folders the manifests default to (docs/formats.md) */
        for (int k = 0; k < 2; k++) {
            const datafile *df = k ? &r->test_df : &r->train_df;
            const char *fl = k ? "--test" : "--train";
            char dir[PATH_MAX], sub[PATH_MAX + 8];
            const char *base;
            if ((k ? !r->test_path : !r->train_path) || (df->format != MLCL_FORMAT_IMAGE_CSV && df->format != MLCL_FORMAT_COCO)) continue;
            split_path(df->path, dir, sizeof dir, &base);
            add_image_folder(fl, df->path, dir);
            size_t bl = strlen(base);
            if (df->format == MLCL_FORMAT_COCO && !strncmp(base, "instances_", 10) && bl > 15 && !strcmp(base + bl - 5, ".json")) {
                snprintf(sub, sizeof sub, "%s/../%.*s", dir, (int)(bl - 15), base + 10);
                add_image_folder(fl, df->path, sub);
            }
        }
    }
    if (r->test_path && kind_of(r->test_df.format) != r->kind)
        return fail(2, "--test %s is one of the %s, --train %s one of the %s: give both in one format%s", r->test_path,
                    kind_names[kind_of(r->test_df.format)], r->train_path, kind_names[r->kind],
                    r->kind == D_NPY ? "" : " (--format names it)");
    if (r->train_labels && add_input("--train-labels", r->train_labels)) return 2;
    if (r->test_labels && add_input("--test-labels", r->test_labels)) return 2;
    if (r->resume_path && add_input("--resume", r->resume_path)) return 2;
    if (r->kind == D_MOSAIC) {
        if (r->mosaic_dir && add_input("--mosaic-dir", r->mosaic_dir)) return 2;
        add_dir_inputs(r->mosaic_dir ? r->mosaic_dir : MOSAIC_DIR_DEFAULT);
    }
    if (r->json_path && check_output_file("--json", r->json_path, NULL, &r->json_pi)) return 2;
    if (r->log_path && check_output_file("--log", r->log_path, NULL, &r->log_pi)) return 2;
    if (r->ckpt_path && check_output_file("--checkpoint", r->ckpt_path, r->resume_path, &r->ckpt_pi)) return 2;
    /* and the rules of the library's writer, which will write it */
    if (r->ckpt_path && mlcl_check_output_path(r->ckpt_path) != MLCL_OK) return fail(2, "--checkpoint: %s", mlcl_last_error());
    if (r->save_model_path && check_output_file("--save-model", r->save_model_path, NULL, &r->model_pi)) return 2;
    if (r->save_model_path && mlcl_check_output_path(r->save_model_path) != MLCL_OK) return fail(2, "--save-model: %s", mlcl_last_error());
    if (r->a.plot_dir) {
        if (check_output_dir("--plot", r->a.plot_dir)) return 2;
        if (run_plot(r->a.plot_dir, NULL, 1)) return 2;
        if (!r->log_path && !r->a.quiet) fprintf(stderr, "mlcl-train: --plot draws the curves from --log; only distributions will be drawn\n");
    }
    return 0;
}
