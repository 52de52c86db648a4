// maskctl val, detect --save-txt/--save-json and data crops on real photos with real face boxes (ten
// photos of the real-world set's val split, copied into a temporary VOC folder), with a real model.
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "maskctl/data/annotations.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/detect/face_detector.hpp"
#include "detect_model.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;

namespace {

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// The first ten photos of the val split, as images/ + annotations/.
void make_fixture(const fs::path& root) {
    const fs::path real = test::shared_dir() / "data" / "face-mask-realworld";
    std::ifstream in(real / "split.csv");
    std::stringstream text;
    text << in.rdbuf();
    int n = 0;
    fs::create_directories(root / "images");
    fs::create_directories(root / "annotations");
    for (const auto& row : parse_csv(text.str(), "split.csv")) {
        if (row.size() < 2 || row[1] != "val" || n == 10) continue;
        fs::copy_file(real / "images" / row[0], root / "images" / row[0]);
        const fs::path xml = fs::path(row[0]).replace_extension(".xml");
        fs::copy_file(real / "annotations" / xml, root / "annotations" / xml);
        ++n;
    }
    REQUIRE(n == 10);
}

nlohmann::json read_json(const fs::path& file) {
    std::ifstream in(file);
    REQUIRE(in);
    return nlohmann::json::parse(in);
}

std::string detector_flags() { return " --face-models " + quoted(test::shared_dir() / "models" / "face"); }

}  // namespace

TEST_CASE("val runs the detect path on VOC photos, and saved txt and json predictions score the same", "[val]") {
    test::TempDir dir("maskctl-val");
    const fs::path data = dir / "data";
    make_fixture(data);
    const std::string model = quoted(test::mask_model());

    auto [code, out] = test::run_cli("val " + quoted(data) + " -m " + model + detector_flags() + " --json " +
                                         quoted(dir / "direct.json") + " --out " + quoted(dir / "run") + " --errors " +
                                         quoted(dir / "errors") + " -q",
                                     dir / "val.log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK(out.find("mAP50-95") != std::string::npos);
    CHECK(out.find("face detector recall by face size") != std::string::npos);
    for (const char* f : {"report.txt", "PR_curve.png", "confusion_matrix.png"}) CHECK(fs::is_regular_file(dir / "run" / f));
    const nlohmann::json direct = read_json(dir / "direct.json");
    CHECK(direct["images"] == 10);
    const std::int64_t faces = direct["faces"]["truth"];
    CHECK(faces > 10);
    // The model has 2 classes; the set's third class is reported apart, not dropped.
    REQUIRE(direct["model_classes"].size() == 2);
    CHECK(direct["missing_classes"][0]["name"] == "mask_weared_incorrect");
    // A real detector on real photos: it finds most faces, and the classifier gets most of them right.
    CHECK(direct["faces"]["recall"].get<double>() > 0.5);
    CHECK(direct["masked"]["accuracy"].get<double>() > 0.6);
    // Where the boxes sit against the labels, and the --box-adjust that would centre them.
    CHECK(direct["box_fit"]["faces"].get<int>() >= 5);
    CHECK(direct["box_fit"]["box_adjust"].size() == 3);
    CHECK(out.find("to match them: --box-adjust") != std::string::npos);
    // Every photo with a mistake was drawn; not more photos than there are.
    std::size_t drawn = 0;
    for (const auto& e : fs::directory_iterator(dir / "errors")) drawn += e.path().extension() == ".jpg";
    CHECK(drawn >= 1);
    CHECK(drawn <= 10);

    std::tie(code, out) = test::run_cli("detect -m " + model + detector_flags() + " --image " + quoted(data / "images") +
                                            " --save-txt " + quoted(dir / "txt") + " --save-json " +
                                            quoted(dir / "pred.json") + " --out " + quoted(dir / "annotated") + " -q",
                                        dir / "detect.log");
    REQUIRE(code == 0);
    CHECK(fs::is_regular_file(dir / "txt" / "classes.txt"));
    const nlohmann::json pred = read_json(dir / "pred.json");
    REQUIRE(pred["images"].size() == 10);
    CHECK(pred["images"][0]["faces"][0]["probabilities"].size() == 2);

    {  // --save-json round trip: the same report
        std::tie(code, out) = test::run_cli("val " + quoted(data) + " --predictions " + quoted(dir / "pred.json") +
                                                " --json " + quoted(dir / "saved.json") + " --out " + quoted(dir / "r2"),
                                            dir / "val2.log");
        INFO(out);
        REQUIRE(code == 0);
        nlohmann::json saved = read_json(dir / "saved.json"), expected = direct;
        saved.erase("source"), expected.erase("source");
        // The box fit from boxes rounded to 0.01 px; and saved predictions cannot say how they were adjusted.
        CHECK(saved["box_fit"]["faces"] == expected["box_fit"]["faces"]);
        CHECK(saved["box_fit"]["height"].get<double>() == Approx(expected["box_fit"]["height"].get<double>()).epsilon(1e-3));
        CHECK(!saved["box_fit"].contains("box_adjust"));
        saved.erase("box_fit"), expected.erase("box_fit");
        CHECK(saved.dump(1) == expected.dump(1));
    }
    {  // --save-txt round trip: the same counts, per-class scores and matches
        std::tie(code, out) = test::run_cli("val " + quoted(data) + " --predictions " + quoted(dir / "txt") + " --json " +
                                                quoted(dir / "txt.json") + " --out " + quoted(dir / "r3"),
                                            dir / "val3.log");
        INFO(out);
        REQUIRE(code == 0);
        const nlohmann::json txt = read_json(dir / "txt.json");
        for (const char* key : {"per_class", "confusion", "classifier", "masked", "sizes", "missing_classes"})
            CHECK(txt[key].dump() == direct[key].dump());
        // One saved score per box: the face detector's own ranking is gone, its counts are not.
        for (const char* key : {"truth", "detections", "true_positives"}) CHECK(txt["faces"][key] == direct["faces"][key]);
    }
}

TEST_CASE("data crops cuts every labelled face exactly as the detect path cuts it, by split", "[val]") {
    test::TempDir dir("maskctl-crops");
    const fs::path data = dir / "data";
    make_fixture(data);
    {  // a split file: 7 photos in train, 3 in test, none in val
        std::ofstream csv(data / "split.csv");
        csv << "file,split\n";
        int k = 0;
        for (const auto& e : fs::directory_iterator(data / "images"))
            csv << e.path().filename().string() << "," << (k++ < 7 ? "train" : "test") << "\n";
    }
    auto [code, out] = test::run_cli("data crops " + quoted(data) + " --out " + quoted(dir / "crops"), dir / "crops.log");
    INFO(out);
    REQUIRE(code == 0);
    CHECK(out.find("train: 7 images") != std::string::npos);
    CHECK(!fs::exists(dir / "crops" / "val"));  // no photo in val: no folder the trainer would refuse

    DetectionDatasetOptions train;
    train.split = "train";
    const DetectionDataset d = open_detection_dataset(data, train);
    std::map<std::string, std::size_t> expected, written;
    for (const auto& img : d.images)
        for (const auto& b : img.boxes) ++expected[d.class_names[static_cast<std::size_t>(b.label)]];
    for (const auto& e : fs::recursive_directory_iterator(dir / "crops" / "train"))
        if (e.is_regular_file()) ++written[e.path().parent_path().filename().string()];
    CHECK(written == expected);

    // The first face of the first photo, pixel for pixel.
    const auto& first = d.images[0];
    REQUIRE(!first.boxes.empty());
    cv::Mat bgr;
    cv::cvtColor(decode_image(first.image), bgr, cv::COLOR_RGB2BGR);
    const fs::path crop_file = dir / "crops" / "train" / d.class_names[static_cast<std::size_t>(first.boxes[0].label)] /
                               (first.image.stem().string() + "_0.png");
    const cv::Mat crop = cv::imread(crop_file.string());
    const cv::Mat expected_crop = face_crop(bgr, first.boxes[0].box, 0.2f, 0.05f);
    REQUIRE(crop.size() == expected_crop.size());
    CHECK(cv::norm(crop, expected_crop, cv::NORM_INF) == 0);
}
