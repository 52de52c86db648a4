// Detection datasets: Pascal VOC and YOLO folders made here, with their splits, and their errors.
#include <fstream>

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "data_helpers.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/annotations.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using namespace maskctl;

namespace {

void write_text(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
}

std::string voc(const std::vector<std::tuple<std::string, int, int, int, int>>& objects, int difficult_index = -1) {
    std::string xml = "<annotation><filename>x.png</filename><size><width>200</width><height>100</height>"
                      "<depth>3</depth></size>";
    for (std::size_t i = 0; i < objects.size(); ++i) {
        const auto& [name, x1, y1, x2, y2] = objects[i];
        xml += "<object><name>" + name + "</name><difficult>" + (static_cast<int>(i) == difficult_index ? "1" : "0") +
               "</difficult><bndbox><xmin>" + std::to_string(x1) + "</xmin><ymin>" + std::to_string(y1) +
               "</ymin><xmax>" + std::to_string(x2) + "</xmax><ymax>" + std::to_string(y2) + "</ymax></bndbox></object>";
    }
    return xml + "</annotation>";
}

// images/{a,b,c}.png (200x100); a: two faces, b: one (difficult), c: no XML. split.csv: a train, b+c test.
void make_voc(const fs::path& root) {
    for (const char* n : {"a", "b", "c"}) test::write_image(root / "images" / (std::string(n) + ".png"), 200, 100);
    write_text(root / "annotations" / "a.xml", voc({{"without_mask", 10, 20, 50, 70}, {"with_mask", 100, 10, 130, 40}}));
    write_text(root / "annotations" / "b.xml", voc({{"mask_weared_incorrect", 0, 0, 20, 20}}, 0));
    write_text(root / "split.csv", "file,split\na.png,train\nb.png,test\nc.png,test\n");
}

}  // namespace

TEST_CASE("a Pascal VOC folder: classes sorted, boxes in pixels, difficult kept, images without XML", "[annotations]") {
    test::TempDir dir;
    make_voc(dir.path());
    const DetectionDataset d = open_detection_dataset(dir.path());
    CHECK(d.format == "voc");
    CHECK(d.class_names == std::vector<std::string>{"mask_weared_incorrect", "with_mask", "without_mask"});
    REQUIRE(d.images.size() == 3);
    CHECK(d.boxes() == 3);
    const auto& a = d.images[0];
    CHECK(a.image.filename() == "a.png");
    REQUIRE(a.boxes.size() == 2);
    CHECK(a.boxes[0].label == 2);
    CHECK(a.boxes[0].box == cv::Rect2f(10, 20, 40, 50));
    CHECK(a.boxes[1].label == 1);
    CHECK(d.images[1].boxes[0].difficult);
    CHECK(d.images[2].boxes.empty());
    CHECK(d.images[2].annotation.empty());
    CHECK(in_pixels(a, {200, 100})[0].box == a.boxes[0].box);  // VOC boxes are pixels already

    DetectionDatasetOptions test_split;
    test_split.split = "test";
    const DetectionDataset t = open_detection_dataset(dir.path(), test_split);
    REQUIRE(t.images.size() == 2);
    CHECK(t.images[0].image.filename() == "b.png");
    CHECK(t.class_names == std::vector<std::string>{"mask_weared_incorrect"});  // only what the split holds
    test_split.class_names = {"with_mask", "without_mask", "mask_weared_incorrect"};
    CHECK(open_detection_dataset(dir.path(), test_split).images[0].boxes[0].label == 2);
}

TEST_CASE("a detection dataset with a symlink loop and a named pipe among its photos: reported and skipped",
          "[annotations][reliability]") {
    test::TempDir dir;
    make_voc(dir.path());
    fs::create_symlink("loop.png", dir / "images" / "loop.png");
    REQUIRE(::mkfifo((dir / "images" / "pipe.png").c_str(), 0644) == 0);
    const DetectionDataset d = open_detection_dataset(dir.path());
    CHECK(d.images.size() == 3);
    REQUIRE(d.bad_files.total == 2);
    CHECK_THAT(d.bad_files.summary(), Catch::Contains("loop.png: symlink loop") &&
                                          Catch::Contains("pipe.png: a named pipe (FIFO), not a file"));
}

TEST_CASE("a YOLO folder: classes from classes.txt or data.yaml, normalized boxes, pre-split folders", "[annotations]") {
    test::TempDir dir;
    const fs::path root = dir.path();
    test::write_image(root / "images" / "train" / "p.jpg", 200, 100, cv::Scalar(1, 2, 3), ".jpg");
    test::write_image(root / "images" / "val" / "q.png", 200, 100);
    write_text(root / "labels" / "train" / "p.txt", "1 0.25 0.5 0.1 0.2\n\n0 0.5 0.5 1 1 0.75 7\n");
    SECTION("classes.txt") {
        write_text(root / "classes.txt", "with_mask\nwithout_mask\n");
        const DetectionDataset all = open_detection_dataset(root);
        CHECK(all.format == "yolo");
        REQUIRE(all.images.size() == 2);
        const auto& p = all.images[0];
        REQUIRE(p.boxes.size() == 2);
        CHECK(p.normalized);
        const auto px = in_pixels(p, {200, 100});
        CHECK(px[0].label == 1);
        CHECK(px[0].box.x == Approx(40));
        CHECK(px[0].box.y == Approx(40));
        CHECK(px[0].box.width == Approx(20));
        CHECK(px[0].box.height == Approx(20));
        CHECK(px[1].confidence == Approx(0.75f));
        CHECK(px[1].track == 7);
        DetectionDatasetOptions val;
        val.split = "validation";
        const DetectionDataset v = open_detection_dataset(root, val);
        REQUIRE(v.images.size() == 1);
        CHECK(v.images[0].boxes.empty());  // no label file: a photo without faces
        CHECK(v.images_dir.filename() == "val");
    }
    SECTION("data.yaml in its three forms") {
        for (const std::string yaml : {"path: x\nnames: [with_mask, 'without_mask']\n",
                                       "names:\n  - with_mask\n  - without_mask\nnc: 2\n",
                                       "names:\n  0: with_mask\n  1: \"without_mask\"\n"}) {
            write_text(root / "data.yaml", yaml);
            CHECK(read_class_names(root) == std::vector<std::string>{"with_mask", "without_mask"});
        }
    }
    SECTION("without names it says where to put them") {
        CHECK_THROWS_WITH(open_detection_dataset(root), Catch::Contains("classes.txt"));
        DetectionDatasetOptions named;
        named.class_names = {"a", "b"};
        CHECK(open_detection_dataset(root, named).class_names == named.class_names);
    }
}

TEST_CASE("yolo_line writes what read_yolo reads, clipped to the image", "[annotations]") {
    test::TempDir dir;
    LabelledBox b;
    b.box = {-10, 20, 60, 40};  // reaches past the left edge
    b.label = 1;
    b.confidence = 0.5f;
    const std::string line = yolo_line(b, {200, 100});
    CHECK(line == "1 0.125000 0.400000 0.250000 0.400000 0.500000");
    write_text(dir / "x.txt", line + "\n");
    AnnotatedImage img;
    img.normalized = true;
    img.boxes = read_yolo(dir / "x.txt", 2);
    const auto back = in_pixels(img, {200, 100});
    CHECK(back[0].box.x == Approx(0).margin(1e-4));
    CHECK(back[0].box.width == Approx(50));
    CHECK(back[0].confidence == Approx(0.5f));
    CHECK(back[0].track == -1);
}

TEST_CASE("malformed annotations fail with the file, the line and what was expected", "[annotations]") {
    test::TempDir dir;
    const fs::path root = dir.path();
    test::write_image(root / "images" / "a.png", 20, 20);
    SECTION("VOC") {
        write_text(root / "annotations" / "a.xml", "<annotation><object><name>x</name>");
        CHECK_THROWS_WITH(open_detection_dataset(root), Catch::Contains("a.xml: not valid XML"));
        write_text(root / "annotations" / "a.xml", voc({{"x", 10, 10, 5, 20}}));
        CHECK_THROWS_WITH(open_detection_dataset(root), Catch::Contains("empty box"));
        write_text(root / "annotations" / "a.xml", voc({{"x", 1, 1, 5, 5}}));
        DetectionDatasetOptions fixed;
        fixed.class_names = {"y"};
        CHECK_THROWS_WITH(open_detection_dataset(root, fixed), Catch::Contains("class \"x\" is not one of y"));
        fixed.split = "test";
        CHECK_THROWS_WITH(open_detection_dataset(root, fixed), Catch::Contains("no images/test/ folder and no split.csv"));
        write_text(root / "split.csv", "file,split\nmissing.png,test\n");
        CHECK_THROWS_WITH(open_detection_dataset(root, fixed), Catch::Contains("image missing.png not found"));
    }
    SECTION("YOLO") {
        write_text(root / "classes.txt", "a\n");
        for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
                 {"0 0.5 0.5 0.2\n", "a.txt:1: 4 fields"},
                 {"0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n", "a.txt:2: class 1 is not in 0..0"},
                 {"0 0.5 0.5 1.2 0.2\n", "is not inside 0..1"},
                 {"0 0.5 0.5 0.2 abc\n", "\"abc\" is not a number"}}) {
            write_text(root / "labels" / "a.txt", text);
            CHECK_THROWS_WITH(open_detection_dataset(root), Catch::Contains(message));
        }
    }
    SECTION("neither layout") {
        CHECK_THROWS_WITH(open_detection_dataset(root), Catch::Contains("neither annotations/"));
        CHECK_THROWS_AS(open_detection_dataset(root / "nope"), DataError);
    }
}

TEST_CASE("numbers that are no coordinates: NaN, infinity, 1e300, a negative score, a huge track id", "[annotations]") {
    // Each passed the old checks (NaN compares false with everything) and became a box of nothing, or
    // an out-of-range cast to int (undefined behaviour) for a VOC <size> or a YOLO track id.
    std::vector<std::string> names;
    const auto voc_box = [&](const std::string& xmax) {
        return "<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>" + xmax +
               "</xmax><ymax>9</ymax></bndbox></object></annotation>";
    };
    for (const std::string bad : {"nan", "inf", "-inf", "1e300", "2e7"})
        CHECK_THROWS_WITH(parse_voc(voc_box(bad), "a.xml", names, true),
                          "a.xml: <xmax> is " + bad + ", not a pixel coordinate (expected a finite number within +-1e7)");
    CHECK(parse_voc(voc_box("9.5"), "a.xml", names, true).at(0).box.width == 8.5f);
    cv::Size size;
    CHECK_THROWS_WITH(parse_voc("<annotation><size><width>1e300</width><height>2</height></size></annotation>", "a.xml",
                                names, true, &size),
                      Catch::Contains("<width> is 1e300, not a pixel coordinate"));

    for (const auto& [line, message] : std::vector<std::pair<std::string, std::string>>{
             {"0 nan 0.5 0.2 0.2", "a.txt:1: \"nan\" is not a finite number"},
             {"0 0.5 0.5 inf 0.2", "a.txt:1: \"inf\" is not a finite number"},
             {"0 0.5 0.5 0.2 0.2 -0.5", "a.txt:1: confidence -0.5 is not in 0..1"},
             {"0 0.5 0.5 0.2 0.2 0.5 1e300", "a.txt:1: track id 1e+300 is not a whole number >= 0"},
             {"0 0.5 0.5 0.2 0.2 0.5 2.5", "a.txt:1: track id 2.5 is not a whole number >= 0"}})
        CHECK_THROWS_WITH(parse_yolo(line, "a.txt", 1), message);
    const auto ok = parse_yolo("0 0.5 0.5 0.2 0.2 1 2147483647", "a.txt", 1);
    CHECK(ok.at(0).track == 2147483647);
    // A 200 KB line is cut in the message, not echoed whole.
    try {
        (void)parse_yaml_names("names:\n  " + std::string(200000, 'x') + "\n", "data.yaml");
        FAIL("a names: line without '-' or ':' was read");
    } catch (const DataError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("data.yaml: names: cannot read the line \"xxx"));
        CHECK(std::string(e.what()).size() < 200);
    }
}
