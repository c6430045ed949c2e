#ifndef CHARNESS_SUPPORT_H
#define CHARNESS_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/// CRC32C (Castagnoli), as used by the recording log. `crc` is the running value (0 to start).
/// Uses the SSE4.2 instruction when the CPU has it, a table otherwise.
uint32_t harness_crc32c(uint32_t crc, const void *data, size_t length);

/// 64-bit FNV-1a-style content hash used to find identical bodies inside one log segment.
uint64_t harness_hash64(const void *data, size_t length);

#endif
