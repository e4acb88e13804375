/*
 * sem_clockwait.c - teach gcc 12's ThreadSanitizer that sem_clockwait()
 * synchronises with sem_post(), for the test executables of the RILL_TSAN
 * tree (linked through rill_tsan_runner).
 *
 * libtsan intercepts sem_post (a release on the semaphore) and sem_wait /
 * sem_timedwait (an acquire), but not sem_clockwait (glibc 2.30+), which
 * the store's flusher_wait() sleeps in. Without the acquire TSan misses the
 * post -> wake-up edge and reports the flusher's accesses to the waiter's
 * stack frame as racing with whatever the waiter does next. This definition
 * takes the place of libc's in these executables, calls libc's and adds the
 * acquire TSan's own interceptors would. (rill-broker does not wait this
 * way; its sends use flusher callbacks.)
 */
#include <dlfcn.h>
#include <errno.h>
#include <sanitizer/tsan_interface.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*sem_clockwait_fn)(sem_t *, clockid_t, const struct timespec *);

int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *abstime)
{
    static sem_clockwait_fn real; /* benign: every thread stores the same value */
    sem_clockwait_fn fn = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = (sem_clockwait_fn)dlsym(RTLD_NEXT, "sem_clockwait");
        if (fn == NULL) {
            fprintf(stderr, "tsan runner: no sem_clockwait in libc\n");
            abort();
        }
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    int rc = fn(sem, clock, abstime);
    if (rc == 0)
        __tsan_acquire(sem);
    return rc;
}
