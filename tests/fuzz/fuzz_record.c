/*
 * fuzz_record.c - libFuzzer target for the CommitLog record decoder, the one
 * piece of code that reads bytes from disk and from pull replies.
 *
 * Feeds arbitrary bytes to record_decode() as recovery does: record after
 * record until one fails. Whatever it accepts must lie inside the input, and
 * its properties are parsed the way the dispatcher parses them.
 */
#include "common/record.h"
#include "common/props.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    for (int n = 0; n < 1024 && pos < size; n++) {
        record_view_t rv;
        if (record_decode(data + pos, size - pos, &rv) != 0)
            break;
        assert(rv.total_size >= RECORD_BLANK_MIN && rv.total_size <= size - pos);
        if (rv.kind == RECORD_KIND_MSG) {
            const uint8_t *end = data + pos + rv.total_size;
            assert((const uint8_t *)rv.topic + rv.topic_len <= end);
            assert(rv.body + rv.body_len <= end);
            assert((const uint8_t *)rv.props + rv.props_len == end);
            const char *val;
            size_t vlen;
            if (rill_props_validate(rv.props, rv.props_len) == 0 &&
                rill_props_get(rv.props, rv.props_len, RILL_PROP_KEYS, &val, &vlen) == 0)
                assert(val >= rv.props && val + vlen <= rv.props + rv.props_len);
        }
        pos += rv.total_size;
    }
    return 0;
}
