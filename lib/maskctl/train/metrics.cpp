#include "maskctl/train/metrics.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {
namespace {

double ratio(std::int64_t num, std::int64_t den) { return den == 0 ? 0.0 : static_cast<double>(num) / den; }

// One warning per kind, listing the classes, as scikit-learn's UndefinedMetricWarning does.
void warn_if_any(std::vector<std::string>& warnings, const std::vector<std::string>& classes, const char* what) {
    if (classes.empty()) return;
    warnings.push_back(fmt::format("{} is ill-defined and being set to 0.0 in labels with no {}: {}", what,
                                   std::string(what) == "Precision" ? "predicted samples" : "true samples",
                                   fmt::join(classes, ", ")));
}

}  // namespace

Metrics compute_metrics(const std::vector<int>& y_true, const std::vector<int>& y_pred,
                        const std::vector<std::string>& class_names) {
    if (y_true.size() != y_pred.size())
        throw Error(fmt::format("compute_metrics: {} true labels but {} predictions", y_true.size(), y_pred.size()));
    const int n = static_cast<int>(class_names.size());
    std::vector<std::vector<std::int64_t>> confusion(n, std::vector<std::int64_t>(n, 0));
    for (size_t i = 0; i < y_true.size(); ++i) {
        if (y_true[i] < 0 || y_true[i] >= n || y_pred[i] < 0 || y_pred[i] >= n)
            throw Error(fmt::format("compute_metrics: label pair ({}, {}) at {} is outside 0..{}", y_true[i],
                                    y_pred[i], i, n - 1));
        ++confusion[y_true[i]][y_pred[i]];
    }
    return metrics_from_confusion(confusion, class_names);
}

Metrics metrics_from_confusion(const std::vector<std::vector<std::int64_t>>& confusion,
                               const std::vector<std::string>& class_names) {
    const size_t n = class_names.size();
    if (confusion.size() != n || std::any_of(confusion.begin(), confusion.end(), [&](auto& r) { return r.size() != n; }))
        throw Error(fmt::format("metrics_from_confusion: expected a {0}x{0} matrix", n));
    Metrics m;
    m.class_names = class_names;
    m.confusion = confusion;
    std::int64_t correct = 0;
    std::vector<std::string> no_predicted, no_true, f_undefined;
    for (size_t c = 0; c < n; ++c) {
        std::int64_t tp = confusion[c][c], actual = 0, predicted = 0;
        for (size_t k = 0; k < n; ++k) actual += confusion[c][k], predicted += confusion[k][c];
        ClassScores s;
        s.support = actual;
        s.precision = ratio(tp, predicted);
        s.recall = ratio(tp, actual);
        s.f1 = ratio(2 * tp, actual + predicted);  // = 2PR/(P+R), and 0 when P+R = 0
        if (predicted == 0) no_predicted.push_back(class_names[c]);
        if (actual == 0) no_true.push_back(class_names[c]);
        if (actual + predicted == 0) f_undefined.push_back(class_names[c]);
        m.per_class.push_back(s);
        m.total += actual;
        correct += tp;
    }
    warn_if_any(m.warnings, no_predicted, "Precision");
    warn_if_any(m.warnings, no_true, "Recall");
    warn_if_any(m.warnings, f_undefined, "F-score");
    m.accuracy = ratio(correct, m.total);
    for (const auto& s : m.per_class) {
        m.macro.precision += s.precision / n;
        m.macro.recall += s.recall / n;
        m.macro.f1 += s.f1 / n;
        const double w = ratio(s.support, m.total);
        m.weighted.precision += s.precision * w;
        m.weighted.recall += s.recall * w;
        m.weighted.f1 += s.f1 * w;
    }
    m.macro.support = m.weighted.support = m.total;
    return m;
}

std::string classification_report(const Metrics& m, int digits) {
    // Widths and formats follow sklearn.metrics.classification_report exactly.
    const std::string last_heading = "weighted avg";
    size_t width = last_heading.size();
    for (const auto& name : m.class_names) width = std::max(width, name.size());
    width = std::max(width, static_cast<size_t>(digits));
    std::string out = fmt::format("{:>{}} ", "", width);
    for (const char* h : {"precision", "recall", "f1-score", "support"}) out += fmt::format(" {:>9}", h);
    out += "\n\n";
    auto row = [&](const std::string& name, const ClassScores& s) {
        return fmt::format("{:>{}}  {:>9.{}f} {:>9.{}f} {:>9.{}f} {:>9}\n", name, width, s.precision, digits,
                           s.recall, digits, s.f1, digits, s.support);
    };
    for (size_t c = 0; c < m.class_names.size(); ++c) out += row(m.class_names[c], m.per_class[c]);
    out += "\n";
    out += fmt::format("{:>{}}  {:>9} {:>9} {:>9.{}f} {:>9}\n", "accuracy", width, "", "", m.accuracy, digits, m.total);
    out += row("macro avg", m.macro);
    out += row(last_heading, m.weighted);
    return out;
}

std::string confusion_table(const Metrics& m) {
    size_t name_width = std::string("true \\ predicted").size();
    size_t cell = 5;
    for (const auto& name : m.class_names) name_width = std::max(name_width, name.size()), cell = std::max(cell, name.size());
    for (const auto& r : m.confusion)
        for (auto v : r) cell = std::max(cell, std::to_string(v).size());
    std::string out = fmt::format("{:<{}}", "true \\ predicted", name_width);
    for (const auto& name : m.class_names) out += fmt::format("  {:>{}}", name, cell);
    out += "\n";
    for (size_t r = 0; r < m.class_names.size(); ++r) {
        out += fmt::format("{:<{}}", m.class_names[r], name_width);
        for (auto v : m.confusion[r]) out += fmt::format("  {:>{}}", v, cell);
        out += "\n";
    }
    return out;
}

nlohmann::json to_json(const Metrics& m) {
    auto scores = [](const ClassScores& s) {
        return nlohmann::json{{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
    };
    nlohmann::json per_class = nlohmann::json::object();
    for (size_t c = 0; c < m.class_names.size(); ++c) per_class[m.class_names[c]] = scores(m.per_class[c]);
    return {{"accuracy", m.accuracy},   {"total", m.total},
            {"class_names", m.class_names}, {"per_class", per_class},
            {"macro_avg", scores(m.macro)}, {"weighted_avg", scores(m.weighted)},
            {"confusion_matrix", m.confusion}, {"warnings", m.warnings}};
}

}  // namespace maskctl
