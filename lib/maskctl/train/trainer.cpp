#include "maskctl/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/append_file.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/clock.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/json.hpp"
#include "maskctl/core/random.hpp"
#include "maskctl/core/run_dir.hpp"
#include "maskctl/core/threads.hpp"
#include "maskctl/core/version.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/model/classifier.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/model/tflite.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/plot/plots.hpp"
#include "maskctl/train/lr_schedule.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;

constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();  // validation numbers of a run without one

// Logits and labels of one split, plus what they add up to.
struct Scored {
    torch::Tensor logits;  // [N, classes]
    torch::Tensor labels;  // [N] int64
};

struct SplitScore {
    double loss = 0, accuracy = 0, f1 = 0;
    Metrics metrics;
};

SplitScore score(const Scored& s, const std::vector<std::string>& class_names) {
    SplitScore out;
    if (s.labels.numel() == 0) return out;
    out.loss = torch::nn::functional::cross_entropy(s.logits, s.labels).item<double>();
    const torch::Tensor pred = s.logits.argmax(1).contiguous();
    const torch::Tensor labels = s.labels.contiguous();
    std::vector<int> y_true(labels.data_ptr<int64_t>(), labels.data_ptr<int64_t>() + labels.numel());
    std::vector<int> y_pred(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
    out.metrics = compute_metrics(y_true, y_pred, class_names);
    out.accuracy = out.metrics.accuracy;
    out.f1 = out.metrics.macro.f1;
    return out;
}

double metric_value(Metric metric, const EpochRecord& r) {
    switch (metric) {
        case Metric::val_accuracy: return r.val_accuracy;
        case Metric::val_f1: return r.val_f1;
        case Metric::val_loss: return r.val_loss;
    }
    return r.val_loss;
}

bool lower_is_better(Metric metric) { return metric == Metric::val_loss; }

bool improves(Metric metric, double value, double best, double min_delta) {
    return lower_is_better(metric) ? value < best - min_delta : value > best + min_delta;
}

torch::Tensor class_weight_tensor(const TrainConfig& t, const std::vector<std::size_t>& counts) {
    const auto n = static_cast<int64_t>(counts.size());
    if (t.class_weights.mode == ClassWeightMode::manual) {
        if (static_cast<int64_t>(t.class_weights.values.size()) != n)
            throw ConfigError(fmt::format("key 'train.class_weights' has {} values, expected {} (one per class)",
                                          t.class_weights.values.size(), n));
        return torch::tensor(t.class_weights.values, torch::kFloat32);
    }
    if (t.class_weights.mode != ClassWeightMode::balanced) return {};
    std::size_t total = 0;
    for (auto c : counts) total += c;
    std::vector<float> w;
    for (auto c : counts) w.push_back(c ? static_cast<float>(total) / (n * c) : 0.f);
    return torch::tensor(w, torch::kFloat32);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, std::vector<torch::Tensor> params) {
    if (t.optimizer == Optimizer::sgd)
        return std::make_unique<torch::optim::SGD>(
            params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).nesterov(t.nesterov).weight_decay(t.weight_decay));
    // Keras' Adam uses epsilon 1e-7 (PyTorch's default is 1e-8).
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(t.lr).eps(1e-7).weight_decay(t.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
    for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

// Logits of the head over cached features, in eval mode, in chunks.
Scored score_cached(Classifier& model, const torch::Tensor& features, const torch::Tensor& labels) {
    torch::NoGradGuard no_grad;
    model->head->eval();
    std::vector<torch::Tensor> parts;
    for (int64_t i = 0; i < features.size(0); i += 1024)
        parts.push_back(model->head->classify(features.slice(0, i, std::min<int64_t>(i + 1024, features.size(0)))));
    return {parts.empty() ? torch::zeros({0, 0}) : torch::cat(parts), labels};
}

// Logits of the whole model over images, in eval mode.
Scored score_images(Classifier& model, const std::vector<Sample>& samples, LoaderOptions lo, const std::string& phase,
                    TrainObserver& observer) {
    lo.augment.reset();
    model->eval();
    c10::InferenceMode guard;
    std::vector<torch::Tensor> logits, labels;
    for_each_batch(samples, lo, 0, [&](const Batch& batch, std::size_t done) {
        logits.push_back(model->forward(batch.images));
        labels.push_back(batch.labels);
        observer.on_progress(phase, done, samples.size());
    });
    if (logits.empty()) return {torch::zeros({0, 0}), torch::zeros({0}, torch::kInt64)};
    return {torch::cat(logits), torch::cat(labels)};
}

// ---- run folder files --------------------------------------------------------------------------

// Validation columns are empty in a run without a validation split.
std::string csv_number(double v) { return std::isnan(v) ? "" : fmt::format("{:.6f}", v); }

std::string history_csv(const std::vector<EpochRecord>& history) {
    std::string out = "epoch,seconds,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_f1\n";
    for (const auto& r : history)
        out += fmt::format("{},{:.3f},{:.6g},{:.6f},{:.6f},{},{},{}\n", r.epoch, r.seconds, r.lr, r.train_loss,
                           r.train_accuracy, csv_number(r.val_loss), csv_number(r.val_accuracy), csv_number(r.val_f1));
    return out;
}

// JSON writes NaN (no validation) as null; read it back as NaN.
double number_or_nan(const nlohmann::json& j) { return j.is_null() ? kNoValue : j.get<double>(); }

nlohmann::json epoch_json(const EpochRecord& r) {
    return {{"epoch", r.epoch},         {"seconds", r.seconds},   {"lr", r.lr},
            {"train_loss", r.train_loss}, {"train_accuracy", r.train_accuracy}, {"val_loss", r.val_loss},
            {"val_accuracy", r.val_accuracy}, {"val_f1", r.val_f1}};
}

void append_log(const fs::path& file, nlohmann::json event) {
    event["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    append_line(file, event.dump());
}

void write_results_png(const fs::path& file, const std::vector<EpochRecord>& history) {
    std::vector<double> tl, vl, ta, va;
    for (const auto& r : history)
        tl.push_back(r.train_loss), vl.push_back(r.val_loss), ta.push_back(r.train_accuracy), va.push_back(r.val_accuracy);
    const cv::Scalar blue(31, 119, 180), orange(255, 127, 14);
    std::vector<Series> loss_series{{"train", tl, blue}}, acc_series{{"train", ta, blue}};
    if (!history.empty() && !std::isnan(history.front().val_loss)) {  // a run without validation has no val curve
        loss_series.push_back({"val", vl, orange});
        acc_series.push_back({"val", va, orange});
    }
    cv::Mat loss = draw_line_panel("loss", loss_series);
    cv::Mat acc = draw_line_panel("accuracy", acc_series);
    cv::Mat both;
    cv::hconcat(loss, acc, both);
    write_png(file, both);
}

struct RunState {
    int epoch = 0;  // epochs completed
    int64_t iteration = 0;
    std::vector<EpochRecord> history;
    int best_epoch = 0;
    double best_value = 0;
    double es_best = 0;
    int es_bad_epochs = 0;
};

// The config is kept with the state so that --resume can tell when config.json no longer matches.
nlohmann::json state_json(const RunState& s, const LrSchedule& schedule, const Config& config) {
    nlohmann::json h = nlohmann::json::array();
    for (const auto& r : s.history) h.push_back(epoch_json(r));
    return {{"epoch", s.epoch},         {"iteration", s.iteration}, {"history", h},
            {"best_epoch", s.best_epoch}, {"best_value", s.best_value}, {"es_best", s.es_best},
            {"es_bad_epochs", s.es_bad_epochs}, {"schedule", schedule.state()}, {"config", to_json(config)}};
}

RunState state_from_json(const nlohmann::json& j, LrSchedule& schedule) {
    RunState s;
    s.epoch = j.at("epoch");
    s.iteration = j.at("iteration");
    for (const auto& r : j.at("history"))
        s.history.push_back({r.at("epoch"), r.at("seconds"), r.at("lr"), r.at("train_loss"), r.at("train_accuracy"),
                             number_or_nan(r.at("val_loss")), number_or_nan(r.at("val_accuracy")),
                             number_or_nan(r.at("val_f1"))});
    s.best_epoch = j.at("best_epoch");
    s.best_value = j.at("best_value");
    s.es_best = j.at("es_best");
    s.es_bad_epochs = j.at("es_bad_epochs");
    schedule.load_state(j.at("schedule"));
    return s;
}

// The resume checkpoint: model, optimizer and loop state in one file, replaced atomically.
void save_checkpoint(const fs::path& file, Classifier& model, torch::optim::Optimizer& opt, const nlohmann::json& state) {
    torch::serialize::OutputArchive archive, model_archive, opt_archive;
    model->save(model_archive);
    opt.save(opt_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", opt_archive);
    archive.write("state", torch::IValue(state.dump()));
    // Serialized in memory, then written like every other output: LibTorch's own file writer throws
    // from a destructor when the disk is full (an abort) and leaves its temporary behind.
    std::string bytes;
    archive.save_to([&](const void* data, std::size_t size) {
        bytes.append(static_cast<const char*>(data), size);
        return size;
    });
    write_file_atomic(file, bytes);
}

[[noreturn]] void unusable_checkpoint(const fs::path& file, const std::string& why) {
    throw ModelFileError(fmt::format("{}: not a usable checkpoint ({})", file.string(), why.substr(0, 200)));
}

// The loop state of a checkpoint, read without touching a model: checked before anything is built.
nlohmann::json read_checkpoint_state(const fs::path& file) {
    try {
        torch::serialize::InputArchive archive;
        archive.load_from(file.string());
        torch::IValue state;
        archive.read("state", state);
        JsonParse parsed = parse_json(state.toStringRef());
        if (!parsed.ok()) unusable_checkpoint(file, "its state is not JSON: " + parsed.error);
        nlohmann::json j = std::move(parsed.value);
        for (const char* key : {"epoch", "iteration", "history", "best_epoch", "best_value", "schedule"})
            if (!j.contains(key)) unusable_checkpoint(file, fmt::format("no \"{}\" in its state", key));
        return j;
    } catch (const c10::Error& e) {
        unusable_checkpoint(file, e.what_without_backtrace());
    } catch (const nlohmann::json::exception& e) {
        unusable_checkpoint(file, e.what());
    }
}

void load_checkpoint_weights(const fs::path& file, Classifier& model, torch::optim::Optimizer& opt) {
    try {
        torch::serialize::InputArchive archive, model_archive, opt_archive;
        archive.load_from(file.string());
        archive.read("model", model_archive);
        archive.read("optimizer", opt_archive);
        model->load(model_archive);
        opt.load(opt_archive);
    } catch (const c10::Error& e) {
        unusable_checkpoint(file, e.what_without_backtrace());
    }
}

// Leaf keys of a config document, as dotted paths.
void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, nlohmann::json>& out) {
    if (!j.is_object()) {
        out[prefix] = j;
        return;
    }
    for (const auto& [key, value] : j.items()) flatten(value, prefix.empty() ? key : prefix + "." + key, out);
}

// Keys that may differ between config.json and the checkpoint: where things are, not what they are.
bool location_key(const std::string& key) {
    return key == "data.root" || key == "data.split_file" || key == "output.runs_dir" || key == "model.backbone.weights";
}

// A resumed run must be the run of its checkpoint: config.json edited by hand since is refused.
void check_checkpoint_config(const fs::path& run_dir, const Config& config, const nlohmann::json& state) {
    if (!state.contains("config")) return;  // checkpoints of maskctl before this check
    std::map<std::string, nlohmann::json> now, then;
    flatten(to_json(config), "", now);
    flatten(state.at("config"), "", then);
    for (const auto& [key, value] : then) {
        if (resume_safe_key(key) || location_key(key)) continue;
        const auto it = now.find(key);
        if (it == now.end() || it->second != value)
            throw ConfigError(fmt::format("{}: key '{}' is {} but last.ckpt was trained with {}; --resume continues the "
                                          "run of its checkpoint (put the value back, or start a new run)",
                                          (run_dir / "config.json").string(), key,
                                          it == now.end() ? "missing" : it->second.dump(), value.dump()));
    }
}

std::string report_text(const TrainResult& r, const Dataset& data, const Config& config) {
    std::string out = fmt::format("maskctl {} training report\nrun: {}\ndata: {} ({} layout), classes: {}\n", version(),
                                  r.run_dir.string(), data.root.string(), data.layout, fmt::join(data.class_names, ", "));
    out += fmt::format("images: train {}, val {}, test {}\n", data.samples(Split::train).size(),
                       data.samples(Split::val).size(), data.samples(Split::test).size());
    const std::string best = data.samples(Split::val).empty()
                                 ? "none (no validation split: the last epoch is kept)"
                                 : fmt::format("{} (by {})", r.best_epoch, enum_name(config.train.best_metric));
    out += fmt::format("mode: {}; epochs run: {} of {}; best epoch: {}; wall time: {:.1f} s\n\n", r.mode,
                       r.history.size(), config.train.epochs, best, r.seconds);
    if (r.test.total > 0) {
        const std::string model =
            r.evaluated_model == "last" ? fmt::format("Last model (epoch {})", r.evaluated_epoch) : "Best model";
        out += fmt::format("{} on the {} split ({} images):\n\n", model, r.evaluated_split, r.test.total);
        out += classification_report(r.test, 4) + "\n" + confusion_table(r.test);
        for (const auto& w : r.test.warnings) out += "warning: " + w + "\n";
    }
    return out;
}

// Weights of the best epoch so far, kept in memory for the final evaluation.
class BestWeights {
public:
    void keep(Classifier& model) { keep_from(model->parameters()); }
    void keep_from(const std::vector<torch::Tensor>& params) {
        params_.clear();
        torch::NoGradGuard g;
        for (const auto& p : params) params_.push_back(p.detach().clone());
    }
    bool empty() const { return params_.empty(); }
    void restore(Classifier& model) const {
        torch::NoGradGuard g;
        auto params = model->parameters();
        for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(params_[i]);
    }

private:
    std::vector<torch::Tensor> params_;
};

// Loss and accuracy summed over the steps of one epoch.
struct EpochStats {
    double lr = 0;  // of the last step
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
};

// One training run in named steps: prepare (config, data, run folder, model, resume), cache features,
// fit epoch by epoch, finish (final evaluation and report). Members hold what the steps share.
class Trainer {
public:
    Trainer(const Config& config, const TrainOptions& options, TrainObserver& observer)
        : config_(config), options_(options), observer_(observer) {}

    TrainResult run() {
        prepare();
        try {
            if (cached_) cache_features();
            fit();
        } catch (const Interrupted&) {
            result_.interrupted = true;  // last.ckpt holds the last whole epoch (epoch 0 before the first)
        }
        return finish();
    }

private:
    // ---- prepare -----------------------------------------------------------------------------

    void prepare() {
        if (!options_.resume.empty()) read_resume_config();
        threads_ = config_.train.threads > 0 ? config_.train.threads
                                             : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
        torch::set_num_threads(threads_);
        torch::manual_seed(static_cast<uint64_t>(config_.train.seed));
        open_data();
        open_run_folder();
        build_model();
        start_or_resume();
        choose_mode();
        result_.config = config_;
        observer_.on_start(config_, run_dir_);
    }

    // The run folder's config with the safe overrides, checked against the checkpoint before
    // anything is built or written.
    void read_resume_config() {
        run_dir_ = options_.resume;
        config_ = resume_config(run_dir_, options_.overrides);
        checkpoint_state_ = read_checkpoint_state(run_dir_ / "last.ckpt");
        check_checkpoint_config(run_dir_, config_, checkpoint_state_);
        // maskctl before issue 14 wrote the checkpoint through "last.ckpt.tmp", and a full disk or a kill
        // left that behind (9.4 MB). No writer uses the name now (atomic_file.hpp's temporaries carry a
        // pid, and the first write sweeps them), so in a run folder it is always such a leftover.
        std::error_code ignored;
        fs::remove(run_dir_ / "last.ckpt.tmp", ignored);
        // The folder's config.json says what the run does, also after a change on resume.
        if (!options_.overrides.empty())
            write_file_atomic(run_dir_ / "config.json", to_json(config_).dump(2) + "\n");
        config_.data.split_file = (run_dir_ / "split.csv").string();
    }

    void open_data() {
        data_ = open_dataset(config_.data);
        const auto& classes = data_.class_names;
        if (config_.model.num_classes && *config_.model.num_classes != static_cast<int>(classes.size()))
            throw ConfigError(fmt::format("key 'model.num_classes' has value {}, but {} has {} classes ({})",
                                          *config_.model.num_classes, data_.root.string(), classes.size(),
                                          fmt::join(classes, ", ")));
        if (!data_.bad_files.empty()) observer_.on_message(data_.bad_files.summary());
        has_val_ = !data_.samples(Split::val).empty();
        has_test_ = !data_.samples(Split::test).empty();
        if (train_samples().empty())
            throw DataError(fmt::format("{}: the train split is empty", data_.root.string()));
        if (!has_val_) check_without_validation();
        observer_.on_message(fmt::format("data: {} classes ({}); train {}, val {}, test {}", classes.size(),
                                         fmt::join(classes, ", "), train_samples().size(),
                                         data_.samples(Split::val).size(), data_.samples(Split::test).size()));
        if (!has_val_)
            observer_.on_message(fmt::format("no validation split ({}): no best epoch, the last epoch is kept{}",
                                             no_validation_reason(),
                                             has_test_ ? " and read against the test split once, at the end" : ""));
    }

    std::string no_validation_reason() const {
        return data_.layout == "split" ? fmt::format("no val/ folder in {}", data_.root.string())
                                       : std::string("data.split.val is 0");
    }

    // What only a validation split can drive is refused without one: the test split never chooses.
    void check_without_validation() const {
        if (!has_test_)
            throw DataError(fmt::format("{}: no validation or test images (set data.split.val or data.split.test)",
                                        data_.root.string()));
        if (config_.train.early_stopping.enabled)
            throw ConfigError(fmt::format("key 'train.early_stopping.enabled' is true but there is no validation "
                                          "split ({}); early stopping never looks at the test split",
                                          no_validation_reason()));
        if (config_.train.schedule.type == ScheduleType::plateau)
            throw ConfigError(fmt::format("key 'train.schedule.type' is \"plateau\" but there is no validation "
                                          "split ({}); the schedule never looks at the test split",
                                          no_validation_reason()));
    }

    const std::vector<Sample>& train_samples() const { return data_.samples(Split::train); }
    // Only the validation split ever chooses (best epoch, early stopping, plateau); the test split is
    // read once, by evaluate_final_model.
    const std::vector<Sample>& val_samples() const { return data_.samples(Split::val); }

    void open_run_folder() {
        if (run_dir_.empty()) {
            run_dir_ = create_run_dir(fs::path(config_.output.runs_dir) / "train", options_.name);
            write_file_atomic(run_dir_ / "config.json", to_json(config_).dump(2) + "\n");
            write_split_csv(data_, run_dir_ / "split.csv");
        }
        log_file_ = run_dir_ / "log.jsonl";
        result_.run_dir = run_dir_;
    }

    void build_model() {
        model_ = imagenet_classifier(config_.model, static_cast<int>(data_.class_names.size()));
        info_ = model_info(config_, data_.class_names);
        optimizer_ = make_optimizer(config_.train, model_->trainable_parameters());
        schedule_.emplace(config_.train.schedule, config_.train.lr, config_.train.epochs);
        class_weights_ = class_weight_tensor(config_.train, data_.class_counts(Split::train));
    }

    void start_or_resume() {
        if (options_.resume.empty()) {
            append_log(log_file_, {{"event", "start"}, {"config", to_json(config_)}, {"run_dir", run_dir_.string()}});
            // A checkpoint before the first epoch: a run stopped while its features are cached can be
            // resumed like any other.
            save_checkpoint(run_dir_ / "last.ckpt", model_, *optimizer_, state_json(state_, *schedule_, config_));
            return;
        }
        load_checkpoint_weights(run_dir_ / "last.ckpt", model_, *optimizer_);
        try {
            state_ = state_from_json(checkpoint_state_, *schedule_);
        } catch (const nlohmann::json::exception& e) {
            unusable_checkpoint(run_dir_ / "last.ckpt", e.what());
        }
        recount_early_stopping();  // train.early_stopping.* may have changed
        append_log(log_file_, {{"event", "resume"}, {"after_epoch", state_.epoch}, {"overrides", options_.overrides}});
        observer_.on_message(fmt::format("resuming {} after epoch {}", run_dir_.string(), state_.epoch));
        if (state_.best_epoch > 0 && fs::exists(run_dir_ / "best.maskctl"))
            best_.keep_from(load_model(run_dir_ / "best.maskctl").model->parameters());
    }

    // Feature cache when the backbone is frozen and the cache fits its memory budget.
    void choose_mode() {
        train_lo_ = make_loader_options(config_, true);
        train_lo_.stop = options_.stop;
        cached_ = config_.train.feature_cache.enabled && config_.model.backbone.trainable_blocks == 0;
        views_ = config_.augment.enabled ? config_.train.feature_cache.views : 1;
        if (cached_) {
            const auto plan = plan_feature_cache(train_samples().size(), val_samples().size(),
                                                 cached_feature_size(config_), views_, kFeatureCacheBudgetBytes);
            if (plan.views != views_)
                observer_.on_message(plan.views > 0
                                         ? fmt::format("feature cache: {} views would pass the {} MB budget; caching {}",
                                                       views_, kFeatureCacheBudgetBytes >> 20, plan.views)
                                         : fmt::format("feature cache: even 1 view would pass the {} MB budget; "
                                                       "running the full forward pass every epoch instead",
                                                       kFeatureCacheBudgetBytes >> 20));
            cached_ = plan.views > 0;
            views_ = cached_ ? plan.views : views_;
        }
        result_.mode = cached_ ? fmt::format("feature cache ({} view{} per training image)", views_, views_ > 1 ? "s" : "")
                               : "full forward pass every epoch";
    }

    // ---- cache features ----------------------------------------------------------------------

    void cache_features() {
        cache_ = build_feature_cache(
            model_, train_samples(), val_samples(), train_lo_, views_,
            [&](std::size_t done, std::size_t total) { observer_.on_progress("features", done, total); }, decode_bad_);
        observer_.on_message(fmt::format("features: {} train images x {} views + {} val images in {:.1f} s ({:.1f} MB)",
                                         cache_.train_rows.size(), views_, cache_.val.size(0), cache_.seconds,
                                         cache_.megabytes()));
    }

    // ---- fit ---------------------------------------------------------------------------------

    bool stop_requested() const { return options_.stop && options_.stop->load(); }

    void fit() {
        if (!cached_) train_loader_.emplace(train_samples(), train_lo_);
        for (int epoch = state_.epoch; epoch < config_.train.epochs; ++epoch) {
            if (stop_requested()) {
                result_.interrupted = true;
                return;
            }
            const auto t0 = Clock::now();
            const EpochStats stats = fit_epoch(epoch);
            if (stop_requested()) {
                result_.interrupted = true;  // the epoch in progress is dropped; last.ckpt holds the previous one
                return;
            }
            EpochRecord rec{epoch + 1,
                            seconds_since(t0),
                            stats.lr,
                            stats.loss_sum / std::max<int64_t>(1, stats.seen),
                            static_cast<double>(stats.correct) / std::max<int64_t>(1, stats.seen),
                            kNoValue,
                            kNoValue,
                            kNoValue};
            if (has_val_) {
                const SplitScore vs = score(validation_logits(), data_.class_names);
                schedule_->end_epoch(vs.loss);
                rec.val_loss = vs.loss, rec.val_accuracy = vs.accuracy, rec.val_f1 = vs.f1;
            }
            end_epoch(rec);
            if (should_stop_early()) return;
        }
    }

    EpochStats fit_epoch(int epoch) {
        // Dropout draws from torch's global generator: reseeding per epoch makes an epoch depend only on
        // (seed, epoch) and the weights, so a resumed run continues exactly as an uninterrupted one.
        torch::manual_seed(derive_seed({seed(), static_cast<uint64_t>(epoch), 0xd0}));
        model_->train();
        model_->backbone->eval();  // frozen layers never switch to training behaviour
        EpochStats stats;
        stats.lr = schedule_->lr(epoch, state_.iteration);
        if (cached_) fit_cached_epoch(epoch, stats);
        else fit_full_epoch(epoch, stats);
        return stats;
    }

    uint64_t seed() const { return static_cast<uint64_t>(config_.train.seed); }

    // One optimizer step on a batch of logits.
    void step(int epoch, const torch::Tensor& logits, const torch::Tensor& labels, EpochStats& stats) {
        stats.lr = schedule_->lr(epoch, state_.iteration);
        set_lr(*optimizer_, stats.lr);
        const auto loss = torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().weight(class_weights_));
        optimizer_->zero_grad();
        loss.backward();
        optimizer_->step();
        ++state_.iteration;
        stats.loss_sum += loss.item<double>() * labels.size(0);
        stats.correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
        stats.seen += labels.size(0);
    }

    void fit_cached_epoch(int epoch, EpochStats& stats) {
        // One view per image this epoch, and a fresh order: both from (seed, epoch) only.
        std::vector<int64_t> order = cache_.train_rows;
        Rng order_rng(derive_seed({seed(), static_cast<uint64_t>(epoch), 0x0dd}));
        shuffle(order, order_rng);
        const auto flat = cache_.train.view({-1, cache_.train.size(2)});
        const ThreadScope one_thread(1);  // the head alone is faster on one thread
        const std::size_t batch_size = static_cast<std::size_t>(config_.train.batch_size);
        for (std::size_t i = 0; i < order.size(); i += batch_size) {
            if (stop_requested()) break;
            std::vector<int64_t> rows, labels;
            for (std::size_t k = i; k < std::min(order.size(), i + batch_size); ++k) {
                rows.push_back(cached_view_row(cache_, seed(), epoch, order[k]));
                labels.push_back(train_samples()[static_cast<std::size_t>(order[k])].label);
            }
            const auto x = flat.index_select(0, torch::tensor(rows, torch::kInt64));
            step(epoch, model_->head->classify(x), torch::tensor(labels, torch::kInt64), stats);
        }
    }

    void fit_full_epoch(int epoch, EpochStats& stats) {
        train_loader_->start_epoch(epoch);
        std::size_t done = 0;
        while (auto batch = train_loader_->next()) {
            if (stop_requested()) break;
            if (batch->indices.empty()) continue;
            step(epoch, model_->forward(batch->images), batch->labels, stats);
            done += batch->indices.size();
            observer_.on_progress("train", done, train_samples().size());
        }
    }

    Scored validation_logits() {
        return cached_ ? score_cached(model_, cache_.val, cache_.val_labels)
                       : score_images(model_, val_samples(), train_lo_, "val", observer_);
    }

    // Bookkeeping after an epoch: best model, early-stopping counters, checkpoint and run files.
    void end_epoch(const EpochRecord& rec) {
        state_.history.push_back(rec);
        state_.epoch = rec.epoch;
        const Metric best_metric = config_.train.best_metric;
        const double value = metric_value(best_metric, rec);
        const bool is_best = has_val_ && (state_.best_epoch == 0 || improves(best_metric, value, state_.best_value, 0.0));
        info_.metrics = {{"epoch", rec.epoch}, {"val", epoch_json(rec)}};
        save_model(run_dir_ / "last.maskctl", model_, info_);
        if (is_best) {
            state_.best_epoch = rec.epoch;
            state_.best_value = value;
            best_.keep(model_);
            save_model(run_dir_ / "best.maskctl", model_, info_);
        }
        if (has_val_) count_early_stopping(rec);
        save_checkpoint(run_dir_ / "last.ckpt", model_, *optimizer_, state_json(state_, *schedule_, config_));
        write_file_atomic(run_dir_ / "history.csv", history_csv(state_.history));
        append_log(log_file_, {{"event", "epoch"}, {"is_best", is_best}, {"record", epoch_json(rec)}});
        observer_.on_epoch(rec, is_best);
    }

    // Epochs since the monitored metric last improved by more than min_delta.
    void count_early_stopping(const EpochRecord& rec) {
        const auto& es = config_.train.early_stopping;
        const double value = metric_value(es.monitor, rec);
        if (rec.epoch == 1 || improves(es.monitor, value, state_.es_best, es.min_delta)) {
            state_.es_best = value;
            state_.es_bad_epochs = 0;
        } else {
            ++state_.es_bad_epochs;
        }
    }

    // From the history, so a resumed run counts with its own (possibly changed) settings.
    void recount_early_stopping() {
        state_.es_best = 0;
        state_.es_bad_epochs = 0;
        for (const auto& rec : state_.history) count_early_stopping(rec);
    }

    bool should_stop_early() {
        const auto& es = config_.train.early_stopping;
        if (!es.enabled || state_.es_bad_epochs <= es.patience) return false;
        result_.stopped_early = true;
        observer_.on_message(fmt::format("early stopping: {} has not improved for {} epochs; best epoch {}",
                                         enum_name(es.monitor), state_.es_bad_epochs, state_.best_epoch));
        return true;
    }

    // ---- finish ------------------------------------------------------------------------------

    TrainResult finish() {
        if (!decode_bad_.empty()) observer_.on_message(decode_bad_.summary());
        result_.history = state_.history;
        result_.best_epoch = state_.best_epoch;
        if (!state_.history.empty()) write_results_png(run_dir_ / "results.png", state_.history);
        // An interrupted run is finished by --resume, which also evaluates it.
        if (!state_.history.empty() && !result_.interrupted) {
            try {
                evaluate_final_model();
            } catch (const Interrupted&) {
                result_.interrupted = true;
            }
        }
        result_.seconds = seconds_since(t_start_);
        if (!state_.history.empty() && !result_.interrupted) write_report();
        return result_;
    }

    // The final numbers are those of the best model (the last one without restore_best or without a
    // validation split), on the test split, read here and nowhere else (the val split if there is no
    // test split). They go into the file of the evaluated model.
    void evaluate_final_model() {
        const bool restore = has_val_ && config_.train.early_stopping.restore_best && !best_.empty();
        if (restore) best_.restore(model_);
        result_.evaluated_model = restore ? "best" : "last";
        result_.evaluated_epoch = restore ? state_.best_epoch : state_.epoch;
        result_.evaluated_split = has_test_ ? "test" : "val";
        const Scored test = has_test_ ? score_images(model_, data_.samples(Split::test), train_lo_, "test", observer_)
                                      : validation_logits();
        result_.test = score(test, data_.class_names).metrics;
        info_.metrics = {{result_.evaluated_model + "_epoch", result_.evaluated_epoch},
                         {result_.evaluated_split, to_json(result_.test)}};
        save_model(run_dir_ / (result_.evaluated_model + ".maskctl"), model_, info_);
        const auto& classes = data_.class_names;
        write_png(run_dir_ / "confusion_matrix.png",
                  draw_confusion_matrix(result_.test.confusion, classes, classes,
                                        fmt::format("Confusion matrix ({} split, {} epoch {})", result_.evaluated_split,
                                                    result_.evaluated_model, result_.evaluated_epoch)));
    }

    void write_report() {
        write_file_atomic(run_dir_ / "report.txt", report_text(result_, data_, config_));
        append_log(log_file_, {{"event", "end"},
                               {"best_epoch", state_.best_epoch},
                               {"seconds", result_.seconds},
                               {"interrupted", result_.interrupted},
                               {result_.evaluated_split, to_json(result_.test)}});
    }

    const Clock::time_point t_start_ = Clock::now();
    Config config_;
    const TrainOptions& options_;
    TrainObserver& observer_;
    int threads_ = 1;

    Dataset data_;
    bool has_val_ = false, has_test_ = false;
    fs::path run_dir_, log_file_;

    Classifier model_{nullptr};
    ModelInfo info_;
    std::unique_ptr<torch::optim::Optimizer> optimizer_;
    std::optional<LrSchedule> schedule_;
    torch::Tensor class_weights_;

    nlohmann::json checkpoint_state_;  // when resuming
    RunState state_;
    BestWeights best_;
    TrainResult result_;

    LoaderOptions train_lo_;
    bool cached_ = false;
    int views_ = 1;
    FeatureCache cache_;
    std::optional<Loader> train_loader_;
    BadFileReport decode_bad_;
};

}  // namespace

bool resume_safe_key(const std::string& key) {
    for (const char* section : {"train.schedule.", "train.early_stopping."})
        if (key.rfind(section, 0) == 0) return true;
    return key == "train.epochs" || key == "train.threads" || key == "train.workers";
}

Config resume_config(const fs::path& run_dir, const std::vector<std::string>& overrides) {
    if (!fs::exists(run_dir / "last.ckpt"))
        throw IoError(fmt::format("{}: no last.ckpt to resume from (is it a run folder of maskctl train?)",
                                  run_dir.string()));
    for (const auto& o : overrides) {
        const std::string key = o.substr(0, o.find('='));
        if (!resume_safe_key(key))
            throw ConfigError(fmt::format("--set {}: key '{}' cannot change on --resume (the run keeps the config "
                                          "of its checkpoint; these can: train.epochs, train.schedule.*, "
                                          "train.early_stopping.*, train.threads, train.workers)",
                                          o, key));
    }
    return load_config(run_dir / "config.json", overrides);
}

TrainResult train(const Config& config, const TrainOptions& options, TrainObserver& observer) {
    return Trainer(config, options, observer).run();
}

}  // namespace maskctl
