#include "maskctl/evaluator.hpp"

#include <torch/torch.h>

#include "maskctl/loader.hpp"

namespace maskctl {

std::vector<Prediction> predict_samples(Classifier& model, const Preprocess& preprocess,
                                        const std::vector<Sample>& samples, const InferenceOptions& options,
                                        BadFileReport* bad_files) {
    LoaderOptions lo;
    lo.preprocess = preprocess;
    lo.batch_size = options.batch_size;
    lo.workers = options.workers;
    lo.shuffle = false;
    Loader loader(samples, lo);
    loader.start_epoch(0);
    std::vector<Prediction> out;
    out.reserve(samples.size());
    std::size_t done = 0;
    while (auto batch = loader.next()) {
        if (batch->indices.empty()) continue;  // every file of the batch failed to decode
        const torch::Tensor probs = model->predict(batch->images).contiguous();
        for (std::size_t r = 0; r < batch->indices.size(); ++r) {
            const Sample& s = samples[static_cast<std::size_t>(batch->indices[r])];
            const torch::Tensor row = probs[static_cast<int64_t>(r)];
            Prediction p;
            p.path = s.path;
            p.label = s.label;
            p.probabilities.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
            p.predicted = static_cast<int>(row.argmax().item<int64_t>());
            out.push_back(std::move(p));
        }
        done += batch->indices.size();
        if (options.progress) options.progress(done, samples.size());
    }
    if (bad_files) bad_files->merge(loader.bad_files());
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
