/*
 * offset_file.c - a BROADCASTING consumer's offsets in a local JSON file
 * (format in offset_file.h). Writes go to <path>.tmp, are fsync'd and
 * renamed over the file, then the directory is fsync'd, so a crash leaves
 * either the old or the new file, never a torn one.
 */
#include "client/src/offset_file.h"

#include "common/errors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OF_VERSION 1

static void sanitize(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) {
        char ch = src[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '@' || ch == '%' ||
                  ch == '-';
        dst[i] = ok ? ch : '_';
    }
    dst[i] = '\0';
    if (strcmp(dst, ".") == 0 || strcmp(dst, "..") == 0)
        dst[0] = '_';
}

int of_path(char *out, size_t cap, const char *dir, const char *group, const char *client_id)
{
    char g[256], c[256];
    sanitize(g, sizeof g, group);
    sanitize(c, sizeof c, client_id);
    int len = snprintf(out, cap, "%s/%s/%s.json", dir, g, c);
    if (len < 0 || (size_t)len >= cap)
        return RILL_ENOSPACE;
    return 0;
}

static int read_all(const char *path, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = 0;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = errno;
        goto fail;
    }
    if ((uint64_t)st.st_size > OF_FILE_BYTES_MAX) {
        rc = RILL_ECORRUPT;
        goto fail;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = ENOMEM;
        goto fail;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = errno;
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    *len = got;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

static bool copy_str(char *dst, size_t cap, const cJSON *item)
{
    if (!cJSON_IsString(item) || !item->valuestring)
        return false;
    size_t len = strlen(item->valuestring);
    if (len == 0 || len >= cap)
        return false;
    memcpy(dst, item->valuestring, len + 1);
    return true;
}

int of_load(const char *path, of_entry_t **out, size_t *n)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_all(path, &text, &len);
    if (rc == ENOENT) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    of_entry_t *entries = NULL;
    cJSON *root = cJSON_ParseWithLength(text, len);
    rc = RILL_ECORRUPT;
    if (!root)
        goto fail;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(root, "offsets");
    if (!cJSON_IsNumber(ver) || ver->valueint != OF_VERSION || !cJSON_IsArray(offs))
        goto fail;
    int count = cJSON_GetArraySize(offs);
    if (count < 0 || count > OF_ENTRIES_MAX)
        goto fail;
    if (count > 0) {
        entries = calloc((size_t)count, sizeof *entries);
        if (!entries) {
            rc = ENOMEM;
            goto fail;
        }
    }
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, offs)
    {
        of_entry_t *e = &entries[i++];
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(item, "queue");
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(item, "offset");
        if (!copy_str(e->queue.topic, sizeof e->queue.topic,
                      cJSON_GetObjectItemCaseSensitive(item, "topic")) ||
            !copy_str(e->queue.broker_name, sizeof e->queue.broker_name,
                      cJSON_GetObjectItemCaseSensitive(item, "broker")) ||
            !cJSON_IsNumber(q) || !cJSON_IsNumber(o) || q->valuedouble < 0 ||
            q->valuedouble > INT32_MAX || o->valuedouble < 0 || o->valuedouble > 9e15)
            goto fail;
        e->queue.queue_id = (int32_t)q->valuedouble;
        e->offset = (int64_t)o->valuedouble;
    }
    cJSON_Delete(root);
    free(text);
    *out = entries;
    *n = (size_t)count;
    return 0;
fail:
    free(entries);
    cJSON_Delete(root);
    free(text);
    return rc;
}

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len >= sizeof buf)
        return ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

static int fsync_parent(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    int fd = open(buf[0] ? buf : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int of_save(const char *path, const char *group, const char *client_id, const of_entry_t *e,
            size_t n)
{
    if (n > OF_ENTRIES_MAX)
        return RILL_ETOOBIG;
    int rc = ENOMEM;
    char *text = NULL;
    char tmp[4096 + 8];
    int fd = -1;
    cJSON *root = cJSON_CreateObject();
    cJSON *offs = NULL;
    if (!root || !cJSON_AddNumberToObject(root, "version", OF_VERSION) ||
        !cJSON_AddStringToObject(root, "group", group) ||
        !cJSON_AddStringToObject(root, "client_id", client_id) ||
        !(offs = cJSON_AddArrayToObject(root, "offsets")))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        cJSON *item = cJSON_CreateObject();
        if (!item)
            goto fail;
        cJSON_AddItemToArray(offs, item);
        if (!cJSON_AddStringToObject(item, "topic", e[i].queue.topic) ||
            !cJSON_AddStringToObject(item, "broker", e[i].queue.broker_name) ||
            !cJSON_AddNumberToObject(item, "queue", e[i].queue.queue_id) ||
            !cJSON_AddNumberToObject(item, "offset", (double)e[i].offset))
            goto fail;
    }
    text = cJSON_Print(root);
    if (!text)
        goto fail;
    rc = make_parent_dirs(path);
    if (rc != 0)
        goto fail;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        rc = ENAMETOOLONG;
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = errno;
        goto fail;
    }
    rc = write_all(fd, text, strlen(text));
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    fd = -1;
    if (rc != 0)
        goto fail_unlink;
    if (rename(tmp, path) != 0) {
        rc = errno;
        goto fail_unlink;
    }
    rc = fsync_parent(path);
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
fail_unlink:
    unlink(tmp);
fail:
    if (fd >= 0)
        close(fd);
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}
