// The library's layers, checked: a file in lib/maskctl/<layer>/ may include its own layer and the
// layers below it, never one above (or a sibling of the same rank). A new folder must be added here,
// so the picture in docs/architecture.md and the tree stay the same.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "maskctl/maskctl.hpp"  // the umbrella must compile on its own
#include "test_helpers.hpp"

namespace fs = std::filesystem;

namespace {

// Lowest first. Layers of equal rank may not include each other.
const std::map<std::string, int> kLayerRank = {
    {"core", 0},   // errors, config, random, atomic files, run folders, version
    {"plot", 1},   // charts and plots drawn with OpenCV
    {"data", 2},   // image decoding, datasets, augmentation, loader, preprocessing
    {"model", 3},  // MobileNetV2, head, classifier, TFLite import, model files
    {"train", 4},  // trainer, schedules, evaluation, metrics
    {"detect", 5}, // face detectors, tracker, sources, pipeline, annotation, actions, compliance
    {"serve", 6},  // the HTTP server and its page (maskctl serve)
    {"fleet", 6},  // MQTT output and consumers (many cameras, one broker)
    {"report", 7}, // benchmarks of everything below
};

fs::path library_root() { return maskctl::test::source_dir() / "lib" / "maskctl"; }

// (included layer, line) of every #include "maskctl/<layer>/..." in `file`.
std::vector<std::pair<std::string, std::string>> layer_includes(const fs::path& file) {
    static const std::regex include(R"re(^\s*#\s*include\s*"maskctl/([^/"]+)/)re");
    std::vector<std::pair<std::string, std::string>> out;
    std::ifstream in(file);
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
        if (std::regex_search(line, m, include)) out.emplace_back(m[1], line);
    return out;
}

}  // namespace

TEST_CASE("every library folder is a known layer", "[layers]") {
    for (const auto& entry : fs::directory_iterator(library_root())) {
        if (!entry.is_directory()) continue;
        INFO(entry.path().string());
        CHECK(kLayerRank.count(entry.path().filename().string()) == 1);
    }
}

TEST_CASE("no include points up the layers", "[layers]") {
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(library_root())) {
        const auto ext = entry.path().extension();
        if (!entry.is_regular_file() || (ext != ".hpp" && ext != ".cpp")) continue;
        const fs::path rel = fs::relative(entry.path(), library_root());
        if (rel.begin() == rel.end() || std::next(rel.begin()) == rel.end()) continue;  // maskctl.hpp: the umbrella
        const std::string layer = rel.begin()->string();
        ++files;
        for (const auto& [target, line] : layer_includes(entry.path())) {
            INFO(rel.string() << ": " << line);
            REQUIRE(kLayerRank.count(target) == 1);
            CHECK((target == layer || kLayerRank.at(target) < kLayerRank.at(layer)));
        }
    }
    CHECK(files > 30);
}

TEST_CASE("the umbrella header includes every library header", "[layers]") {
    std::set<std::string> listed;
    std::ifstream in(library_root() / "maskctl.hpp");
    REQUIRE(in);
    static const std::regex include(R"re(#include "(maskctl/[^"]+)")re");
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
        if (std::regex_search(line, m, include)) listed.insert(m[1]);
    for (const auto& entry : fs::recursive_directory_iterator(library_root())) {
        if (entry.path().extension() != ".hpp" || entry.path().filename() == "maskctl.hpp") continue;
        const std::string name = "maskctl/" + fs::relative(entry.path(), library_root()).generic_string();
        INFO(name);
        CHECK(listed.count(name) == 1);
    }
}
