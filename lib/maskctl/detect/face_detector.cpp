#include "maskctl/detect/face_detector.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;

fs::path existing_model(const fs::path& file, const std::string& kind) {
    if (!fs::is_regular_file(file))
        throw ModelFileError(fmt::format("{}: no such file (face detector '{}'; run scripts/setup.sh or pass "
                                         "--face-models DIR, or use --detector haar)",
                                         file.string(), kind));
    return file;
}

// The frame the detector sees: its longer side capped at max_side (0 = no cap), then enlarged by
// `upscale`. Returns the factor that maps boxes back to frame pixels.
float resize_for_detection(const cv::Mat& bgr, int max_side, float upscale, cv::Mat& out) {
    const int side = std::max(bgr.cols, bgr.rows);
    const double f = (max_side > 0 && side > max_side ? static_cast<double>(max_side) / side : 1.0) * upscale;
    if (std::abs(f - 1.0) < 1e-9) {
        out = bgr;
        return 1.0f;
    }
    cv::resize(bgr, out, cv::Size(), f, f, f < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    return static_cast<float>(bgr.cols) / out.cols;
}

// YuNet scores a plain wall as a face (0.74 on a uniform grey frame): a real face has contrast.
bool featureless(const cv::Mat& bgr, const cv::Rect2f& box) {
    const cv::Rect r = cv::Rect(box) & cv::Rect(0, 0, bgr.cols, bgr.rows);
    if (r.empty()) return true;
    cv::Scalar mean, stddev;
    cv::meanStdDev(bgr(r), mean, stddev);
    return std::max({stddev[0], stddev[1], stddev[2]}) < 6.0;
}

// Common post-processing: box adjustment, threshold, minimum size, contrast, best first.
std::vector<Face> finish(const cv::Mat& bgr, std::vector<Face> faces, const FaceDetectorOptions& o) {
    const BoxAdjust adjust = o.box_adjust.value_or(BoxAdjust{});
    if (adjust != BoxAdjust{})
        for (Face& f : faces) f.box = adjust_box(f.box, adjust);
    std::erase_if(faces, [&](const Face& f) {
        return f.score < o.confidence || std::min(f.box.width, f.box.height) < static_cast<float>(o.min_face) ||
               featureless(bgr, f.box);
    });
    std::stable_sort(faces.begin(), faces.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
    return faces;
}

void check_frame(const cv::Mat& bgr) {
    if (bgr.empty() || bgr.type() != CV_8UC3)
        throw Error(fmt::format("face detector: expected a BGR 8-bit frame, got {}x{} type {}", bgr.cols, bgr.rows,
                                bgr.type()));
}

class YuNetDetector : public FaceDetector {
public:
    explicit YuNetDetector(const FaceDetectorOptions& o) : options_(o) {
        const auto file = existing_model(o.models_dir / "face_detection_yunet_2022mar.onnx", "yunet");
        try {
            // The score threshold is applied by us (after fusing passes and the size filter); NMS 0.3 as
            // OpenCV's sample. 0.2 keeps the weak boxes a fused pass may confirm.
            net_ = cv::FaceDetectorYN::create(file.string(), "", cv::Size(320, 320), 0.2f, 0.3f, 5000);
        } catch (const cv::Exception& e) {
            throw ModelFileError(fmt::format("{}: OpenCV cannot load it as YuNet ({})", file.string(), e.err));
        }
    }
    std::vector<Face> detect(const cv::Mat& bgr) override {
        check_frame(bgr);
        std::vector<int> sides{options_.max_side};
        const int frame_side = std::max(bgr.cols, bgr.rows);
        const auto effective = [&](int side) { return side > 0 && side < frame_side ? side : frame_side; };
        for (const int side : options_.extra_sides)  // a frame already smaller than the side: the same pass again
            if (std::none_of(sides.begin(), sides.end(), [&](int s) { return effective(s) == effective(side); }))
                sides.push_back(side);
        std::vector<std::vector<Face>> passes;
        for (const int side : sides) {
            passes.push_back(pass(bgr, side, false));
            if (options_.flip) passes.push_back(pass(bgr, side, true));
        }
        return finish(bgr, passes.size() == 1 ? std::move(passes[0]) : fuse_passes(passes), options_);
    }
    std::string name() const override { return "yunet"; }

private:
    // One search of the frame at `max_side`, mirrored or not; boxes in frame pixels.
    std::vector<Face> pass(const cv::Mat& bgr, int max_side, bool mirror) {
        cv::Mat small;
        const float back = resize_for_detection(bgr, max_side, options_.upscale, small);
        if (mirror) {
            cv::Mat mirrored;  // not in place: `small` may be the caller's frame
            cv::flip(small, mirrored, 1);
            small = mirrored;
        }
        const float width = static_cast<float>(small.cols);
        // YuNet's pooling layers fail on sides that are not multiples of 32, or below 64 (a 40x60 crop, a
        // 16x16 photo): padding right and bottom keeps every box's coordinates unchanged.
        const auto padding = [](int side) { return std::max(64, (side + 31) / 32 * 32) - side; };
        const int pw = padding(small.cols), ph = padding(small.rows);
        if (pw || ph) cv::copyMakeBorder(small, small, 0, ph, 0, pw, cv::BORDER_CONSTANT, cv::Scalar::all(0));
        if (small.size() != input_size_) {
            net_->setInputSize(small.size());
            input_size_ = small.size();
        }
        cv::Mat rows;
        net_->detect(small, rows);
        std::vector<Face> faces;
        for (int i = 0; i < rows.rows; ++i) {
            const float* r = rows.ptr<float>(i);
            const float x = mirror ? width - r[0] - r[2] : r[0];
            faces.push_back({cv::Rect2f(x * back, r[1] * back, r[2] * back, r[3] * back), r[14]});
        }
        return faces;
    }

    FaceDetectorOptions options_;
    cv::Ptr<cv::FaceDetectorYN> net_;
    cv::Size input_size_{320, 320};
};

class SsdDetector : public FaceDetector {
public:
    explicit SsdDetector(const FaceDetectorOptions& o) : options_(o) {
        const auto pb = existing_model(o.models_dir / "opencv_face_detector_uint8.pb", "ssd");
        const auto pbtxt = existing_model(o.models_dir / "opencv_face_detector.pbtxt", "ssd");
        try {
            net_ = cv::dnn::readNetFromTensorflow(pb.string(), pbtxt.string());
        } catch (const cv::Exception& e) {
            throw ModelFileError(fmt::format("{}: OpenCV cannot load it as the SSD face detector ({})", pb.string(),
                                             e.err));
        }
    }
    std::vector<Face> detect(const cv::Mat& bgr) override {
        check_frame(bgr);
        // The network sees 300x300 whatever the frame size, so no shrinking step is needed.
        const cv::Mat blob = cv::dnn::blobFromImage(bgr, 1.0, cv::Size(300, 300), cv::Scalar(104, 177, 123), false,
                                                    false);
        net_.setInput(blob);
        const cv::Mat out = net_.forward();  // [1, 1, N, 7]
        const cv::Mat rows(out.size[2], out.size[3], CV_32F, const_cast<float*>(out.ptr<float>()));
        std::vector<Face> faces;
        const float w = static_cast<float>(bgr.cols), h = static_cast<float>(bgr.rows);
        for (int i = 0; i < rows.rows; ++i) {
            const float* r = rows.ptr<float>(i);
            if (r[2] < 0.05f) continue;
            const float x1 = r[3] * w, y1 = r[4] * h, x2 = r[5] * w, y2 = r[6] * h;
            if (x2 <= x1 || y2 <= y1) continue;
            faces.push_back({cv::Rect2f(x1, y1, x2 - x1, y2 - y1), r[2]});
        }
        return finish(bgr, std::move(faces), options_);
    }
    std::string name() const override { return "ssd"; }

private:
    FaceDetectorOptions options_;
    cv::dnn::Net net_;
};

// SCRFD-2.5G (InsightFace, arXiv:2105.04714) through cv::dnn. Its weights are for non-commercial
// research only, so it is never the default: only --detector scrfd loads it (docs/detect.md).
// The ONNX export only runs at 640x640 in OpenCV 4.6: the frame is letterboxed into that square.
class ScrfdDetector : public FaceDetector {
public:
    static constexpr int kSide = 640;
    explicit ScrfdDetector(const FaceDetectorOptions& o) : options_(o) {
        const auto file = existing_model(o.models_dir / "scrfd_2.5g_bnkps.onnx", "scrfd");
        try {
            net_ = cv::dnn::readNetFromONNX(file.string());
        } catch (const cv::Exception& e) {
            throw ModelFileError(fmt::format("{}: OpenCV cannot load it as SCRFD ({})", file.string(), e.err));
        }
    }
    std::vector<Face> detect(const cv::Mat& bgr) override {
        check_frame(bgr);
        const float scale = static_cast<float>(kSide) / static_cast<float>(std::max(bgr.cols, bgr.rows));
        cv::Mat resized;
        cv::resize(bgr, resized, cv::Size(std::max(1, static_cast<int>(std::lround(bgr.cols * scale))),
                                          std::max(1, static_cast<int>(std::lround(bgr.rows * scale)))),
                   0, 0, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
        cv::Mat canvas(kSide, kSide, CV_8UC3, cv::Scalar::all(0));
        resized.copyTo(canvas(cv::Rect(0, 0, resized.cols, resized.rows)));
        net_.setInput(cv::dnn::blobFromImage(canvas, 1.0 / 128.0, cv::Size(kSide, kSide),
                                             cv::Scalar(127.5, 127.5, 127.5), true, false));
        std::vector<cv::Mat> outs;
        net_.forward(outs, net_.getUnconnectedOutLayersNames());
        std::vector<Face> faces = decode(outs);
        for (Face& f : faces)
            f.box = cv::Rect2f(f.box.x / scale, f.box.y / scale, f.box.width / scale, f.box.height / scale);
        return finish(bgr, nms(std::move(faces)), options_);
    }
    std::string name() const override { return "scrfd"; }

private:
    // Nine outputs, told apart by shape (names and order differ between exports): per stride 8, 16, 32
    // (rows 12800, 3200, 800: two anchors per cell) a score, four box distances and ten keypoint offsets.
    static std::vector<Face> decode(const std::vector<cv::Mat>& outs) {
        std::vector<Face> faces;
        for (const int stride : {8, 16, 32}) {
            const int cells = kSide / stride;
            const int rows = cells * cells * 2;
            const cv::Mat* score = nullptr;
            const cv::Mat* dist = nullptr;
            // By the last dimension and the row count: totals alone collide (stride 16's scores and
            // stride 32's boxes both hold 3200 numbers).
            for (const cv::Mat& m : outs) {
                const int last = m.size[m.dims - 1];
                if (static_cast<int>(m.total()) != rows * last) continue;
                if (last == 1) score = &m;
                if (last == 4) dist = &m;
            }
            if (!score || !dist)
                throw Error(fmt::format("SCRFD: no outputs for stride {} (expected {} rows)", stride, rows));
            const float* s = score->ptr<float>();
            const float* d = dist->ptr<float>();
            for (int i = 0; i < rows; ++i) {
                if (s[i] < kKeepScore) continue;
                const int cell = i / 2;
                const float cx = static_cast<float>((cell % cells) * stride);
                const float cy = static_cast<float>((cell / cells) * stride);
                const float* b = d + 4 * i;
                const float x1 = cx - b[0] * stride, y1 = cy - b[1] * stride;
                const float x2 = cx + b[2] * stride, y2 = cy + b[3] * stride;
                if (x2 > x1 && y2 > y1) faces.push_back({cv::Rect2f(x1, y1, x2 - x1, y2 - y1), s[i]});
            }
        }
        return faces;
    }
    static std::vector<Face> nms(std::vector<Face> faces) {
        std::vector<cv::Rect2d> boxes;
        std::vector<float> scores;
        for (const Face& f : faces) {
            boxes.emplace_back(f.box);
            scores.push_back(f.score);
        }
        std::vector<int> keep;
        cv::dnn::NMSBoxes(boxes, scores, kKeepScore, 0.4f, keep);
        std::vector<Face> out;
        for (const int i : keep) out.push_back(faces[static_cast<std::size_t>(i)]);
        return out;
    }
    // Boxes below this never reach the threshold the user picks (finish applies it).
    static constexpr float kKeepScore = 0.2f;

    FaceDetectorOptions options_;
    cv::dnn::Net net_;
};

class HaarDetector : public FaceDetector {
public:
    explicit HaarDetector(const FaceDetectorOptions& o) : options_(o) {
        existing_model(o.haar_cascade, "haar");
        if (!cascade_.load(o.haar_cascade.string()))
            throw ModelFileError(fmt::format("{}: OpenCV cannot load it as a Haar cascade", o.haar_cascade.string()));
    }
    std::vector<Face> detect(const cv::Mat& bgr) override {
        check_frame(bgr);
        cv::Mat small, gray;
        const float back = resize_for_detection(bgr, options_.max_side, options_.upscale, small);
        cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
        cv::equalizeHist(gray, gray);
        std::vector<cv::Rect> rects;
        const int min_side = std::max(12, static_cast<int>(std::lround(options_.min_face / back)));
        cascade_.detectMultiScale(gray, rects, 1.1, 5, 0, cv::Size(min_side, min_side));
        std::vector<Face> faces;
        for (const auto& r : rects)
            faces.push_back({cv::Rect2f(r.x * back, r.y * back, r.width * back, r.height * back), 1.0f});
        return finish(bgr, std::move(faces), options_);
    }
    std::string name() const override { return "haar"; }

private:
    FaceDetectorOptions options_;
    cv::CascadeClassifier cascade_;
};

// The first pass as configured, then a second on the enlarged full-resolution frame for small faces only.
class TwoPassDetector : public FaceDetector {
public:
    TwoPassDetector(std::unique_ptr<FaceDetector> first, std::unique_ptr<FaceDetector> second, int small_max)
        : first_(std::move(first)), second_(std::move(second)), small_max_(static_cast<float>(small_max)) {}
    std::vector<Face> detect(const cv::Mat& bgr) override {
        std::vector<Face> faces = first_->detect(bgr);
        const std::size_t found = faces.size();
        for (const Face& f : second_->detect(bgr)) {
            if (std::min(f.box.width, f.box.height) >= small_max_) continue;
            // A small box mostly inside a face already found is a part of it (an eye, a mask), not a face.
            const bool known = std::any_of(faces.begin(), faces.begin() + static_cast<std::ptrdiff_t>(found),
                                           [&](const Face& g) { return (f.box & g.box).area() > 0.5f * f.box.area(); });
            if (!known) faces.push_back(f);
        }
        std::stable_sort(faces.begin(), faces.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
        return faces;
    }
    std::string name() const override { return first_->name() + " + small-face pass"; }

private:
    std::unique_ptr<FaceDetector> first_, second_;
    float small_max_;
};

std::unique_ptr<FaceDetector> make_one_detector(const FaceDetectorOptions& o) {
    switch (o.kind) {
        case FaceDetectorKind::yunet: return std::make_unique<YuNetDetector>(o);
        case FaceDetectorKind::ssd: return std::make_unique<SsdDetector>(o);
        case FaceDetectorKind::scrfd: return std::make_unique<ScrfdDetector>(o);
        case FaceDetectorKind::haar: return std::make_unique<HaarDetector>(o);
    }
    throw ConfigError("unknown face detector");
}

void check_small_face_options(const FaceDetectorOptions& o) {
    if (!(o.small_faces >= 1.0f && o.small_faces <= 4.0f))
        throw ConfigError(fmt::format("--small-faces is {}, expected 1 (off) to 4", o.small_faces));
    if (o.small_faces == 1.0f) return;
    if (o.kind == FaceDetectorKind::ssd || o.kind == FaceDetectorKind::scrfd)
        throw ConfigError(fmt::format("--small-faces works with --detector yunet or haar (the {} always sees a fixed "
                                      "square)",
                                      enum_name(o.kind)));
    if (o.small_face_min < 1 || o.small_face_max <= o.small_face_min || o.small_face_side < 64)
        throw ConfigError(fmt::format("small-face pass: minimum {} / maximum {} / side {}, expected 1 <= minimum < "
                                      "maximum and side >= 64",
                                      o.small_face_min, o.small_face_max, o.small_face_side));
}

}  // namespace

FaceDetectorKind face_detector_kind(const std::string& name) {
    if (const auto kind = parse_enum<FaceDetectorKind>(name)) return *kind;
    auto names = enum_choices<FaceDetectorKind>();
    const std::string last = names.back();
    names.pop_back();
    throw ConfigError(fmt::format("face detector is '{}', expected {} or {}", name, fmt::join(names, ", "), last));
}

float default_confidence(FaceDetectorKind kind) {
    switch (kind) {
        case FaceDetectorKind::yunet: return 0.6f;
        case FaceDetectorKind::ssd: return 0.5f;
        case FaceDetectorKind::scrfd: return 0.4f;
        case FaceDetectorKind::haar: return 0.0f;  // Haar has no score
    }
    return 0.0f;
}

BoxAdjust default_box_adjust(FaceDetectorKind kind) {
    // Medians over the 880 faces of the train split that YuNet (640 px, score >= 0.6) found at IoU >= 0.3:
    // labelled centres 0.06 box heights lower, widths x0.96, heights x0.945 (docs/evaluation.md).
    if (kind == FaceDetectorKind::yunet) return {0.06f, 0.96f, 0.945f};
    // SCRFD (its 831 faces found at score >= 0.5): its boxes reach higher up the forehead than labellers'.
    if (kind == FaceDetectorKind::scrfd) return {0.055f, 0.997f, 0.923f};
    return {};
}

cv::Rect2f adjust_box(const cv::Rect2f& box, const BoxAdjust& a) {
    const float w = box.width * a.width, h = box.height * a.height;
    const float cx = box.x + box.width / 2, cy = box.y + box.height / 2 + a.shift_down * box.height;
    return {cx - w / 2, cy - h / 2, w, h};
}

BoxAdjust parse_box_adjust(const std::string& text) {
    BoxAdjust a;
    char rest = 0;
    if (std::sscanf(text.c_str(), "%f,%f,%f%c", &a.shift_down, &a.width, &a.height, &rest) != 3 ||
        !(a.width > 0 && a.height > 0 && std::abs(a.shift_down) <= 1))
        throw ConfigError(fmt::format("box adjustment is '{}', expected SHIFT,WIDTH,HEIGHT such as 0.06,0.96,0.945 "
                                      "(shift -1..1, scales above 0; 0,1,1 = none)",
                                      text));
    return a;
}

BoxAdjust combine(const BoxAdjust& first, const BoxAdjust& then) {
    return {first.shift_down + then.shift_down * first.height, first.width * then.width, first.height * then.height};
}

BoxAdjust fit_box_adjust(const std::vector<std::pair<cv::Rect2f, cv::Rect2f>>& pairs) {
    std::vector<float> shift, width, height;
    for (const auto& [d, l] : pairs) {
        if (d.width <= 0 || d.height <= 0) continue;
        shift.push_back((l.y + l.height / 2 - d.y - d.height / 2) / d.height);
        width.push_back(l.width / d.width);
        height.push_back(l.height / d.height);
    }
    if (shift.empty()) return {};
    const auto median = [](std::vector<float> v) {  // v is not empty
        const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
        std::nth_element(v.begin(), mid, v.end());
        if (v.size() % 2) return *mid;
        return (*mid + *std::max_element(v.begin(), mid)) / 2;
    };
    return {median(shift), median(width), median(height)};
}

std::vector<Face> fuse_passes(const std::vector<std::vector<Face>>& passes, float iou_threshold) {
    std::vector<Face> all;
    for (const auto& p : passes) all.insert(all.end(), p.begin(), p.end());
    std::stable_sort(all.begin(), all.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
    std::vector<bool> taken(all.size(), false);
    std::vector<Face> fused;
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (taken[i]) continue;
        double x = 0, y = 0, w = 0, h = 0, weight = 0;
        std::size_t boxes = 0;
        for (std::size_t j = i; j < all.size(); ++j) {
            if (taken[j] || (j != i && iou(all[i].box, all[j].box) < iou_threshold)) continue;
            taken[j] = true;
            const Face& f = all[j];
            x += f.box.x * f.score, y += f.box.y * f.score, w += f.box.width * f.score, h += f.box.height * f.score;
            weight += f.score;
            ++boxes;
        }
        if (weight <= 0) continue;
        fused.push_back({cv::Rect2f(static_cast<float>(x / weight), static_cast<float>(y / weight),
                                    static_cast<float>(w / weight), static_cast<float>(h / weight)),
                         static_cast<float>(weight / static_cast<double>(std::max(boxes, passes.size())))});
    }
    std::stable_sort(fused.begin(), fused.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
    return fused;
}

std::unique_ptr<FaceDetector> make_face_detector(const FaceDetectorOptions& options) {
    FaceDetectorOptions o = options;
    if (o.confidence < 0) o.confidence = default_confidence(o.kind);
    if (o.confidence > 1)
        throw ConfigError(fmt::format("face detector confidence is {}, expected 0..1", o.confidence));
    if (o.min_face < 1) throw ConfigError(fmt::format("minimum face size is {}, expected >= 1", o.min_face));
    if (o.max_side < 0) throw ConfigError(fmt::format("--max-side is {}, expected 0 (no limit) or more", o.max_side));
    if (!(o.upscale >= 1.0f && o.upscale <= 4.0f))
        throw ConfigError(fmt::format("--upscale is {}, expected 1 to 4", o.upscale));
    check_small_face_options(o);
    if (!o.box_adjust) o.box_adjust = default_box_adjust(o.kind);
    if (!(o.box_adjust->width > 0 && o.box_adjust->height > 0 && std::abs(o.box_adjust->shift_down) <= 1))
        throw ConfigError(fmt::format("box adjustment {},{},{}: expected a shift of -1..1 and scales above 0",
                                      o.box_adjust->shift_down, o.box_adjust->width, o.box_adjust->height));
    if ((o.flip || !o.extra_sides.empty()) && o.kind != FaceDetectorKind::yunet)
        throw ConfigError("--flip and --extra-side work with --detector yunet");
    for (const int side : o.extra_sides)
        if (side < 64) throw ConfigError(fmt::format("--extra-side is {}, expected 64 or more", side));
    if (o.small_faces == 1.0f) return make_one_detector(o);
    FaceDetectorOptions second = o;
    second.max_side = o.small_face_side;
    second.upscale = o.small_faces;
    second.min_face = o.small_face_min;
    second.flip = false;  // the small-face pass is costly enough on its own
    second.extra_sides.clear();
    return std::make_unique<TwoPassDetector>(make_one_detector(o), make_one_detector(second), o.small_face_max);
}

cv::Rect face_crop_rect(const cv::Rect2f& box, float pad, float shift_down) {
    const float side = std::max(box.width, box.height) * (1.0f + pad);
    const float cx = box.x + box.width / 2;
    const float cy = box.y + box.height / 2 + shift_down * box.height;
    const int s = std::max(1, static_cast<int>(std::lround(side)));
    return {static_cast<int>(std::lround(cx - side / 2)), static_cast<int>(std::lround(cy - side / 2)), s, s};
}

cv::Mat crop_padded(const cv::Mat& image, const cv::Rect& rect) {
    const cv::Rect inside = rect & cv::Rect(0, 0, image.cols, image.rows);
    if (inside.empty()) throw Error("crop_padded: the region lies outside the image");
    cv::Mat out;
    cv::copyMakeBorder(image(inside), out, inside.y - rect.y, rect.br().y - inside.br().y, inside.x - rect.x,
                       rect.br().x - inside.br().x, cv::BORDER_REPLICATE);
    return out;
}

cv::Mat face_crop(const cv::Mat& image, const cv::Rect2f& box, float pad, float shift_down) {
    return crop_padded(image, face_crop_rect(box, pad, shift_down));
}

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
    const float inter = (a & b).area();
    const float uni = a.area() + b.area() - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

}  // namespace maskctl
