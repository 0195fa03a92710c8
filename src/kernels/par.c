/* Fork-join (see par.h). */
#include <pthread.h>
#include "par.h"

typedef struct par_task {
    void (*f2)(void *);        /* mlcl__par2's task, or */
    void (*fn)(void *, int);   /* mlcl__par_for's, with its index t */
    void *p;
    int t, threads;            /* the forking thread's count, in force in the worker */
} par_task;

static void *par_run(void *arg)
{
    par_task *t = arg;
    int tok = mlcl__threads_enter(t->threads);
    if (t->f2) t->f2(t->p);
    else t->fn(t->p, t->t);
    mlcl__threads_leave(tok);
    return NULL;
}

void mlcl__par2(void (*a)(void *), void *pa, void (*b)(void *), void *pb)
{
    par_task ta = { a, NULL, pa, 0, mlcl__threads_current() };
    pthread_t th;
    if (ta.threads < 2 || pthread_create(&th, NULL, par_run, &ta) != 0) {
        a(pa);
        b(pb);
        return;
    }
    b(pb);
    pthread_join(th, NULL);
}

void mlcl__par_for(int T, void (*f)(void *arg, int t), void *arg)
{
    if (T > MLCL_PAR_MAX) T = MLCL_PAR_MAX;
    if (T <= 1) {
        if (T == 1) f(arg, 0);
        return;
    }
    par_task task[MLCL_PAR_MAX];
    pthread_t th[MLCL_PAR_MAX];
    int started[MLCL_PAR_MAX] = { 0 }, threads = mlcl__threads_current();
    for (int t = 1; t < T; t++) {
        task[t] = (par_task){ NULL, f, arg, t, threads };
        started[t] = pthread_create(&th[t], NULL, par_run, &task[t]) == 0;
    }
    f(arg, 0);
    for (int t = 1; t < T; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else f(arg, t);
    }
}
