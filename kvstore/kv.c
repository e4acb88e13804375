/*
 * kv.c - LMDB environment, transactions, tables, cursors and map growth.
 *
 * The one idea: LMDB can only change its map size (mdb_env_set_mapsize) when
 * no transaction of this process is open, so every transaction passes through
 * a gate that counts them, and growth closes the gate.
 *
 * Design notes (locking):
 * - gate_mu guards txns_active (open read + write transactions of this env),
 *   resize_waiters and the list of open read transactions. Every read
 *   transaction is counted from kv_read_begin() to kv_read_end(); the write
 *   transaction from its mdb_txn_begin() to its commit or abort.
 * - Growth (kv_resize) waits on gate_cv until txns_active is 0, then calls
 *   mdb_env_set_mapsize() still holding gate_mu, so no transaction can begin
 *   while the map is being replaced.
 * - While a resize is pending, new transactions hold back (for at most
 *   KV_GROW_WAIT_MS) so that open ones can drain; without this, overlapping
 *   readers starve growth indefinitely. A thread that holds a read txn it
 *   began, or runs inside kv_write(), never holds back: it would wait for
 *   itself. The bound covers what the owner check cannot see, a read txn
 *   handed to another thread (MDB_NOTLS) that then begins a second one: it
 *   waits out the bound and proceeds, never deadlocks.
 * - A mutex and a counter rather than a pthread_rwlock: with MDB_NOTLS a read
 *   transaction may end on another thread than the one that began it, and
 *   POSIX leaves unlocking a rwlock held by another thread undefined. LMDB
 *   itself takes its reader-table mutex on every MDB_NOTLS read begin, so one
 *   more short critical section is not the cost that matters.
 * - The one self-deadlock left: growth inside kv_write() waiting for a read
 *   transaction that the writing thread itself holds. kv_write() refuses to
 *   start (RILL_EINVAL) when the calling thread began a read transaction that
 *   is still open (found in the read list by owner), and a thread-local flag
 *   refuses kv_write() nested in a write function (LMDB's writer mutex would
 *   deadlock instead).
 * - LMDB serializes write transactions with its own mutex. Two writers that
 *   both hit MDB_MAP_FULL both ask to grow; the second sees that the map
 *   changed since its transaction began and just retries.
 * - Table handles (env->tables) are written by kv_table_open() at start-up
 *   only, before concurrent use, as LMDB requires for mdb_dbi_open().
 */
#include "kvstore/kv.h"

#include "common/errors.h"

#include <assert.h>
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KV_ENV_MAGIC 0x6b76656eu /* "kven"; cleared by kv_close() */

/* Longest a new transaction holds back for a pending resize, in ms. */
#define KV_GROW_WAIT_MS 100

/* Times kv_write() adopts a map grown by another process before giving up. */
#define KV_ADOPT_TRIES 8u

/* LMDB's dbis 0 and 1 are its free list and main database; ours follow. */
#define KV_CORE_TABLES 2u

struct kv_env {
    uint32_t magic;
    MDB_env *mdb;
    uint64_t map_size_max;     /* bytes, page-aligned */
    _Atomic uint64_t map_size; /* bytes; written under gate_mu */
    size_t max_key;            /* mdb_env_get_maxkeysize */
    unsigned tables_cap;       /* entries in tables[] */
    unsigned char *tables;     /* tables[dbi] != 0: dbi opened by kv_table_open */
    _Atomic int last_mdb_rc;   /* last failure, for kv_last_error */
    _Atomic int broken;        /* nonzero once a remap failed: the env has no map */

    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;  /* CLOCK_MONOTONIC; txns_active drops to 0, resize done */
    unsigned txns_active;    /* open transactions, read and write */
    unsigned resize_waiters; /* threads in kv_resize waiting for txns_active == 0;
                                new transactions hold back while nonzero */
    kv_txn_t *reads;         /* open read transactions, for the owner check */
};

struct kv_txn {
    kv_env_t *env;
    MDB_txn *mtxn;
    bool is_write;
    bool saw_map_full; /* a write failed with MDB_MAP_FULL: grow and rerun */
    int failed;        /* first code that left the LMDB write txn unusable */
    unsigned cursors_open;
    uint64_t owner;        /* read txns: kv_thread_id() of the thread that began it */
    kv_txn_t *prev, *next; /* read txns: env->reads list */
};

/* Where a cursor is, which LMDB does not tell us directly. */
enum kv_cursor_pos {
    KV_POS_NONE, /* never positioned, or the last seek/first/last failed */
    KV_POS_ON,   /* on an entry */
    KV_POS_GAP,  /* its entry was deleted; LMDB's MDB_NEXT/PREV give the neighbours */
};

struct kv_cursor {
    kv_txn_t *txn;
    MDB_cursor *mc;
    enum kv_cursor_pos pos;
};

/* True while this thread runs a kv_write() fn; write txns never move threads. */
static _Thread_local bool kv_tls_in_write;

/* Thread ids that are never reused, unlike pthread_t: a read txn may outlive
 * the thread that began it, and a new thread must not inherit it. */
static _Thread_local uint64_t kv_tls_id;
static atomic_uint_fast64_t kv_next_thread_id = 1;

static uint64_t kv_thread_id(void)
{
    if (kv_tls_id == 0)
        kv_tls_id = atomic_fetch_add(&kv_next_thread_id, 1);
    return kv_tls_id;
}

void kv_options_init(kv_options_t *opt)
{
    if (opt == NULL)
        return;
    *opt = (kv_options_t)KV_OPTIONS_INIT;
}

/* Convert an LMDB or errno result to Rill's convention, remembering failures. */
static int kv_err(kv_env_t *env, int mrc)
{
    if (mrc == MDB_SUCCESS)
        return 0;
    if (mrc == MDB_NOTFOUND)
        return RILL_ENOTFOUND;
    atomic_store_explicit(&env->last_mdb_rc, mrc, memory_order_relaxed);
    if (mrc > 0)
        return mrc; /* errno */
    return RILL_EKV;
}

/*
 * Convert the result of any LMDB call made inside txn. In a write txn every
 * failure but MDB_NOTFOUND leaves LMDB's txn unusable (MDB_TXN_ERROR), so
 * record the first one: later calls repeat it and kv_write() never commits.
 */
static int kv_txn_rc(kv_txn_t *txn, int mrc)
{
    if (mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND)
        return kv_err(txn->env, mrc);
    if (!txn->is_write)
        return kv_err(txn->env, mrc);
    int rc;
    if (mrc == MDB_MAP_FULL) {
        txn->saw_map_full = true;
        rc = RILL_EDISKFULL;
    } else {
        rc = kv_err(txn->env, mrc);
    }
    if (txn->failed == 0)
        txn->failed = rc;
    return rc;
}

static bool kv_key_ok(const kv_env_t *env, const void *key, size_t klen)
{
    return key != NULL && klen > 0 && klen <= env->max_key;
}

/* Common argument check of every call on a txn and a table. */
static int kv_txn_check(const kv_txn_t *txn, kv_table_t t, bool need_write)
{
    if (txn == NULL)
        return RILL_EINVAL;
    assert(txn->mtxn != NULL);
    const kv_env_t *env = txn->env;
    if (t >= env->tables_cap || !env->tables[t])
        return RILL_EINVAL;
    if (need_write && !txn->is_write)
        return RILL_EINVAL;
    return txn->failed;
}

/* ---- the gate -------------------------------------------------------- */

static void gate_lock(kv_env_t *env)
{
    int e = pthread_mutex_lock(&env->gate_mu);
    assert(e == 0);
    (void)e;
}

static void gate_unlock(kv_env_t *env)
{
    int e = pthread_mutex_unlock(&env->gate_mu);
    assert(e == 0);
    (void)e;
}

static bool gate_self_reads_locked(const kv_env_t *env);

/* Count a transaction about to begin; link rtxn (a read txn) into the list. */
static int gate_enter(kv_env_t *env, kv_txn_t *rtxn)
{
    gate_lock(env);
    if (env->resize_waiters > 0 && !kv_tls_in_write && !gate_self_reads_locked(env)) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)KV_GROW_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (env->resize_waiters > 0)
            if (pthread_cond_timedwait(&env->gate_cv, &env->gate_mu, &until) == ETIMEDOUT)
                break;
    }
    if (atomic_load(&env->broken)) {
        gate_unlock(env);
        return RILL_EKV;
    }
    env->txns_active++;
    if (rtxn != NULL) {
        rtxn->prev = NULL;
        rtxn->next = env->reads;
        if (env->reads != NULL)
            env->reads->prev = rtxn;
        env->reads = rtxn;
    }
    gate_unlock(env);
    return 0;
}

static void gate_leave(kv_env_t *env, kv_txn_t *rtxn)
{
    gate_lock(env);
    assert(env->txns_active > 0);
    env->txns_active--;
    if (rtxn != NULL) {
        if (rtxn->prev != NULL)
            rtxn->prev->next = rtxn->next;
        else
            env->reads = rtxn->next;
        if (rtxn->next != NULL)
            rtxn->next->prev = rtxn->prev;
        rtxn->prev = rtxn->next = NULL;
    }
    if (env->txns_active == 0 && env->resize_waiters > 0)
        pthread_cond_broadcast(&env->gate_cv);
    gate_unlock(env);
}

/* Does the calling thread hold a read txn it began? Caller holds gate_mu. */
static bool gate_self_reads_locked(const kv_env_t *env)
{
    uint64_t self = kv_thread_id();
    for (const kv_txn_t *r = env->reads; r != NULL; r = r->next)
        if (r->owner == self)
            return true;
    return false;
}

static bool gate_self_reads(kv_env_t *env)
{
    gate_lock(env);
    bool held = gate_self_reads_locked(env);
    gate_unlock(env);
    return held;
}

/*
 * Replace the map once no transaction is open. grow: double the map if it
 * is still seen_size bytes (another writer may have grown it meanwhile);
 * otherwise adopt the size another process wrote (MDB_MAP_RESIZED).
 * The calling thread must hold no transaction of env.
 */
static int kv_resize(kv_env_t *env, bool grow, uint64_t seen_size)
{
    int rc = 0;
    gate_lock(env);
    if (gate_self_reads_locked(env)) {
        rc = RILL_EINVAL; /* would wait for itself */
        goto out;
    }
    env->resize_waiters++;
    while (env->txns_active > 0)
        pthread_cond_wait(&env->gate_cv, &env->gate_mu);
    env->resize_waiters--;
    if (atomic_load(&env->broken)) {
        rc = RILL_EKV;
        goto out;
    }

    uint64_t cur = atomic_load(&env->map_size);
    size_t next = 0; /* 0: adopt the size in the meta page */
    if (grow) {
        if (cur != seen_size)
            goto out; /* someone else grew it; just retry */
        if (cur >= env->map_size_max) {
            atomic_store_explicit(&env->last_mdb_rc, MDB_MAP_FULL, memory_order_relaxed);
            rc = RILL_EDISKFULL;
            goto out;
        }
        next = cur > env->map_size_max / 2 ? env->map_size_max : cur * 2;
    }
    int mrc = mdb_env_set_mapsize(env->mdb, next);
    if (mrc != 0) {
        /* LMDB unmapped the old map before failing to map the new one. */
        atomic_store(&env->broken, 1);
        rc = kv_err(env, mrc);
        goto out;
    }
    MDB_envinfo info;
    mdb_env_info(env->mdb, &info);
    atomic_store(&env->map_size, (uint64_t)info.me_mapsize);
out:
    pthread_cond_broadcast(&env->gate_cv); /* transactions held back */
    gate_unlock(env);
    return rc;
}

/* ---- environment ----------------------------------------------------- */

static unsigned kv_sync_flags(int mode)
{
    switch (mode) {
    case KV_SYNC_FULL:
        return 0;
    case KV_SYNC_NOMETA:
        return MDB_NOMETASYNC;
    case KV_SYNC_NONE:
        return MDB_NOSYNC;
    default:
        return ~0u;
    }
}

int kv_open(kv_env_t **out, const char *dir, const kv_options_t *opt)
{
    kv_options_t o = KV_OPTIONS_INIT;
    if (opt != NULL)
        o = *opt;
    if (out == NULL || dir == NULL || dir[0] == '\0')
        return RILL_EINVAL;
    unsigned sync_flags = kv_sync_flags(o.sync_mode);
    if (sync_flags == ~0u || o.max_tables > KV_TABLES_MAX || o.max_readers > KV_READERS_MAX)
        return RILL_EINVAL;

    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t max = o.map_size_max ? o.map_size_max : KV_MAP_SIZE_MAX_DEFAULT;
    if (max > SIZE_MAX)
        max = SIZE_MAX;
    max -= max % page;
    uint64_t size = o.map_size ? o.map_size : KV_MAP_SIZE_DEFAULT;
    if (o.map_size == 0 && size > max)
        size = max;
    if (max == 0 || size > max)
        return RILL_EINVAL;
    size = (size + page - 1) / page * page; /* still <= max: max is page-aligned */
    unsigned max_tables = o.max_tables ? o.max_tables : KV_TABLES_DEFAULT;
    unsigned max_readers = o.max_readers ? o.max_readers : KV_READERS_DEFAULT;

    int rc;
    int mrc;
    bool mu_ok = false, cv_ok = false;
    kv_env_t *env = calloc(1, sizeof(*env));
    if (env == NULL)
        return ENOMEM;
    if ((rc = pthread_mutex_init(&env->gate_mu, NULL)) != 0)
        goto fail;
    mu_ok = true;
    pthread_condattr_t ca;
    if ((rc = pthread_condattr_init(&ca)) != 0)
        goto fail;
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(&env->gate_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail;
    cv_ok = true;

    env->tables_cap = max_tables + KV_CORE_TABLES;
    env->tables = calloc(env->tables_cap, 1);
    if (env->tables == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    if ((mrc = mdb_env_create(&env->mdb)) != 0)
        goto fail_mdb;
    if ((mrc = mdb_env_set_mapsize(env->mdb, (size_t)size)) != 0 ||
        (mrc = mdb_env_set_maxdbs(env->mdb, max_tables)) != 0 ||
        (mrc = mdb_env_set_maxreaders(env->mdb, max_readers)) != 0)
        goto fail_mdb;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = errno;
        goto fail;
    }
    if ((mrc = mdb_env_open(env->mdb, dir, MDB_NOTLS | sync_flags, 0644)) != 0)
        goto fail_mdb;

    MDB_envinfo info;
    if ((mrc = mdb_env_info(env->mdb, &info)) != 0)
        goto fail_mdb;
    atomic_init(&env->map_size, (uint64_t)info.me_mapsize);
    env->map_size_max = max;
    env->max_key = (size_t)mdb_env_get_maxkeysize(env->mdb);
    env->magic = KV_ENV_MAGIC;
    *out = env;
    return 0;

fail_mdb:
    rc = kv_err(env, mrc);
fail:
    if (env->mdb != NULL)
        mdb_env_close(env->mdb); /* also after a failed mdb_env_open */
    if (cv_ok)
        pthread_cond_destroy(&env->gate_cv);
    if (mu_ok)
        pthread_mutex_destroy(&env->gate_mu);
    free(env->tables);
    free(env);
    return rc;
}

void kv_close(kv_env_t *env)
{
    if (env == NULL)
        return;
    assert(env->magic == KV_ENV_MAGIC);
    gate_lock(env);
    assert(env->txns_active == 0 && "kv_close with a transaction open");
    gate_unlock(env);
    mdb_env_close(env->mdb);
    pthread_cond_destroy(&env->gate_cv);
    pthread_mutex_destroy(&env->gate_mu);
    free(env->tables);
    env->magic = 0;
    free(env);
}

struct kv_table_open_arg {
    const char *name;
    MDB_dbi dbi;
};

static int kv_table_open_fn(kv_txn_t *txn, void *arg)
{
    struct kv_table_open_arg *a = arg;
    return kv_txn_rc(txn, mdb_dbi_open(txn->mtxn, a->name, MDB_CREATE, &a->dbi));
}

int kv_table_open(kv_env_t *env, const char *name, kv_table_t *out)
{
    if (env == NULL || name == NULL || out == NULL)
        return RILL_EINVAL;
    assert(env->magic == KV_ENV_MAGIC);
    if (!kv_key_ok(env, name, strlen(name)))
        return RILL_EINVAL;
    struct kv_table_open_arg a = {name, 0};
    int rc = kv_write(env, kv_table_open_fn, &a);
    if (rc != 0)
        return rc;
    assert(a.dbi >= KV_CORE_TABLES && a.dbi < env->tables_cap);
    env->tables[a.dbi] = 1;
    *out = a.dbi;
    return 0;
}

int kv_sync(kv_env_t *env)
{
    if (env == NULL)
        return RILL_EINVAL;
    assert(env->magic == KV_ENV_MAGIC);
    int rc = gate_enter(env, NULL);
    if (rc != 0)
        return rc;
    rc = kv_err(env, mdb_env_sync(env->mdb, 1));
    gate_leave(env, NULL);
    return rc;
}

uint64_t kv_map_size(const kv_env_t *env)
{
    if (env == NULL)
        return 0;
    return atomic_load(&env->map_size);
}

size_t kv_max_key_size(const kv_env_t *env)
{
    return env != NULL ? env->max_key : 0;
}

const char *kv_last_error(const kv_env_t *env)
{
    if (env == NULL)
        return "";
    int mrc = atomic_load_explicit(&env->last_mdb_rc, memory_order_relaxed);
    return mrc != 0 ? mdb_strerror(mrc) : "";
}

/* ---- transactions ---------------------------------------------------- */

int kv_read_begin(kv_env_t *env, kv_txn_t **out)
{
    if (env == NULL || out == NULL)
        return RILL_EINVAL;
    assert(env->magic == KV_ENV_MAGIC && "kv_read_begin on a closed env");
    int rc;
    kv_txn_t *txn = calloc(1, sizeof(*txn));
    if (txn == NULL)
        return ENOMEM;
    txn->env = env;
    txn->owner = kv_thread_id();
    for (bool adopted = false;;) {
        if ((rc = gate_enter(env, txn)) != 0)
            goto fail;
        int mrc = mdb_txn_begin(env->mdb, NULL, MDB_RDONLY, &txn->mtxn);
        if (mrc == 0)
            break;
        gate_leave(env, txn);
        /* Another process grew the map beyond ours: adopt its size, unless
         * this thread holds a txn that the resize would wait for. */
        if (mrc == MDB_MAP_RESIZED && !adopted && !kv_tls_in_write && !gate_self_reads(env)) {
            if ((rc = kv_resize(env, false, 0)) != 0)
                goto fail;
            adopted = true;
            continue;
        }
        rc = kv_err(env, mrc);
        goto fail;
    }
    *out = txn;
    return 0;

fail:
    free(txn);
    return rc;
}

void kv_read_end(kv_txn_t *txn)
{
    if (txn == NULL)
        return;
    assert(!txn->is_write && "kv_read_end on a write transaction");
    assert(txn->cursors_open == 0 && "cursor still open at kv_read_end");
    mdb_txn_abort(txn->mtxn);
    gate_leave(txn->env, txn);
    free(txn);
}

int kv_write(kv_env_t *env, kv_write_fn fn, void *arg)
{
    if (env == NULL || fn == NULL)
        return RILL_EINVAL;
    assert(env->magic == KV_ENV_MAGIC);
    if (kv_tls_in_write || gate_self_reads(env))
        return RILL_EINVAL;

    int rc;
    unsigned adopts = 0;
    for (;;) {
        kv_txn_t txn = {.env = env, .is_write = true};
        if ((rc = gate_enter(env, NULL)) != 0)
            break;
        uint64_t seen_size = atomic_load(&env->map_size); /* stable inside the gate */
        int mrc = mdb_txn_begin(env->mdb, NULL, 0, &txn.mtxn);
        if (mrc != 0) {
            gate_leave(env, NULL);
            if (mrc == MDB_MAP_RESIZED && adopts++ < KV_ADOPT_TRIES) {
                if ((rc = kv_resize(env, false, 0)) != 0)
                    break;
                continue;
            }
            rc = kv_err(env, mrc);
            break;
        }

        kv_tls_in_write = true;
        rc = fn(&txn, arg);
        kv_tls_in_write = false;
        assert(txn.cursors_open == 0 && "write fn returned with a cursor open");
        if (rc != 0 || txn.failed != 0) { /* saw_map_full implies failed */
            mdb_txn_abort(txn.mtxn);
            gate_leave(env, NULL);
            if (!txn.saw_map_full) {
                rc = rc != 0 ? rc : txn.failed;
                break;
            }
        } else {
            mrc = mdb_txn_commit(txn.mtxn); /* frees the txn even on failure */
            gate_leave(env, NULL);
            if (mrc != MDB_MAP_FULL) {
                rc = kv_err(env, mrc);
                break;
            }
        }
        /* Map full: grow and run fn again from the start. */
        if ((rc = kv_resize(env, true, seen_size)) != 0)
            break;
    }
    assert(rc != 0 || !gate_self_reads(env));
    return rc;
}

/* ---- data ------------------------------------------------------------ */

int kv_get(kv_txn_t *txn, kv_table_t t, const void *key, size_t klen, kv_val_t *out)
{
    int rc = kv_txn_check(txn, t, false);
    if (rc != 0)
        return rc;
    if (!kv_key_ok(txn->env, key, klen))
        return RILL_EINVAL;
    MDB_val mk = {klen, (void *)key};
    MDB_val mv;
    rc = kv_txn_rc(txn, mdb_get(txn->mtxn, t, &mk, &mv));
    if (rc == 0 && out != NULL)
        *out = (kv_val_t){mv.mv_data, mv.mv_size};
    return rc;
}

int kv_put(kv_txn_t *txn, kv_table_t t, const void *key, size_t klen, const void *val, size_t vlen,
           unsigned flags)
{
    int rc = kv_txn_check(txn, t, true);
    if (rc != 0)
        return rc;
    if (!kv_key_ok(txn->env, key, klen) || (val == NULL && vlen > 0) || vlen > UINT32_MAX ||
        (flags & ~KV_APPEND) != 0)
        return RILL_EINVAL;
    static const char empty[1];
    MDB_val mk = {klen, (void *)key};
    MDB_val mv = {vlen, (void *)(val != NULL ? val : empty)};
    if (flags & KV_APPEND) {
        /* MDB_KEYEXIST here means "not the greatest key"; LMDB returns it
         * before touching anything, so the txn stays usable. */
        int mrc = mdb_put(txn->mtxn, t, &mk, &mv, MDB_APPEND);
        if (mrc != MDB_KEYEXIST)
            return kv_txn_rc(txn, mrc);
    }
    return kv_txn_rc(txn, mdb_put(txn->mtxn, t, &mk, &mv, 0));
}

int kv_del(kv_txn_t *txn, kv_table_t t, const void *key, size_t klen)
{
    int rc = kv_txn_check(txn, t, true);
    if (rc != 0)
        return rc;
    if (!kv_key_ok(txn->env, key, klen))
        return RILL_EINVAL;
    MDB_val mk = {klen, (void *)key};
    return kv_txn_rc(txn, mdb_del(txn->mtxn, t, &mk, NULL));
}

int kv_clear(kv_txn_t *txn, kv_table_t t)
{
    int rc = kv_txn_check(txn, t, true);
    if (rc != 0)
        return rc;
    return kv_txn_rc(txn, mdb_drop(txn->mtxn, t, 0));
}

uint64_t kv_count(kv_txn_t *txn, kv_table_t t)
{
    if (kv_txn_check(txn, t, false) != 0)
        return 0;
    MDB_stat st;
    if (kv_txn_rc(txn, mdb_stat(txn->mtxn, t, &st)) != 0)
        return 0;
    return st.ms_entries;
}

/* ---- cursors --------------------------------------------------------- */

int kv_cursor_open(kv_txn_t *txn, kv_table_t t, kv_cursor_t **out)
{
    int rc = kv_txn_check(txn, t, false);
    if (rc != 0)
        return rc;
    if (out == NULL)
        return RILL_EINVAL;
    kv_cursor_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return ENOMEM;
    rc = kv_txn_rc(txn, mdb_cursor_open(txn->mtxn, t, &c->mc));
    if (rc != 0)
        goto fail;
    c->txn = txn;
    c->pos = KV_POS_NONE;
    txn->cursors_open++;
    *out = c;
    return 0;

fail:
    free(c);
    return rc;
}

void kv_cursor_close(kv_cursor_t *c)
{
    if (c == NULL)
        return;
    assert(c->txn->cursors_open > 0);
    mdb_cursor_close(c->mc);
    c->txn->cursors_open--;
    free(c);
}

static void kv_out(const MDB_val *mk, const MDB_val *mv, kv_val_t *k, kv_val_t *v)
{
    if (k != NULL)
        *k = (kv_val_t){mk->mv_data, mk->mv_size};
    if (v != NULL)
        *v = (kv_val_t){mv->mv_data, mv->mv_size};
}

/* One positioning step. A failed NEXT/PREV leaves LMDB's cursor where it was. */
static int kv_cursor_move(kv_cursor_t *c, MDB_val *mk, MDB_cursor_op op, kv_val_t *k, kv_val_t *v)
{
    MDB_val mv = {0, NULL};
    int rc = kv_txn_rc(c->txn, mdb_cursor_get(c->mc, mk, &mv, op));
    if (rc != 0) {
        if (op != MDB_NEXT && op != MDB_PREV)
            c->pos = KV_POS_NONE;
        return rc;
    }
    c->pos = KV_POS_ON;
    kv_out(mk, &mv, k, v);
    return 0;
}

static int kv_cursor_check(const kv_cursor_t *c)
{
    if (c == NULL)
        return RILL_EINVAL;
    return c->txn->failed;
}

int kv_cursor_seek(kv_cursor_t *c, const void *key, size_t klen, kv_val_t *k, kv_val_t *v)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    if (!kv_key_ok(c->txn->env, key, klen))
        return RILL_EINVAL;
    MDB_val mk = {klen, (void *)key};
    return kv_cursor_move(c, &mk, MDB_SET_RANGE, k, v);
}

int kv_cursor_seek_le(kv_cursor_t *c, const void *key, size_t klen, kv_val_t *k, kv_val_t *v)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    if (!kv_key_ok(c->txn->env, key, klen))
        return RILL_EINVAL;
    const MDB_val want = {klen, (void *)key};
    MDB_val mk = want;
    MDB_val mv = {0, NULL};
    int mrc = mdb_cursor_get(c->mc, &mk, &mv, MDB_SET_RANGE);
    if (mrc == MDB_NOTFOUND) /* every key is < key */
        return kv_cursor_move(c, &mk, MDB_LAST, k, v);
    if (mrc != 0) {
        c->pos = KV_POS_NONE;
        return kv_txn_rc(c->txn, mrc);
    }
    if (mdb_cmp(c->txn->mtxn, mdb_cursor_dbi(c->mc), &mk, &want) == 0) {
        c->pos = KV_POS_ON;
        kv_out(&mk, &mv, k, v);
        return 0;
    }
    /* On the first key > key: the one before it, if any, is the answer. */
    rc = kv_cursor_move(c, &mk, MDB_PREV, k, v);
    if (rc != 0)
        c->pos = KV_POS_NONE;
    return rc;
}

int kv_cursor_first(kv_cursor_t *c, kv_val_t *k, kv_val_t *v)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    MDB_val mk = {0, NULL};
    return kv_cursor_move(c, &mk, MDB_FIRST, k, v);
}

int kv_cursor_last(kv_cursor_t *c, kv_val_t *k, kv_val_t *v)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    MDB_val mk = {0, NULL};
    return kv_cursor_move(c, &mk, MDB_LAST, k, v);
}

int kv_cursor_next(kv_cursor_t *c, kv_val_t *k, kv_val_t *v)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    MDB_val mk = {0, NULL};
    if (c->pos == KV_POS_NONE)
        return kv_cursor_move(c, &mk, MDB_FIRST, k, v);
    return kv_cursor_move(c, &mk, MDB_NEXT, k, v);
}

int kv_cursor_prev(kv_cursor_t *c, kv_val_t *k, kv_val_t *v)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    MDB_val mk = {0, NULL};
    if (c->pos == KV_POS_NONE)
        return kv_cursor_move(c, &mk, MDB_LAST, k, v);
    return kv_cursor_move(c, &mk, MDB_PREV, k, v);
}

int kv_cursor_del(kv_cursor_t *c)
{
    int rc = kv_cursor_check(c);
    if (rc != 0)
        return rc;
    if (!c->txn->is_write)
        return RILL_EINVAL;
    if (c->pos != KV_POS_ON)
        return RILL_ENOTFOUND;
    int mrc = mdb_cursor_del(c->mc, 0);
    /* EINVAL: LMDB found the cursor unpositioned (e.g. kv_clear ran since);
     * like MDB_NOTFOUND it is returned before anything changes. */
    if (mrc == EINVAL || mrc == MDB_NOTFOUND) {
        c->pos = KV_POS_NONE;
        return RILL_ENOTFOUND;
    }
    rc = kv_txn_rc(c->txn, mrc);
    if (rc == 0)
        c->pos = KV_POS_GAP;
    return rc;
}
