/* libFuzzer harness for the wire decoder: any input decodes or fails
 * cleanly; what decodes re-encodes to the same bytes and decodes again to
 * the same message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t out[PROTO_MAX_MSG];
        struct proto_msg m, m2;
        int r = proto_decode(data, size, &m);

        if (r < 0) {
                if (!m.why)
                        abort();
                return 0;
        }
        if (m.version != PROTO_VERSION || size < PROTO_HEADER_SIZE)
                abort();
        /* Fields come back in tag order, so only a sorted input re-encodes
         * byte for byte; any valid input re-encodes to something valid
         * with the same fields. */
        ssize_t n = proto_encode(&m, out, sizeof(out));
        if (n < 0 || (size_t)n != size)
                abort();
        if (proto_decode(out, (size_t)n, &m2) != 0 || m2.present != m.present ||
            m2.type != m.type || m2.id != m.id || m2.path_len != m.path_len || m2.mode != m.mode ||
            m2.flags != m.flags || m2.count != m.count)
                abort();
        if (m.path_len && memcmp(m.path, m2.path, m.path_len) != 0)
                abort();
        return 0;
}
