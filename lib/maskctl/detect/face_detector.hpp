#pragma once
// Finding faces in a frame with OpenCV's detectors: YuNet (cv::FaceDetectorYN, ONNX), the SSD
// ResNet-10 (cv::dnn, TensorFlow) and the Haar cascade that ships with Debian's opencv-data as the
// always-available fallback. Frames are BGR, as OpenCV captures them and as these detectors were trained.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "maskctl/core/enum_names.hpp"

namespace maskctl {

struct Face {
    cv::Rect2f box;     // in frame pixels (may reach past the frame edge for partly visible faces)
    float score = 1.0f;  // detector confidence 0..1 (Haar: 1)
};

// scrfd: opt-in only, its weights are licensed for non-commercial research (docs/detect.md).
enum class FaceDetectorKind { yunet, ssd, haar, scrfd };
MASKCTL_ENUM_NAMES(FaceDetectorKind, {{FaceDetectorKind::yunet, "yunet"},
                                      {FaceDetectorKind::ssd, "ssd"},
                                      {FaceDetectorKind::scrfd, "scrfd"},
                                      {FaceDetectorKind::haar, "haar"}})

// A detector name as typed (flags); throws ConfigError naming the known ones.
FaceDetectorKind face_detector_kind(const std::string& name);

// How a detector's boxes are moved and scaled to match the way people draw face boxes: the centre moves
// down by shift_down x the height, then width and height are scaled (centre kept). YuNet, trained on
// bare faces, stops its box at the mouth of a masked face; labellers include the mask and the chin.
struct BoxAdjust {
    float shift_down = 0.0f;
    float width = 1.0f;
    float height = 1.0f;
    bool operator==(const BoxAdjust&) const = default;
};
cv::Rect2f adjust_box(const cv::Rect2f& box, const BoxAdjust& adjust);
// "0.06,0.96,0.945" (shift_down,width,height); throws ConfigError naming the value.
BoxAdjust parse_box_adjust(const std::string& text);
// `first`, then `then`, as one adjustment.
BoxAdjust combine(const BoxAdjust& first, const BoxAdjust& then);
// The adjustment that takes detected boxes to the labelled boxes they match, as (detected, labelled)
// pairs: the medians of the centre shift (in detected heights) and of the width and height ratios.
// Medians, because labellers disagree: some boxes hold hair and chin, some the face alone.
BoxAdjust fit_box_adjust(const std::vector<std::pair<cv::Rect2f, cv::Rect2f>>& pairs);

struct FaceDetectorOptions {
    FaceDetectorKind kind = FaceDetectorKind::yunet;
    // Holds face_detection_yunet_2022mar.onnx, opencv_face_detector_uint8.pb and opencv_face_detector.pbtxt
    // (and scrfd_2.5g_bnkps.onnx for the opt-in SCRFD).
    std::filesystem::path models_dir = "data/models/face";
    std::filesystem::path haar_cascade = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
    // Minimum detector score; < 0 takes the detector's own default (default_confidence).
    float confidence = -1.0f;
    int min_face = 24;  // faces smaller than this (shorter side, frame pixels) are dropped
    // Frames wider or taller than this are shrunk for detection (boxes are mapped back): detection cost
    // grows with the pixel count. 0 = never.
    int max_side = 640;
    // Then the frame is enlarged by this factor (YuNet, Haar): YuNet finds few faces under ~20 px, so 2
    // turns a 12 px face into a 24 px one, for about 4x the detection cost. 1 = off.
    float upscale = 1.0f;
    // A second pass for small faces (crowd cameras); 1 = off. The frame at up to small_face_side pixels
    // (not shrunk to max_side) is enlarged by this factor and searched again; faces from it shorter than
    // small_face_max that the first pass did not find are added. The first pass keeps every large face
    // (enlarging alone makes YuNet miss big ones), the second finds the 10-24 px faces the first cannot.
    float small_faces = 1.0f;
    int small_face_min = 10;    // shorter side, frame pixels: the second pass's minimum face
    int small_face_max = 32;    // faces this large or larger come from the first pass only
    int small_face_side = 1920;  // longer side the frame is shrunk to before the second pass (memory, time)
    // Test-time augmentation (YuNet): the frame is also searched mirrored, and/or at these extra longer
    // sides; the passes are fused (fuse_passes), so a face found by one pass only keeps part of its score.
    bool flip = false;
    std::vector<int> extra_sides;
    // Unset: default_box_adjust(kind).
    std::optional<BoxAdjust> box_adjust;
};

// The score threshold each detector works well at on masked faces (see docs/detect.md).
float default_confidence(FaceDetectorKind kind);
// The box adjustment fitted for each detector on the train split of face-mask-realworld (see
// docs/evaluation.md); identity for the detectors it was not fitted for.
BoxAdjust default_box_adjust(FaceDetectorKind kind);

// Several detection passes over one frame (mirrored, other sizes) as one list: boxes overlapping the
// best remaining box by IoU >= iou_threshold are one face, whose box is their score-weighted mean and
// whose score is the sum of their scores over max(passes, boxes): a face every pass finds keeps its
// score, one found by a single pass of two keeps half. Best score first.
std::vector<Face> fuse_passes(const std::vector<std::vector<Face>>& passes, float iou_threshold = 0.3f);

class FaceDetector {
public:
    virtual ~FaceDetector() = default;
    // Faces in a BGR 8-bit frame, best score first.
    virtual std::vector<Face> detect(const cv::Mat& bgr) = 0;
    virtual std::string name() const = 0;
};

// Loads the detector `options.kind`. Throws ConfigError for a bad option and
// ModelFileError naming the file when a model file is missing or OpenCV cannot load it.
std::unique_ptr<FaceDetector> make_face_detector(const FaceDetectorOptions& options);

// The region to classify for a face: a square of side max(w, h) * (1 + pad) around the box, moved
// down by `shift_down` * h, because the mask covers the lower face and detectors' boxes often stop
// at the mouth on masked faces; the crop must include mouth and chin. May extend past the frame.
cv::Rect face_crop_rect(const cv::Rect2f& box, float pad = 0.2f, float shift_down = 0.05f);

// Cuts `rect` out of `image`, filling any part outside the frame by replicating the border, so the
// face stays centred as in the training crops. Returns a new (owned) image of rect's size.
cv::Mat crop_padded(const cv::Mat& image, const cv::Rect& rect);

// The classifier's input for a face, as the detect path cuts it: crop_padded(face_crop_rect(...)).
cv::Mat face_crop(const cv::Mat& image, const cv::Rect2f& box, float pad = 0.2f, float shift_down = 0.05f);

// Intersection over union of two boxes (0 when either is empty).
float iou(const cv::Rect2f& a, const cv::Rect2f& b);

}  // namespace maskctl
