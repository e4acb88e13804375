/*
 * fuzz_request.c - libFuzzer target for request decoding: the bytes of one
 * nng message as the RPC server receives them from the network.
 *
 * Unpacks a Request envelope (protobuf-c), packs it again and unpacks that,
 * and frees everything: no crash, no leak, whatever the input. (A re-packed
 * request need not decode again: protobuf-c keeps unknown fields verbatim,
 * including ones with the invalid field number 0.)
 */
#include "proto/common.pb-c.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Rill__Request *req = rill__request__unpack(NULL, size, data);
    if (req == NULL)
        return 0;
    size_t packed = rill__request__get_packed_size(req);
    uint8_t *buf = malloc(packed ? packed : 1);
    assert(buf != NULL);
    size_t written = rill__request__pack(req, buf);
    assert(written == packed);
    Rill__Request *again = rill__request__unpack(NULL, written, buf);
    if (again != NULL) {
        assert(again->code == req->code && again->body_case == req->body_case);
        rill__request__free_unpacked(again, NULL);
    }
    free(buf);
    rill__request__free_unpacked(req, NULL);
    return 0;
}
