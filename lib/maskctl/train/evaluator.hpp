#pragma once
// Running a trained classifier over labelled images: predictions per image and the metrics.
#include <atomic>
#include <filesystem>
#include <functional>
#include <vector>

#include "maskctl/model/classifier.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/train/metrics.hpp"
#include "maskctl/data/preprocess.hpp"

namespace maskctl {

struct Prediction {
    std::filesystem::path path;
    int label = -1;  // true class, -1 when unknown (predict on unlabelled images)
    int predicted = 0;
    std::vector<float> probabilities;  // one per class, summing to 1
};

struct Evaluation {
    Metrics metrics;
    std::vector<Prediction> predictions;  // in sample order; files that failed to decode are left out
    BadFileReport bad_files;
};

// Called with (images done, images in all) after each batch.
using ProgressFn = std::function<void(std::size_t, std::size_t)>;

struct InferenceOptions {
    int batch_size = 32;
    int workers = 0;  // image decoding threads; 0 = automatic
    ProgressFn progress;
    const std::atomic<bool>* stop = nullptr;  // Ctrl-C: throws Interrupted between two batches
};

// Classifies `samples` (no augmentation). Files that cannot be decoded are skipped and reported.
std::vector<Prediction> predict_samples(Classifier& model, const Preprocess& preprocess,
                                        const std::vector<Sample>& samples, const InferenceOptions& options,
                                        BadFileReport* bad_files = nullptr);

// predict_samples plus metrics against the samples' labels.
Evaluation evaluate(Classifier& model, const Preprocess& preprocess, const std::vector<Sample>& samples,
                    const std::vector<std::string>& class_names, const InferenceOptions& options);

}  // namespace maskctl
