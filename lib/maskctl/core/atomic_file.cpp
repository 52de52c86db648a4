#include "maskctl/core/atomic_file.hpp"

#include <atomic>
#include <fstream>

#include <fmt/format.h>
#include <unistd.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {

void write_file_atomic(const std::filesystem::path& file, std::string_view bytes) {
    // Same folder as the target, so the rename stays on one file system and is atomic.
    std::filesystem::path temp = file;
    // pid + counter: two processes or two threads writing the same target never share a temporary.
    static std::atomic<unsigned> counter{0};
    temp += fmt::format(".tmp{}-{}", static_cast<long>(::getpid()), counter++);
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        if (!out) throw IoError(fmt::format("{}: cannot create file (does the folder exist and is it writable?)", temp.string()));
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) {
            std::error_code ignored;
            std::filesystem::remove(temp, ignored);
            throw IoError(fmt::format("{}: write failed (disk full?)", temp.string()));
        }
    }
    std::error_code ec;
    std::filesystem::rename(temp, file, ec);
    if (ec) {
        std::error_code ignored;
        std::filesystem::remove(temp, ignored);
        throw IoError(fmt::format("{}: cannot replace file: {}", file.string(), ec.message()));
    }
}

}  // namespace maskctl
