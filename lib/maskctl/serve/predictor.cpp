#include "maskctl/serve/predictor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/clock.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/predictions.hpp"
#include "maskctl/model/model_file.hpp"

namespace maskctl {
namespace {

constexpr const char* kUpload = "the upload";

// Width and height from a PNG's IHDR chunk, the only other common format whose size is cheap to read.
std::optional<cv::Size> png_size(const std::vector<unsigned char>& b) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (b.size() < 24 || std::memcmp(b.data(), sig, 8) != 0) return std::nullopt;
    const auto be32 = [&](std::size_t at) {
        return (static_cast<std::uint32_t>(b[at]) << 24) | (static_cast<std::uint32_t>(b[at + 1]) << 16) |
               (static_cast<std::uint32_t>(b[at + 2]) << 8) | b[at + 3];
    };
    return cv::Size(static_cast<int>(std::min<std::uint32_t>(be32(16), 1u << 30)),
                    static_cast<int>(std::min<std::uint32_t>(be32(20), 1u << 30)));
}

void check_pixels(const std::vector<unsigned char>& bytes, double max_megapixels) {
    auto size = jpeg_size(bytes);
    if (!size) size = png_size(bytes);
    if (!size) return;  // other formats: OpenCV's own limit applies
    const double mp = static_cast<double>(size->width) * size->height / 1e6;
    if (mp > max_megapixels)
        throw ImageError(ImageProblem::corrupt, fmt::format("{}: {}x{} pixels is over the limit of {:g} megapixels",
                                                            kUpload, size->width, size->height, max_megapixels));
}

}  // namespace

std::string label_kind_name(const std::string& class_name) {
    switch (label_kind(class_name)) {
        case LabelKind::mask: return "mask";
        case LabelKind::no_mask: return "no_mask";
        case LabelKind::other: return "other";
    }
    return "other";
}

std::string base64_encode(std::string_view bytes) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const std::uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                                (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (const std::size_t rest = bytes.size() - i; rest > 0) {
        std::uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

Predictor::Predictor(const std::filesystem::path& model, const DetectOptions& options, PredictorOptions predictor)
    : options_(predictor) {
    const int n = std::max(1, options_.workers);
    for (int i = 0; i < n; ++i) {
        pool_.push_back(std::make_unique<MaskDetector>(load_model(model), options));
        idle_.push_back(pool_.back().get());
    }
    classes_ = pool_.front()->class_names();
    detector_name_ = pool_.front()->detector_name();
}

Predictor::~Predictor() = default;

MaskDetector& Predictor::acquire() {
    std::unique_lock lock(mutex_);
    available_.wait(lock, [&] { return !idle_.empty(); });
    MaskDetector* d = idle_.back();
    idle_.pop_back();
    return *d;
}

void Predictor::release(MaskDetector& detector) {
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(&detector);
    }
    available_.notify_one();
}

PhotoResult Predictor::predict(std::string_view bytes, bool annotated) {
    const auto t0 = Clock::now();
    const std::vector<unsigned char> data(bytes.begin(), bytes.end());
    check_pixels(data, options_.max_megapixels);
    cv::Mat bgr;
    cv::cvtColor(decode_image(data, kUpload), bgr, cv::COLOR_RGB2BGR);
    PhotoResult p;
    p.width = bgr.cols;
    p.height = bgr.rows;
    MaskDetector& detector = acquire();
    // Handed back on every way out, exceptions included, so a failing photo never shrinks the pool.
    struct Release {
        Predictor& self;
        MaskDetector& d;
        ~Release() { self.release(d); }
    } release{*this, detector};
    p.faces = detector.detect_image(bgr);
    if (annotated) {
        if (options_.blur_faces) {
            std::vector<cv::Rect> boxes;
            for (const auto& f : p.faces) boxes.emplace_back(f.box);
            blur_faces(bgr, boxes);
        }
        detector.draw(bgr, p.faces);
        const int longest = std::max(bgr.cols, bgr.rows);
        if (options_.annotated_max_side > 0 && longest > options_.annotated_max_side) {
            const double s = static_cast<double>(options_.annotated_max_side) / longest;
            cv::resize(bgr, bgr, {}, s, s, cv::INTER_AREA);
        }
        std::vector<unsigned char> jpeg;
        cv::imencode(".jpg", bgr, jpeg, {cv::IMWRITE_JPEG_QUALITY, options_.jpeg_quality});
        p.annotated_jpeg.assign(jpeg.begin(), jpeg.end());
    }
    p.ms = ms_since(t0);
    return p;
}

nlohmann::json Predictor::to_json(const PhotoResult& p) const {
    nlohmann::json faces = nlohmann::json::array();
    for (const auto& f : p.faces) {
        nlohmann::json j = face_json(f, classes_);
        const cv::Rect box(f.box);
        j["box"] = {box.x, box.y, box.width, box.height};
        const std::string label = f.label >= 0 ? classes_.at(static_cast<std::size_t>(f.label)) : "";
        j["display"] = label.empty() ? "" : display_name(label);
        j["kind"] = label.empty() ? "other" : label_kind_name(label);
        j["violation"] = f.violation;
        faces.push_back(std::move(j));
    }
    nlohmann::json out = {{"width", p.width}, {"height", p.height}, {"ms", std::round(p.ms * 10) / 10}, {"faces", faces}};
    if (!p.annotated_jpeg.empty()) out["image"] = "data:image/jpeg;base64," + base64_encode(p.annotated_jpeg);
    return out;
}

}  // namespace maskctl
