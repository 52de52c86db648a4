#include "maskctl/train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace maskctl {

LrSchedule::LrSchedule(const ScheduleConfig& config, double base_lr, int total_epochs)
    : config_(config), base_lr_(base_lr), total_epochs_(std::max(1, total_epochs)) {}

double LrSchedule::lr(int epoch, std::int64_t iteration) const {
    switch (config_.type) {
        case ScheduleType::step: return base_lr_ * std::pow(config_.gamma, epoch / config_.step_size);
        case ScheduleType::cosine: {
            const double progress = std::min(1.0, static_cast<double>(epoch) / total_epochs_);
            return config_.min_lr + (base_lr_ - config_.min_lr) * 0.5 * (1 + std::cos(M_PI * progress));
        }
        // Keras' optimizer `decay` argument (before TF 2.11): applied per iteration, not per epoch.
        case ScheduleType::legacy_decay: return base_lr_ / (1.0 + config_.decay * static_cast<double>(iteration));
        case ScheduleType::plateau: return std::max(config_.min_lr, base_lr_ * plateau_scale_);
        case ScheduleType::constant: return base_lr_;
    }
    return base_lr_;
}

void LrSchedule::end_epoch(double val_loss) {
    if (config_.type != ScheduleType::plateau) return;
    // Keras' ReduceLROnPlateau default: an improvement is any decrease of the monitored loss.
    if (!has_best_ || val_loss < best_loss_) {
        best_loss_ = val_loss;
        has_best_ = true;
        bad_epochs_ = 0;
        return;
    }
    if (++bad_epochs_ > config_.patience) {
        plateau_scale_ *= config_.factor;
        bad_epochs_ = 0;
    }
}

nlohmann::json LrSchedule::state() const {
    return {{"plateau_scale", plateau_scale_}, {"best_loss", best_loss_}, {"has_best", has_best_},
            {"bad_epochs", bad_epochs_}};
}

void LrSchedule::load_state(const nlohmann::json& state) {
    plateau_scale_ = state.at("plateau_scale");
    best_loss_ = state.at("best_loss");
    has_best_ = state.at("has_best");
    bad_epochs_ = state.at("bad_epochs");
}

}  // namespace maskctl
