#include <catch2/catch.hpp>

#include "maskctl/core/errors.hpp"
#include "maskctl/train/metrics.hpp"

using maskctl::compute_metrics;
using maskctl::metrics_from_confusion;

TEST_CASE("classification_report matches scikit-learn's documented example", "[metrics]") {
    // sklearn.metrics.classification_report docstring example, printed by scikit-learn itself.
    const auto m = compute_metrics({0, 1, 2, 2, 2}, {0, 0, 2, 2, 1}, {"class 0", "class 1", "class 2"});
    const std::string golden =
        "              precision    recall  f1-score   support\n"
        "\n"
        "     class 0       0.50      1.00      0.67         1\n"
        "     class 1       0.00      0.00      0.00         1\n"
        "     class 2       1.00      0.67      0.80         3\n"
        "\n"
        "    accuracy                           0.60         5\n"
        "   macro avg       0.50      0.56      0.49         5\n"
        "weighted avg       0.70      0.60      0.61         5\n";
    CHECK(maskctl::classification_report(m) == golden);
    CHECK(m.warnings.empty());
}

TEST_CASE("long class names widen the first column, digits are configurable", "[metrics]") {
    const auto m = metrics_from_confusion({{8, 2}, {1, 9}}, {"mask_weared_incorrect", "b"});
    const std::string report = maskctl::classification_report(m, 4);
    CHECK(report.find("mask_weared_incorrect     0.8889    0.8000    0.8421        10\n") != std::string::npos);
    CHECK(report.find("             accuracy                         0.8500        20\n") != std::string::npos);
}

TEST_CASE("metrics from a hand-made confusion matrix", "[metrics]") {
    // true\pred: with_mask 90 right, 10 wrong; without_mask 5 wrong, 45 right.
    const auto m = metrics_from_confusion({{90, 10}, {5, 45}}, {"with_mask", "without_mask"});
    CHECK(m.total == 150);
    CHECK(m.accuracy == Approx(135.0 / 150));
    CHECK(m.per_class[0].precision == Approx(90.0 / 95));
    CHECK(m.per_class[0].recall == Approx(0.9));
    CHECK(m.per_class[1].precision == Approx(45.0 / 55));
    CHECK(m.per_class[1].recall == Approx(0.9));
    const double f0 = 2 * (90.0 / 95) * 0.9 / (90.0 / 95 + 0.9);
    const double f1 = 2 * (45.0 / 55) * 0.9 / (45.0 / 55 + 0.9);
    CHECK(m.per_class[0].f1 == Approx(f0));
    CHECK(m.macro.f1 == Approx((f0 + f1) / 2));
    CHECK(m.weighted.f1 == Approx((f0 * 100 + f1 * 50) / 150));
    CHECK(m.weighted.recall == Approx(m.accuracy));  // always true: weighted recall is accuracy
    CHECK(maskctl::confusion_table(m) ==
          "true \\ predicted     with_mask  without_mask\n"
          "with_mask                   90            10\n"
          "without_mask                 5            45\n");
}

TEST_CASE("zero division gives 0 with a warning, as scikit-learn does", "[metrics]") {
    SECTION("a class that is never predicted") {
        const auto m = compute_metrics({0, 0, 1, 1}, {0, 0, 0, 0}, {"a", "b"});
        CHECK(m.per_class[1].precision == 0);
        CHECK(m.per_class[1].recall == 0);
        CHECK(m.per_class[1].f1 == 0);
        REQUIRE(m.warnings.size() == 1);
        CHECK(m.warnings[0] ==
              "Precision is ill-defined and being set to 0.0 in labels with no predicted samples: b");
    }
    SECTION("a class with no true samples and no predictions") {
        const auto m = compute_metrics({0, 1}, {0, 1}, {"a", "b", "c"});
        CHECK(m.accuracy == 1);
        CHECK(m.per_class[2].support == 0);
        CHECK(m.macro.recall == Approx(2.0 / 3));  // the empty class counts as 0 in the macro mean
        CHECK(m.weighted.recall == 1);
        REQUIRE(m.warnings.size() == 3);
        CHECK(m.warnings[1] == "Recall is ill-defined and being set to 0.0 in labels with no true samples: c");
    }
    SECTION("no samples at all") {
        const auto m = compute_metrics({}, {}, {"a", "b"});
        CHECK(m.accuracy == 0);
        CHECK(m.total == 0);
    }
}

TEST_CASE("bad label input is rejected", "[metrics]") {
    CHECK_THROWS_AS(compute_metrics({0, 1}, {0}, {"a", "b"}), maskctl::Error);
    CHECK_THROWS_WITH(compute_metrics({0, 2}, {0, 1}, {"a", "b"}),
                      "compute_metrics: label pair (2, 1) at 1 is outside 0..1");
}
