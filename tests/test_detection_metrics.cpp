// Detection metrics against cases computed by hand (and as pycocotools computes them).
#include <catch2/catch.hpp>

#include "maskctl/detect/detection_metrics.hpp"

using namespace maskctl;

namespace {

const std::vector<std::string> kModel2{"with_mask", "without_mask"};
const std::vector<std::string> kData3{"mask_weared_incorrect", "with_mask", "without_mask"};

EvalDetection det(cv::Rect2f box, int label, float score, float confidence = 1.0f) {
    return {box, label, score, confidence};
}

}  // namespace

TEST_CASE("AP of a known precision-recall curve, 101-point interpolation", "[detection]") {
    // 3 faces; detections by score: hit, miss, hit, miss, hit.
    // recall 1/3 1/3 2/3 2/3 1, precision 1 .5 .667 .5 .6 -> envelope 1 .667 .667 .6 .6
    // thresholds 0..0.33 (34) -> 1, 0.34..0.66 (33) -> 2/3, 0.67..1 (34) -> 0.6.
    const PrCurve c = pr_curve({{0.9f, true}, {0.8f, false}, {0.7f, true}, {0.6f, false}, {0.5f, true}}, 3);
    REQUIRE(c.recall.size() == 5);
    CHECK(c.precision[1] == Approx(0.5));
    CHECK(average_precision(c, 3) == Approx((34 * 1.0 + 33 * (2.0 / 3) + 34 * 0.6) / 101));
    // Order of the input does not matter, only the scores.
    const PrCurve shuffled = pr_curve({{0.5f, true}, {0.7f, true}, {0.9f, true}, {0.6f, false}, {0.8f, false}}, 3);
    CHECK(average_precision(shuffled, 3) == Approx(average_precision(c, 3)));
    // Perfect detections: AP 1; a face never found caps recall: thresholds past 0.5 get 0.
    CHECK(average_precision(pr_curve({{0.9f, true}, {0.8f, true}}, 2), 2) == Approx(1.0));
    CHECK(average_precision(pr_curve({{0.9f, true}}, 2), 2) == Approx(51.0 / 101));
    CHECK(average_precision(pr_curve({}, 2), 2) == 0.0);
    CHECK(average_precision(pr_curve({{0.9f, false}}, 0), 0) == -1.0);  // undefined without faces
}

TEST_CASE("IoU matching: highest score first, a duplicate is a false positive, ignored boxes neither count nor hurt",
          "[detection]") {
    const std::vector<cv::Rect2f> gts{{0, 0, 10, 10}, {100, 0, 10, 10}};
    SECTION("a duplicate of a matched face") {
        const BoxMatch m = match_boxes(gts, {false, false}, {{0, 0, 10, 10}, {1, 0, 10, 10}}, 0.5f);
        CHECK(m.det_to_gt == std::vector<int>{0, -1});
        CHECK(m.gt_to_det == std::vector<int>{0, -1});
        CHECK_FALSE(m.det_ignored[1]);
    }
    SECTION("a detection takes the best-overlapping free face") {
        const std::vector<cv::Rect2f> close{{0, 0, 10, 10}, {4, 0, 10, 10}};
        // Detection 0 overlaps face 1 best (IoU 0.82 vs 0.54); detection 1 then takes face 0.
        const BoxMatch m = match_boxes(close, {false, false}, {{3, 0, 10, 10}, {0, 0, 10, 10}}, 0.5f);
        CHECK(m.det_to_gt == std::vector<int>{1, 0});
    }
    SECTION("ignored faces are taken only when no counted one qualifies") {
        const BoxMatch m = match_boxes({{0, 0, 10, 10}, {0, 0, 10, 10}}, {true, false}, {{0, 0, 10, 10}}, 0.5f);
        CHECK(m.det_to_gt[0] == 1);
        CHECK_FALSE(m.det_ignored[0]);
        const BoxMatch only_ignored = match_boxes({{0, 0, 10, 10}}, {true}, {{0, 0, 10, 10}}, 0.5f);
        CHECK(only_ignored.det_ignored[0]);
    }
    SECTION("IoU exactly at the threshold matches") {
        // A 10x10 face and its top half: IoU = 50 / 100 = 0.5.
        const BoxMatch m = match_boxes({{0, 0, 10, 10}}, {false}, {{0, 0, 10, 5}}, 0.5f);
        CHECK(m.det_to_gt[0] == 0);
    }
    SECTION("unmatched small detections may be ignored") {
        const BoxMatch m = match_boxes(gts, {false, false}, {{50, 50, 8, 8}, {0, 0, 10, 10}}, 0.5f, {true, false});
        CHECK(m.det_ignored[0]);
        CHECK(m.det_to_gt[1] == 0);
    }
}

TEST_CASE("a whole evaluation by hand: per class, all, faces, sizes, confusion", "[detection]") {
    std::vector<EvalImage> images(3);
    // Image 0: a with_mask face found and right, a without_mask face found but called with_mask,
    // a duplicate of the first, and a 12 px face nobody found.
    images[0].truth = {{{0, 0, 40, 40}, 1}, {{100, 0, 40, 40}, 2}, {{200, 0, 12, 12}, 2}};
    images[0].detections = {det({0, 0, 40, 40}, 0, 0.9f, 0.9f), det({100, 0, 40, 40}, 0, 0.8f, 0.6f),
                            det({2, 2, 40, 40}, 0, 0.5f, 0.9f)};
    // Image 1: empty (no face, no detection). Image 2: a false alarm of 30 px and a small one of 10 px.
    images[2].detections = {det({0, 0, 30, 30}, 1, 0.7f, 0.8f), det({50, 50, 10, 10}, 1, 0.99f, 0.99f)};

    const DetectionReport r = evaluate_detections(images, kData3, kModel2);
    CHECK(r.images == 3);
    // Faces, class-agnostic by face score: 0.9 hit, 0.8 hit, 0.7 false alarm, 0.5 duplicate; 10 px one ignored.
    CHECK(r.faces.truth == 3);
    CHECK(r.faces.detections == 4);
    CHECK(r.faces.true_positives == 2);
    CHECK(r.faces.precision == Approx(0.5));
    CHECK(r.faces.recall == Approx(2.0 / 3));
    CHECK(r.ignored_detections == 1);
    // recall 1/3, 2/3 at precision 1, 1 -> 67 thresholds (0..0.66) at 1.
    CHECK(r.faces.ap50 == Approx(67.0 / 101));
    // with_mask (class 0 of the model): score = face x class: 0.81 hit, 0.48 false (face is without_mask), 0.45 duplicate.
    const DetectionScores& with = r.per_class[0];
    CHECK(with.truth == 1);
    CHECK(with.detections == 3);
    CHECK(with.true_positives == 1);
    CHECK(with.ap50 == Approx(1.0));
    // without_mask: 2 faces, one false alarm (0.56), the 10 px one ignored.
    const DetectionScores& without = r.per_class[1];
    CHECK(without.truth == 2);
    CHECK(without.detections == 1);
    CHECK(without.true_positives == 0);
    CHECK(without.ap50 == 0.0);
    CHECK(r.all.ap50 == Approx(0.5));  // mean over the classes with faces
    CHECK(r.all.truth == 3);
    // Size buckets (shorter side): 12 px face in <16, two 40 px faces in 24-48.
    REQUIRE(r.sizes.size() == 5);
    CHECK(r.sizes[0].name == "<16");
    CHECK((r.sizes[0].truth == 1 && r.sizes[0].found == 0));
    CHECK((r.sizes[2].name == "24-48" && r.sizes[2].truth == 2 && r.sizes[2].found == 2));
    CHECK((r.small.truth == 1 && r.large.truth == 2 && r.large.recall == Approx(1.0)));
    // Confusion: rows dataset classes + background, columns model classes + missed.
    CHECK(r.confusion_rows.back() == "background");
    CHECK(r.confusion_columns.back() == "missed");
    CHECK(r.confusion[1] == std::vector<std::int64_t>{1, 0, 0});  // with_mask -> with_mask
    CHECK(r.confusion[2] == std::vector<std::int64_t>{1, 0, 1});  // without_mask: one called with_mask, one missed
    CHECK(r.confusion[3] == std::vector<std::int64_t>{1, 1, 0});  // background: the duplicate and the false alarm
    CHECK(r.classifier.total == 2);
    CHECK(r.classifier.accuracy == Approx(0.5));
    CHECK(r.masked.accuracy == Approx(0.5));
    CHECK(r.missing.size() == 1);  // mask_weared_incorrect is reported even with no face of it
    const std::string text = detection_report_text(r);
    CHECK(text.find("mAP50-95") != std::string::npos);
    CHECK(text.find("mask_weared_incorrect: not a class of the model") != std::string::npos);
    CHECK(to_json(r)["per_class"]["with_mask"]["ap50"].get<double>() == Approx(1.0));
}

TEST_CASE("a class the model lacks is reported apart, or scored as the class it is mapped to", "[detection]") {
    std::vector<EvalImage> images(1);
    images[0].truth = {{{0, 0, 50, 50}, 0}, {{100, 0, 50, 50}, 2}};  // incorrect, without_mask
    images[0].detections = {det({0, 0, 50, 50}, 1, 0.9f), det({100, 0, 50, 50}, 1, 0.8f)};
    const DetectionReport apart = evaluate_detections(images, kData3, kModel2);
    // The incorrect face is neither a hit nor a false alarm for without_mask.
    CHECK(apart.per_class[1].truth == 1);
    CHECK(apart.per_class[1].detections == 1);
    CHECK(apart.per_class[1].precision == Approx(1.0));
    REQUIRE(apart.missing.size() == 1);
    CHECK(apart.missing[0].name == "mask_weared_incorrect");
    CHECK((apart.missing[0].truth == 1 && apart.missing[0].found == 1));
    CHECK(apart.missing[0].labelled_as == std::vector<std::int64_t>{0, 1});
    CHECK(apart.classifier.total == 1);  // only classes the model has
    CHECK(apart.masked.total == 2);      // masked vs not: incorrect counts as not masked, and was called so
    CHECK(apart.masked.accuracy == Approx(1.0));
    CHECK(apart.faces.truth == 2);       // the face detector is scored on every face

    DetectionEvalOptions mapped;
    mapped.class_map = {{"mask_weared_incorrect", "without_mask"}};
    const DetectionReport joined = evaluate_detections(images, kData3, kModel2, mapped);
    CHECK(joined.missing.empty());
    CHECK(joined.per_class[1].truth == 2);
    CHECK(joined.per_class[1].true_positives == 2);
    CHECK(joined.classifier.total == 2);
    mapped.class_map = {{"mask_weared_incorrect", "no_such_class"}};
    CHECK_THROWS_WITH(evaluate_detections(images, kData3, kModel2, mapped),
                      Catch::Contains("'no_such_class' is not a class of the model"));
}

TEST_CASE("ignore_below 0 counts every unmatched detection; no images gives empty, undefined scores", "[detection]") {
    std::vector<EvalImage> images(1);
    images[0].truth = {{{0, 0, 40, 40}, 1}};
    images[0].detections = {det({0, 0, 40, 40}, 0, 0.9f), det({60, 60, 10, 10}, 0, 0.95f)};
    DetectionEvalOptions all;
    all.ignore_below = 0;
    const DetectionReport r = evaluate_detections(images, kData3, kModel2, all);
    CHECK(r.faces.detections == 2);
    CHECK(r.faces.precision == Approx(0.5));
    CHECK(r.faces.ap50 == Approx(1.0 / 2));  // the false alarm ranks first: precision 1/2 at recall 1
    CHECK(evaluate_detections(images, kData3, kModel2).faces.precision == Approx(1.0));

    const DetectionReport none = evaluate_detections({}, kData3, kModel2);
    CHECK(none.faces.truth == 0);
    CHECK(none.faces.ap50 == -1.0);
    CHECK(none.all.ap50 == -1.0);
    CHECK(detection_report_text(none).find(" - ") != std::string::npos);
}
