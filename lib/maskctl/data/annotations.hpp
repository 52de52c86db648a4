#pragma once
// Detection datasets: photos with labelled face boxes, in the two layouts annotation tools write.
//   Pascal VOC:  root/images/*  + root/annotations/<stem>.xml   (labelImg, CVAT, Roboflow "VOC")
//   YOLO:        root/images/*  + root/labels/<stem>.txt         ("class cx cy w h", normalized 0..1)
// Either may be pre-split (images/<split>/, labels/<split>/) or come with a split file
// root/split.csv ("file,split"). YOLO class names come from root/classes.txt (one per line),
// root/data.yaml (`names:`) or the caller. maskctl detect --save-txt writes the YOLO form with a
// confidence column, so its output reads back here as predictions.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "maskctl/data/image.hpp"

namespace maskctl {

struct LabelledBox {
    cv::Rect2f box;        // pixels, or 0..1 of the image when AnnotatedImage::normalized
    int label = 0;         // index into DetectionDataset::class_names
    bool difficult = false;  // VOC <difficult>1: neither counted nor held against a detector
    float confidence = -1;   // a prediction's score (YOLO 6th column); -1 for ground truth
    int track = -1;          // a prediction's track id (YOLO 7th column, video frames)
};

struct AnnotatedImage {
    std::filesystem::path image;
    std::filesystem::path annotation;  // the XML or TXT it came from ("" = none: an image without faces)
    std::vector<LabelledBox> boxes;
    bool normalized = false;  // YOLO: boxes are fractions until the image size is known (in_pixels)
};

// The boxes of `image` in pixels of an image of `size` (YOLO boxes are scaled; VOC boxes are already pixels).
std::vector<LabelledBox> in_pixels(const AnnotatedImage& image, cv::Size size);

struct DetectionDataset {
    std::filesystem::path root;
    std::filesystem::path images_dir;  // file names are reported relative to this folder
    std::string format;                // "voc" | "yolo"
    std::vector<std::string> class_names;
    std::vector<AnnotatedImage> images;  // sorted by image path
    BadFileReport bad_files;             // entries of the image folder that cannot be used (reported, skipped)
    std::size_t boxes() const;
};

struct DetectionDatasetOptions {
    std::string split;  // "" = every image; train/val/test: images/<split>/ or root/split.csv
    // YOLO class names when the folder has no classes.txt or data.yaml; for VOC, an optional fixed
    // order (names found in the XML files but not listed are an error).
    std::vector<std::string> class_names;
    bool allow_empty = false;  // a split without images is an error unless set
};

// Reads a detection dataset. Throws DataError naming the file and line for anything malformed (a box
// outside 0..1 in YOLO, a VOC box with xmax <= xmin, an unknown class index, a split file without the
// image), and when the folder is neither layout.
DetectionDataset open_detection_dataset(const std::filesystem::path& root, const DetectionDatasetOptions& options = {});

// One VOC XML file: <object><name>, <bndbox> (xmin, ymin, xmax, ymax, 1-based pixel corners as
// labelImg writes them: kept as x = xmin, w = xmax - xmin), <difficult>. `names` grows with new
// class names when `allow_new` is set. Throws DataError.
std::vector<LabelledBox> read_voc(const std::filesystem::path& xml, std::vector<std::string>& names, bool allow_new,
                                  cv::Size* declared_size = nullptr);

// One YOLO txt file: "class cx cy w h [confidence [track]]" per line, normalized; `classes` counts
// the valid indices. Throws DataError.
std::vector<LabelledBox> read_yolo(const std::filesystem::path& txt, std::size_t classes);

// The same three readers on text already read (`name` is the file their errors name): the fuzz
// targets (tests/fuzz/) feed them arbitrary bytes, which must give boxes or a DataError, nothing else.
// Every number must be finite, and a pixel coordinate or image side within +-1e7.
std::vector<LabelledBox> parse_voc(std::string_view text, const std::string& name, std::vector<std::string>& names,
                                   bool allow_new, cv::Size* declared_size = nullptr);
std::vector<LabelledBox> parse_yolo(std::string_view text, const std::string& name, std::size_t classes);
std::vector<std::string> parse_yaml_names(std::string_view text, const std::string& name);

// One YOLO line for a box in pixels of an image of `size`: "class cx cy w h" with 6 decimals, then
// the confidence and the track id when they are set (>= 0).
std::string yolo_line(const LabelledBox& box, cv::Size size);

// Class names from classes.txt (one per line) or data.yaml (`names: [a, b]`, `names:` followed by
// "- a" or "0: a" lines); empty when neither exists. Throws DataError on a malformed file.
std::vector<std::string> read_class_names(const std::filesystem::path& root);

}  // namespace maskctl
