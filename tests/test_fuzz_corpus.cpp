// Every input the fuzzers kept (tests/fuzz/<target>/: the seeds, the inputs that reached new code,
// and the crashes they found, each fixed) goes through its parser again on every test run: a crash
// found once stays fixed. Under scripts/test.sh --sanitize this runs with ASan and UBSan.
#include <catch2/catch.hpp>

#include "fuzz/fuzz_targets.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;

TEST_CASE("the fuzz corpora replay without a crash or an unexpected exception", "[fuzz]") {
    for (const auto& target : maskctl::fuzz::targets()) {
        const fs::path dir = maskctl::test::source_dir() / "tests" / "fuzz" / target.name;
        INFO(dir.string());
        REQUIRE(fs::is_directory(dir));
        std::size_t inputs = 0;
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string bytes = maskctl::test::read_text(entry.path());
            INFO(entry.path().string());
            CHECK_NOTHROW(target.run(bytes));
            ++inputs;
        }
        CHECK(inputs > 0);
    }
}
