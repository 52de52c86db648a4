#pragma once
// Faults made for real in the reliability tests: a small file system that fills up (tmpfs, mounted as
// root), named pipes, symlink loops, and a small model trained here on real images.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "maskctl/core/config.hpp"
#include "maskctl/train/trainer.hpp"
#include "test_helpers.hpp"
#include "train_helpers.hpp"

namespace maskctl::test {

// A tmpfs of `bytes` at `where`: a real file system that runs out of space. Mounting needs root (CI
// runs as root); elsewhere mounted() is false and the test says it skipped.
class SmallDisk {
public:
    SmallDisk(const std::filesystem::path& where, std::size_t bytes) : where_(where) {
        std::filesystem::create_directories(where);
        const std::string options = "size=" + std::to_string(bytes) + ",mode=0777";
        mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
        if (!mounted_) why_ = std::strerror(errno);
    }
    ~SmallDisk() {
        if (mounted_) ::umount2(where_.c_str(), MNT_DETACH);
    }
    SmallDisk(const SmallDisk&) = delete;
    SmallDisk& operator=(const SmallDisk&) = delete;

    bool mounted() const { return mounted_; }
    std::string skip_reason() const { return "cannot mount a tmpfs here (" + why_ + "; run as root to test a full disk)"; }
    const std::filesystem::path& path() const { return where_; }

    // Fills the file system until a write fails, so that the next write of any size fails too.
    void fill() const {
        std::ofstream out(where_ / "filler", std::ios::binary | std::ios::app);
        const std::string block(4096, 'x');
        while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
        }
    }
    // Gives `bytes` back after fill().
    void free_up(std::uintmax_t bytes) const {
        const auto size = std::filesystem::file_size(where_ / "filler");
        std::filesystem::resize_file(where_ / "filler", size > bytes ? size - bytes : 0);
    }
    // Gives all the space back.
    void empty() const { std::filesystem::remove(where_ / "filler"); }

private:
    std::filesystem::path where_;
    bool mounted_ = false;
    std::string why_;
};

// Files whose names contain ".maskctl-tmp-" under `dir`: temporaries our writers leave behind.
inline std::vector<std::filesystem::path> temporaries_in(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
        if (e.path().filename().string().find(".maskctl-tmp-") != std::string::npos ||
            e.path().filename().string().ends_with(".tmp"))
            out.push_back(e.path());
    return out;
}

inline void make_fifo(const std::filesystem::path& path) {
    std::filesystem::create_directories(path.parent_path());
    if (::mkfifo(path.c_str(), 0644) != 0) throw std::runtime_error("mkfifo " + path.string() + ": " + std::strerror(errno));
}

// `link` -> `link`: following it fails with "Too many levels of symbolic links".
inline void make_symlink_loop(const std::filesystem::path& link) {
    std::filesystem::create_directories(link.parent_path());
    std::filesystem::create_symlink(link.filename(), link);
}

// A model file trained for one epoch on 8 real images per class (train_helpers.hpp): good enough to
// run every command.
inline std::filesystem::path small_model(const std::filesystem::path& dir) {
    TrainObserver quiet;
    const Config c = small_train_config(make_real_subset(dir / "data", 8, 8), dir / "runs", {"train.epochs=1"});
    return train(c, {}, quiet).run_dir / "best.maskctl";
}

inline std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace maskctl::test
