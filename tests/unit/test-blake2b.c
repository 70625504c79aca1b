/* Unit tests for common/audit/blake2b.c, the writer's chain hash: the
 * published digests, and the same digest as libsodium's
 * crypto_generichash (what `stepdown audit verify` computes) for every
 * length around the block boundaries and for random inputs, at every
 * alignment of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "blake2b.h"

static void hex(char out[2 * BLAKE2B256_BYTES + 1], const uint8_t *h)
{
        sodium_bin2hex(out, 2 * BLAKE2B256_BYTES + 1, h, BLAKE2B256_BYTES);
}

/* BLAKE2b-256 of "", "abc" and bytes 0..255 four times (Python's hashlib,
 * the reference implementation's). */
static void test_known_digests(void **state)
{
        (void)state;
        uint8_t h[BLAKE2B256_BYTES], in[1024];
        char x[2 * BLAKE2B256_BYTES + 1];
        blake2b256(h, NULL, 0);
        hex(x, h);
        assert_string_equal(x, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
        blake2b256(h, "abc", 3);
        hex(x, h);
        assert_string_equal(x, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
        for (size_t i = 0; i < sizeof(in); i++)
                in[i] = (uint8_t)i;
        blake2b256(h, in, sizeof(in));
        hex(x, h);
        assert_string_equal(x, "f1551feeb252c7e60bb362205bd1ac2f70b145260a91d41e8c5d0a187549a5f2");
}

static void same_as_libsodium(const uint8_t *in, size_t len)
{
        uint8_t mine[BLAKE2B256_BYTES], theirs[BLAKE2B256_BYTES];
        blake2b256(mine, in, len);
        crypto_generichash(theirs, sizeof(theirs), in, len, NULL, 0);
        if (memcmp(mine, theirs, sizeof(mine)) != 0)
                fail_msg("BLAKE2b-256 of %zu bytes at %p differs from libsodium's", len,
                         (const void *)in);
}

static void test_libsodium_agrees(void **state)
{
        (void)state;
        static uint8_t buf[3 * 128 * 8 + 16];
        assert_int_equal(sodium_init() < 0, 0);
        randombytes_buf(buf, sizeof(buf));
        /* Every length up to 8 blocks and a bit (the last block is the
         * one the input ends in, padded: 0, 127, 128, 129 bytes ...). */
        for (size_t len = 0; len <= 8 * 128 + 3; len++)
                same_as_libsodium(buf + (len % 8), len);
        /* Longer inputs (a record can be 256 KiB) and fresh random bytes. */
        for (int i = 0; i < 200; i++) {
                randombytes_buf(buf, sizeof(buf));
                size_t len = randombytes_uniform(sizeof(buf) - 8);
                same_as_libsodium(buf + randombytes_uniform(8), len);
        }
        static uint8_t big[256 * 1024 + 1];
        randombytes_buf(big, sizeof(big));
        same_as_libsodium(big, sizeof(big));
}

/* One changed bit anywhere changes the digest. */
static void test_every_bit_counts(void **state)
{
        (void)state;
        uint8_t in[300], a[BLAKE2B256_BYTES], b[BLAKE2B256_BYTES];
        randombytes_buf(in, sizeof(in));
        blake2b256(a, in, sizeof(in));
        for (size_t i = 0; i < sizeof(in) * 8; i++) {
                in[i / 8] ^= (uint8_t)(1u << (i % 8));
                blake2b256(b, in, sizeof(in));
                in[i / 8] ^= (uint8_t)(1u << (i % 8));
                assert_memory_not_equal(a, b, sizeof(a));
        }
        blake2b256(b, in, sizeof(in));
        assert_memory_equal(a, b, sizeof(a));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_known_digests),
            cmocka_unit_test(test_libsodium_agrees),
            cmocka_unit_test(test_every_bit_counts),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
