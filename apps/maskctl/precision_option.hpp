#pragma once
// The --precision flag of every command that runs the backbone (train, eval, predict, detect, val,
// bench, backbone bench): one definition, so the choices, the help text and the refusals read the
// same everywhere. Refusals happen while the command line is parsed, before any work.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "maskctl/detect/pipeline.hpp"
#include "maskctl/model/fused_backbone.hpp"
#include "maskctl/model/model_file.hpp"

namespace maskctl::app {

struct PrecisionOption {
    std::string value;  // empty = not given: the run config's model.backbone.precision, or float for a model file

    void add_to(CLI::App* cmd) {
        cmd->add_option("--precision", value,
                        "Arithmetic of the backbone: float (default), bf16 (CPUs with AMX or AVX-512 BF16), auto "
                        "(bf16 where measured as accurate, else float), int8 (not available yet)")
            ->check(CLI::Validator(check, "float|bf16|auto|int8", "precision"));
    }

    bool given() const { return !value.empty(); }

    // Commands that read a run config: the flag is that config key (so a run's config.json records it).
    void add_override(std::vector<std::string>& overrides) const {
        if (given()) overrides.push_back("model.backbone.precision=" + value);
    }

    // Commands that load a model file: model files do not carry a precision, they run float unless told.
    void apply(LoadedModel& m) const {
        if (given()) m.model->backbone->precision = precision_from_string(value);
    }
    // Commands whose library part loads the model itself (serve: one detector per photo worker and source).
    void apply(DetectOptions& d) const {
        if (given()) d.precision = precision_from_string(value);
    }

private:
    // CLI11 validator: "" when `v` can run here, else why not (printed as "--precision: <why>").
    static std::string check(std::string& v) {
        if (v != "float" && v != "bf16" && v != "auto" && v != "int8")
            return fmt::format("'{}' is not one of: float, bf16, auto, int8", v);
        if (v == "int8") return kInt8Unavailable;
        if (v == "bf16" && !precision_supported(Precision::bf16))
            return "bf16 needs a CPU with AMX or AVX-512 BF16, which this one does not have (use float or auto)";
        return "";
    }
};

}  // namespace maskctl::app
