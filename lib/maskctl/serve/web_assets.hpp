#pragma once
// The web page's files, compiled into the binary from lib/maskctl/serve/web/ by cmake/embed_web.cmake:
// the server answers a URL from this table only, so no URL can reach the file system.
#include <cstddef>
#include <string_view>
#include <vector>

namespace maskctl {

struct WebAsset {
    std::string_view name;          // path inside web/, e.g. "index.html", "img/logo.svg"
    std::string_view content_type;  // from the extension; application/octet-stream when unknown
    std::string_view bytes;
};

// Every embedded file, sorted by name.
const std::vector<WebAsset>& web_assets();
// The file called `name` (no leading '/'), or nullptr.
const WebAsset* find_web_asset(std::string_view name);
// "text/html; charset=utf-8" for .html, "text/javascript; charset=utf-8" for .js, ...
std::string_view content_type_for(std::string_view name);

namespace embedded {
// Written by the generated source (build/lib/generated/web_assets_data.cpp); ends with a null entry.
struct File {
    const char* name;
    const unsigned char* bytes;
    std::size_t size;
};
extern const File kWebFiles[];
extern const std::size_t kWebFileCount;
}  // namespace embedded

}  // namespace maskctl
