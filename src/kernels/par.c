/* Fork-join of two tasks (see par.h). */
#include <pthread.h>
#include "par.h"

typedef struct par_task { void (*f)(void *); void *p; } par_task;

static void *par_run(void *arg)
{
    par_task *t = arg;
    t->f(t->p);
    return NULL;
}

void mlcl__par2(void (*a)(void *), void *pa, void (*b)(void *), void *pb)
{
    par_task ta = { a, pa };
    pthread_t th;
    if (pthread_create(&th, NULL, par_run, &ta) != 0) {
        a(pa);
        b(pb);
        return;
    }
    b(pb);
    pthread_join(th, NULL);
}

/* ------------------------------------------------------------------ T-way */

typedef struct par_slot { void (*f)(void *, int); void *ctx; int t; } par_slot;

static void *par_slot_run(void *arg)
{
    par_slot *s = arg;
    s->f(s->ctx, s->t);
    return NULL;
}

void mlcl__par_for(int T, void (*f)(void *ctx, int t), void *ctx)
{
    enum { MAXT = 16 };
    if (T > MAXT) T = MAXT;
    par_slot s[MAXT];
    pthread_t th[MAXT];
    int started[MAXT] = { 0 };
    for (int t = 0; t < T; t++) s[t] = (par_slot){ f, ctx, t };
    for (int t = 1; t < T; t++) started[t] = pthread_create(&th[t], NULL, par_slot_run, &s[t]) == 0;
    if (T > 0) f(ctx, 0);
    for (int t = 1; t < T; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else f(ctx, t); /* could not start a thread: do its share here */
    }
}
