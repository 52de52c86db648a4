#include "maskctl/detect/annotate.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

// "Without-Mask" -> "without_mask".
std::string normalized(const std::string& name) {
    std::string out;
    for (char c : name) out += (c == '-' || c == ' ') ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

double scale_for(const cv::Mat& img, const AnnotateStyle& style) {
    if (style.scale > 0) return style.scale;
    // Readable on a 640x480 frame, and proportionally larger on HD frames and photos.
    return std::clamp(std::max(img.cols, img.rows) / 900.0, 0.5, 2.0);
}

}  // namespace

LabelKind label_kind(const std::string& class_name) {
    const std::string n = normalized(class_name);
    if (n == "with_mask" || n == "mask" || n == "masked") return LabelKind::mask;
    if (n == "without_mask" || n == "no_mask" || n == "nomask" || n == "unmasked") return LabelKind::no_mask;
    return LabelKind::other;
}

std::string display_name(const std::string& class_name) {
    const std::string n = normalized(class_name);
    if (label_kind(class_name) == LabelKind::mask) return "Mask";
    if (label_kind(class_name) == LabelKind::no_mask) return "No Mask";
    if (n == "mask_weared_incorrect" || n == "mask_worn_incorrectly" || n == "incorrect_mask") return "Mask incorrect";
    return class_name;
}

std::string face_label(const std::string& class_name, float confidence) {
    return fmt::format("{} {:.1f}%", display_name(class_name), 100.0f * confidence);
}

const cv::Scalar& color_for(LabelKind kind, const AnnotateStyle& style) {
    switch (kind) {
        case LabelKind::mask: return style.mask;
        case LabelKind::no_mask: return style.no_mask;
        default: return style.other;
    }
}

cv::Scalar parse_color(const std::string& text) {
    const auto bad = [&] {
        return ConfigError(fmt::format("colour '{}': expected #RRGGBB or R,G,B with values 0..255", text));
    };
    int r = -1, g = -1, b = -1;
    std::string hex = text.starts_with("#") ? text.substr(1) : text;
    if (hex.size() == 6 && std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
        const unsigned long v = std::stoul(hex, nullptr, 16);
        r = static_cast<int>(v >> 16 & 255), g = static_cast<int>(v >> 8 & 255), b = static_cast<int>(v & 255);
    } else {
        char tail = 0;
        if (std::sscanf(text.c_str(), "%d,%d,%d%c", &r, &g, &b, &tail) != 3) throw bad();
    }
    if (r < 0 || r > 255 || g < 0 || g > 255 || b < 0 || b > 255) throw bad();
    return {static_cast<double>(b), static_cast<double>(g), static_cast<double>(r)};
}

void draw_face(cv::Mat& bgr, const cv::Rect& box, const std::string& text, const cv::Scalar& color,
               const AnnotateStyle& style) {
    const double s = scale_for(bgr, style);
    const int thick = std::max(1, static_cast<int>(std::lround(2 * s)));
    cv::rectangle(bgr, box, color, thick, cv::LINE_AA);
    if (text.empty()) return;
    const double font = 0.6 * s;
    int baseline = 0;
    const cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font, thick, &baseline);
    const int pad = std::max(2, static_cast<int>(std::lround(4 * s)));
    const int tag_h = ts.height + baseline + 2 * pad;
    // Above the box when it fits, otherwise inside its top edge (faces at the top of the frame).
    int y = box.y - tag_h;
    if (y < 0) y = std::max(0, box.y);
    const int x = std::clamp(box.x, 0, std::max(0, bgr.cols - ts.width - 2 * pad));
    cv::rectangle(bgr, cv::Rect(x, y, ts.width + 2 * pad, tag_h), color, cv::FILLED);
    // Dark text on light tags (green, amber), white on dark ones (red).
    const double luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2];
    const cv::Scalar ink = luma > 110 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
    cv::putText(bgr, text, {x + pad, y + pad + ts.height}, cv::FONT_HERSHEY_SIMPLEX, font, ink, thick, cv::LINE_AA);
}

void blur_faces(cv::Mat& bgr, const std::vector<cv::Rect>& boxes) {
    const cv::Rect frame(0, 0, bgr.cols, bgr.rows);
    for (const cv::Rect& box : boxes) {
        const cv::Rect r = box & frame;
        if (r.width < 2 || r.height < 2) continue;
        cv::Mat roi = bgr(r);
        // A blur alone can be partly undone; pixelating to about 8 blocks across first cannot.
        cv::Mat small;
        const int block = std::max(1, r.width / 8);
        cv::resize(roi, small, {std::max(1, r.width / block), std::max(1, r.height / block)}, 0, 0, cv::INTER_AREA);
        cv::resize(small, roi, roi.size(), 0, 0, cv::INTER_NEAREST);
        const int k = std::max(3, (std::min(r.width, r.height) / 4) | 1);
        cv::GaussianBlur(roi, roi, {k, k}, 0);
    }
}

void draw_panel(cv::Mat& bgr, const std::vector<std::string>& lines, const AnnotateStyle& style) {
    if (lines.empty()) return;
    const double s = scale_for(bgr, style);
    const double font = 0.45 * s;
    const int thick = 1;
    const int pad = std::max(3, static_cast<int>(std::lround(5 * s)));
    int width = 0, line_h = 0, baseline = 0;
    for (const auto& l : lines) {
        const cv::Size ts = cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, font, thick, &baseline);
        width = std::max(width, ts.width);
        line_h = std::max(line_h, ts.height + baseline + pad / 2);
    }
    const cv::Rect panel = cv::Rect(0, 0, width + 2 * pad, line_h * static_cast<int>(lines.size()) + pad) &
                           cv::Rect(0, 0, bgr.cols, bgr.rows);
    cv::Mat roi = bgr(panel);
    cv::Mat dark(roi.size(), roi.type(), cv::Scalar::all(0));
    cv::addWeighted(roi, 0.45, dark, 0.55, 0, roi);
    for (size_t i = 0; i < lines.size(); ++i)
        cv::putText(bgr, lines[i], {pad, pad / 2 + line_h * static_cast<int>(i + 1) - baseline},
                    cv::FONT_HERSHEY_SIMPLEX, font, cv::Scalar(255, 255, 255), thick, cv::LINE_AA);
}

void write_image(const std::filesystem::path& file, const cv::Mat& bgr) {
    std::vector<unsigned char> bytes;
    bool ok = false;
    try {
        ok = cv::imencode(file.extension().string(), bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, 92});
    } catch (const cv::Exception&) {
        ok = false;  // an extension OpenCV has no encoder for
    }
    if (!ok) throw IoError(fmt::format("{}: cannot encode an image with this extension", file.string()));
    write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace maskctl
