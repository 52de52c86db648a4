#pragma once
// Learning-rate schedules: constant, step, cosine, Keras' legacy decay and reduce-on-plateau.
// The state is two numbers, saved with a run so --resume continues the same curve.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "maskctl/core/config.hpp"

namespace maskctl {

class LrSchedule {
public:
    LrSchedule(const ScheduleConfig& config, double base_lr, int total_epochs);

    // Learning rate for a step of `epoch` (0-based) after `iteration` optimizer steps in all.
    double lr(int epoch, std::int64_t iteration) const;

    // Feeds the epoch's validation loss to reduce-on-plateau (ignored by the other schedules).
    void end_epoch(double val_loss);

    nlohmann::json state() const;
    void load_state(const nlohmann::json& state);

private:
    ScheduleConfig config_;
    double base_lr_;
    int total_epochs_;
    double plateau_scale_ = 1.0;  // product of the plateau drops so far
    double best_loss_ = 0;
    bool has_best_ = false;
    int bad_epochs_ = 0;
};

}  // namespace maskctl
