/* BLAKE2b-256 (RFC 7693, unkeyed, 32-byte digest) of one buffer: the hash
 * of the audit chain, the same digest as libsodium's crypto_generichash
 * with a 32-byte output and no key, computed here because the writer
 * hashes every record on the broker's path: this plain scalar code takes
 * about half the time of libsodium 1.0.18's vector code on the machines
 * measured (blake2b.c).  The verifier keeps libsodium's, so every
 * `stepdown audit verify` checks this code's digests against another
 * implementation's. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define BLAKE2B256_BYTES 32

void blake2b256(uint8_t out[BLAKE2B256_BYTES], const void *in, size_t len);
