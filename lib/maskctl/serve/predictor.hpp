#pragma once
// POST /api/predict: a photo in, every face with its label out, exactly as `maskctl detect --image`
// labels it (MaskDetector::detect_image). A MaskDetector is not safe to use from two threads at once
// (OpenCV's DNN nets keep state), so the predictor keeps a small pool of them: requests beyond the
// pool wait their turn instead of running side by side on too few cores.
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/detect/pipeline.hpp"

namespace maskctl {

struct PredictorOptions {
    int workers = 1;                   // detectors, i.e. photos labelled at the same time
    bool blur_faces = false;           // the annotated picture hides the faces (labels kept)
    double max_megapixels = 50;        // larger photos are refused before decoding (a small file can claim a huge size)
    int annotated_max_side = 1600;     // the annotated picture is shrunk to this longer side
    int jpeg_quality = 85;
};

struct PhotoResult {
    int width = 0, height = 0;
    double ms = 0;                     // decode + detect + classify (+ drawing when annotated)
    std::vector<FaceResult> faces;
    std::string annotated_jpeg;        // empty unless asked for
};

class Predictor {
public:
    // Loads the model once per worker. Throws ModelFileError, and as MaskDetector.
    Predictor(const std::filesystem::path& model, const DetectOptions& options, PredictorOptions predictor = {});
    ~Predictor();

    // Throws ImageError (a DataError) for bytes that are empty, not an image, truncated, corrupt or too large.
    PhotoResult predict(std::string_view bytes, bool annotated);
    // {"width", "height", "ms", "faces": [{"box", "label", "display", "kind", "confidence", "violation",
    //  "score", "probabilities"}][, "image": "data:image/jpeg;base64,..."]}
    nlohmann::json to_json(const PhotoResult& prediction) const;

    const std::vector<std::string>& class_names() const { return classes_; }
    std::string detector_name() const { return detector_name_; }
    int workers() const { return static_cast<int>(pool_.size()); }

private:
    MaskDetector& acquire();
    void release(MaskDetector& detector);

    PredictorOptions options_;
    std::vector<std::unique_ptr<MaskDetector>> pool_;
    std::vector<MaskDetector*> idle_;
    std::mutex mutex_;
    std::condition_variable available_;
    std::vector<std::string> classes_;
    std::string detector_name_;
};

// "kind" of a class for the page's colours: "mask", "no_mask" or "other" (annotate.hpp label_kind).
std::string label_kind_name(const std::string& class_name);

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);

}  // namespace maskctl
