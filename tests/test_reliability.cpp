// The failures a tester found with bad input and faults (issue 14), each reproduced for real: named
// pipes, symlink loops, a full tmpfs, huge and deep configs, Ctrl-C, tiny photos, bad flags. Every
// case must end with one clear line and the documented exit code, and lose nothing already written.
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <fstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "fault_helpers.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/detect/video_source.hpp"
#include "maskctl/model/model_file.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using test::quoted;

namespace {

// Exit codes of README.md's table.
constexpr int kUsage = 2, kSkipped = 4, kWriteFailed = 5;

std::pair<int, std::string> run(const std::string& args, const fs::path& log) { return test::run_cli(args, log); }

std::size_t lines(const std::string& text) { return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')); }

fs::path demo_video() { return test::shared_dir() / "media" / "demo.mp4"; }

}  // namespace

// ---- crashes ---------------------------------------------------------------------------------

TEST_CASE("detect --save into a missing or read-only folder, or with a bad extension: one line, no abort",
          "[reliability][detect]") {
    test::TempDir tmp;
    const fs::path model = test::small_model(tmp.path());
    const std::string base = "detect -m " + quoted(model) + " --video " + quoted(demo_video()) + " --headless --max-frames 5 --save ";
    struct Case {
        fs::path save;
        int code;
        std::string says;
    };
    std::vector<Case> cases = {{tmp / "missing" / "out.mp4", kWriteFailed, "does not exist"},
                               {tmp / "out.xyz", kUsage, "cannot write .xyz videos"},
                               {tmp / "out", kUsage, "no extension"}};
    test::SmallDisk read_only(tmp / "ro", 1 << 20);
    if (read_only.mounted()) {
        REQUIRE(::mount("", read_only.path().c_str(), "", MS_REMOUNT | MS_RDONLY, nullptr) == 0);
        cases.push_back({read_only.path() / "out.mp4", kWriteFailed, "not writable"});
    } else {
        WARN("read-only case skipped: " << read_only.skip_reason());
    }
    for (const auto& c : cases) {
        auto [code, out] = run(base + quoted(c.save), tmp / "log");
        INFO(out);
        CHECK(code == c.code);
        CHECK_THAT(out, StartsWith("error: " + c.save.string() + ": ") && Contains(c.says));
        CHECK(lines(out) == 1);
    }
}

TEST_CASE("a config nested 100,000 levels deep is refused with one line, not a crash", "[reliability][config]") {
    test::TempDir tmp;
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    std::ofstream(tmp / "deep.json") << deep;
    std::ofstream(tmp / "deep-key.json") << "{\"data\": {\"root\": " << deep << "}}";
    for (const char* file : {"deep.json", "deep-key.json"}) {
        for (const std::string command : {"config check ", "train --config "}) {
            auto [code, out] = run(command + quoted(tmp / file), tmp / "log");
            INFO(command << file << ": " << out);
            CHECK(code == kUsage);
            CHECK_THAT(out, StartsWith("error: " + (tmp / file).string() + ": invalid JSON: nested deeper than"));
            CHECK(lines(out) == 1);
        }
    }
    auto [code, out] = run("config show --set 'data.class_names=" + std::string(5000, '[') + "'", tmp / "log");
    CHECK(code == kUsage);
    CHECK(out.size() < 400);
}

TEST_CASE("a full disk during training: a write error naming the file, the last good epoch kept, no temporary",
          "[reliability][train]") {
    test::TempDir tmp;
    // Room for the run's files (a checkpoint and two model files of about 9.5 MB each, one temporary).
    test::SmallDisk disk(tmp / "disk", 64 << 20);
    if (!disk.mounted()) {
        WARN("skipped: " << disk.skip_reason());
        return;
    }
    Config c = test::small_train_config(test::make_real_subset(tmp / "data", 8, 8), disk.path() / "runs", {"train.epochs=3"});
    // The disk fills up right after the first epoch, as another job on a shared disk would fill it.
    struct FillAfterFirst : TrainObserver {
        const test::SmallDisk& disk;
        explicit FillAfterFirst(const test::SmallDisk& d) : disk(d) {}
        void on_epoch(const EpochRecord& r, bool) override {
            if (r.epoch == 1) disk.fill();
        }
    } filler(disk);
    try {
        train(c, {}, filler);
        FAIL("training went on although the disk was full");
    } catch (const WriteError& e) {
        CHECK_THAT(e.what(), Contains("No space left on device") || Contains("not enough disk space"));
        CHECK_THAT(e.what(), !Contains(".maskctl-tmp-"));
    }
    const fs::path run_dir = disk.path() / "runs" / "train" / "exp";
    CHECK(test::temporaries_in(run_dir).empty());
    CHECK(load_model(run_dir / "last.maskctl").info.metrics.at("epoch") == 1);
    CHECK_NOTHROW(load_model(run_dir / "best.maskctl"));

    // With the space back, the run resumes from the epoch that was saved and finishes.
    disk.empty();
    TrainOptions resume;
    resume.resume = run_dir;
    TrainObserver quiet;
    const TrainResult r = train(c, resume, quiet);
    CHECK(r.history.size() == 3);
    CHECK(test::temporaries_in(run_dir).empty());
}

// ---- hangs -----------------------------------------------------------------------------------

TEST_CASE("a named pipe in a dataset or given to predict is reported and never opened", "[reliability][data]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 6, 6);
    test::make_fifo(data / "with_mask" / "pipe.jpg");

    const Dataset d = open_dataset(test::small_train_config(data, tmp / "runs").data);
    REQUIRE(d.bad_files.total == 1);
    CHECK_THAT(d.bad_files.first[0].message, Contains("pipe.jpg") && Contains("named pipe"));

    auto [code, out] = run("data inspect --chart '' " + quoted(data), tmp / "log");
    INFO(out);
    CHECK(code == kSkipped);
    CHECK_THAT(out, Contains("bad files: 1 skipped") && Contains("pipe.jpg: a named pipe (FIFO), not a file"));

    const fs::path model = test::small_model(tmp / "model");
    std::tie(code, out) = run("predict -m " + quoted(model) + " " + quoted(data / "with_mask" / "pipe.jpg"), tmp / "log");
    CHECK(code == kUsage);
    CHECK_THAT(out, Contains("pipe.jpg: a named pipe (FIFO), not a file"));
    std::tie(code, out) = run("predict -m " + quoted(model) + " " + quoted(data / "with_mask"), tmp / "log");
    CHECK(code == kSkipped);
    CHECK(lines(out) == 1 + 6 + 1);  // header, six images, the warning
}

// ---- one bad entry stops the whole folder --------------------------------------------------------

TEST_CASE("detect --image DIR and predict DIR go past an empty file and a symlink loop", "[reliability][detect]") {
    test::TempDir tmp;
    const fs::path photos = tmp / "photos";
    fs::create_directories(photos / "more");
    fs::copy_file(test::shared_dir() / "media" / "pic1.jpeg", photos / "a.jpeg");
    fs::copy_file(test::shared_dir() / "media" / "face.jpg", photos / "more" / "z.jpg");
    std::ofstream(photos / "empty.jpg").close();
    test::make_symlink_loop(photos / "loop.jpg");
    test::make_symlink_loop(photos / "more" / "loop");
    const fs::path model = test::small_model(tmp.path());

    auto [code, out] = run("detect -m " + quoted(model) + " --image " + quoted(photos) + " --out " + quoted(tmp / "out"),
                           tmp / "log");
    INFO(out);
    CHECK(code == kSkipped);
    CHECK_THAT(out, Contains((photos / "a.jpeg").string() + ": ") && Contains((photos / "more" / "z.jpg").string() + ": "));
    CHECK_THAT(out, Contains("empty.jpg: empty (0 bytes)") && Contains("loop.jpg: symlink loop"));
    CHECK_THAT(out, Contains("3 bad files skipped"));
    CHECK(fs::exists(tmp / "out" / "a.jpeg"));
    CHECK(fs::exists(tmp / "out" / "more" / "z.jpg"));

    std::tie(code, out) = run("predict --format csv -m " + quoted(model) + " " + quoted(photos), tmp / "log");
    CHECK(code == kSkipped);
    CHECK_THAT(out, Contains("a.jpeg,") && Contains("z.jpg,"));
    CHECK_THAT(out, Contains("empty.jpg: empty (0 bytes)") && Contains("loop.jpg: symlink loop"));
}

// A folder of links to photos kept elsewhere (a split made of links, as people build them): the outputs
// are named by the link, under --out. Naming them by the link's target once wrote every annotated copy
// over the original photo.
TEST_CASE("detect --image DIR with links to photos elsewhere writes under --out and leaves the photos alone",
          "[reliability][detect]") {
    test::TempDir tmp;
    const fs::path originals = tmp / "originals", photos = tmp / "photos";
    fs::create_directories(originals);
    fs::create_directories(photos);
    fs::copy_file(test::shared_dir() / "media" / "pic1.jpeg", originals / "pic1.jpeg");
    fs::create_symlink(originals / "pic1.jpeg", photos / "link.jpeg");
    const std::string before = test::read_text(originals / "pic1.jpeg");
    const fs::path model = test::small_model(tmp.path());

    auto [code, out] = run("detect -q -m " + quoted(model) + " --image " + quoted(photos) + " --out " +
                               quoted(tmp / "out") + " --save-txt " + quoted(tmp / "labels") + " --save-json " +
                               quoted(tmp / "faces.json"),
                           tmp / "log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK((test::read_text(originals / "pic1.jpeg") == before));  // not expanded: binary
    CHECK(fs::is_regular_file(tmp / "out" / "link.jpeg"));
    CHECK(fs::is_regular_file(tmp / "labels" / "link.txt"));
    CHECK(nlohmann::json::parse(test::read_text(tmp / "faces.json")).at("images").at(0).at("file") == "link.jpeg");
    CHECK(fs::directory_iterator(originals)->path().filename() == "pic1.jpeg");  // nothing written beside it

    // Annotated copies into the photo folder itself would replace the photos: refused.
    std::tie(code, out) = run("detect -m " + quoted(model) + " --image " + quoted(originals) + " --out " +
                                  quoted(originals),
                              tmp / "log");
    CHECK(code == kUsage);
    CHECK_THAT(out, Contains("is the photo folder"));
    std::tie(code, out) = run("detect -m " + quoted(model) + " --image " + quoted(originals / "pic1.jpeg") +
                                  " --save " + quoted(originals / "pic1.jpeg"),
                              tmp / "log");
    CHECK(code == kUsage);
    CHECK_THAT(out, Contains("is the photo itself"));
    CHECK((test::read_text(originals / "pic1.jpeg") == before));  // not expanded: binary
}

TEST_CASE("a dataset with an empty file, a symlink loop and a folder link is indexed, and each is reported",
          "[reliability][data]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 4, 4);
    std::ofstream(data / "with_mask" / "empty.png").close();
    test::make_symlink_loop(data / "without_mask" / "loop.jpg");
    fs::create_directory_symlink(data / "with_mask", data / "without_mask" / "elsewhere");
    const Dataset d = open_dataset(test::small_train_config(data, tmp / "runs").data);
    std::size_t images = 0;
    for (const Split s : kSplits) images += d.samples(s).size();
    CHECK(images == 8);
    REQUIRE(d.bad_files.total == 3);
    const std::string all = d.bad_files.summary();
    CHECK_THAT(all, Contains("empty.png: empty (0 bytes)") && Contains("loop.jpg: symlink loop") &&
                        Contains("elsewhere: link to a folder (not followed)"));
}

// ---- silent loss ---------------------------------------------------------------------------------

TEST_CASE("detect --save and --events onto a full disk fail loudly and leave no partial file", "[reliability][detect]") {
    test::TempDir tmp;
    test::SmallDisk disk(tmp / "disk", 8 << 20);
    if (!disk.mounted()) {
        WARN("skipped: " << disk.skip_reason());
        return;
    }
    const fs::path model = test::small_model(tmp.path());
    const std::string base = "detect -m " + quoted(model) + " --video " + quoted(demo_video()) + " --headless --loop ";

    // Room for a few seconds of video only: the run stops with an error before frames are lost.
    disk.fill();
    disk.free_up(5 << 20);
    auto [code, out] = run(base + "--max-frames 2000 --save " + quoted(disk.path() / "out.mp4"), tmp / "log");
    INFO(out);
    CHECK(code == kWriteFailed);
    CHECK_THAT(out, Contains("error: " + (disk.path() / "out.mp4").string() + ": not enough disk space"));
    CHECK(!fs::exists(disk.path() / "out.mp4"));
    CHECK(test::temporaries_in(disk.path()).empty());

    // No room at all: the first event cannot be written, and that is an error, not an empty file.
    disk.fill();
    std::tie(code, out) = run(base + "--max-frames 60 --events " + quoted(disk.path() / "events.jsonl"), tmp / "log");
    CHECK(code == kWriteFailed);
    CHECK_THAT(out, Contains("error: " + (disk.path() / "events.jsonl").string() + ": cannot append: No space left on device"));
}

TEST_CASE("a video that does not read back whole is not kept", "[reliability][detect]") {
    test::TempDir tmp;
    std::ofstream(tmp / "v.mp4") << "the previous video";
    VideoFileWriter writer(tmp / "v.mp4", 10, cv::Size(64, 48));
    for (int i = 0; i < 5; ++i) writer.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar(i * 40, 0, 0)));
    // The frames written so far are lost underneath the writer (as when the disk fills up and the
    // encoder's writes fail in silence): the file cannot be read back.
    const auto temps = test::temporaries_in(tmp.path());
    REQUIRE(temps.size() == 1);
    fs::resize_file(temps[0], 0);
    CHECK_THROWS_WITH(writer.finish(), Contains((tmp / "v.mp4").string() + ": the video could not be written completely"));
    CHECK(test::temporaries_in(tmp.path()).empty());
    std::ifstream in(tmp / "v.mp4");
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "the previous video");

    VideoFileWriter good(tmp / "v.mp4", 10, cv::Size(64, 48));
    for (int i = 0; i < 5; ++i) good.write(cv::Mat(48, 64, CV_8UC3, cv::Scalar(i * 40, 0, 0)));
    good.finish();
    CHECK(cv::VideoCapture((tmp / "v.mp4").string()).get(cv::CAP_PROP_FRAME_COUNT) == 5);
}

TEST_CASE("an unreadable subfolder of a class folder is reported, not skipped in silence", "[reliability][data]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 4, 4);
    test::make_real_subset(tmp / "data" / "with_mask" / "private", 2, 2);
    ::chmod((data / "with_mask" / "private").c_str(), 0);
    fs::permissions(tmp.path(), fs::perms::all);  // others may enter the test folder
    // Root reads every folder; the CLI runs as nobody then, as a user would.
    const std::string as_user = ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : "";
    auto [code, out] = test::run_cli("data inspect --chart '' " + quoted(data), tmp / "log", as_user);
    ::chmod((data / "with_mask" / "private").c_str(), 0755);
    INFO(out);
    CHECK(code == kSkipped);
    CHECK_THAT(out, Contains((data / "with_mask" / "private").string() + ": folder cannot be listed (Permission denied)"));
}

TEST_CASE("eval on a folder with a class the model does not know says so and exits 4", "[reliability][eval]") {
    test::TempDir tmp;
    const fs::path model = test::small_model(tmp.path());
    const fs::path data = test::make_real_subset(tmp / "eval", 3, 3);
    test::make_real_subset(tmp / "other", 3, 3);
    fs::rename(tmp / "other" / "with_mask", data / "mask_weared_incorrect");
    auto [code, out] = run("eval -q -m " + quoted(model) + " --data " + quoted(data) + " --out " + quoted(tmp / "out"),
                           tmp / "log");
    INFO(out);
    CHECK(code == kSkipped);
    CHECK_THAT(out, Contains("warning: class folder 'mask_weared_incorrect'") && Contains("not a class of the model"));
    CHECK_THAT(out, Contains("6 images"));
}

TEST_CASE("temporaries of a killed writer are removed by the next write, and others are left alone", "[reliability][files]") {
    test::TempDir tmp;
    // A process that has ended: its pid names nobody now.
    const pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ::waitpid(dead, nullptr, 0);
    const auto touch = [&](const std::string& name) {
        std::ofstream(tmp / name) << "left over";
        return tmp / name;
    };
    const fs::path stale = touch(fmt::format(".last.maskctl.maskctl-tmp-{}-3", dead));
    const fs::path stale_video = touch(fmt::format(".out.mp4.maskctl-tmp-{}-0.mp4", dead));
    const fs::path legacy = touch(fmt::format("last.maskctl.tmp{}-0", dead));
    const fs::path live = touch(fmt::format(".best.maskctl.maskctl-tmp-{}-0", ::getppid()));
    const fs::path user_file = touch("notes.maskctl-tmp-1-1.txt");
    write_file_atomic(tmp / "history.csv", "epoch\n");
    CHECK(!fs::exists(stale));
    CHECK(!fs::exists(stale_video));
    CHECK(!fs::exists(legacy));
    CHECK(fs::exists(live));
    CHECK(fs::exists(user_file));
}

// ---- slow or unclear ---------------------------------------------------------------------------------

TEST_CASE("Ctrl-C while features are cached stops before the next batch, and --resume then works",
          "[reliability][train]") {
    test::TempDir tmp;
    const Config c = test::small_train_config(test::make_real_subset(tmp / "data", 16, 16), tmp / "runs",
                                              {"train.epochs=2", "train.batch_size=4"});
    // Ctrl-C at the first batch of the cache: no further batch may be cached (a batch is about a second
    // of work, so this is what "stops within a second" means without timing the test).
    struct StopWhileCaching : TrainObserver {
        std::atomic<bool> stop{false};
        int batches_after_stop = 0;
        void on_progress(const std::string& phase, std::size_t, std::size_t) override {
            if (phase != "features") return;
            if (stop) ++batches_after_stop;
            stop = true;
        }
    } observer;
    TrainOptions options;
    options.stop = &observer.stop;
    const TrainResult cut = train(c, options, observer);
    CHECK(cut.interrupted);
    CHECK(cut.history.empty());
    CHECK(observer.batches_after_stop == 0);
    REQUIRE(fs::exists(cut.run_dir / "last.ckpt"));  // what the "continue with --resume" message needs
    // The partial checkpoint an older maskctl left on a full disk or a kill: resuming removes it.
    std::ofstream(cut.run_dir / "last.ckpt.tmp") << "half a checkpoint";

    TrainOptions resume;
    resume.resume = cut.run_dir;
    TrainObserver quiet;
    const TrainResult done = train(c, resume, quiet);
    CHECK_FALSE(done.interrupted);
    CHECK(done.history.size() == 2);
    CHECK(test::temporaries_in(cut.run_dir).empty());
    CHECK_NOTHROW(load_model(cut.run_dir / "best.maskctl"));
}

TEST_CASE("detect --image on tiny valid photos answers for each file", "[reliability][detect]") {
    test::TempDir tmp;
    const fs::path photos = tmp / "tiny";
    fs::create_directories(photos);
    for (const auto& [w, h] : std::vector<std::pair<int, int>>{{1, 1}, {16, 16}, {4, 900}, {100, 20}, {32, 32}, {33, 31}})
        cv::imwrite((photos / fmt::format("{}x{}.png", w, h)).string(), cv::Mat(h, w, CV_8UC3, cv::Scalar(90, 120, 150)));
    const fs::path model = test::small_model(tmp.path());
    auto [code, out] = run("detect -m " + quoted(model) + " --image " + quoted(photos) + " --out " + quoted(tmp / "out"),
                           tmp / "log");
    INFO(out);
    CHECK(code == 0);
    CHECK(std::count(out.begin(), out.end(), '\n') == 7);  // one line per photo, then where they went
    CHECK_THAT(out, Contains("1x1.png: 0 faces") && Contains("4x900.png: 0 faces") && Contains("100x20.png: 0 faces"));
}

TEST_CASE("argument errors exit 2 with one line, as the README promises", "[reliability][cli]") {
    test::TempDir tmp;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"train --epochs 3", "error: The following arguments were not expected: 3 --epochs (see maskctl train --help)"},
        {"train --name", "error: --name: 1 required TEXT missing (see maskctl train --help)"},
        {"eval --digits 99 -m x", "error: --model: File does not exist: x (see maskctl eval --help)"},
        {"frobnicate", "error: maskctl: unknown command 'frobnicate' (expected one of: config, data, augment"},
        {"data frobnicate", "error: maskctl data: unknown command 'frobnicate' (expected one of: inspect, split"},
        {"detect -m CMakeLists.txt --camera -1", "error: --camera: Value -1 not in range 0 to 99 (see maskctl detect --help)"},
    };
    for (const auto& [args, says] : cases) {
        auto [code, out] = run(args, tmp / "log");
        INFO(args << ": " << out);
        CHECK(code == kUsage);
        CHECK_THAT(out, StartsWith(says));
        CHECK(lines(out) == 1);
    }
    auto [code, out] = run("--help", tmp / "log");
    CHECK(code == 0);
}

TEST_CASE("write errors name the user's file, never the temporary", "[reliability][files]") {
    test::TempDir tmp;
    test::SmallDisk disk(tmp / "disk", 1 << 20);
    if (!disk.mounted()) {
        WARN("skipped: " << disk.skip_reason());
        return;
    }
    write_file_atomic(disk.path() / "report.txt", "the good one\n");
    disk.fill();
    try {
        write_file_atomic(disk.path() / "report.txt", std::string(64 << 10, 'x'));
        FAIL("the write to a full disk succeeded");
    } catch (const WriteError& e) {
        CHECK_THAT(e.what(), StartsWith((disk.path() / "report.txt").string() + ": "));
        CHECK_THAT(e.what(), !Contains("maskctl-tmp"));
    }
    std::ifstream in(disk.path() / "report.txt");
    CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == "the good one\n");
    CHECK(test::temporaries_in(disk.path()).empty());
}

TEST_CASE("data bench counts the files skipped while indexing", "[reliability][data]") {
    test::TempDir tmp;
    const fs::path data = test::make_real_subset(tmp / "data", 4, 4);
    for (int i = 0; i < 10; ++i) std::ofstream(data / "with_mask" / fmt::format("empty{}.jpg", i)).close();
    auto [code, out] = run("data bench --epochs 1 --no-augment " + quoted(data), tmp / "log");
    INFO(out);
    CHECK(code == kSkipped);
    CHECK_THAT(out, Contains("bad files: 10 skipped"));
    CHECK_THAT(out, !Contains("bad files: none"));
}

TEST_CASE("a config error shows a huge value cut short", "[reliability][config]") {
    test::TempDir tmp;
    std::ofstream(tmp / "big.json") << "{\"data\": {\"layout\": \"" << std::string(169 * 1024, 'a') << "\"}}";
    auto [code, out] = run("config check " + quoted(tmp / "big.json"), tmp / "log");
    CHECK(code == kUsage);
    CHECK(out.size() < 400);
    CHECK_THAT(out, Contains("key 'data.layout' has value \"aaaa") && Contains("(169 KB)"));
    std::ofstream(tmp / "key.json") << "{\"" << std::string(100000, 'k') << "\": 1}";
    std::tie(code, out) = run("config check " + quoted(tmp / "key.json"), tmp / "log");
    CHECK(code == kUsage);
    CHECK(out.size() < 400);
}
