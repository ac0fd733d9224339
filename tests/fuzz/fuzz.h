/*
 * fuzz.h - the one entry point every fuzz target defines (libFuzzer's).
 *
 * Each tests/fuzz/fuzz_<name>.c is built twice: with clang's libFuzzer by
 * `make fuzz FUZZ_SECONDS=N`, and linked with replay.c into
 * tests/fuzz/replay_<name>, which `make check` runs over the checked-in
 * corpus tests/fuzz/corpus/<name>/ (every crash found becomes a file there).
 */
#ifndef BERTH_FUZZ_H
#define BERTH_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
