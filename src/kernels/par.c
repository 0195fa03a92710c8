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
