#include "maskctl/detect/predictions.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/data/annotations.hpp"

namespace fs = std::filesystem;

namespace maskctl {
namespace {

double rounded(double v, double scale) { return std::round(v * scale) / scale; }

int class_index(const std::vector<std::string>& classes, const std::string& name, const std::string& where) {
    const auto it = std::find(classes.begin(), classes.end(), name);
    if (it == classes.end())
        throw DataError(fmt::format("{}: label \"{}\" is not one of the classes ({})", where, name, fmt::join(classes, ", ")));
    return static_cast<int>(it - classes.begin());
}

SavedPredictions read_json(const fs::path& file, const std::vector<std::string>& relative) {
    std::ifstream in(file);
    if (!in) throw DataError(fmt::format("{}: cannot open file", file.string()));
    nlohmann::json doc;
    try {
        doc = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw DataError(fmt::format("{}: not valid JSON ({})", file.string(), e.what()));
    }
    if (!doc.is_object() || !doc.contains("classes") || !doc.contains("images"))
        throw DataError(fmt::format("{}: expected {{\"classes\", \"images\"}} as maskctl detect --image --save-json writes",
                                    file.string()));
    SavedPredictions p;
    try {
        p.classes = doc.at("classes").get<std::vector<std::string>>();
        for (const auto& img : doc.at("images")) {
            const std::string name = img.at("file").get<std::string>();
            auto& faces = p.faces[name];
            for (const auto& f : img.at("faces")) faces.push_back(face_from_json(f, p.classes, file.string() + ": " + name));
        }
    } catch (const nlohmann::json::exception& e) {
        throw DataError(fmt::format("{}: {}", file.string(), e.what()));
    }
    for (const auto& r : relative) p.faces[r];  // images without an entry had no face
    return p;
}

SavedPredictions read_txt(const fs::path& dir, const std::vector<std::string>& relative, const std::vector<cv::Size>& sizes) {
    SavedPredictions p;
    p.has_txt = true;
    p.classes = read_class_names(dir);
    if (p.classes.empty())
        throw DataError(fmt::format("{}: no classes.txt (maskctl detect --save-txt writes one)", dir.string()));
    for (std::size_t i = 0; i < relative.size(); ++i) {
        auto& faces = p.faces[relative[i]];
        const fs::path txt = txt_path(dir, relative[i]);
        if (!fs::is_regular_file(txt)) continue;
        AnnotatedImage a;
        a.normalized = true;
        a.boxes = read_yolo(txt, p.classes.size());
        for (const auto& b : in_pixels(a, sizes[i])) {
            if (b.confidence < 0)
                throw DataError(fmt::format("{}: a line has no confidence column (predictions need one)", txt.string()));
            FaceResult f;
            f.box = b.box;
            f.label = b.label;
            f.track = b.track;
            // One saved score: it ranks both the faces and the classes.
            f.score = b.confidence;
            f.confidence = 1.0f;
            faces.push_back(f);
        }
    }
    return p;
}

}  // namespace

nlohmann::json face_json(const FaceResult& f, const std::vector<std::string>& classes) {
    nlohmann::json probs = nlohmann::json::object();
    for (std::size_t c = 0; c < f.probabilities.size() && c < classes.size(); ++c)
        probs[classes[c]] = rounded(f.probabilities[c], 1e6);
    nlohmann::json j = {{"box", {rounded(f.box.x, 100), rounded(f.box.y, 100), rounded(f.box.width, 100),
                                 rounded(f.box.height, 100)}},
                        {"score", rounded(f.score, 1e6)},
                        {"label", f.label >= 0 ? nlohmann::json(classes.at(static_cast<std::size_t>(f.label))) : nlohmann::json()},
                        {"confidence", rounded(f.confidence, 1e6)},
                        {"probabilities", probs}};
    if (f.track >= 0) j["track"] = f.track;
    return j;
}

FaceResult face_from_json(const nlohmann::json& j, const std::vector<std::string>& classes, const std::string& where) {
    FaceResult f;
    try {
        const auto box = j.at("box").get<std::vector<float>>();
        if (box.size() != 4) throw DataError(fmt::format("{}: \"box\" has {} numbers, expected 4", where, box.size()));
        f.box = cv::Rect2f(box[0], box[1], box[2], box[3]);
        f.score = j.at("score").get<float>();
        if (j.at("label").is_null()) throw DataError(fmt::format("{}: a face without a label", where));
        f.label = class_index(classes, j.at("label").get<std::string>(), where);
        f.confidence = j.at("confidence").get<float>();
        for (const auto& c : classes) f.probabilities.push_back(j.at("probabilities").value(c, 0.0f));
        f.track = j.value("track", -1);
    } catch (const nlohmann::json::exception& e) {
        throw DataError(fmt::format("{}: {}", where, e.what()));
    }
    return f;
}

std::string faces_yolo_txt(const std::vector<FaceResult>& faces, cv::Size size) {
    std::string out;
    for (const auto& f : faces) {
        if (f.label < 0 || !f.visible) continue;
        LabelledBox b;
        b.box = f.box;
        b.label = f.label;
        b.confidence = f.score * f.confidence;
        b.track = f.track;
        out += yolo_line(b, size) + "\n";
    }
    return out;
}

fs::path txt_path(const fs::path& dir, const fs::path& relative_image) {
    fs::path rel = relative_image;
    return dir / rel.replace_extension(".txt");
}

SavedPredictions read_saved_predictions(const fs::path& path, const std::vector<std::string>& relative,
                                        const std::vector<cv::Size>& sizes) {
    if (fs::is_directory(path)) return read_txt(path, relative, sizes);
    if (fs::is_regular_file(path)) return read_json(path, relative);
    throw DataError(fmt::format("{}: no such file or folder (expected a --save-txt folder or a --save-json file)",
                                path.string()));
}

}  // namespace maskctl
