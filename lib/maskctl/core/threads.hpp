#pragma once
// LibTorch's compute threads for a scope: small matrices (the head alone) run faster on one thread
// than on several that wait on each other.
#include <ATen/Parallel.h>

namespace maskctl {

class ThreadScope {
public:
    explicit ThreadScope(int inside) : after_(at::get_num_threads()) { at::set_num_threads(inside); }
    ~ThreadScope() { at::set_num_threads(after_); }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

private:
    int after_;
};

}  // namespace maskctl
