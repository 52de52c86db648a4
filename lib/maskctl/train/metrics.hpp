#pragma once
// Classification metrics with scikit-learn's definitions and zero-division behaviour
// (ill-defined precision/recall/F1 are 0, with a warning), and its classification_report layout,
// so users can put our numbers next to the papers'.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace maskctl {

struct ClassScores {
    double precision = 0;
    double recall = 0;
    double f1 = 0;
    std::int64_t support = 0;  // true samples of the class (the total, for averages)
};

struct Metrics {
    std::vector<std::string> class_names;
    std::vector<std::vector<std::int64_t>> confusion;  // [true class][predicted class]
    std::int64_t total = 0;
    double accuracy = 0;
    std::vector<ClassScores> per_class;
    ClassScores macro;     // unweighted mean over classes
    ClassScores weighted;  // mean weighted by support
    std::vector<std::string> warnings;  // zero-division cases, as scikit-learn words them
};

// From labels; every label must be in [0, class_names.size()). Throws Error otherwise.
Metrics compute_metrics(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                        const std::vector<std::string>& class_names);

// From a square confusion matrix [true][pred].
Metrics metrics_from_confusion(const std::vector<std::vector<std::int64_t>>& confusion,
                               const std::vector<std::string>& class_names);

// scikit-learn's classification_report text, with `digits` decimals.
std::string classification_report(const Metrics& m, int digits = 2);

// The confusion matrix as an aligned text table (rows: true class, columns: predicted class).
std::string confusion_table(const Metrics& m);

nlohmann::json to_json(const Metrics& m);

}  // namespace maskctl
