#include "maskctl/train/evaluator.hpp"

#include <torch/torch.h>

#include "maskctl/data/loader.hpp"

namespace maskctl {

std::vector<Prediction> predict_samples(Classifier& model, const Preprocess& preprocess,
                                        const std::vector<Sample>& samples, const InferenceOptions& options,
                                        BadFileReport* bad_files) {
    LoaderOptions lo;
    lo.preprocess = preprocess;
    lo.batch_size = options.batch_size;
    lo.workers = options.workers;
    lo.stop = options.stop;
    std::vector<Prediction> out;
    out.reserve(samples.size());
    for_each_batch(samples, lo, 0, [&](const Batch& batch, std::size_t done) {
        const torch::Tensor probs = model->predict(batch.images).contiguous();
        for (std::size_t r = 0; r < batch.indices.size(); ++r) {
            const Sample& s = samples[static_cast<std::size_t>(batch.indices[r])];
            const torch::Tensor row = probs[static_cast<int64_t>(r)];
            Prediction p;
            p.path = s.path;
            p.label = s.label;
            p.probabilities.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
            p.predicted = static_cast<int>(row.argmax().item<int64_t>());
            out.push_back(std::move(p));
        }
        if (options.progress) options.progress(done, samples.size());
    }, bad_files);
    return out;
}

Evaluation evaluate(Classifier& model, const Preprocess& preprocess, const std::vector<Sample>& samples,
                    const std::vector<std::string>& class_names, const InferenceOptions& options) {
    Evaluation e;
    e.predictions = predict_samples(model, preprocess, samples, options, &e.bad_files);
    std::vector<int> y_true, y_pred;
    for (const auto& p : e.predictions) y_true.push_back(p.label), y_pred.push_back(p.predicted);
    e.metrics = compute_metrics(y_true, y_pred, class_names);
    return e;
}

}  // namespace maskctl
