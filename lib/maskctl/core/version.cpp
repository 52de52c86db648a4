#include "maskctl/core/version.hpp"

#include "version_config.hpp"

#include <fmt/format.h>
#include <opencv2/core/version.hpp>
#include <torch/version.h>

namespace maskctl {

std::string version() { return MASKCTL_VERSION; }

std::string library_versions() {
    return fmt::format("LibTorch {}, OpenCV {}", TORCH_VERSION, CV_VERSION);
}

}  // namespace maskctl
