#pragma once
// Drawing results on BGR frames: a box and "Mask 98.7%" per face, green for a mask, red for none,
// amber for any other class, and a small text panel (frames/s, per-stage latency).
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace maskctl {

// What a class means for the people watching: a dataset's class names vary, the colours should not.
enum class LabelKind { mask, no_mask, other };

// with_mask, mask, masked -> mask; without_mask, no_mask, nomask, unmasked -> no_mask (any letter
// case, '-', ' ' or '_' between words); everything else (e.g. mask_weared_incorrect) -> other.
LabelKind label_kind(const std::string& class_name);

// with_mask -> "Mask", without_mask -> "No Mask", mask_weared_incorrect -> "Mask incorrect"; other
// names as they are.
std::string display_name(const std::string& class_name);

// "Mask 98.7%".
std::string face_label(const std::string& class_name, float confidence);

struct AnnotateStyle {
    cv::Scalar mask{0, 200, 0};      // BGR green
    cv::Scalar no_mask{0, 0, 230};   // red
    cv::Scalar other{0, 191, 255};   // amber
    cv::Scalar pending{200, 200, 200};  // a face not classified yet
    double scale = 0;                // text and line size factor; 0 = from the frame size
};

const cv::Scalar& color_for(LabelKind kind, const AnnotateStyle& style);

// "#RRGGBB", "RRGGBB" or "R,G,B" (0..255) -> BGR. Throws ConfigError naming the value.
cv::Scalar parse_color(const std::string& text);

// A box with `text` on a filled tag above it (below when there is no room above).
void draw_face(cv::Mat& bgr, const cv::Rect& box, const std::string& text, const cv::Scalar& color,
               const AnnotateStyle& style = {});

// Privacy (maskctl serve --blur-faces): each box, clipped to the frame, made unrecognisable by a
// heavy blur of a pixelated copy. Draw the boxes and labels afterwards, so they stay readable.
void blur_faces(cv::Mat& bgr, const std::vector<cv::Rect>& boxes);

// Lines of text on a dark translucent panel in the top-left corner.
void draw_panel(cv::Mat& bgr, const std::vector<std::string>& lines, const AnnotateStyle& style = {});

// Encodes a BGR image by the file's extension (.jpg, .png, ...) and writes it atomically.
// Throws IoError naming the file when encoding or writing fails.
void write_image(const std::filesystem::path& file, const cv::Mat& bgr);

}  // namespace maskctl
