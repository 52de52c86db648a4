#include "maskctl/train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/plot/chart.hpp"
#include "maskctl/model/classifier.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/train/lr_schedule.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/plot/plots.hpp"
#include "maskctl/core/random.hpp"
#include "maskctl/core/run_dir.hpp"
#include "maskctl/model/tflite.hpp"
#include "maskctl/core/version.hpp"

namespace maskctl {

FeatureCachePlan plan_feature_cache(std::size_t train_images, std::size_t val_images, int64_t floats_per_image,
                                    int views, std::size_t budget_bytes) {
    const double per_view = static_cast<double>(train_images) * static_cast<double>(floats_per_image) * 4.0;
    const double fixed = static_cast<double>(val_images) * static_cast<double>(floats_per_image) * 4.0;
    // The extraction of one view is held beside the cache while it is copied in: count it once more.
    const auto fits = [&](int v) { return fixed + per_view * (v + 1) <= static_cast<double>(budget_bytes); };
    FeatureCachePlan plan;
    plan.views = views;
    while (plan.views > 0 && !fits(plan.views)) --plan.views;
    plan.bytes = static_cast<std::size_t>(fixed + per_view * plan.views);
    return plan;
}

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Sets torch's compute threads for a scope.
struct ThreadScope {
    ThreadScope(int inside, int after) : after(after) { torch::set_num_threads(inside); }
    ~ThreadScope() { torch::set_num_threads(after); }
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;
    int after;
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

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

double metric_value(const std::string& name, const SplitScore& s) {
    if (name == "val_accuracy") return s.accuracy;
    if (name == "val_f1") return s.f1;
    return s.loss;
}

bool lower_is_better(const std::string& metric) { return metric == "val_loss"; }

bool improves(const std::string& metric, double value, double best, double min_delta) {
    return lower_is_better(metric) ? value < best - min_delta : value > best + min_delta;
}

torch::Tensor class_weight_tensor(const TrainConfig& t, const std::vector<std::size_t>& counts) {
    const auto n = static_cast<int64_t>(counts.size());
    if (t.class_weights.mode == "manual") {
        if (static_cast<int64_t>(t.class_weights.values.size()) != n)
            throw ConfigError(fmt::format("key 'train.class_weights' has {} values, expected {} (one per class)",
                                          t.class_weights.values.size(), n));
        return torch::tensor(t.class_weights.values, torch::kFloat32);
    }
    if (t.class_weights.mode != "balanced") return {};
    std::size_t total = 0;
    for (auto c : counts) total += c;
    std::vector<float> w;
    for (auto c : counts) w.push_back(c ? static_cast<float>(total) / (n * c) : 0.f);
    return torch::tensor(w, torch::kFloat32);
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& t, std::vector<torch::Tensor> params) {
    if (t.optimizer == "sgd")
        return std::make_unique<torch::optim::SGD>(
            params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).nesterov(t.nesterov).weight_decay(t.weight_decay));
    // Keras' Adam uses epsilon 1e-7 (PyTorch's default is 1e-8).
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(t.lr).eps(1e-7).weight_decay(t.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
    for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

// ---- the two ways of feeding the head ------------------------------------------------------------

// Feature-cache mode: pooled backbone features [N, D] of `samples` for one view (view 0 = the image
// itself, v > 0 = augmentation drawn as epoch v of the loader), and which rows decoded.
std::pair<torch::Tensor, std::vector<bool>> extract_features(Classifier& model, const std::vector<Sample>& samples,
                                                             LoaderOptions lo, int view, const std::string& phase,
                                                             TrainObserver& observer, BadFileReport& bad,
                                                             std::size_t done_before, std::size_t total) {
    if (view == 0) lo.augment.reset();
    torch::Tensor out;
    std::vector<bool> valid(samples.size(), false);
    c10::InferenceMode guard;
    for_each_batch(samples, lo, view, [&](const Batch& batch, std::size_t done) {
        const torch::Tensor f = model->head->pool(model->backbone->forward(batch.images)).flatten(1);
        if (!out.defined()) out = torch::zeros({static_cast<int64_t>(samples.size()), f.size(1)});
        out.index_copy_(0, torch::tensor(batch.indices, torch::kInt64), f.contiguous());
        for (auto i : batch.indices) valid[static_cast<std::size_t>(i)] = true;
        observer.on_progress(phase, done_before + done, total);
    }, &bad);
    if (!out.defined()) throw DataError(fmt::format("no image of the {} split could be decoded", phase));
    return {out, valid};
}

torch::Tensor labels_of(const std::vector<Sample>& samples) {
    std::vector<int64_t> l;
    for (const auto& s : samples) l.push_back(s.label);
    return torch::tensor(l, torch::kInt64);
}

std::vector<int64_t> valid_rows(const std::vector<bool>& valid) {
    std::vector<int64_t> rows;
    for (std::size_t i = 0; i < valid.size(); ++i)
        if (valid[i]) rows.push_back(static_cast<int64_t>(i));
    return rows;
}

// Floats per image in the feature cache: the head's pooled and flattened backbone features.
int64_t cached_feature_size(const Config& config) {
    const int input = config.model.input_size;
    const int cells = pooled_size(config.model.head, mobilenetv2_feature_size(input), input);
    return int64_t{kMobileNetV2Features} * cells * cells;
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

std::string history_csv(const std::vector<EpochRecord>& history) {
    std::string out = "epoch,seconds,lr,train_loss,train_accuracy,val_loss,val_accuracy,val_f1\n";
    for (const auto& r : history)
        out += fmt::format("{},{:.3f},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f}\n", r.epoch, r.seconds, r.lr, r.train_loss,
                           r.train_accuracy, r.val_loss, r.val_accuracy, r.val_f1);
    return out;
}

nlohmann::json epoch_json(const EpochRecord& r) {
    return {{"epoch", r.epoch},         {"seconds", r.seconds},   {"lr", r.lr},
            {"train_loss", r.train_loss}, {"train_accuracy", r.train_accuracy}, {"val_loss", r.val_loss},
            {"val_accuracy", r.val_accuracy}, {"val_f1", r.val_f1}};
}

void append_log(const fs::path& file, nlohmann::json event) {
    event["time"] = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::ofstream out(file, std::ios::app);
    out << event.dump() << "\n";
}

void write_results_png(const fs::path& file, const std::vector<EpochRecord>& history) {
    std::vector<double> tl, vl, ta, va;
    for (const auto& r : history)
        tl.push_back(r.train_loss), vl.push_back(r.val_loss), ta.push_back(r.train_accuracy), va.push_back(r.val_accuracy);
    const cv::Scalar blue(31, 119, 180), orange(255, 127, 14);
    cv::Mat loss = draw_line_panel("loss", {{"train", tl, blue}, {"val", vl, orange}});
    cv::Mat acc = draw_line_panel("accuracy", {{"train", ta, blue}, {"val", va, orange}});
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

nlohmann::json state_json(const RunState& s, const LrSchedule& schedule) {
    nlohmann::json h = nlohmann::json::array();
    for (const auto& r : s.history) h.push_back(epoch_json(r));
    return {{"epoch", s.epoch},         {"iteration", s.iteration}, {"history", h},
            {"best_epoch", s.best_epoch}, {"best_value", s.best_value}, {"es_best", s.es_best},
            {"es_bad_epochs", s.es_bad_epochs}, {"schedule", schedule.state()}};
}

RunState state_from_json(const nlohmann::json& j, LrSchedule& schedule) {
    RunState s;
    s.epoch = j.at("epoch");
    s.iteration = j.at("iteration");
    for (const auto& r : j.at("history"))
        s.history.push_back({r.at("epoch"), r.at("seconds"), r.at("lr"), r.at("train_loss"), r.at("train_accuracy"),
                             r.at("val_loss"), r.at("val_accuracy"), r.at("val_f1")});
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
    const fs::path tmp = file.string() + ".tmp";
    archive.save_to(tmp.string());
    std::error_code ec;
    fs::rename(tmp, file, ec);
    if (ec) throw IoError(fmt::format("{}: cannot write checkpoint: {}", file.string(), ec.message()));
}

nlohmann::json load_checkpoint(const fs::path& file, Classifier& model, torch::optim::Optimizer& opt) {
    try {
        torch::serialize::InputArchive archive, model_archive, opt_archive;
        archive.load_from(file.string());
        archive.read("model", model_archive);
        archive.read("optimizer", opt_archive);
        model->load(model_archive);
        opt.load(opt_archive);
        torch::IValue state;
        archive.read("state", state);
        return nlohmann::json::parse(state.toStringRef());
    } catch (const c10::Error& e) {
        throw ModelFileError(fmt::format("{}: not a usable checkpoint ({})", file.string(),
                                         std::string(e.what_without_backtrace()).substr(0, 200)));
    }
}

std::string report_text(const TrainResult& r, const Dataset& data, const Config& config) {
    std::string out = fmt::format("maskctl {} training report\nrun: {}\ndata: {} ({} layout), classes: {}\n", version(),
                                  r.run_dir.string(), data.root.string(), data.layout, fmt::join(data.class_names, ", "));
    out += fmt::format("images: train {}, val {}, test {}\n", data.samples(Split::train).size(),
                       data.samples(Split::val).size(), data.samples(Split::test).size());
    out += fmt::format("mode: {}; epochs run: {} of {}; best epoch: {} (by {}); wall time: {:.1f} s\n\n", r.mode,
                       r.history.size(), config.train.epochs, r.best_epoch, config.train.best_metric, r.seconds);
    if (r.test.total > 0) {
        out += fmt::format("Best model on the {} split ({} images):\n\n", r.evaluated_split, r.test.total);
        out += classification_report(r.test, 4) + "\n" + confusion_table(r.test);
        for (const auto& w : r.test.warnings) out += "warning: " + w + "\n";
    }
    return out;
}

}  // namespace

TrainResult train(const Config& config_in, const TrainOptions& options, TrainObserver& observer) {
    const auto t_start = Clock::now();
    Config config = config_in;
    fs::path run_dir;
    if (!options.resume.empty()) {
        run_dir = options.resume;
        if (!fs::exists(run_dir / "last.ckpt"))
            throw IoError(fmt::format("{}: no last.ckpt to resume from (is it a run folder of maskctl train?)",
                                      run_dir.string()));
        config = load_config(run_dir / "config.json");
        config.data.split_file = (run_dir / "split.csv").string();
    }

    const int threads = config.train.threads > 0 ? config.train.threads
                                                  : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    torch::set_num_threads(threads);
    torch::manual_seed(static_cast<uint64_t>(config.train.seed));

    Dataset data = open_dataset(config.data);
    const auto& classes = data.class_names;
    if (config.model.num_classes && *config.model.num_classes != static_cast<int>(classes.size()))
        throw ConfigError(fmt::format("key 'model.num_classes' has value {}, but {} has {} classes ({})",
                                      *config.model.num_classes, data.root.string(), classes.size(),
                                      fmt::join(classes, ", ")));
    if (!data.bad_files.empty()) observer.on_message(data.bad_files.summary());
    const auto& train_samples = data.samples(Split::train);
    const bool has_val = !data.samples(Split::val).empty();
    const bool has_test = !data.samples(Split::test).empty();
    const auto& val_samples = has_val ? data.samples(Split::val) : data.samples(Split::test);
    if (train_samples.empty()) throw DataError(fmt::format("{}: the train split is empty", data.root.string()));
    if (val_samples.empty())
        throw DataError(fmt::format("{}: no validation or test images (set data.split.val or data.split.test)",
                                    data.root.string()));
    observer.on_message(fmt::format("data: {} classes ({}); train {}, val {}, test {}{}", classes.size(),
                                    fmt::join(classes, ", "), train_samples.size(), data.samples(Split::val).size(),
                                    data.samples(Split::test).size(),
                                    has_val ? "" : "; validating on the test split (data.split.val is 0)"));

    if (run_dir.empty()) {
        run_dir = create_run_dir(fs::path(config.output.runs_dir) / "train", options.name);
        write_file_atomic(run_dir / "config.json", to_json(config).dump(2) + "\n");
        write_split_csv(data, run_dir / "split.csv");
    }
    const fs::path log_file = run_dir / "log.jsonl";

    Classifier model(config.model, static_cast<int>(classes.size()));
    load_tflite_backbone(model->backbone, config.model.backbone.weights);
    const Preprocess preprocess{config.image_size()};
    ModelInfo info;
    info.class_names = classes;
    info.preprocess = preprocess;
    info.config = to_json(config);

    auto optimizer = make_optimizer(config.train, model->trainable_parameters());
    LrSchedule schedule(config.train.schedule, config.train.lr, config.train.epochs);
    const torch::Tensor class_weights = class_weight_tensor(config.train, data.class_counts(Split::train));

    RunState state;
    if (!options.resume.empty()) {
        state = state_from_json(load_checkpoint(run_dir / "last.ckpt", model, *optimizer), schedule);
        observer.on_message(fmt::format("resuming {} after epoch {}", run_dir.string(), state.epoch));
    } else {
        append_log(log_file, {{"event", "start"}, {"config", to_json(config)}, {"run_dir", run_dir.string()}});
    }

    TrainResult result;
    result.run_dir = run_dir;
    const LoaderOptions train_lo = make_loader_options(config, true);
    bool cached = config.train.feature_cache.enabled && config.model.backbone.trainable_blocks == 0;
    int views = config.augment.enabled ? config.train.feature_cache.views : 1;
    if (cached) {
        const auto plan = plan_feature_cache(train_samples.size(), val_samples.size(), cached_feature_size(config),
                                             views, kFeatureCacheBudgetBytes);
        if (plan.views != views)
            observer.on_message(plan.views > 0
                                    ? fmt::format("feature cache: {} views would pass the {} MB budget; caching {}",
                                                  views, kFeatureCacheBudgetBytes >> 20, plan.views)
                                    : fmt::format("feature cache: even 1 view would pass the {} MB budget; "
                                                  "running the full forward pass every epoch instead",
                                                  kFeatureCacheBudgetBytes >> 20));
        cached = plan.views > 0;
        views = cached ? plan.views : views;
    }
    result.mode = cached ? fmt::format("feature cache ({} view{} per training image)", views, views > 1 ? "s" : "")
                         : "full forward pass every epoch";

    // Cached features: [views, N, D] for train, [N, D] for validation.
    torch::Tensor train_features, val_features;
    std::vector<int64_t> train_rows, val_rows;
    BadFileReport decode_bad;
    if (cached) {
        const auto t0 = Clock::now();
        model->eval();
        const std::size_t total = train_samples.size() * views + val_samples.size();
        std::vector<bool> valid;
        for (int v = 0; v < views; ++v) {
            auto [f, ok] = extract_features(model, train_samples, train_lo, v, "features", observer, decode_bad,
                                                 train_samples.size() * v, total);
            if (v == 0) {
                valid = ok;
                // Filled view by view: stacking copies would briefly hold the cache twice.
                train_features = torch::empty({views, f.size(0), f.size(1)});
            }
            train_features[v].copy_(f);
        }
        train_rows = valid_rows(valid);
        auto [vf, vok] = extract_features(model, val_samples, train_lo, 0, "features", observer, decode_bad,
                                               train_samples.size() * views, total);
        val_rows = valid_rows(vok);
        val_features = vf.index_select(0, torch::tensor(val_rows, torch::kInt64));
        observer.on_message(fmt::format("features: {} train images x {} views + {} val images in {:.1f} s ({:.1f} MB)",
                                         train_rows.size(), views, val_rows.size(), seconds_since(t0),
                                         (train_features.numel() + val_features.numel()) * 4 / 1e6));
    }
    const torch::Tensor val_labels =
        cached ? labels_of(val_samples).index_select(0, torch::tensor(val_rows, torch::kInt64)) : torch::Tensor();

    std::vector<torch::Tensor> best_params;
    auto snapshot = [&] {
        best_params.clear();
        torch::NoGradGuard g;
        for (const auto& p : model->parameters()) best_params.push_back(p.detach().clone());
    };
    auto restore = [&] {
        torch::NoGradGuard g;
        auto params = model->parameters();
        for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_params[i]);
    };
    if (state.best_epoch > 0 && fs::exists(run_dir / "best.maskctl")) {
        LoadedModel best = load_model(run_dir / "best.maskctl");
        best_params.clear();
        for (const auto& p : best.model->parameters()) best_params.push_back(p.detach().clone());
    }

    const std::string& best_metric = config.train.best_metric;
    const auto& es = config.train.early_stopping;
    std::optional<Loader> train_loader;
    if (!cached) train_loader.emplace(train_samples, train_lo);
    for (int epoch = state.epoch; epoch < config.train.epochs; ++epoch) {
        if (options.stop && options.stop->load()) {
            result.interrupted = true;
            break;
        }
        const auto t0 = Clock::now();
        // Dropout draws from torch's global generator: reseeding per epoch makes an epoch depend only on
        // (seed, epoch) and the weights, so a resumed run continues exactly as an uninterrupted one.
        torch::manual_seed(derive_seed({static_cast<uint64_t>(config.train.seed), static_cast<uint64_t>(epoch), 0xd0}));
        model->train();
        model->backbone->eval();  // frozen layers never switch to training behaviour
        double loss_sum = 0;
        int64_t correct = 0, seen = 0;
        double lr = schedule.lr(epoch, state.iteration);
        auto step = [&](const torch::Tensor& logits, const torch::Tensor& labels) {
            lr = schedule.lr(epoch, state.iteration);
            set_lr(*optimizer, lr);
            const auto loss = torch::nn::functional::cross_entropy(
                logits, labels, torch::nn::functional::CrossEntropyFuncOptions().weight(class_weights));
            optimizer->zero_grad();
            loss.backward();
            optimizer->step();
            ++state.iteration;
            loss_sum += loss.item<double>() * labels.size(0);
            correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
            seen += labels.size(0);
        };
        if (cached) {
            // One view per image this epoch, and a fresh order: both from (seed, epoch) only.
            std::vector<int64_t> order = train_rows;
            Rng order_rng(derive_seed({static_cast<uint64_t>(config.train.seed), static_cast<uint64_t>(epoch), 0x0dd}));
            shuffle(order, order_rng);
            const auto flat = train_features.view({-1, train_features.size(2)});
            // The head's matrices are small: one thread is faster than two that wait on each other.
            const ThreadScope one_thread(1, threads);
            const auto n = static_cast<int64_t>(train_samples.size());
            for (std::size_t i = 0; i < order.size(); i += config.train.batch_size) {
                if (options.stop && options.stop->load()) break;
                std::vector<int64_t> rows, labels;
                for (std::size_t k = i; k < std::min(order.size(), i + config.train.batch_size); ++k) {
                    Rng view_rng(derive_seed({static_cast<uint64_t>(config.train.seed), static_cast<uint64_t>(epoch),
                                              static_cast<uint64_t>(order[k]), 0x71e3}));
                    const auto v = static_cast<int64_t>(view_rng.below(static_cast<uint64_t>(views)));
                    rows.push_back(v * n + order[k]);
                    labels.push_back(train_samples[static_cast<std::size_t>(order[k])].label);
                }
                const auto x = flat.index_select(0, torch::tensor(rows, torch::kInt64));
                step(model->head->classify(x), torch::tensor(labels, torch::kInt64));
            }
        } else {
            train_loader->start_epoch(epoch);
            std::size_t done = 0;
            while (auto batch = train_loader->next()) {
                if (options.stop && options.stop->load()) break;
                if (batch->indices.empty()) continue;
                step(model->forward(batch->images), batch->labels);
                done += batch->indices.size();
                observer.on_progress("train", done, train_samples.size());
            }
        }
        if (options.stop && options.stop->load()) {
            result.interrupted = true;  // the epoch in progress is dropped; last.ckpt holds the previous one
            break;
        }
        const Scored val = cached ? score_cached(model, val_features, val_labels)
                                  : score_images(model, val_samples, train_lo, "val", observer);
        const SplitScore vs = score(val, classes);
        schedule.end_epoch(vs.loss);

        EpochRecord rec{epoch + 1, seconds_since(t0), lr, loss_sum / std::max<int64_t>(1, seen),
                        static_cast<double>(correct) / std::max<int64_t>(1, seen), vs.loss, vs.accuracy, vs.f1};
        state.history.push_back(rec);
        state.epoch = epoch + 1;

        const double value = metric_value(best_metric, vs);
        const bool is_best = state.best_epoch == 0 || improves(best_metric, value, state.best_value, 0.0);
        info.metrics = {{"epoch", rec.epoch}, {"val", epoch_json(rec)}};
        save_model(run_dir / "last.maskctl", model, info);
        if (is_best) {
            state.best_epoch = rec.epoch;
            state.best_value = value;
            snapshot();
            save_model(run_dir / "best.maskctl", model, info);
        }
        const double es_value = metric_value(es.monitor, vs);
        if (epoch == 0 || improves(es.monitor, es_value, state.es_best, es.min_delta)) {
            state.es_best = es_value;
            state.es_bad_epochs = 0;
        } else {
            ++state.es_bad_epochs;
        }
        save_checkpoint(run_dir / "last.ckpt", model, *optimizer, state_json(state, schedule));
        write_file_atomic(run_dir / "history.csv", history_csv(state.history));
        append_log(log_file, {{"event", "epoch"}, {"is_best", is_best}, {"record", epoch_json(rec)}});
        observer.on_epoch(rec, is_best);
        if (es.enabled && state.es_bad_epochs > es.patience) {
            result.stopped_early = true;
            observer.on_message(fmt::format("early stopping: {} has not improved for {} epochs; best epoch {}",
                                            es.monitor, state.es_bad_epochs, state.best_epoch));
            break;
        }
    }
    if (!decode_bad.empty()) observer.on_message(decode_bad.summary());

    result.history = state.history;
    result.best_epoch = state.best_epoch;
    if (!state.history.empty()) write_results_png(run_dir / "results.png", state.history);
    if (state.history.empty() || result.interrupted) {
        result.seconds = seconds_since(t_start);
        return result;  // an interrupted run is finished by --resume, which also evaluates it
    }

    // The final numbers are those of the best model, on the test split (the val split if there is none).
    if (!best_params.empty()) restore();
    const auto& eval_samples = has_test ? data.samples(Split::test) : val_samples;
    result.evaluated_split = has_test ? "test" : "val";
    Scored test;
    if (cached && (!has_val || !has_test)) {
        test = score_cached(model, val_features, val_labels);  // the test split is the validation split here
    } else {
        test = score_images(model, eval_samples, train_lo, result.evaluated_split, observer);
    }
    result.test = score(test, classes).metrics;
    info.metrics = {{"best_epoch", state.best_epoch}, {result.evaluated_split, to_json(result.test)}};
    save_model(run_dir / "best.maskctl", model, info);
    write_png(run_dir / "confusion_matrix.png",
              draw_confusion_matrix(result.test.confusion, classes, classes, fmt::format("Confusion matrix ({} split, best epoch {})",
                                                             result.evaluated_split, state.best_epoch)));
    result.seconds = seconds_since(t_start);
    write_file_atomic(run_dir / "report.txt", report_text(result, data, config));
    append_log(log_file, {{"event", "end"},
                          {"best_epoch", state.best_epoch},
                          {"seconds", result.seconds},
                          {"interrupted", result.interrupted},
                          {result.evaluated_split, to_json(result.test)}});
    return result;
}

}  // namespace maskctl
