/*
 * make_seeds.c - writes the starting corpus of the fuzz targets: a few valid
 * CommitLog records (message, blank, properties with keys) and a few packed
 * requests. Run by `make fuzz` when a corpus directory is empty.
 *   make_seeds RECORD_DIR REQUEST_DIR
 */
#include "common/record.h"
#include "common/props.h"
#include "proto/common.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: make_seeds RECORD_DIR REQUEST_DIR\n");
        return 2;
    }
    static uint8_t buf[8192];
    char props[256];
    size_t plen = 0;
    rill_props_append(props, sizeof(props), &plen, RILL_PROP_KEYS, "order-1 customer-7", 18);
    rill_props_append(props, sizeof(props), &plen, RILL_PROP_UNIQ_KEY, "0A000001ABCD", 12);
    rill_props_append(props, sizeof(props), &plen, RILL_PROP_TAGS, "TagA", 4);
    record_fields_t f = {.topic = "Orders",
                         .topic_len = 6,
                         .queue_id = 3,
                         .queue_offset = 42,
                         .phys_offset = 0,
                         .born_ts = 1764250000000ull,
                         .store_ts = 1764250000001ull,
                         .body = "hello",
                         .body_len = 5,
                         .props = props,
                         .props_len = (uint32_t)plen};
    size_t n1 = record_size(f.topic_len, f.body_len, f.props_len);
    record_encode(buf, &f);
    write_file(argv[1], "one-message", buf, n1);
    f.phys_offset = n1;
    f.props_len = 0;
    f.flags = RECORD_FLAG_DELAYED;
    size_t n2 = record_size(f.topic_len, f.body_len, 0);
    record_encode(buf + n1, &f);
    record_encode_blank(buf + n1 + n2, 64);
    write_file(argv[1], "two-messages-and-blank", buf, n1 + n2 + 64);

    Rill__Request req = RILL__REQUEST__INIT;
    req.code = 1;
    req.version = 1;
    req.opaque = 7;
    size_t len = rill__request__pack(&req, buf);
    write_file(argv[2], "bare-request", buf, len);
    Rill__SendMessageRequest send = RILL__SEND_MESSAGE_REQUEST__INIT;
    req.body_case = RILL__REQUEST__BODY_SEND_MESSAGE;
    req.send_message = &send;
    req.code = 10;
    len = rill__request__pack(&req, buf);
    write_file(argv[2], "send-request", buf, len);
    return 0;
}
