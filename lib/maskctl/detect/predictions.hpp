#pragma once
// What maskctl detect labelled, in files other tools read (and maskctl val reads back):
//   YOLO txt (--save-txt DIR): one file per image or video frame, "class cx cy w h confidence [track]",
//     normalized, with DIR/classes.txt naming the classes; confidence = face score x class probability.
//   JSON (--save-json FILE): photos as one document {"classes", "images": [{"file", "width", "height",
//     "faces": [...]}]}; video frames as JSON lines {"frame", "time", "faces": [...]}, one per frame,
//     because a camera never ends. A face: {"box": [x, y, w, h], "score", "label", "confidence",
//     "probabilities": {class: p}, "track"}.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "maskctl/detect/pipeline.hpp"

namespace maskctl {

// A face as JSON (label, probabilities by class name; "track" when >= 0).
nlohmann::json face_json(const FaceResult& face, const std::vector<std::string>& classes);
// Back from JSON; throws DataError naming `where` on a missing or bad field or an unknown class.
FaceResult face_from_json(const nlohmann::json& j, const std::vector<std::string>& classes, const std::string& where);

// The YOLO txt of one image or frame of `size` (faces without a label are left out).
std::string faces_yolo_txt(const std::vector<FaceResult>& faces, cv::Size size);

// The file --save-txt writes for `image` (relative to the folder given to detect): DIR/<relative>.txt;
// video frames get DIR/<stem>_<frame>.txt.
std::filesystem::path txt_path(const std::filesystem::path& dir, const std::filesystem::path& relative_image);

// Predictions read back, by image path relative to the folder detect was given.
struct SavedPredictions {
    std::vector<std::string> classes;
    std::map<std::string, std::vector<FaceResult>> faces;  // key: relative path with '/' separators
    bool has_txt = false;  // YOLO txt: one score only (face_score = confidence = the saved confidence)
};

// Reads a --save-txt folder (classes.txt + *.txt) or a --save-json file for the images `relative`
// (missing txt files = no faces, as YOLO writes no file for an empty image). `sizes` gives each
// image's size for the normalized txt boxes. Throws DataError naming the file.
SavedPredictions read_saved_predictions(const std::filesystem::path& path, const std::vector<std::string>& relative,
                                        const std::vector<cv::Size>& sizes);

}  // namespace maskctl
