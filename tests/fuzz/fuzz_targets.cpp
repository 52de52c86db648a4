#include "fuzz_targets.hpp"

#include <cstring>

#include "maskctl/core/config.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/json.hpp"
#include "maskctl/data/annotations.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/model/tflite.hpp"

namespace maskctl::fuzz {
namespace {

// A config file: the JSON text, then its validation; a first line starting with "--set " is taken as
// an override, so the fuzzer also tries the --set parser.
void config_json(std::string_view bytes) {
    std::string override_text;
    if (bytes.substr(0, 6) == "--set ") {  // not starts_with: the fuzz build compiles this as C++17
        const auto end = bytes.find('\n');
        override_text = std::string(bytes.substr(6, end == std::string_view::npos ? std::string_view::npos : end - 6));
        bytes = end == std::string_view::npos ? std::string_view() : bytes.substr(end + 1);
    }
    const JsonParse parsed = parse_json(bytes, /*comments=*/true);
    if (!parsed.ok()) return;
    try {
        nlohmann::json doc = parsed.value;
        if (!override_text.empty() && doc.is_object()) apply_override(doc, override_text);
        const Config config = config_from_json(doc, "fuzz");
        (void)json_excerpt(to_json(config));
    } catch (const Error&) {
    }
}

// A model file. The size field and the checksum are made right first: the fuzzer could not find them,
// and what lies behind them (metadata, tensors, the architecture) is what needs the exercise.
void model_file(std::string_view input) {
    std::string bytes(input);
    if (bytes.size() >= 24) {
        const std::uint64_t size = bytes.size();
        std::memcpy(bytes.data() + 12, &size, sizeof size);
        const std::uint32_t sum = crc32(bytes.data(), bytes.size() - 4);
        std::memcpy(bytes.data() + bytes.size() - 4, &sum, sizeof sum);
    }
    try {
        const LoadedModel m = model_from_contents(decode_model_file(bytes, "fuzz.maskctl"), "fuzz.maskctl");
        (void)m.model->num_classes();
    } catch (const Error&) {
    }
}

void tflite(std::string_view bytes) {
    try {
        (void)import_tflite_mobilenetv2(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), "fuzz.tflite");
    } catch (const Error&) {
    }
}

// A split file as data.split_file gives it: CSV rows, the header, the split names.
void split_csv(std::string_view bytes) {
    try {
        (void)parse_split_csv(bytes, "fuzz.csv", "/nonexistent-root");
    } catch (const Error&) {
    }
}

// The annotation files of a detection dataset: a Pascal VOC XML (class names found as they come, and
// against a fixed list), a YOLO label file and data.yaml's names, all given the same bytes: each
// rejects the others' text at once, and one corpus then holds the three formats. The boxes found are
// written back as YOLO lines, as detect --save-txt writes them.
void annotations(std::string_view bytes) {
    const cv::Size image(640, 480);
    try {
        std::vector<std::string> names;
        cv::Size declared;
        for (const auto& b : parse_voc(bytes, "fuzz.xml", names, /*allow_new=*/true, &declared))
            (void)yolo_line(b, declared.width > 0 && declared.height > 0 ? declared : image);
    } catch (const Error&) {
    }
    try {
        std::vector<std::string> names = {"with_mask", "without_mask"};
        (void)parse_voc(bytes, "fuzz.xml", names, /*allow_new=*/false);
    } catch (const Error&) {
    }
    try {
        AnnotatedImage labels;
        labels.boxes = parse_yolo(bytes, "fuzz.txt", 3);
        labels.normalized = true;
        for (const auto& b : in_pixels(labels, image)) (void)yolo_line(b, image);
    } catch (const Error&) {
    }
    try {
        (void)parse_yaml_names(bytes, "data.yaml");
    } catch (const Error&) {
    }
}

}  // namespace

const std::vector<Target>& targets() {
    static const std::vector<Target> all = {
        {"config_json", config_json}, {"model_file", model_file}, {"tflite", tflite},
        {"split_csv", split_csv},     {"annotations", annotations}};
    return all;
}

}  // namespace maskctl::fuzz
