#pragma once
// The flags that decide which faces the detect path finds and how it crops them, shared by
// maskctl detect, val and data crops so an evaluation runs exactly what detection runs.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "maskctl/core/enum_names.hpp"
#include "maskctl/detect/pipeline.hpp"

namespace maskctl::app {

struct DetectorOptions {
    std::string detector = "yunet";
    std::string face_models = "data/models/face";
    float confidence = -1;
    int min_face = 24;
    int max_side = 640;
    float upscale = 1.0f;
    float small_faces = 1.0f;
    bool flip = false;
    std::vector<int> extra_sides;
    std::string box_adjust = "auto";
    float crop_pad = 0.2f;

    void add_to(CLI::App* cmd, bool crops = true) {
        cmd->add_option("--detector", detector,
                        "Face detector (scrfd: opt-in, its weights are for non-commercial research only)")->capture_default_str()
            ->check(CLI::IsMember(enum_choices<FaceDetectorKind>()));
        cmd->add_option("--face-models", face_models, "Folder with the face detector model files")->capture_default_str();
        cmd->add_option("--confidence", confidence, "Face detector threshold (default: yunet 0.6, ssd 0.5, scrfd 0.4)")
            ->check(CLI::Range(0.0, 1.0));
        cmd->add_option("--min-face", min_face, "Ignore faces smaller than this (pixels)")->capture_default_str();
        cmd->add_option("--max-side", max_side, "Shrink larger frames to this longer side for detection (0 = never)")
            ->capture_default_str()->check(CLI::NonNegativeNumber);
        cmd->add_option("--upscale", upscale, "Then enlarge the frame by this factor for detection: small faces "
                                              "(yunet, haar; about upscale^2 the cost)")
            ->capture_default_str()->check(CLI::Range(1.0, 4.0));
        cmd->add_option("--small-faces", small_faces, "A second detection pass for 10-32 px faces: the full-resolution "
                                                      "frame enlarged by this factor (1 = off; yunet, haar)")
            ->capture_default_str()->check(CLI::Range(1.0, 4.0));
        cmd->add_flag("--flip", flip, "Also search the mirrored frame and fuse the passes (yunet; twice the detection "
                                      "cost, fewer false alarms)");
        cmd->add_option("--extra-side", extra_sides, "Also search the frame at this longer side and fuse the passes "
                                                     "(yunet; repeatable, e.g. 800)")
            ->check(CLI::Range(64, 8192));
        cmd->add_option("--box-adjust", box_adjust, "Move and scale the detector's boxes: SHIFT,WIDTH,HEIGHT (auto: "
                                                    "yunet 0.06,0.96,0.945, scrfd 0.055,0.997,0.923, as fitted on "
                                                    "labelled photos; 0,1,1 = none)")
            ->capture_default_str();
        if (crops)
            cmd->add_option("--crop-pad", crop_pad, "Padding around the face box for the classifier crop")
                ->capture_default_str();
    }

    void apply(DetectOptions& o) const {
        o.detector.kind = face_detector_kind(detector);
        o.detector.models_dir = face_models;
        o.detector.confidence = confidence;
        o.detector.min_face = min_face;
        o.detector.max_side = max_side;
        o.detector.upscale = upscale;
        o.detector.small_faces = small_faces;
        o.detector.flip = flip;
        o.detector.extra_sides = extra_sides;
        if (box_adjust != "auto") o.detector.box_adjust = parse_box_adjust(box_adjust);
        o.crop_pad = crop_pad;
    }
};

}  // namespace maskctl::app
