#pragma once
#include <string>

namespace maskctl {

// maskctl's own version, e.g. "0.1.0".
std::string version();
// Versions of the libraries this build links, as "LibTorch 1.13.1, OpenCV 4.6.0".
std::string library_versions();

}  // namespace maskctl
