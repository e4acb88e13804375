/*
 * kv.h - the kvstore: a small, exact wrapper around one LMDB environment.
 *
 * Owns one LMDB environment (the broker keeps its derived state in
 * <storePathRootDir>/kv/, DESIGN.md §3): its named tables, read and write
 * transactions, cursors, and the growth of the memory map. It knows nothing
 * of messaging: keys and values are bytes.
 *
 * The one idea: callers never see LMDB's map size. A write runs as a function
 * inside kv_write(); when LMDB reports the map full, kv_write() aborts the
 * transaction, doubles the map (up to a limit) and runs the function again.
 * Everything else is LMDB's model: one writer at a time, readers see a
 * snapshot and never block the writer, values returned are pointers into the
 * map that stay valid only while their transaction lives.
 *
 * Keys are compared as bytes (memcmp, shorter first on a common prefix); the
 * kv_be*_put() helpers encode integers big-endian so byte order is numeric
 * order. Error codes follow common/errors.h: 0, a negative RILL_E* code, or a
 * positive errno passed through; LMDB's own codes never leave this module
 * (RILL_EKV stands for them, and kv_last_error() tells which one it was).
 */
#ifndef RILL_KVSTORE_KV_H
#define RILL_KVSTORE_KV_H

#include <stddef.h>
#include <stdint.h>

/** An open LMDB environment: one directory holding data.mdb and lock.mdb. */
typedef struct kv_env kv_env_t;
/** A read or write transaction. */
typedef struct kv_txn kv_txn_t;
/** A cursor over one table inside one transaction. */
typedef struct kv_cursor kv_cursor_t;
/** A named table (an LMDB named database), valid for the life of its kv_env_t. */
typedef unsigned int kv_table_t;

/**
 * Bytes borrowed from LMDB. The pointer refers into the memory map (or into a
 * dirty page of a write transaction) and stays valid until the transaction
 * ends or, in a write transaction, until the next write (put, del, clear,
 * cursor del) in that transaction. Never write through it.
 */
typedef struct kv_val {
    const void *data;
    size_t len;
} kv_val_t;

/** How hard a commit pushes data to disk. */
enum kv_sync_mode {
    /** fsync data and meta page on every commit: durable, slowest. */
    KV_SYNC_FULL = 0,
    /** MDB_NOMETASYNC: integrity kept; a system crash may undo the last transaction. */
    KV_SYNC_NOMETA = 1,
    /** MDB_NOSYNC: no sync on commit; a system crash may lose or (without a
     *  journaling file system's ordering) corrupt recent transactions. */
    KV_SYNC_NONE = 2,
};

/** Default initial map size in bytes (256 MiB). */
#define KV_MAP_SIZE_DEFAULT (256ull << 20)
/** Default map size limit in bytes (1 TiB). */
#define KV_MAP_SIZE_MAX_DEFAULT (1ull << 40)
/** Default and upper limit of kv_options_t.max_tables. */
#define KV_TABLES_DEFAULT 32u
#define KV_TABLES_MAX     4096u
/** Default and upper limit of kv_options_t.max_readers (open read transactions). */
#define KV_READERS_DEFAULT 1024u
#define KV_READERS_MAX     65536u

/**
 * Options for kv_open(). A zero field means its default, except sync_mode,
 * where 0 is KV_SYNC_FULL: start from KV_OPTIONS_INIT or kv_options_init()
 * to get the default KV_SYNC_NOMETA.
 */
typedef struct kv_options {
    /** Initial map size in bytes, rounded up to the page size; 0 = 256 MiB.
     *  An existing environment whose data is larger opens with the larger size. */
    uint64_t map_size;
    /** Growth stops here (then kv_write() returns RILL_EDISKFULL); rounded
     *  down to the page size; 0 = 1 TiB. Must be >= map_size. */
    uint64_t map_size_max;
    /** Most tables kv_table_open() may open, 1..KV_TABLES_MAX; 0 = 32. */
    unsigned max_tables;
    /** Most read transactions open at once (LMDB reader slots, shared with
     *  other processes using the same directory), 1..KV_READERS_MAX; 0 = 1024. */
    unsigned max_readers;
    /** One of enum kv_sync_mode. */
    int sync_mode;
} kv_options_t;

/** Initializer with every default: `kv_options_t o = KV_OPTIONS_INIT;` */
// clang-format off
#define KV_OPTIONS_INIT {.sync_mode = KV_SYNC_NOMETA}
// clang-format on

/**
 * Fill opt with the defaults (same as KV_OPTIONS_INIT).
 *
 * @param[out] opt  options to reset; NULL is ignored.
 * @remark Thread-safe.
 */
void kv_options_init(kv_options_t *opt);

/**
 * Open (creating if missing) the environment in directory dir.
 *
 * The directory itself is created if missing (its parent must exist). The
 * environment uses MDB_NOTLS, so read transactions are not bound to threads
 * and a thread may hold several.
 *
 * @param[out] out  the new environment, written only on success.
 * @param[in]  dir  directory path; copied, need not outlive the call.
 * @param[in]  opt  options, or NULL for all defaults; not kept.
 * @return 0;
 *         RILL_EINVAL if out or dir is NULL, dir is empty, or an option is out
 *         of range (map_size > map_size_max, unknown sync_mode, ...);
 *         RILL_EKV if LMDB rejects the files (e.g. MDB_INVALID, MDB_VERSION_MISMATCH);
 *         a positive errno (ENOENT, EACCES, ENOTDIR, ENOMEM, ...).
 * @remark Any thread. Do not open the same directory twice in one process
 *         (LMDB's fcntl locks would break); do not use the env in a child
 *         after fork().
 */
int kv_open(kv_env_t **out, const char *dir, const kv_options_t *opt);

/**
 * Close the environment and free it.
 *
 * @param[in] env  environment, or NULL (ignored).
 * @remark Every transaction and cursor must have ended (asserted); table
 *         handles become invalid. No other thread may use env during or after
 *         the call.
 */
void kv_close(kv_env_t *env);

/**
 * Open the table called name, creating it if missing.
 *
 * Opening a name twice gives the same handle. Runs a write transaction
 * (through kv_write(), so the same rules apply).
 *
 * @param[in]  env   environment.
 * @param[in]  name  table name, 1..kv_max_key_size(env) bytes, NUL-terminated.
 * @param[out] out   table handle, written only on success.
 * @return 0; RILL_EINVAL for a NULL or bad argument, or if the calling thread
 *         holds a read transaction; RILL_EKV if the table limit (max_tables)
 *         is reached (kv_last_error() says MDB_DBS_FULL) or LMDB fails;
 *         RILL_EDISKFULL if the map cannot grow; a positive errno.
 * @remark Call at start-up, before other threads use env: table handles are
 *         published without synchronization (LMDB's own rule for mdb_dbi_open).
 */
int kv_table_open(kv_env_t *env, const char *name, kv_table_t *out);

/**
 * Force every committed transaction to disk (mdb_env_sync with force=1),
 * whatever the sync mode.
 *
 * @param[in] env  environment.
 * @return 0; RILL_EINVAL if env is NULL; RILL_EKV; a positive errno (EIO, ...).
 * @remark Thread-safe.
 */
int kv_sync(kv_env_t *env);

/**
 * Current size of the memory map in bytes (the most the data file can hold
 * before the next growth).
 *
 * @param[in] env  environment; NULL gives 0.
 * @remark Thread-safe; the value may grow right after it is read.
 */
uint64_t kv_map_size(const kv_env_t *env);

/**
 * Longest key this environment accepts (mdb_env_get_maxkeysize, 511 with
 * LMDB's default build). Longer keys make every call taking a key fail with
 * RILL_EINVAL.
 *
 * @param[in] env  environment; NULL gives 0.
 * @remark Thread-safe.
 */
size_t kv_max_key_size(const kv_env_t *env);

/**
 * Text of the last LMDB or errno failure seen on env, in mdb_strerror()'s
 * words ("MDB_DBS_FULL: Environment maxdbs limit reached"), to explain a
 * RILL_EKV after the fact. Nothing is logged by this module.
 *
 * @param[in] env  environment; NULL gives "".
 * @return a static string, never NULL; "" if nothing failed yet.
 * @remark Thread-safe, but "last" is per environment, not per thread: under
 *         concurrency it may describe another thread's failure.
 */
const char *kv_last_error(const kv_env_t *env);

/**
 * Begin a read-only transaction: a consistent snapshot of every table as of
 * the last commit. Readers never block the writer nor each other.
 *
 * @param[in]  env  an open environment (using a closed one is a programmer
 *                  error and asserts).
 * @param[out] out  the transaction, written only on success.
 * @return 0; RILL_EINVAL if env or out is NULL; RILL_EKV (e.g. MDB_READERS_FULL
 *         when max_readers transactions are open); a positive errno (ENOMEM).
 * @remark Thread-safe. The transaction may be used by one thread at a time,
 *         not necessarily the one that began it (MDB_NOTLS). While it is open,
 *         the thread that began it must not call kv_write() or
 *         kv_table_open() (they return RILL_EINVAL): growing the map waits
 *         for every transaction to end, so it would wait for itself. Keep read
 *         transactions short: growth waits until none is open (meanwhile new
 *         ones, except on threads already holding one, wait up to 100 ms for
 *         it), and old snapshots keep LMDB from reusing freed pages.
 */
int kv_read_begin(kv_env_t *env, kv_txn_t **out);

/**
 * End a read transaction begun by kv_read_begin() and free it. Every
 * kv_val_t read through it becomes invalid.
 *
 * @param[in] txn  transaction, or NULL (ignored).
 * @remark Any thread. Its cursors must have been closed (asserted). Passing a
 *         write transaction is a programmer error (asserted).
 */
void kv_read_end(kv_txn_t *txn);

/**
 * The body of a write transaction, called by kv_write().
 *
 * @param[in] txn  the write transaction; valid only during this call.
 * @param[in] arg  kv_write()'s arg.
 * @return 0 to commit; anything else aborts, and kv_write() returns it.
 */
typedef int (*kv_write_fn)(kv_txn_t *txn, void *arg);

/**
 * Run fn in one write transaction and commit it.
 *
 * If fn returns nonzero, the transaction is aborted (none of its writes
 * become visible) and kv_write() returns fn's value. If LMDB reports the map
 * full (MDB_MAP_FULL) from any write inside fn or from the commit, the
 * transaction is aborted, the map is doubled (up to map_size_max) and fn runs
 * again from the start. fn may therefore run several times: it must keep its
 * side effects outside the transaction (counters, queues, memory it hands on)
 * until kv_write() returns 0. A failed write marks the transaction: even if fn
 * ignores or transforms the code and returns 0, kv_write() notices, retries
 * after growth (map full) or aborts and returns the write's code (any other
 * failure); a partial transaction is never committed.
 *
 * @param[in] env  environment.
 * @param[in] fn   transaction body; it must close every cursor it opens.
 * @param[in] arg  passed to fn.
 * @return 0 when committed; fn's nonzero return value;
 *         RILL_EINVAL if env or fn is NULL, or the calling thread holds a read
 *         transaction it began, or is already inside kv_write(), or fn
 *         left a read transaction open when the map had to grow;
 *         RILL_EDISKFULL if the map is at map_size_max and still full;
 *         RILL_EKV (e.g. MDB_TXN_FULL: too many dirty pages in one
 *         transaction; split the batch); a positive errno (ENOSPC, EIO, ENOMEM).
 * @remark Thread-safe; LMDB runs one write transaction at a time, so
 *         concurrent callers wait for each other. fn runs on the calling
 *         thread and must not call kv_write() itself. fn may begin read
 *         transactions but must end them before it returns.
 */
int kv_write(kv_env_t *env, kv_write_fn fn, void *arg);

/**
 * Look up key in table t.
 *
 * @param[in]  txn   read or write transaction.
 * @param[in]  t     table from kv_table_open().
 * @param[in]  key   key bytes, klen of them, 1 <= klen <= kv_max_key_size().
 * @param[out] out   the value, borrowed (see kv_val_t), written only on
 *                   success; may be NULL to test presence.
 * @return 0; RILL_ENOTFOUND; RILL_EINVAL for a NULL or bad argument;
 *         RILL_EKV; in a write transaction after a failed write, that write's code.
 * @remark One thread at a time per transaction (true of every call taking a
 *         txn or a cursor).
 */
int kv_get(kv_txn_t *txn, kv_table_t t, const void *key, size_t klen, kv_val_t *out);

/**
 * kv_put() flag: the key is greater than every key in the table, so LMDB can
 * append without searching (MDB_APPEND; fills pages fully). It is a hint: if
 * the key is not the greatest, a normal put is done instead.
 */
#define KV_APPEND 0x1u

/**
 * Insert or overwrite key in table t.
 *
 * @param[in] txn    write transaction.
 * @param[in] t      table.
 * @param[in] key    key bytes, 1 <= klen <= kv_max_key_size().
 * @param[in] val    value bytes; may be NULL when vlen is 0. Copied.
 * @param[in] vlen   value length, at most UINT32_MAX.
 * @param[in] flags  0 or KV_APPEND.
 * @return 0; RILL_EINVAL for a NULL or bad argument, unknown flags or a read
 *         transaction; RILL_EDISKFULL if the map is full (inside kv_write()
 *         this is transient: return it and kv_write() grows the map and runs
 *         fn again); RILL_EKV; a positive errno. After one of these last
 *         three the transaction is unusable: later calls on it return the
 *         same code, and kv_write() will not commit it.
 * @remark One thread at a time per transaction. Invalidates every kv_val_t
 *         read in this transaction.
 */
int kv_put(kv_txn_t *txn, kv_table_t t, const void *key, size_t klen, const void *val, size_t vlen,
           unsigned flags);

/**
 * Delete key from table t.
 *
 * @param[in] txn  write transaction.
 * @param[in] t    table.
 * @param[in] key  key bytes, 1 <= klen <= kv_max_key_size().
 * @return 0; RILL_ENOTFOUND (the transaction stays usable); RILL_EINVAL;
 *         RILL_EDISKFULL (see kv_put()); RILL_EKV; a positive errno.
 * @remark One thread at a time per transaction. Invalidates every kv_val_t
 *         read in this transaction.
 */
int kv_del(kv_txn_t *txn, kv_table_t t, const void *key, size_t klen);

/**
 * Delete every entry of table t; the table itself stays (mdb_drop, del=0).
 *
 * @param[in] txn  write transaction.
 * @param[in] t    table.
 * @return 0; RILL_EINVAL; RILL_EDISKFULL (see kv_put()); RILL_EKV; a positive errno.
 * @remark One thread at a time per transaction. Invalidates every kv_val_t
 *         read in this transaction; cursors on t
 *         lose their position.
 */
int kv_clear(kv_txn_t *txn, kv_table_t t);

/**
 * Number of entries in table t as seen by txn (mdb_stat; O(1)).
 *
 * @param[in] txn  read or write transaction.
 * @param[in] t    table.
 * @return the count; 0 also for an invalid argument or a failed transaction.
 * @remark One thread at a time per transaction.
 */
uint64_t kv_count(kv_txn_t *txn, kv_table_t t);

/**
 * Open a cursor over table t. A new cursor has no position: kv_cursor_next()
 * gives the first entry and kv_cursor_prev() the last.
 *
 * @param[in]  txn  read or write transaction.
 * @param[in]  t    table.
 * @param[out] out  the cursor, written only on success.
 * @return 0; RILL_EINVAL; RILL_EKV; a positive errno (ENOMEM).
 * @remark The cursor belongs to txn and must be closed with kv_cursor_close()
 *         before txn ends (asserted).
 */
int kv_cursor_open(kv_txn_t *txn, kv_table_t t, kv_cursor_t **out);

/**
 * Close a cursor and free it.
 *
 * @param[in] c  cursor, or NULL (ignored).
 * @remark Must be called before the cursor's transaction ends, by the thread
 *         using that transaction.
 */
void kv_cursor_close(kv_cursor_t *c);

/*
 * Positioning calls. Each moves the cursor and, on success, writes the key
 * and value it lands on to k and v (borrowed, see kv_val_t); either may be
 * NULL. On failure k and v are untouched.
 *
 * Position after a failure: a failed next/prev leaves the cursor where it was
 * (on the last or first entry). A failed seek/seek_le/first/last leaves it
 * with no position, so a following next gives the first entry and prev the
 * last: after seek_le found nothing <= key, next gives the smallest entry
 * (> key); after seek found nothing >= key, prev gives the greatest (< key).
 *
 * Every positioning call, like every call on a transaction, is used by one
 * thread at a time per transaction.
 */

/**
 * Move to the first entry whose key is >= key (MDB_SET_RANGE).
 *
 * @param[in]  c     cursor.
 * @param[in]  key   key bytes, 1 <= klen <= kv_max_key_size().
 * @param[in]  klen  key length.
 * @param[out] k     key found, or NULL.
 * @param[out] v     value found, or NULL.
 * @return 0; RILL_ENOTFOUND if every key is < key; RILL_EINVAL for a NULL or
 *         bad argument; RILL_EKV; in a write transaction after a failed
 *         write, that write's code.
 */
int kv_cursor_seek(kv_cursor_t *c, const void *key, size_t klen, kv_val_t *k, kv_val_t *v);

/**
 * Move to the last entry whose key is <= key.
 *
 * @param[in]  c     cursor.
 * @param[in]  key   key bytes, 1 <= klen <= kv_max_key_size().
 * @param[in]  klen  key length.
 * @param[out] k     key found, or NULL.
 * @param[out] v     value found, or NULL.
 * @return 0; RILL_ENOTFOUND if every key is > key; otherwise as kv_cursor_seek().
 */
int kv_cursor_seek_le(kv_cursor_t *c, const void *key, size_t klen, kv_val_t *k, kv_val_t *v);

/**
 * Move to the first entry of the table.
 *
 * @param[in]  c  cursor.
 * @param[out] k  key, or NULL.
 * @param[out] v  value, or NULL.
 * @return 0; RILL_ENOTFOUND if the table is empty; RILL_EINVAL if c is NULL;
 *         RILL_EKV; in a write transaction after a failed write, that write's code.
 */
int kv_cursor_first(kv_cursor_t *c, kv_val_t *k, kv_val_t *v);

/**
 * Move to the last entry of the table.
 *
 * @param[in]  c  cursor.
 * @param[out] k  key, or NULL.
 * @param[out] v  value, or NULL.
 * @return as kv_cursor_first().
 */
int kv_cursor_last(kv_cursor_t *c, kv_val_t *k, kv_val_t *v);

/**
 * Move to the next entry (the first if the cursor has no position).
 *
 * @param[in]  c  cursor.
 * @param[out] k  key, or NULL.
 * @param[out] v  value, or NULL.
 * @return 0; RILL_ENOTFOUND at the end (the cursor stays on the last entry);
 *         otherwise as kv_cursor_first().
 */
int kv_cursor_next(kv_cursor_t *c, kv_val_t *k, kv_val_t *v);

/**
 * Move to the previous entry (the last if the cursor has no position).
 *
 * @param[in]  c  cursor.
 * @param[out] k  key, or NULL.
 * @param[out] v  value, or NULL.
 * @return 0; RILL_ENOTFOUND at the start (the cursor stays on the first
 *         entry); otherwise as kv_cursor_first().
 */
int kv_cursor_prev(kv_cursor_t *c, kv_val_t *k, kv_val_t *v);

/**
 * Delete the entry the cursor is on. Afterwards the cursor sits between its
 * neighbours: kv_cursor_next() gives the entry that followed the deleted one
 * and kv_cursor_prev() the one before it.
 *
 * @param[in] c  cursor in a write transaction.
 * @return 0; RILL_ENOTFOUND if the cursor is on no entry (never positioned,
 *         last seek/first/last failed, or its entry was already deleted);
 *         RILL_EINVAL if c is NULL or its transaction is read-only;
 *         RILL_EDISKFULL (see kv_put()); RILL_EKV; a positive errno.
 * @remark One thread at a time per transaction. Invalidates every kv_val_t
 *         read in this transaction.
 */
int kv_cursor_del(kv_cursor_t *c);

/*
 * Big-endian fixed-width integers for keys, so that byte order (how LMDB
 * compares keys) is numeric order. For all of them: @param p  bytes, room
 * for the width, any alignment; @param v  the value. Thread-safe.
 */

/** Store v at p[0..1], most significant byte first. */
static inline void kv_be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/** Store v at p[0..3], most significant byte first. */
static inline void kv_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/** Store v at p[0..7], most significant byte first. */
static inline void kv_be64_put(uint8_t *p, uint64_t v)
{
    kv_be32_put(p, (uint32_t)(v >> 32));
    kv_be32_put(p + 4, (uint32_t)v);
}

/** Load a big-endian 16-bit value from p[0..1]. */
static inline uint16_t kv_be16_get(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

/** Load a big-endian 32-bit value from p[0..3]. */
static inline uint32_t kv_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/** Load a big-endian 64-bit value from p[0..7]. */
static inline uint64_t kv_be64_get(const uint8_t *p)
{
    return (uint64_t)kv_be32_get(p) << 32 | kv_be32_get(p + 4);
}

#endif
