#ifndef CCOMPRESSION_SHIM_H
#define CCOMPRESSION_SHIM_H
#include <zstd.h>
#include <zlib.h>
#endif
