// One libFuzzer executable per target: MASKCTL_FUZZ_TARGET names it (see CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_targets.hpp"

namespace {

const maskctl::fuzz::Target& chosen() {
    static const maskctl::fuzz::Target* target = [] {
        for (const auto& t : maskctl::fuzz::targets())
            if (t.name == MASKCTL_FUZZ_TARGET) return &t;
        std::abort();
    }();
    return *target;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    chosen().run(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
}
