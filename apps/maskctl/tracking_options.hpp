#pragma once
// The flags that decide how the live pipeline follows and labels faces over time, shared by
// maskctl detect and maskctl serve so a served camera behaves exactly as a detected one.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "maskctl/detect/pipeline.hpp"

namespace maskctl::app {

struct TrackingOptions {
    int classify_every = 5, classify_max = 2;
    int smooth = 3;
    float hysteresis = 0.2f;
    std::vector<std::string> violation_classes;
    int violation_frames = 15;
    double violation_repeat = 30;

    void add_to(CLI::App* cmd) {
        cmd->add_option("--classify-every", classify_every, "Reclassify a steady face every K frames")
            ->capture_default_str()->check(CLI::PositiveNumber);
        cmd->add_option("--classify-max", classify_max, "At most N known faces reclassified per frame (0 = no limit)")
            ->capture_default_str()->check(CLI::NonNegativeNumber);
        cmd->add_option("--smooth", smooth, "Classifications averaged per face")->capture_default_str()
            ->check(CLI::PositiveNumber);
        cmd->add_option("--hysteresis", hysteresis, "Margin a new label needs to replace the shown one")
            ->capture_default_str()->check(CLI::Range(0.0, 0.99));
        cmd->add_option("--violation-frames", violation_frames, "Frames a face must stay unmasked")
            ->capture_default_str()->check(CLI::PositiveNumber);
        cmd->add_option("--violation-repeat", violation_repeat, "Seconds before one face raises another violation")
            ->capture_default_str();
        cmd->add_option("--violation-class", violation_classes,
                        "Class that counts as a violation (repeatable; default: every class that is not a mask)");
    }

    void apply(DetectOptions& o) const {
        o.schedule.every = classify_every;
        o.schedule.max_per_frame = classify_max;
        o.tracker.smooth_window = smooth;
        o.tracker.hysteresis = hysteresis;
        o.violation_classes = violation_classes;
        o.violation_frames = violation_frames;
        o.violation_repeat = violation_repeat;
    }
};

}  // namespace maskctl::app
