#include "maskctl/serve/web_assets.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace maskctl {

std::string_view content_type_for(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 14> kTypes{{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    }};
    for (const auto& [ext, type] : kTypes)
        if (name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext) return type;
    return "application/octet-stream";
}

const std::vector<WebAsset>& web_assets() {
    static const std::vector<WebAsset> assets = [] {
        std::vector<WebAsset> out;
        for (std::size_t i = 0; i < embedded::kWebFileCount; ++i) {
            const auto& f = embedded::kWebFiles[i];
            out.push_back({f.name, content_type_for(f.name),
                           std::string_view(reinterpret_cast<const char*>(f.bytes), f.size)});
        }
        std::sort(out.begin(), out.end(), [](const WebAsset& a, const WebAsset& b) { return a.name < b.name; });
        return out;
    }();
    return assets;
}

const WebAsset* find_web_asset(std::string_view name) {
    const auto& assets = web_assets();
    const auto it = std::lower_bound(assets.begin(), assets.end(), name,
                                     [](const WebAsset& a, std::string_view n) { return a.name < n; });
    return it != assets.end() && it->name == name ? &*it : nullptr;
}

}  // namespace maskctl
