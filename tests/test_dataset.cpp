// Dataset indexing: both layouts, class names, the seeded stratified split, the CSV round trip,
// bad files, odd names, and the real face-mask folders.
#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "data_helpers.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/data/inspect.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/random.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using test::read_text;
using maskctl::test::TempDir;

namespace {

DataConfig config_for(const fs::path& root) {
    DataConfig config;
    config.root = root.string();
    return config;
}

std::string error_of(const DataConfig& config) {
    try {
        open_dataset(config);
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

// "relative/path|class" per split, to compare datasets that live in different folders.
std::array<std::set<std::string>, 3> relative_split(const Dataset& d) {
    std::array<std::set<std::string>, 3> out;
    for (const Split s : kSplits)
        for (const auto& sample : d.samples(s))
            out[static_cast<int>(s)].insert(sample.path.lexically_relative(d.root).generic_string() + "|" +
                                            d.class_names.at(sample.label));
    return out;
}

void write_text(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary) << text;
}

std::string name(int i) { return "img " + std::to_string(i) + ".png"; }

}  // namespace

TEST_CASE("SplitMix64 gives the reference sequence on every platform", "[data]") {
    Rng rng(0);  // published reference output of SplitMix64 from state 0
    CHECK(rng.next() == 0xe220a8397b1dcdafULL);
    CHECK(rng.next() == 0x6e789e6aa1b965f4ULL);
    CHECK(rng.next() == 0x06c45d188009454fULL);
    Rng a(7), b(7);
    for (int i = 0; i < 100; ++i) {
        const double u = a.uniform01();
        CHECK((u >= 0.0 && u < 1.0));
        CHECK(b.below(10) < 10);
    }
}

TEST_CASE("flat layout: classes sorted from folders, images found recursively, junk ignored", "[data]") {
    TempDir dir;
    test::make_flat(dir.path(), {"zebra", "ant", "Mole", "cat"}, 5);
    test::write_image(dir / "ant" / "nested" / "deep.JPG", 9, 9, {1, 2, 3}, ".jpg");
    test::write_image(dir / "ant" / ".hidden.png");
    test::write_image(dir / "ant" / ".cache" / "x.png");
    test::write_bytes(dir / "ant" / "notes.txt", {'h', 'i'});
    test::write_image(dir / ".git" / "y.png");  // a hidden folder is not a class

    const Dataset d = open_dataset(config_for(dir.path()));
    CHECK(d.layout == "flat");
    // Bytewise order, as Python's sorted(): upper case first.
    CHECK(d.class_names == std::vector<std::string>{"Mole", "ant", "cat", "zebra"});
    CHECK(d.size() == 21);
    CHECK(d.ignored_files == 2);  // .hidden.png and notes.txt; .cache is not entered
    CHECK(d.bad_files.empty());
    std::size_t ants = 0;
    for (const Split s : kSplits) ants += d.class_counts(s)[1];
    CHECK(ants == 6);
}

TEST_CASE("the split is stratified, complete and follows the ratios", "[data]") {
    TempDir dir;
    const std::vector<std::pair<std::string, int>> classes{{"a", 50}, {"b", 31}, {"c", 7}};
    for (const auto& [cls, n] : classes)
        for (int i = 0; i < n; ++i) test::write_image(dir / cls / name(i));
    DataConfig config = config_for(dir.path());
    config.split = {0.7, 0.1, 0.2};
    const Dataset d = open_dataset(config);

    // Per class: test = round(0.2 n), val = round(0.1 n), train = the rest.
    CHECK(d.class_counts(Split::test) == std::vector<std::size_t>{10, 6, 1});
    CHECK(d.class_counts(Split::val) == std::vector<std::size_t>{5, 3, 1});
    CHECK(d.class_counts(Split::train) == std::vector<std::size_t>{35, 22, 5});

    std::set<fs::path> seen;
    for (const Split s : kSplits)
        for (const auto& sample : d.samples(s)) CHECK(seen.insert(sample.path).second);  // disjoint
    CHECK(seen.size() == 88);

    SECTION("the same seed gives the same split; another seed another one") {
        CHECK(open_dataset(config).splits == d.splits);
        config.seed = 43;
        CHECK(open_dataset(config).samples(Split::test) != d.samples(Split::test));
    }
    SECTION("the split does not depend on the order files were created in") {
        TempDir other;
        for (auto it = classes.rbegin(); it != classes.rend(); ++it)
            for (int i = it->second - 1; i >= 0; --i) test::write_image(other / it->first / name(i));
        DataConfig other_config = config;
        other_config.root = other.path().string();
        CHECK(relative_split(open_dataset(other_config)) == relative_split(d));
    }
    SECTION("adding a class leaves the other classes' split alone") {
        for (int i = 0; i < 9; ++i) test::write_image(dir / "0new" / name(i));
        const Dataset more = open_dataset(config);
        REQUIRE(more.class_names.front() == "0new");
        auto before = relative_split(d), after = relative_split(more);
        for (auto& split : after) std::erase_if(split, [](const std::string& s) { return s.starts_with("0new/"); });
        CHECK(after == before);
    }
}

TEST_CASE("stratified_split is a pure function of the samples, not of their order", "[data]") {
    std::vector<Sample> samples;
    for (int i = 0; i < 40; ++i) samples.push_back({fs::path("r") / (i % 2 ? "x" : "y") / name(i), i % 2});
    const std::vector<std::string> names{"y", "x"};
    const auto reference = stratified_split(samples, {}, 42, names);
    std::mt19937 engine(1);  // any order in, same split out
    std::shuffle(samples.begin(), samples.end(), engine);
    CHECK(stratified_split(samples, {}, 42, names) == reference);
    CHECK(reference[static_cast<int>(Split::test)].size() == 8);
    CHECK(reference[static_cast<int>(Split::val)].size() == 4);
    CHECK_THROWS_AS(stratified_split(samples, {0, 0, 0}, 42, names), ConfigError);
}

TEST_CASE("split layout: Train/Validation/Test in any letter case", "[data]") {
    TempDir dir;
    const std::vector<std::pair<std::string, int>> splits{{"Train", 6}, {"Validation", 3}, {"Test", 2}};
    for (const auto& [split, n] : splits)
        for (const char* cls : {"WithoutMask", "WithMask"})
            for (int i = 0; i < n; ++i) test::write_image(dir / split / cls / name(i));
    test::write_image(dir / "Train" / "OnlyInTrain" / "x.png");

    const Dataset d = open_dataset(config_for(dir.path()));
    CHECK(d.layout == "split");
    CHECK(d.class_names == std::vector<std::string>{"OnlyInTrain", "WithMask", "WithoutMask"});
    CHECK(d.class_counts(Split::train) == std::vector<std::size_t>{1, 6, 6});
    CHECK(d.class_counts(Split::val) == std::vector<std::size_t>{0, 3, 3});
    CHECK(d.class_counts(Split::test) == std::vector<std::size_t>{0, 2, 2});

    SECTION("the layout can be forced") {
        DataConfig config = config_for(dir.path());
        config.layout = Layout::flat;  // then the split folders are the classes
        CHECK(open_dataset(config).class_names == std::vector<std::string>{"Test", "Train", "Validation"});
    }
    SECTION("an unexpected folder beside the splits is an error that names it") {
        test::write_image(dir / "extra" / "a" / "x.png");
        CHECK_THAT(error_of(config_for(dir.path())), Catch::Contains("\"extra\"") && Catch::Contains("data.layout"));
    }
    SECTION("lower-case names and a missing val folder") {
        TempDir lower;
        test::make_flat(lower / "train", {"a", "b"}, 3);
        test::make_flat(lower / "test", {"a", "b"}, 1);
        const Dataset l = open_dataset(config_for(lower.path()));
        CHECK(l.layout == "split");
        CHECK(l.samples(Split::train).size() == 6);
        CHECK(l.samples(Split::val).empty());
        CHECK(l.samples(Split::test).size() == 2);
    }
}

TEST_CASE("parse_split accepts the usual spellings", "[data]") {
    CHECK(parse_split("TRAIN") == Split::train);
    CHECK(parse_split("training") == Split::train);
    CHECK(parse_split("Validation") == Split::val);
    CHECK(parse_split("valid") == Split::val);
    CHECK(parse_split("Test") == Split::test);
    CHECK_FALSE(parse_split("trainer"));
}

TEST_CASE("data.class_names picks and orders the classes", "[data]") {
    TempDir dir;
    test::make_flat(dir.path(), {"a", "b", "c"}, 4);
    DataConfig config = config_for(dir.path());
    config.class_names = std::vector<std::string>{"c", "a"};  // b is left out, c comes first
    const Dataset d = open_dataset(config);
    CHECK(d.class_names == std::vector<std::string>{"c", "a"});
    CHECK(d.size() == 8);
    for (const Split s : kSplits)
        for (const auto& sample : d.samples(s)) CHECK(sample.path.parent_path().filename() == d.class_names[sample.label]);

    config.class_names = std::vector<std::string>{"a", "nope"};
    CHECK_THAT(error_of(config), Catch::Contains("\"nope\"") && Catch::Contains((dir / "nope").string()));
}

TEST_CASE("folder problems are DataErrors that name the folder", "[data]") {
    TempDir dir;
    test::make_flat(dir.path(), {"a"}, 3);
    fs::create_directories(dir / "empty_class");
    CHECK_THAT(error_of(config_for(dir.path())), Catch::Contains((dir / "empty_class").string()) &&
                                                     Catch::Contains("no images"));

    fs::remove(dir / "empty_class");
    test::write_bytes(dir / "all_bad" / "zero.jpg", {});
    CHECK_THAT(error_of(config_for(dir.path())), Catch::Contains((dir / "all_bad").string()) &&
                                                     Catch::Contains("no usable image"));

    TempDir flat_files;  // images directly in the root: no class folders
    test::write_image(flat_files / "x.png");
    CHECK_THAT(error_of(config_for(flat_files.path())), Catch::Contains(flat_files.path().string()) &&
                                                            Catch::Contains("no class folders"));

    CHECK_THAT(error_of(config_for(dir / "missing")), Catch::Contains((dir / "missing").string()));

    DataConfig forced_split = config_for(dir.path());
    forced_split.layout = Layout::split;
    CHECK_THAT(error_of(forced_split), Catch::Contains("\"a\""));
}

TEST_CASE("bad files are skipped, counted and listed at indexing", "[data]") {
    TempDir dir;
    test::make_flat(dir.path(), {"a", "b"}, 4);
    const auto jpeg = test::encode(cv::Mat(32, 32, CV_8UC3, cv::Scalar::all(9)), ".jpg");
    test::write_bytes(dir / "a" / "zero.jpg", {});
    test::write_bytes(dir / "a" / "text.png", {'n', 'o', 'p', 'e'});
    test::write_bytes(dir / "b" / "cut.jpg", {jpeg.begin(), jpeg.begin() + 100});

    const Dataset d = open_dataset(config_for(dir.path()));
    CHECK(d.size() == 8);
    REQUIRE(d.bad_files.total == 3);
    std::multiset<ImageProblem> kinds;
    for (const auto& bad : d.bad_files.first) kinds.insert(bad.problem);
    CHECK(kinds == std::multiset<ImageProblem>{ImageProblem::empty, ImageProblem::not_an_image, ImageProblem::truncated});
    CHECK_THAT(d.bad_files.summary(), Catch::StartsWith("3 bad files skipped: ") && Catch::Contains("zero.jpg: empty"));

    BadFileReport many;
    for (int i = 0; i < 15; ++i) many.add({name(i), ImageProblem::empty, name(i) + ": empty"});
    CHECK(many.first.size() == BadFileReport::kListed);
    CHECK_THAT(many.summary(), Catch::EndsWith("; and 5 more"));
    BadFileReport merged = d.bad_files;
    merged.merge(many);
    CHECK(merged.total == 18);
}

TEST_CASE("CSV fields are quoted when needed and parse back", "[data]") {
    CHECK(csv_field("plain/name.jpg") == "plain/name.jpg");
    CHECK(csv_field("a,b") == "\"a,b\"");
    CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
    CHECK(csv_field(" lead") == "\" lead\"");
    const auto rows = parse_csv("h1,h2\r\n\"a,b\",\"x\"\"y\"\n\"multi\nline\",é\n", "t.csv");
    REQUIRE(rows.size() == 3);
    CHECK(rows[1] == std::vector<std::string>{"a,b", "x\"y"});
    CHECK(rows[2] == std::vector<std::string>{"multi\nline", "é"});
    CHECK_THROWS_WITH(parse_csv("a,\"open\n", "t.csv"), Catch::Contains("t.csv: line 1"));
}

TEST_CASE("a split written as CSV reproduces the dataset exactly, odd names included", "[data]") {
    TempDir dir;
    const std::vector<std::string> odd{"with space.png", "comma,name.png", "quote\"d.png", "naïve é.png",
                                       "new\nline.png", " leading.png", "UPPER.PNG"};
    for (const char* cls : {"masked, properly", "none"}) {
        for (const auto& n : odd) test::write_image(dir / cls / n);
        for (int i = 0; i < 8; ++i) test::write_image(dir / cls / name(i));
    }
    DataConfig config = config_for(dir.path());
    config.split = {0.6, 0.2, 0.2};
    const Dataset d = open_dataset(config);
    REQUIRE(d.size() == 30);

    const fs::path csv = dir / "split.csv";
    write_split_csv(d, csv);
    const std::string text = read_text(csv);
    CHECK(text.starts_with("split,label,path\n"));
    CHECK(text.find("\"masked, properly/comma,name.png\"") != std::string::npos);
    CHECK(text.find("\"none/quote\"\"d.png\"") != std::string::npos);

    config.split_file = csv.string();
    config.seed = 999;  // the file decides, not the seed
    const Dataset again = open_dataset(config);
    CHECK(again.layout == "csv");
    CHECK(again.class_names == d.class_names);
    CHECK(again.splits == d.splits);

    SECTION("a hand-edited split is followed as written") {
        write_text(csv, "split,label,path\ntest,none,none/img 0.png\ntrain,\"masked, properly\",masked, properly/img 1.png\n");
        // An unquoted comma adds a field: that row is an error that names the file and row.
        CHECK_THAT(error_of(config), Catch::Contains("split.csv: row 3 has 4 fields"));
        write_text(csv, "\xEF\xBB\xBFsplit,label,path\ntest,none,none/img 0.png\nval,\"masked, properly\",\"masked, properly/img 1.png\"\n");
        const Dataset edited = open_dataset(config);
        CHECK(edited.class_names == std::vector<std::string>{"masked, properly", "none"});
        CHECK(edited.samples(Split::test) == std::vector<Sample>{{dir / "none" / "img 0.png", 1}});
        CHECK(edited.samples(Split::val).size() == 1);
        CHECK(edited.samples(Split::train).empty());
    }
    SECTION("rows that point at vanished files become bad files") {
        fs::remove(dir / "none" / "with space.png");
        const Dataset fewer = open_dataset(config);
        CHECK(fewer.size() == 29);
        REQUIRE(fewer.bad_files.total == 1);
        CHECK(fewer.bad_files.first[0].problem == ImageProblem::missing);
    }
    SECTION("malformed files are DataErrors naming the file") {
        write_text(csv, "path,label,split\n");
        CHECK_THAT(error_of(config), Catch::Contains("split.csv: first line must be the header split,label,path"));
        write_text(csv, "split,label,path\nholdout,none,none/img 0.png\n");
        CHECK_THAT(error_of(config), Catch::Contains("row 2") && Catch::Contains("\"holdout\""));
        config.split_file = (dir / "absent.csv").string();
        CHECK_THAT(error_of(config), Catch::Contains("absent.csv"));
    }
}

TEST_CASE("face-mask-3class: three classes, stratified 70/10/20", "[data]") {
    const Dataset d = open_dataset(config_for(test::shared_dir() / "data" / "face-mask-3class"));
    CHECK(d.layout == "flat");
    CHECK(d.class_names == std::vector<std::string>{"mask_weared_incorrect", "with_mask", "without_mask"});
    CHECK(d.class_counts(Split::test) == std::vector<std::size_t>{149, 58, 51});
    CHECK(d.class_counts(Split::val) == std::vector<std::size_t>{74, 29, 25});
    CHECK(d.class_counts(Split::train) == std::vector<std::size_t>{520, 203, 177});
    CHECK(d.bad_files.empty());
}

TEST_CASE("face-mask-3833: every file indexed, the 70/10/20 split has 767 test images", "[data]") {
    const Dataset d = open_dataset(config_for(test::shared_dir() / "data" / "face-mask-3833"));
    CHECK(d.class_names == std::vector<std::string>{"with_mask", "without_mask"});
    CHECK(d.class_counts(Split::train) == std::vector<std::size_t>{1340, 1342});
    CHECK(d.class_counts(Split::val) == std::vector<std::size_t>{191, 192});
    CHECK(d.class_counts(Split::test) == std::vector<std::size_t>{383, 384});
    CHECK(d.bad_files.empty());
    CHECK(d.ignored_files == 0);
}

TEST_CASE("a subset of face-mask-3833 with its odd names round-trips through CSV", "[data]") {
    const fs::path source = test::shared_dir() / "data" / "face-mask-3833" / "with_mask";
    TempDir dir;
    fs::create_directories(dir / "with_mask");
    int copied = 0;
    for (const auto& entry : fs::directory_iterator(source)) {
        const std::string n = entry.path().filename().string();
        const bool odd = n.find(' ') != std::string::npos || std::any_of(n.begin(), n.end(), [](unsigned char c) { return c >= 0x80; }) ||
                         entry.path().extension() != ".jpg" || n == "with_mask129.jpg";
        if (odd && copied < 40) {
            fs::copy_file(entry.path(), dir / "with_mask" / n);
            ++copied;
        }
    }
    for (int i = 0; i < 10; ++i) test::write_image(dir / "without_mask" / name(i));
    REQUIRE(copied == 40);
    const Dataset d = open_dataset(config_for(dir.path()));
    CHECK(d.size() == 50);
    CHECK(d.bad_files.empty());
    write_split_csv(d, dir / "split.csv");
    DataConfig config = config_for(dir.path());
    config.split_file = (dir / "split.csv").string();
    CHECK(open_dataset(config).splits == d.splits);
}

// ---- inspect and the `maskctl data` command ----

using test::run_cli;

TEST_CASE("inspect decodes everything: counts, size statistics, undecodable files", "[data][inspect]") {
    TempDir dir;
    test::write_image(dir / "a" / "small.png", 10, 40);
    test::write_image(dir / "a" / "mid.jpg", 20, 30, {9, 9, 9}, ".jpg");
    test::write_image(dir / "b" / "large.png", 30, 50);
    std::vector<unsigned char> garbage{0xFF, 0xD8, 0xFF, 0xE0};
    for (int i = 0; i < 100; ++i) garbage.push_back(static_cast<unsigned char>(i * 37));
    garbage.insert(garbage.end(), {0xFF, 0xD9});
    test::write_bytes(dir / "b" / "garbage.jpg", garbage);  // passes the cheap checks, fails to decode
    test::write_bytes(dir / "b" / "zero.png", {});
    DataConfig config = config_for(dir.path());
    config.split = {1.0, 0.0, 0.0};
    const Dataset d = open_dataset(config);
    REQUIRE(d.size() == 4);

    const InspectReport r = inspect_dataset(d, 2);
    CHECK(r.decoded == 3);
    CHECK(r.counts[0] == std::vector<std::size_t>{2, 1});
    CHECK(r.width.min == 10);
    CHECK(r.width.median == 20);
    CHECK(r.width.max == 30);
    CHECK(r.height.median == 40);
    CHECK(r.class_width[1].max == 30);
    REQUIRE(r.bad_files.total == 2);
    std::set<ImageProblem> kinds{r.bad_files.first[0].problem, r.bad_files.first[1].problem};
    CHECK(kinds == std::set<ImageProblem>{ImageProblem::empty, ImageProblem::corrupt});

    const cv::Mat chart = draw_class_chart(d, r);
    CHECK(chart.type() == CV_8UC3);
    CHECK(chart.cols >= 420);
    write_png(dir / "chart.png", chart);
    CHECK(decode_image(dir / "chart.png").size() == chart.size());
    CHECK_THROWS_AS(write_png(dir / "no" / "such" / "dir.png", chart), IoError);
}

TEST_CASE("maskctl data inspect and data split", "[data][cli]") {
    TempDir dir;
    test::make_flat(dir / "ds", {"with mask", "without"}, 5);
    test::write_bytes(dir / "ds" / "without" / "broken.jpg", {'x'});
    const fs::path chart = dir / "chart.png";
    auto [code, out] = run_cli(fmt::format("data inspect '{}' --chart '{}'", (dir / "ds").string(), chart.string()),
                               dir / "log.txt");
    CHECK(code == 4);  // done, with a file skipped (README: exit codes)
    CHECK_THAT(out, Catch::Contains("flat layout, 2 classes, 10 images decoded"));
    CHECK_THAT(out, Catch::Contains("with mask") && Catch::Contains("bad files: 1 skipped"));
    CHECK_THAT(out, Catch::Contains("broken.jpg: not an image"));
    CHECK(decode_image(chart).cols > 0);

    const fs::path csv = dir / "split.csv";
    std::tie(code, out) = run_cli(fmt::format("data split '{}' --out '{}'", (dir / "ds").string(), csv.string()), dir / "log.txt");
    CHECK(code == 4);
    CHECK_THAT(out, Catch::Contains("train 6, val 2, test 2 images"));
    CHECK_THAT(read_text(csv), Catch::StartsWith("split,label,path\n"));

    std::tie(code, out) = run_cli(fmt::format("data inspect '{}' --chart ''", (dir / "missing").string()), dir / "log.txt");
    CHECK(code != 0);
    std::tie(code, out) = run_cli(fmt::format("data inspect --set data.root='{}' --chart ''", (dir / "nothing").string()), dir / "log.txt");
    CHECK(code == 2);
    CHECK_THAT(out, Catch::Contains("error: data.root") && Catch::Contains("nothing"));
}
