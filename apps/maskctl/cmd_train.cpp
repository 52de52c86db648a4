// maskctl train: train a classifier from a run config; prints a per-epoch table and where the run went.
#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "config_options.hpp"
#include "precision_option.hpp"
#include "console.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/train/trainer.hpp"

namespace maskctl::app {
namespace {

class ConsoleObserver : public TrainObserver {
public:
    explicit ConsoleObserver(bool quiet) : progress_(quiet), quiet_(quiet) {}

    // The run's own config: on --resume, the run folder's with the --set overrides.
    void on_start(const Config& config, const std::filesystem::path&) override { epochs_ = config.train.epochs; }

    void on_message(const std::string& line) override {
        if (quiet_) return;
        progress_.finish_line();
        fmt::print("{}\n", line);
    }
    void on_progress(const std::string& phase, std::size_t done, std::size_t total) override {
        progress_.update(phase, done, total);
    }
    // "-" in the validation columns of a run without a validation split.
    static std::string val_cell(double v) { return std::isnan(v) ? "-" : fmt::format("{:.4f}", v); }

    void on_epoch(const EpochRecord& r, bool is_best) override {
        if (quiet_) return;
        progress_.finish_line();
        if (!header_printed_) {
            fmt::print("{:>9} {:>8} {:>9} {:>10} {:>9} {:>9} {:>8} {:>8}\n", "epoch", "time(s)", "lr", "train_loss",
                       "train_acc", "val_loss", "val_acc", "val_f1");
            header_printed_ = true;
        }
        fmt::print("{:>9} {:>8.1f} {:>9.2e} {:>10.4f} {:>9.4f} {:>9} {:>8} {:>8}{}\n",
                   fmt::format("{}/{}", r.epoch, epochs_), r.seconds, r.lr, r.train_loss, r.train_accuracy,
                   val_cell(r.val_loss), val_cell(r.val_accuracy), val_cell(r.val_f1), is_best ? "  *best" : "");
        std::fflush(stdout);
    }

private:
    Progress progress_;
    bool quiet_;
    int epochs_ = 0;
    bool header_printed_ = false;
};

void setup(CLI::App& parent, int& exit_code) {
    auto* cmd = parent.add_subcommand("train", "Train a mask classifier (runs/train/expN: models, curves, report)");
    struct Args {
        ConfigOptions config;
        PrecisionOption precision;
        std::string name = "exp";
        std::string resume;
        bool quiet = false;
    };
    auto args = std::make_shared<Args>();
    args->config.add_to(cmd, "configs/mobilenetv2.json");
    cmd->add_option("--name", args->name, "Run folder name under <output.runs_dir>/train (numbered when taken)");
    cmd->add_option("--resume", args->resume, "Continue an interrupted run from its folder")->check(CLI::ExistingDirectory);
    cmd->add_flag("-q,--quiet", args->quiet, "Print only the final summary");
    args->precision.add_to(cmd);
    cmd->callback([args, cmd, &exit_code] {
        args->precision.add_override(args->config.overrides);  // on --resume refused as any other --set of it
        TrainOptions options;
        options.name = args->name;
        options.resume = args->resume;
        options.stop = &install_stop_handler();
        Config config;
        if (args->resume.empty()) {
            config = args->config.load();
        } else {
            if (cmd->count("--config") > 0)
                throw ConfigError("--config cannot be used with --resume: the run keeps its own config.json "
                                  "(--set can change train.epochs, train.schedule.*, train.early_stopping.*)");
            options.overrides = args->config.overrides;
        }
        ConsoleObserver observer(args->quiet);
        const TrainResult r = train(config, options, observer);
        std::cout << "\n";
        if (r.interrupted) {
            fmt::print("interrupted after {} epochs; continue with: maskctl train --resume {}\n", r.history.size(),
                       r.run_dir.string());
            exit_code = kExitInterrupted;
            return;
        }
        if (r.test.total > 0) {
            fmt::print("{} epoch {} on the {} split ({} images): accuracy {:.4f}, macro F1 {:.4f}\n\n",
                       r.evaluated_model, r.evaluated_epoch, r.evaluated_split, r.test.total, r.test.accuracy,
                       r.test.macro.f1);
            std::cout << classification_report(r.test, 4) << "\n" << confusion_table(r.test) << "\n";
        }
        fmt::print("{} in {:.1f} s ({})\n", r.stopped_early ? "stopped early" : "done", r.seconds, r.mode);
        fmt::print("results saved to {}/\n", r.run_dir.string());
        fmt::print("  best.maskctl, last.maskctl   models (best by {})\n", enum_name(r.config.train.best_metric));
        fmt::print("  results.png, confusion_matrix.png, report.txt, history.csv, log.jsonl, config.json, split.csv\n");
        exit_code = kExitOk;
    });
}

const CommandRegistration registration{30, setup};

}  // namespace
}  // namespace maskctl::app
