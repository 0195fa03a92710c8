/*
 * proc.c: signals (a hard stop outside training, a graceful one during it), the
 * temporary files a hard stop removes, messages, the CPUs available and the
 * plotting helper run through posix_spawn
 */
#include "cli.h"

/* ------------------------------------------------------------ signals
 * Outside the training loop a signal ends the process at once (setup can sit
 * in a long read or in a library call that never returns to us); during
 * training the first signal asks the progress callback to stop at the next
 * step so that the checkpoint is written, and a second signal, or
 * STOP_GRACE_S seconds without the graceful path finishing, ends it at once. */
volatile sig_atomic_t g_stop, g_graceful;
volatile pid_t g_child;
#define N_TMP 4
static char g_tmp[N_TMP][PATH_MAX]; /* temporary files to remove on a hard stop */

static void hard_stop(int sig)
{
    if (g_child > 0) kill(g_child, SIGTERM);
    for (int i = 0; i < N_TMP; i++)
        if (g_tmp[i][0]) unlink(g_tmp[i]);
    char msg[80] = "\nmlcl-train: stopped by signal ";
    size_t n = strlen(msg);
    if (sig >= 10) msg[n++] = (char)('0' + sig / 10 % 10);
    msg[n++] = (char)('0' + sig % 10);
    const char *tail = g_stop ? " (the graceful stop did not finish)\n" : "\n";
    for (; *tail && n < sizeof msg - 1; tail++) msg[n++] = *tail;
    if (write(2, msg, n) < 0) { /* nothing left to do */ }
    _exit(130);
}

static void on_signal(int sig)
{
    if (g_graceful && !g_stop) {
        g_stop = sig;
        alarm(STOP_GRACE_S);
        return;
    }
    hard_stop(sig);
}

static void on_alarm(int sig)
{
    (void)sig;
    if (g_stop) hard_stop((int)g_stop);
}

void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
}

int tmp_register(const char *path)
{
    for (int i = 0; i < N_TMP; i++)
        if (!g_tmp[i][0]) { snprintf(g_tmp[i], PATH_MAX, "%s", path); return i; }
    return -1;
}

void tmp_unregister(int slot)
{
    if (slot >= 0) g_tmp[slot][0] = 0;
}

/* ------------------------------------------------------------ messages */
int fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mlcl-train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ------------------------------------------------------------ threads */
int cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ------------------------------------------------------------ the plotting helper
 * `python3 -m mlcl.plot` through posix_spawn (an argument vector, no shell).
 * PYTHONPATH gains the bindings next to this binary (the source tree's
 * bindings/python, or an installed PREFIX/lib/python3.X/dist-packages), and
 * MLCL_LIBRARY names the library this process runs with, unless set. */
static char **plot_env(void)
{
    static char pp[PATH_MAX + 64], lib[PATH_MAX + 32];
    char exe[PATH_MAX], cand[PATH_MAX + 64], found[PATH_MAX] = "";
    ssize_t r = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (r > 0) {
        exe[r] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(cand, sizeof cand, "%s/../bindings/python/mlcl/plot.py", exe);
        if (access(cand, R_OK) == 0) {
            snprintf(cand, sizeof cand, "%s/../bindings/python", exe);
            if (!realpath(cand, found)) found[0] = 0;
        } else {
            glob_t g;
            snprintf(cand, sizeof cand, "%s/../lib/python3*/dist-packages/mlcl/plot.py", exe);
            if (glob(cand, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
                char *p = g.gl_pathv[0];
                size_t l = strlen(p) - strlen("/mlcl/plot.py");
                snprintf(cand, sizeof cand, "%.*s", (int)l, p);
                if (!realpath(cand, found)) found[0] = 0;
            }
            globfree(&g);
        }
    }
    const char *old = getenv("PYTHONPATH");
    pp[0] = 0;
    if (found[0]) snprintf(pp, sizeof pp, "PYTHONPATH=%s%s%s", found, old && *old ? ":" : "", old && *old ? old : "");
    lib[0] = 0;
    Dl_info info;
    if (!getenv("MLCL_LIBRARY") && dladdr((void *)mlcl_last_error, &info) && info.dli_fname && info.dli_fname[0] == '/')
        snprintf(lib, sizeof lib, "MLCL_LIBRARY=%s", info.dli_fname);
    size_t n = 0;
    while (environ[n]) n++;
    char **env = calloc(n + 3, sizeof *env);
    if (!env) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(pp[0] && !strncmp(environ[i], "PYTHONPATH=", 11))) env[k++] = environ[i];
    if (pp[0]) env[k++] = pp;
    if (lib[0]) env[k++] = lib;
    env[k] = NULL;
    return env;
}

int run_plot(const char *dir, const char *log, int check_only)
{
    char *argv[10];
    int k = 0;
    argv[k++] = (char *)PYTHON;
    argv[k++] = (char *)"-m";
    argv[k++] = (char *)"mlcl.plot";
    if (check_only) argv[k++] = (char *)"--check";
    argv[k++] = (char *)"--dir";
    argv[k++] = (char *)dir;
    if (log) { argv[k++] = (char *)"--log"; argv[k++] = (char *)log; }
    argv[k] = NULL;
    char **env = plot_env();
    if (!env) return fail(1, "--plot %s: out of memory", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid;
    int rc = posix_spawn(&pid, PYTHON, NULL, NULL, argv, env);
    free(env);
    if (rc != 0) return fail(1, "--plot %s: cannot run %s: %s", dir, PYTHON, strerror(rc));
    g_child = pid;
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) { g_child = 0; return fail(1, "--plot %s: waiting for %s: %s", dir, PYTHON, strerror(errno)); }
    }
    g_child = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    const char *what = check_only ? "cannot plot (needs python3-matplotlib and the mlcl Python package)" : "plotting failed";
    if (WIFEXITED(st)) return fail(1, "--plot %s: %s: %s -m mlcl.plot exited with status %d", dir, what, PYTHON, WEXITSTATUS(st));
    return fail(1, "--plot %s: %s: %s -m mlcl.plot was killed by signal %d", dir, what, PYTHON, WTERMSIG(st));
}
