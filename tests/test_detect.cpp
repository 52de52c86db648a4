// Live detection end to end with a mask model trained here on a small subset of the real data:
// photos labelled as a person would, the demo clip as a fake camera, the CLI's outputs and exit codes.
#include <fstream>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "maskctl/detect/compliance.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/train/trainer.hpp"
#include "detect_model.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;
using maskctl::test::mask_model;

namespace {

DetectOptions options() {
    DetectOptions o;
    o.detector.models_dir = test::shared_dir() / "models" / "face";
    return o;
}

cv::Mat media(const std::string& name) {
    cv::Mat img = cv::imread((test::shared_dir() / "media" / name).string());
    REQUIRE(!img.empty());
    return img;
}

std::vector<FaceResult> left_to_right(std::vector<FaceResult> faces) {
    std::sort(faces.begin(), faces.end(), [](const auto& a, const auto& b) { return a.box.x < b.box.x; });
    return faces;
}

struct Recorder : DetectObserver {
    std::vector<DetectEvent> events;
    std::vector<std::int64_t> frames;
    int stop_after = -1;
    ComplianceStats* stats = nullptr;
    void on_event(const DetectEvent& e) override {
        events.push_back(e);
        if (stats) stats->add_event(e);
    }
    bool on_frame(FrameResult& r) override {
        frames.push_back(r.frame.index);
        if (stats) stats->add_frame(r.faces);
        return stop_after < 0 || static_cast<int>(frames.size()) < stop_after;
    }
};

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

std::string cli_base() {
    return "detect -m " + quoted(mask_model()) + " --face-models " + quoted(test::shared_dir() / "models" / "face");
}

}  // namespace

TEST_CASE("photos: every face found and labelled as a person would", "[detect]") {
    MaskDetector d(load_model(mask_model()), options());
    const auto& names = d.class_names();
    REQUIRE(names == std::vector<std::string>{"with_mask", "without_mask"});

    const auto pic1 = d.detect_image(media("pic1.jpeg"));  // two people, both masked
    REQUIRE(pic1.size() == 2);
    for (const auto& f : pic1) {
        CHECK(names[f.label] == "with_mask");
        CHECK_FALSE(f.violation);
    }
    const auto pic3 = d.detect_image(media("pic3.jpg"));  // one face, no mask
    REQUIRE(pic3.size() == 1);
    CHECK(names[pic3[0].label] == "without_mask");
    CHECK(pic3[0].violation);
    CHECK(pic3[0].confidence > 0.5f);

    // Three women: no mask, mask, mask pulled down to the chin (not a mask for a 2-class model).
    const auto pic2 = left_to_right(d.detect_image(media("pic2.jpg")));
    REQUIRE(pic2.size() >= 3);
    CHECK(names[pic2[0].label] == "without_mask");
    CHECK(names[pic2[1].label] == "with_mask");
    CHECK(names[pic2[2].label] == "without_mask");

    for (const auto& f : d.detect_image(media("face.jpg"))) CHECK(names[f.label] == "without_mask");

    cv::Mat drawn = media("pic1.jpeg");
    d.draw(drawn, pic1);
    cv::Mat diff;
    cv::absdiff(drawn, media("pic1.jpeg"), diff);
    CHECK(cv::countNonZero(diff.reshape(1)) > 1000);
}

TEST_CASE("the demo clip as a camera: one tracked face, mask off then on, one violation", "[detect]") {
    DetectOptions o = options();
    o.violation_frames = 5;
    MaskDetector d(load_model(mask_model()), o);
    auto source = open_video(test::shared_dir() / "media" / "demo.mp4");
    Recorder rec;
    ComplianceStats stats(d.class_names());
    rec.stats = &stats;
    const DetectSummary s = run_detection(*source, d, rec);
    CHECK(s.frames == 65);
    CHECK(rec.frames.size() == 65);
    CHECK(std::is_sorted(rec.frames.begin(), rec.frames.end()));
    CHECK(s.detections >= 60);
    CHECK(s.faces_seen == 1);
    // Classification is rationed: far fewer crops than frames.
    CHECK(s.classified < 40);
    CHECK(s.classified >= 13);
    CHECK_FALSE(s.stopped);
    REQUIRE(s.stages.size() == 6);

    // The person starts masked, takes the mask off (around 1.1 s) and puts it back (around 2.5 s).
    std::vector<std::string> labels;
    for (const auto& e : rec.events)
        if (e.type == "appear" || e.type == "change") labels.push_back(e.label);
    CHECK(labels == std::vector<std::string>{"with_mask", "without_mask", "with_mask"});
    const auto violations = std::count_if(rec.events.begin(), rec.events.end(),
                                          [](const DetectEvent& e) { return e.type == "violation"; });
    CHECK(violations == 1);
    for (const auto& e : rec.events) {
        if (e.type != "change") continue;
        INFO(e.label << " at " << e.time);
        if (e.label == "without_mask") CHECK((e.time > 0.6 && e.time < 2.0));
        if (e.label == "with_mask") CHECK((e.time > 2.0 && e.time < 3.3));
    }
    // One person, masked for most of the clip: counted once, with a mask, and as one violator.
    const ComplianceSnapshot people = stats.snapshot();
    CHECK(people.frames == 65);
    CHECK(people.since_start.total() == 1);
    CHECK(people.since_start.with_mask == 1);
    CHECK(people.since_start.violations == 1);
    CHECK(people.since_start.violators == 1);

    const nlohmann::json j = to_json(rec.events.front());
    CHECK(j["type"] == "appear");
    CHECK(j["display"] == "Mask");
    CHECK(j["box"].size() == 4);
}

TEST_CASE("the pipeline stops when the observer or the stop flag says so", "[detect]") {
    MaskDetector d(load_model(mask_model()), options());
    auto source = open_video(test::shared_dir() / "media" / "demo.mp4");
    Recorder rec;
    rec.stop_after = 10;
    const DetectSummary s = run_detection(*source, d, rec);
    CHECK(s.frames == 10);
    CHECK(s.stopped);

    std::atomic<bool> stop{true};
    DetectOptions o = options();
    o.stop = &stop;
    MaskDetector stopped(load_model(mask_model()), o);
    auto again = open_video(test::shared_dir() / "media" / "demo.mp4");
    Recorder none;
    CHECK(run_detection(*again, stopped, none).frames == 0);
}

TEST_CASE("an observer that throws stops the pipeline: threads joined, the error rethrown to the caller",
          "[detect]") {
    struct Throwing : DetectObserver {
        int frames = 0;
        bool on_frame(FrameResult&) override {
            if (++frames == 3) throw std::runtime_error("display closed");
            return true;
        }
    };
    MaskDetector d(load_model(mask_model()), options());
    auto source = open_video(test::shared_dir() / "media" / "demo.mp4");
    Throwing observer;
    // Before the stages were joined on every path this called std::terminate (a joinable std::thread
    // destroyed during unwinding), so the whole test run would abort here.
    CHECK_THROWS_WITH(run_detection(*source, d, observer), "display closed");
    CHECK(observer.frames == 3);
    // The detector is usable again: nothing is left running against it.
    auto again = open_video(test::shared_dir() / "media" / "demo.mp4");
    Recorder rec;
    rec.stop_after = 2;
    CHECK(run_detection(*again, d, rec).frames == 2);
}

TEST_CASE("violation classes must be classes of the model", "[detect]") {
    DetectOptions o = options();
    o.violation_classes = {"no_helmet"};
    CHECK_THROWS_WITH(MaskDetector(load_model(mask_model()), o), Catch::Contains("with_mask, without_mask"));
    o.violation_classes = {"with_mask"};
    MaskDetector inverted(load_model(mask_model()), o);
    CHECK(inverted.is_violation(0));
    CHECK_FALSE(inverted.is_violation(1));
}

TEST_CASE("maskctl detect runs the clip headless and writes events and an annotated video", "[detect]") {
    test::TempDir tmp("maskctl-detect-cli");
    const fs::path video = tmp / "annotated.mp4", events = tmp / "events.jsonl", marks = tmp / "violations.txt";
    const fs::path stats = tmp / "stats.json";
    auto [code, out] = test::run_cli(cli_base() + " --video " + quoted(test::shared_dir() / "media" / "demo.mp4") +
                                         " --headless --save " + quoted(video) + " --events " + quoted(events) +
                                         " --stats-json " + quoted(stats) + " --stats-every 0.5 --name door1" +
                                         " --violation-frames 5 --on-violation 'echo $MASKCTL_LABEL >> " +
                                         marks.string() + "'",
                                     tmp / "log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK_THAT(out, Catch::Contains("65 frames in"));
    CHECK_THAT(out, Catch::Contains("frames/s"));
    CHECK_THAT(out, Catch::Contains("p95 ms"));
    CHECK_THAT(out, Catch::Contains("violations 1"));
    CHECK_THAT(out, Catch::Contains("people 1: 1 with a mask, 0 without"));

    cv::VideoCapture cap(video.string());
    REQUIRE(cap.isOpened());
    CHECK(cap.get(cv::CAP_PROP_FRAME_COUNT) == 65);
    cv::Mat frame;
    REQUIRE(cap.read(frame));
    CHECK(frame.size() == cv::Size(640, 420));
    // The first frame carries the green "Mask" box (pure-ish green pixels the clip does not have).
    cv::Mat green;
    cv::inRange(frame, cv::Scalar(0, 170, 0), cv::Scalar(60, 230, 60), green);
    CHECK(cv::countNonZero(green) > 200);
    for (const auto& e : fs::directory_iterator(tmp.path()))
        CHECK_THAT(e.path().filename().string(), !Catch::Contains("partial"));

    std::ifstream in(events);
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    REQUIRE(lines.size() >= 4);
    // Statistics lines every half second between the events, and the final figures last; they
    // agree with --stats-json.
    const auto stats_lines = std::count_if(lines.begin(), lines.end(), [](const auto& j) { return j["type"] == "stats"; });
    CHECK(stats_lines >= 2);
    const nlohmann::json last = lines.back(), written = nlohmann::json::parse(std::ifstream(stats));
    REQUIRE(last["type"] == "stats");
    CHECK(last["frames"] == 65);
    CHECK(last["since_start"] == written["since_start"]);
    CHECK(written["source"] == "door1");
    CHECK(written["since_start"]["people_total"] == 1);
    CHECK(written["since_start"]["people_with_mask"] == 1);
    CHECK(written["since_start"]["violators"] == 1);
    CHECK(written["series"]["people_with_mask"].size() == 60);
    lines.erase(std::remove_if(lines.begin(), lines.end(), [](const auto& j) { return j["type"] == "stats"; }), lines.end());
    CHECK(lines[0]["type"] == "appear");
    CHECK(lines[0]["label"] == "with_mask");
    CHECK(lines[0].contains("at"));
    CHECK(std::count_if(lines.begin(), lines.end(), [](const auto& j) { return j["type"] == "violation"; }) == 1);
    std::ifstream m(marks);
    std::string mark;
    std::getline(m, mark);
    CHECK(mark == "without_mask");
}

TEST_CASE("maskctl detect --gate answers with its exit code", "[detect]") {
    test::TempDir tmp("maskctl-detect-gate");
    const auto gate = [&](const fs::path& image) {
        return test::run_cli(cli_base() + " --gate --image " + quoted(image), tmp / "log");
    };
    auto [pass, out1] = gate(test::shared_dir() / "media" / "pic1.jpeg");
    CHECK(pass == 0);
    CHECK_THAT(out1, Catch::Contains("gate: pass"));
    auto [fail, out2] = gate(test::shared_dir() / "media" / "pic2.jpg");
    CHECK(fail == 1);
    CHECK_THAT(out2, Catch::Contains("gate: FAIL"));
    cv::imwrite((tmp / "wall.png").string(), cv::Mat(300, 400, CV_8UC3, cv::Scalar(180, 170, 160)));
    auto [none, out3] = gate(tmp / "wall.png");
    CHECK(none == 3);
    CHECK_THAT(out3, Catch::Contains("no face"));
    CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 2);  // no pictures written

    // Without --gate: annotated copies, and exit 0 whatever is found.
    auto [code, out] = test::run_cli(cli_base() + " --image " + quoted(test::shared_dir() / "media" / "pic3.jpg") +
                                         " --save " + quoted(tmp / "pic3-annotated.jpg"),
                                     tmp / "log");
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("No Mask"));
    CHECK(cv::imread((tmp / "pic3-annotated.jpg").string()).size() == cv::Size(474, 248));
}

TEST_CASE("maskctl detect: bad sources and flags give one clear error and exit 2", "[detect]") {
    test::TempDir tmp("maskctl-detect-bad");
    auto [c1, o1] = test::run_cli(cli_base() + " --video /nonexistent/clip.mp4 --headless", tmp / "log");
    CHECK(c1 == 2);
    CHECK_THAT(o1, Catch::Contains("error: video /nonexistent/clip.mp4: no such file"));
    auto [c2, o2] = test::run_cli(cli_base() + " --camera 63 --headless", tmp / "log");
    CHECK(c2 == 2);
    CHECK_THAT(o2, Catch::Contains("camera 63: cannot open it (tried"));
    auto [c3, o3] = test::run_cli(cli_base() + " --source rtsp://127.0.0.1:1/cam --headless", tmp / "log");
    CHECK(c3 == 2);
    CHECK_THAT(o3, Catch::Contains("stream rtsp://127.0.0.1:1/cam: cannot open it (tried FFMPEG"));
    auto [c4, o4] = test::run_cli(cli_base() + " --gate --video x.mp4", tmp / "log");
    CHECK(c4 == 2);
    CHECK_THAT(o4, Catch::Contains("--gate works on photos"));
    auto [c5, o5] = test::run_cli(cli_base() + " --video a.mp4 --camera 0", tmp / "log");
    CHECK(c5 != 0);
    auto [c7, o7] = test::run_cli(cli_base() + " --video x.mp4 --stats-every 5", tmp / "log");
    CHECK(c7 == 2);
    CHECK_THAT(o7, Catch::Contains("--stats-every writes to the events file or the broker: add --events FILE or --mqtt URL"));
    auto [c6, o6] = test::run_cli("detect -m " + quoted(mask_model()) + " --face-models /nonexistent --image " +
                                      quoted(test::shared_dir() / "media" / "pic1.jpeg"),
                                  tmp / "log");
    CHECK(c6 == 2);
    CHECK_THAT(o6, Catch::Contains("/nonexistent/face_detection_yunet_2022mar.onnx: no such file"));
}
