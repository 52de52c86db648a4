// Live detection parts that need no trained model: tracking and smoothing on synthetic box
// sequences, face detectors on the shared photos, crops, labels and colours, sources, commands.
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include "maskctl/detect/action.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/detect/face_detector.hpp"
#include "maskctl/detect/tracker.hpp"
#include "maskctl/detect/video_source.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;

namespace {

const std::vector<float> kMask{0.9f, 0.1f}, kNoMask{0.1f, 0.9f};

FaceDetectorOptions detector_options(const std::string& kind) {
    FaceDetectorOptions o;
    o.kind = face_detector_kind(kind);
    o.models_dir = test::shared_dir() / "models" / "face";
    return o;
}

cv::Mat media(const std::string& name) {
    cv::Mat img = cv::imread((test::shared_dir() / "media" / name).string());
    REQUIRE(!img.empty());
    return img;
}

}  // namespace

TEST_CASE("tracker keeps one id for a face moving across frames and drops it after max_missed", "[detect]") {
    Tracker tracker({.max_missed = 3});
    int id = -1;
    for (int f = 0; f < 20; ++f) {
        const auto up = tracker.update({cv::Rect2f(100.0f + 6 * f, 80, 60, 70)});
        if (f == 0) {
            REQUIRE(up.created.size() == 1);
            id = up.created[0];
        } else {
            CHECK(up.created.empty());
        }
        CHECK(up.track_of_detection == std::vector<int>{id});
    }
    // The face leaves: the track survives 3 missed frames, then is reported lost once.
    for (int f = 0; f < 3; ++f) CHECK(tracker.update({}).lost.empty());
    const auto up = tracker.update({});
    REQUIRE(up.lost.size() == 1);
    CHECK(up.lost[0].id == id);
    CHECK(tracker.tracks().empty());
    // Coming back is a new person as far as the tracker can tell.
    CHECK(tracker.update({cv::Rect2f(100, 80, 60, 70)}).created == std::vector<int>{id + 1});
}

TEST_CASE("tracker matches two faces by overlap, whatever the detection order", "[detect]") {
    Tracker tracker;
    const cv::Rect2f left(50, 50, 80, 80), right(300, 60, 80, 80);
    const auto first = tracker.update({left, right});
    REQUIRE(first.created.size() == 2);
    for (int f = 1; f < 10; ++f) {
        const cv::Rect2f l = left + cv::Point2f(3.0f * f, 0), r = right - cv::Point2f(3.0f * f, 0);
        const auto up = f % 2 ? tracker.update({r, l}) : tracker.update({l, r});
        const std::vector<int> expected = f % 2 ? std::vector<int>{first.created[1], first.created[0]} : first.created;
        CHECK(up.track_of_detection == expected);
    }
    // A box far from both starts a third track; a missing face does not steal another's id.
    const auto up = tracker.update({cv::Rect2f(600, 300, 50, 50), left + cv::Point2f(30, 0)});
    CHECK(up.track_of_detection[1] == first.created[0]);
    CHECK(up.created.size() == 1);
    CHECK(tracker.find(first.created[1])->missed == 1);
}

TEST_CASE("smoothed box follows the detection without jumping", "[detect]") {
    Tracker tracker({.box_smoothing = 0.5f});
    tracker.update({cv::Rect2f(100, 100, 50, 50)});
    tracker.update({cv::Rect2f(110, 100, 50, 50)});
    const Track& t = tracker.tracks().front();
    CHECK(t.box.x == Approx(105));
    CHECK(t.detection.x == Approx(110));
}

TEST_CASE("stable_label switches only past the hysteresis margin", "[detect]") {
    CHECK(stable_label(-1, {0.4f, 0.6f}, 0.2f) == 1);  // first label: argmax
    CHECK(stable_label(0, {0.45f, 0.55f}, 0.2f) == 0);  // a small lead is not enough
    CHECK(stable_label(0, {0.35f, 0.65f}, 0.2f) == 1);
    CHECK(stable_label(2, {0.5f, 0.3f, 0.2f}, 0.2f) == 0);
    CHECK(stable_label(2, {0.35f, 0.3f, 0.35f}, 0.2f) == 2);
}

TEST_CASE("a label does not flicker on noisy classifications but follows a real change", "[detect]") {
    Tracker tracker({.smooth_window = 3, .hysteresis = 0.2f});
    tracker.update({cv::Rect2f(0, 0, 50, 50)});
    const int id = tracker.tracks().front().id;
    CHECK(tracker.observe(id, kMask));  // the first label is a change
    // A person turning: single classifications flip, the average does not move enough.
    int changes = 0;
    for (int i = 0; i < 12; ++i) {
        tracker.update({cv::Rect2f(0, 0, 50, 50)});
        changes += tracker.observe(id, i % 4 == 1 ? kNoMask : kMask);
    }
    CHECK(changes == 0);
    CHECK(tracker.find(id)->label == 0);
    // Mask taken off: two classifications in a row switch it; one alone does not.
    tracker.update({cv::Rect2f(0, 0, 50, 50)});
    CHECK_FALSE(tracker.observe(id, kNoMask));
    CHECK(tracker.find(id)->unsettled());
    tracker.update({cv::Rect2f(0, 0, 50, 50)});
    CHECK(tracker.observe(id, kNoMask));
    CHECK(tracker.find(id)->label == 1);
    CHECK(tracker.find(id)->label_frames == 1);
    CHECK(tracker.find(id)->confidence() == Approx((0.1f + 0.9f + 0.9f) / 3));
    CHECK_FALSE(tracker.observe(999, kMask));
}

TEST_CASE("classification schedule: new faces first, steady ones every k frames, a budget per frame", "[detect]") {
    Tracker tracker;
    const std::vector<cv::Rect2f> boxes{{0, 0, 50, 50}, {100, 0, 50, 50}, {200, 0, 50, 50}, {300, 0, 50, 50}};
    tracker.update(boxes);
    const ClassifySchedule s{.every = 4, .max_per_frame = 1, .moved_iou = 0.5f};
    // Four new faces: all classified at once even past the budget (none may stay unlabelled).
    auto due = tracks_to_classify(tracker, s);
    REQUIRE(due.size() == 4);
    for (int id : due) tracker.observe(id, kMask);
    std::map<int, int> count;
    for (int f = 0; f < 16; ++f) {
        tracker.update(boxes);
        due = tracks_to_classify(tracker, s);
        CHECK(due.size() <= 1);
        for (int id : due) ++count[id], tracker.observe(id, kMask);
    }
    // Round robin under the budget: every face refreshed, none starved.
    REQUIRE(count.size() == 4);
    for (const auto& [id, n] : count) CHECK(n >= 3);
    // A face whose box jumped is due at once; an unsettled one goes before a stale one.
    auto moved = boxes;
    moved[2] = cv::Rect2f(215, 10, 50, 50);  // IoU 0.39: same track, but moved
    tracker.update(moved);
    due = tracks_to_classify(tracker, {.every = 100, .max_per_frame = 0});
    CHECK(due == std::vector<int>{tracker.tracks()[2].id});
    tracker.observe(tracker.tracks()[0].id, kNoMask);
    tracker.update(moved);
    due = tracks_to_classify(tracker, {.every = 1, .max_per_frame = 1});
    CHECK(due == std::vector<int>{tracker.tracks()[0].id});
}

TEST_CASE("tracker options are validated", "[detect]") {
    CHECK_THROWS_AS(Tracker({.match_iou = 0}), ConfigError);
    CHECK_THROWS_AS(Tracker({.smooth_window = 0}), ConfigError);
    CHECK_THROWS_AS(Tracker({.hysteresis = 1.5f}), ConfigError);
}

TEST_CASE("face detectors find the faces in the shared photos, masked ones included", "[detect]") {
    // Expected counts as a person counts them; pic2's 4th face is a partial one at the top edge.
    struct Case {
        std::string kind;
        int pic1, pic2_min, pic3, face;
    };
    for (const Case& c : {Case{"yunet", 2, 4, 1, 4}, Case{"ssd", 2, 3, 1, 4}, Case{"scrfd", 2, 4, 1, 4}}) {
        INFO(c.kind);
        auto det = make_face_detector(detector_options(c.kind));
        CHECK(det->name() == c.kind);
        CHECK(det->detect(media("pic1.jpeg")).size() == static_cast<size_t>(c.pic1));
        CHECK(det->detect(media("pic2.jpg")).size() >= static_cast<size_t>(c.pic2_min));
        CHECK(det->detect(media("pic3.jpg")).size() == static_cast<size_t>(c.pic3));
        const auto faces = det->detect(media("face.jpg"));
        CHECK(faces.size() == static_cast<size_t>(c.face));
        for (size_t i = 1; i < faces.size(); ++i) CHECK(faces[i - 1].score >= faces[i].score);
    }
    // Haar: unmasked faces only (why it is the fallback, not the default).
    auto haar = make_face_detector(detector_options("haar"));
    CHECK(haar->detect(media("face.jpg")).size() == 4);
    CHECK(haar->detect(media("pic1.jpeg")).empty());
}

TEST_CASE("face detector options: minimum size, small frames, bad kinds and missing files", "[detect]") {
    auto o = detector_options("yunet");
    o.min_face = 80;  // face.jpg's two small faces are 47 and 56 px wide
    CHECK(make_face_detector(o)->detect(media("face.jpg")).size() == 2);
    // A tight 40x60 crop (YuNet's layers need padding there) and a blank frame do not throw.
    auto yunet = make_face_detector(detector_options("yunet"));
    CHECK_NOTHROW(yunet->detect(media("face.jpg")(cv::Rect(0, 0, 40, 60)).clone()));
    // Plain walls: YuNet alone scores these as faces (0.56 and 0.74).
    CHECK(yunet->detect(cv::Mat(480, 640, CV_8UC3, cv::Scalar::all(90))).empty());
    CHECK(yunet->detect(cv::Mat(300, 400, CV_8UC3, cv::Scalar(180, 170, 160))).empty());
    CHECK_THROWS_AS(yunet->detect(cv::Mat(10, 10, CV_8UC1)), Error);

    CHECK_THROWS_WITH(face_detector_kind("mtcnn"), "face detector is 'mtcnn', expected yunet, ssd, scrfd or haar");
    o = detector_options("ssd");
    o.models_dir = "/nonexistent";
    CHECK_THROWS_AS(make_face_detector(o), ModelFileError);
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("/nonexistent/opencv_face_detector_uint8.pb"));
    o.confidence = 2;
    CHECK_THROWS_AS(make_face_detector(o), ConfigError);
}

TEST_CASE("SCRFD letterboxes any frame into its 640 square and maps boxes back to frame pixels", "[detect]") {
    auto scrfd = make_face_detector(detector_options("scrfd"));
    auto yunet = make_face_detector(detector_options("yunet"));
    const cv::Mat photo = media("face.jpg");
    const auto faces = scrfd->detect(photo);
    const auto reference = yunet->detect(photo);
    REQUIRE(faces.size() == reference.size());
    for (const auto& f : reference) {  // the same four faces, whichever detector found them
        float best = 0;
        for (const auto& g : faces) best = std::max(best, iou(f.box, g.box));
        CHECK(best > 0.6f);
    }
    // The photo at the right of a frame three times as wide (and so shrunk 3x more by the letterbox):
    // the same faces, moved by the offset.
    cv::Mat wide(photo.rows, photo.cols * 3, CV_8UC3, cv::Scalar(90, 100, 110));
    photo.copyTo(wide(cv::Rect(photo.cols * 2, 0, photo.cols, photo.rows)));
    const auto moved = scrfd->detect(wide);
    CHECK(moved.size() == faces.size());
    for (const auto& f : faces) {
        float best = 0;
        for (const auto& g : moved) best = std::max(best, iou(f.box + cv::Point2f(photo.cols * 2.0f, 0), g.box));
        CHECK(best > 0.6f);
    }
    CHECK_NOTHROW(scrfd->detect(photo(cv::Rect(0, 0, 40, 60)).clone()));
    CHECK(scrfd->detect(cv::Mat(480, 640, CV_8UC3, cv::Scalar::all(90))).empty());
    CHECK_THROWS_AS(scrfd->detect(cv::Mat(10, 10, CV_8UC1)), Error);

    auto o = detector_options("scrfd");
    o.small_faces = 2;
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("--small-faces works with --detector yunet or haar"));
    o = detector_options("scrfd");
    o.models_dir = "/nonexistent";
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("/nonexistent/scrfd_2.5g_bnkps.onnx"));
}

TEST_CASE("upscaling finds small faces and keeps boxes in frame pixels", "[detect]") {
    const cv::Mat full = media("face.jpg");
    auto o = detector_options("yunet");
    const auto plain = make_face_detector(o)->detect(full);
    o.upscale = 2;
    const auto up = make_face_detector(o)->detect(full);
    REQUIRE(up.size() == plain.size());
    for (const auto& f : plain) {
        float best = 0;
        for (const auto& g : up) best = std::max(best, iou(f.box, g.box));
        CHECK(best > 0.7f);
    }
    // A tenth-size copy (51 px wide): face.jpg's four faces become 5-10 px; YuNet misses some at 1x.
    cv::Mat small;
    cv::resize(full, small, cv::Size(), 0.1, 0.1, cv::INTER_AREA);
    o.min_face = 4;
    o.upscale = 1;
    const auto found_1x = make_face_detector(o)->detect(small).size();
    o.upscale = 3;
    const auto found_3x = make_face_detector(o)->detect(small).size();
    CHECK(found_1x < 4);
    CHECK(found_3x == 4);

    o.upscale = 0.5f;
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("--upscale is 0.5"));
    o.upscale = 1;
    o.max_side = -1;
    CHECK_THROWS_AS(make_face_detector(o), ConfigError);
}

TEST_CASE("the small-face pass adds small faces and keeps every large one, each face once", "[detect]") {
    // A scene with face.jpg's four faces at full size and a quarter-size copy of it (faces of 12-25 px)
    // beside it on a grey background.
    const cv::Mat full = media("face.jpg");
    cv::Mat quarter;
    cv::resize(full, quarter, cv::Size(), 0.25, 0.25, cv::INTER_AREA);
    cv::Mat scene(full.rows, full.cols + quarter.cols + 40, CV_8UC3, cv::Scalar::all(128));
    full.copyTo(scene(cv::Rect(0, 0, full.cols, full.rows)));
    const cv::Rect small_region(full.cols + 20, full.rows / 2, quarter.cols, quarter.rows);
    quarter.copyTo(scene(small_region));

    auto o = detector_options("yunet");
    const auto one = make_face_detector(o)->detect(scene);
    o.small_faces = 2;
    const auto detector = make_face_detector(o);
    const auto two = detector->detect(scene);
    CHECK(detector->name() == "yunet + small-face pass");
    for (const auto& f : one) {  // the first pass's faces are all still there
        float best = 0;
        for (const auto& g : two) best = std::max(best, iou(f.box, g.box));
        CHECK(best > 0.99f);
    }
    int added = 0;
    for (const auto& g : two) {
        bool in_one = false;
        for (const auto& f : one) in_one = in_one || iou(f.box, g.box) > 0.99f;
        if (in_one) continue;
        ++added;
        CHECK(std::min(g.box.width, g.box.height) < 32.0f);
        CHECK((cv::Rect(g.box) & small_region).area() > 0);  // found in the small copy, not invented
    }
    CHECK(added >= 1);
    // The four faces of the quarter-size copy: the first pass alone misses the smallest ones.
    const auto in_copy = [&](const std::vector<Face>& faces) {
        return std::count_if(faces.begin(), faces.end(),
                             [&](const Face& f) { return (cv::Rect(f.box) & small_region).area() > 0; });
    };
    CHECK(in_copy(one) < 4);
    CHECK(in_copy(two) == 4);
    for (std::size_t i = 0; i < two.size(); ++i)
        for (std::size_t j = i + 1; j < two.size(); ++j) CHECK(iou(two[i].box, two[j].box) < 0.5f);

    o.small_faces = 5;
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("--small-faces is 5"));
    o = detector_options("ssd");
    o.small_faces = 2;
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("--small-faces works with"));
}

TEST_CASE("box adjustment moves the centre down by a share of the height and scales about it", "[detect]") {
    const cv::Rect2f box(10, 20, 100, 100);  // centre (60, 70)
    const cv::Rect2f a = adjust_box(box, {0.06f, 0.96f, 0.945f});
    CHECK(a.x == Approx(12.0f));      // 60 - 96 / 2
    CHECK(a.y == Approx(28.75f));     // 70 + 6 - 94.5 / 2
    CHECK(a.width == Approx(96.0f));
    CHECK(a.height == Approx(94.5f));
    CHECK(adjust_box(box, {}) == box);
    CHECK(parse_box_adjust("0.06,0.96,0.945") == BoxAdjust{0.06f, 0.96f, 0.945f});
    CHECK(parse_box_adjust("0,1,1") == BoxAdjust{});
    for (const char* bad : {"", "0.06", "0.06,0.96", "0.06,0.96,0.945,1", "0,0,1", "2,1,1", "a,b,c", "0,1,1x"})
        CHECK_THROWS_WITH(parse_box_adjust(bad), Catch::Contains("expected SHIFT,WIDTH,HEIGHT"));
    CHECK(default_box_adjust(FaceDetectorKind::yunet) == BoxAdjust{0.06f, 0.96f, 0.945f});
    CHECK(default_box_adjust(FaceDetectorKind::ssd) == BoxAdjust{});
    // Fitting finds an adjustment back from the boxes it made; combining two is applying both.
    const BoxAdjust made{0.06f, 0.96f, 0.945f};
    std::vector<std::pair<cv::Rect2f, cv::Rect2f>> pairs;
    for (float s : {30.0f, 50.0f, 80.0f, 120.0f, 200.0f}) {
        const cv::Rect2f d(s, 2 * s, s, 1.2f * s);
        pairs.emplace_back(d, adjust_box(d, made));
    }
    const BoxAdjust fit = fit_box_adjust(pairs);
    CHECK(fit.shift_down == Approx(0.06f));
    CHECK(fit.width == Approx(0.96f));
    CHECK(fit.height == Approx(0.945f));
    CHECK(fit_box_adjust({}) == BoxAdjust{});
    const BoxAdjust then{0.1f, 1.1f, 0.9f};
    const cv::Rect2f twice = adjust_box(adjust_box(box, made), then), once = adjust_box(box, combine(made, then));
    CHECK(once.y == Approx(twice.y));
    CHECK(once.x == Approx(twice.x));
    CHECK(once.height == Approx(twice.height));

    // Applied to what the detector returns, before the size filter.
    auto o = detector_options("yunet");
    o.box_adjust = BoxAdjust{};
    const auto raw = make_face_detector(o)->detect(media("face.jpg"));
    o.box_adjust.reset();
    const auto adjusted = make_face_detector(o)->detect(media("face.jpg"));
    REQUIRE(raw.size() == adjusted.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const cv::Rect2f expected = adjust_box(raw[i].box, default_box_adjust(FaceDetectorKind::yunet));
        CHECK(adjusted[i].box.y == Approx(expected.y));
        CHECK(adjusted[i].box.height == Approx(expected.height));
    }
    o.box_adjust = BoxAdjust{0, -1, 1};
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("box adjustment 0,-1,1"));
}

TEST_CASE("fused passes: one face per overlapping group, its score shared by the passes that found it", "[detect]") {
    const std::vector<Face> first{{cv::Rect2f(0, 0, 10, 10), 0.8f}};
    const std::vector<Face> second{{cv::Rect2f(2, 0, 10, 10), 0.4f}, {cv::Rect2f(50, 50, 10, 10), 0.9f}};
    const auto fused = fuse_passes({first, second});
    REQUIRE(fused.size() == 2);
    CHECK(fused[0].score == Approx(0.6f));        // (0.8 + 0.4) / 2 passes
    CHECK(fused[0].box.x == Approx(0.8f / 1.2f));  // (0 x 0.8 + 2 x 0.4) / 1.2
    CHECK(fused[0].box.width == Approx(10.0f));
    CHECK(fused[1].score == Approx(0.45f));       // found by one pass of two
    CHECK(fused[1].box == cv::Rect2f(50, 50, 10, 10));
    CHECK(fuse_passes({first}).at(0).score == Approx(0.8f));
    CHECK(fuse_passes({{}, {}}).empty());
}

TEST_CASE("the mirrored pass (--flip): every clear face keeps its place and its score", "[detect]") {
    auto o = detector_options("yunet");
    const cv::Mat photo = media("pic2.jpg");  // four faces across the frame, so a wrong mirror would show
    const auto plain = make_face_detector(o)->detect(photo);
    o.flip = true;
    const auto flipped = make_face_detector(o)->detect(photo);
    int clear = 0;
    for (const auto& f : plain) {
        if (f.score < 0.9f) continue;
        ++clear;
        const auto g = std::max_element(flipped.begin(), flipped.end(), [&](const Face& a, const Face& b) {
            return iou(f.box, a.box) < iou(f.box, b.box);
        });
        REQUIRE(g != flipped.end());
        CHECK(iou(f.box, g->box) > 0.7f);
        CHECK(g->score > 0.8f);  // found by both passes; a mirrored box in the wrong place would halve it
    }
    CHECK(clear >= 3);
    o.extra_sides = {800};
    CHECK(make_face_detector(o)->detect(photo).size() >= 3);
    o.extra_sides = {10};
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("--extra-side is 10"));
    o = detector_options("ssd");
    o.flip = true;
    CHECK_THROWS_WITH(make_face_detector(o), Catch::Contains("--flip and --extra-side work with --detector yunet"));
}

TEST_CASE("face crops are padded squares that reach below the box, replicated past the edge", "[detect]") {
    const cv::Rect r = face_crop_rect(cv::Rect2f(100, 100, 80, 100), 0.2f, 0.05f);
    CHECK(r.width == 120);
    CHECK(r.height == 120);
    CHECK(r.x == 80);
    CHECK(r.br().y >= 100 + 100 + 5 + 5);  // the chin below the box bottom is in
    CHECK(r.y <= 100);

    cv::Mat img(100, 100, CV_8UC3, cv::Scalar(10, 20, 30));
    img(cv::Rect(0, 0, 10, 10)).setTo(cv::Scalar(200, 200, 200));
    const cv::Mat crop = crop_padded(img, cv::Rect(-20, -20, 50, 50));
    CHECK(crop.size() == cv::Size(50, 50));
    CHECK(crop.at<cv::Vec3b>(0, 0) == cv::Vec3b(200, 200, 200));   // replicated corner
    CHECK(crop.at<cv::Vec3b>(45, 45) == cv::Vec3b(10, 20, 30));
    CHECK_THROWS_AS(crop_padded(img, cv::Rect(200, 200, 10, 10)), Error);
    CHECK(iou(cv::Rect2f(0, 0, 10, 10), cv::Rect2f(5, 0, 10, 10)) == Approx(50.0 / 150));
}

TEST_CASE("class names map to labels and colours people expect", "[detect]") {
    CHECK(display_name("with_mask") == "Mask");
    CHECK(display_name("without_mask") == "No Mask");
    CHECK(display_name("mask_weared_incorrect") == "Mask incorrect");
    CHECK(display_name("Without-Mask") == "No Mask");
    CHECK(display_name("helmet") == "helmet");
    CHECK(face_label("with_mask", 0.9871f) == "Mask 98.7%");
    CHECK(label_kind("mask_weared_incorrect") == LabelKind::other);
    AnnotateStyle style;
    CHECK(color_for(LabelKind::mask, style) == cv::Scalar(0, 200, 0));
    CHECK(parse_color("#FF8000") == cv::Scalar(0, 128, 255));
    CHECK(parse_color("0,0,255") == cv::Scalar(255, 0, 0));
    CHECK_THROWS_AS(parse_color("orange"), ConfigError);
    CHECK_THROWS_AS(parse_color("300,0,0"), ConfigError);

    cv::Mat img(200, 200, CV_8UC3, cv::Scalar::all(0));
    draw_face(img, cv::Rect(50, 60, 80, 80), "Mask 99.0%", style.mask, style);
    const cv::Vec3b edge = img.at<cv::Vec3b>(100, 50);  // left edge of the box (anti-aliased)
    CHECK((edge[0] < 30 && edge[1] > 150 && edge[2] < 30));
    CHECK(cv::countNonZero(img.reshape(1)(cv::Rect(0, 30, 600, 30))) > 0);  // the tag above it
}

TEST_CASE("latency stats are nearest-rank percentiles", "[detect]") {
    std::vector<double> v;
    for (int i = 100; i >= 1; --i) v.push_back(i);
    const LatencyStats s = latency_stats(v);
    CHECK(s.p50 == 50);
    CHECK(s.p95 == 95);
    CHECK(s.mean == Approx(50.5));
    CHECK(latency_stats({}).p95 == 0);
}

TEST_CASE("bad sources say what was tried", "[detect]") {
    CHECK_THROWS_WITH(open_video("/nonexistent/clip.mp4"), Catch::Contains("no such file"));
    CHECK_THROWS_WITH(open_video(test::shared_dir() / "media" / "SOURCES.md"),
                      Catch::Contains("tried FFMPEG"));
    CHECK_THROWS_WITH(open_camera(63), Catch::Contains("camera 63: cannot open it (tried"));
    // A closed local port: FFmpeg gives up at once (connection refused), no timeout needed.
    SourceOptions so;
    so.timeout_ms = 3000;
    CHECK_THROWS_AS(open_stream("rtsp://127.0.0.1:1/none", so), IoError);
    CHECK_THROWS_WITH(open_stream("rtsp://127.0.0.1:1/none", so), Catch::Contains("stream rtsp://127.0.0.1:1/none"));
    CHECK_THROWS_AS(list_images("/nonexistent"), DataError);
}

TEST_CASE("the demo clip as a file ends, as a live stream it is reopened after a drop", "[detect]") {
    const fs::path clip = test::shared_dir() / "media" / "demo.mp4";
    auto file = open_video(clip);
    CHECK_FALSE(file->live());
    CHECK(file->fps() == Approx(15));
    Frame f;
    int n = 0;
    double last_time = -1;
    while (file->read(f)) {
        CHECK(f.bgr.size() == cv::Size(640, 420));
        CHECK(f.time > last_time);
        last_time = f.time;
        ++n;
    }
    CHECK(n == 65);
    CHECK(f.index == 64);

    // The "stream" ends after 65 frames, as a camera that goes away: reopened once, then given up.
    std::vector<std::string> messages;
    SourceOptions so;
    so.max_reconnects = 1;
    so.reconnect_initial = 0.05;
    so.on_message = [&](const std::string& m) { messages.push_back(m); };
    auto stream = open_stream(clip.string(), so);
    CHECK(stream->live());
    n = 0;
    while (stream->read(f)) ++n;
    CHECK(n == 130);
    CHECK(stream->reconnects() == 1);
    REQUIRE(messages.size() >= 2);
    CHECK_THAT(messages.front(), Catch::Contains("reopening in"));
}

TEST_CASE("the video writer renames into place at the end and leaves nothing when abandoned", "[detect]") {
    test::TempDir tmp("maskctl-detect-writer");
    const cv::Mat frame(120, 160, CV_8UC3, cv::Scalar(0, 100, 200));
    {
        VideoFileWriter w(tmp / "a.mp4", 10, frame.size());
        for (int i = 0; i < 5; ++i) w.write(frame);
        CHECK_FALSE(fs::exists(tmp / "a.mp4"));  // only the temporary while writing
        w.finish();
    }
    cv::VideoCapture cap((tmp / "a.mp4").string());
    REQUIRE(cap.isOpened());
    CHECK(cap.get(cv::CAP_PROP_FRAME_COUNT) == 5);
    {
        VideoFileWriter w(tmp / "b.avi", 10, frame.size());
        w.write(frame);
    }
    CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 1);
    CHECK_THROWS_AS(VideoFileWriter(tmp / "missing" / "c.mp4", 10, frame.size()), IoError);
}

TEST_CASE("violation commands run in the background with the event in their environment", "[detect]") {
    test::TempDir tmp("maskctl-detect-cmd");
    const fs::path out = tmp / "out.txt";
    const fs::path go = tmp / "go";
    // The command waits (up to 30 s) until the test lets it go: start() must return before that.
    CommandRunner ok("for i in $(seq 600); do [ -e '" + go.string() + "' ] && break; sleep 0.05; done; " +
                     "echo \"$MASKCTL_TRACK $MASKCTL_LABEL\" > '" + out.string() + "'");
    ok.start({{"MASKCTL_TRACK", "7"}, {"MASKCTL_LABEL", "without_mask"}});
    CHECK(ok.running() == 1);  // started in the background, not waited for
    CHECK_FALSE(fs::exists(out));
    { std::ofstream(go) << "go"; }
    CHECK(ok.wait(5.0) == 0);
    std::ifstream in(out);
    std::string line;
    std::getline(in, line);
    CHECK(line == "7 without_mask");
    CHECK(ok.failed() == 0);

    CommandRunner bad("exit 3");
    bad.start();
    bad.wait(5.0);
    CHECK(bad.failed() == 1);
    CHECK_THROWS_AS(CommandRunner(""), ConfigError);
}
