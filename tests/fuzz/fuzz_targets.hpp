#pragma once
// The parsers that read files users give us, as fuzz targets: each takes arbitrary bytes and must
// either succeed or throw maskctl::Error (a one-line message). Anything else (another exception, a
// crash, a sanitizer report, a hang) is a bug. The libFuzzer executables (tests/fuzz/CMakeLists.txt,
// scripts/fuzz.sh) and the corpus replay in the test suite (test_fuzz_corpus.cpp) share these.
#include <string>
#include <string_view>
#include <vector>

namespace maskctl::fuzz {

struct Target {
    std::string name;                    // also the corpus folder: tests/fuzz/<name>/
    void (*run)(std::string_view bytes);
};

const std::vector<Target>& targets();

}  // namespace maskctl::fuzz
