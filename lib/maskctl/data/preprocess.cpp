#include "maskctl/data/preprocess.hpp"

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "maskctl/core/errors.hpp"

namespace maskctl {

void to_json(nlohmann::json& j, const Preprocess& p) {
    j = {{"input_size", p.input_size}, {"color", "RGB"}, {"scale", p.scale}, {"offset", p.offset}};
}

void from_json(const nlohmann::json& j, Preprocess& p) {
    j.at("input_size").get_to(p.input_size);
    j.at("scale").get_to(p.scale);
    j.at("offset").get_to(p.offset);
}

cv::Mat resize_for_model(const cv::Mat& rgb, const Preprocess& p) {
    if (rgb.cols == p.input_size && rgb.rows == p.input_size) return rgb;
    cv::Mat out;
    // Area averaging when shrinking avoids aliasing on large photos; bilinear when enlarging.
    const bool shrinking = rgb.cols > p.input_size || rgb.rows > p.input_size;
    cv::resize(rgb, out, cv::Size(p.input_size, p.input_size), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    return out;
}

torch::Tensor to_batch(const std::vector<cv::Mat>& rgb, const Preprocess& p) {
    const int64_t n = static_cast<int64_t>(rgb.size());
    const int s = p.input_size;
    // Filled as NHWC memory, then viewed as NCHW: that view is exactly the channels-last layout.
    auto nhwc = torch::empty({n, s, s, 3}, torch::kFloat32);
    float* dst = nhwc.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
        const cv::Mat& img = rgb[static_cast<size_t>(i)];
        if (img.type() != CV_8UC3 || img.cols != s || img.rows != s)
            throw Error(fmt::format("to_batch: image {} is {}x{} type {}, expected {}x{} 8-bit RGB", i, img.cols,
                                    img.rows, img.type(), s, s));
        cv::Mat plane(s, s, CV_32FC3, dst + i * s * s * 3);
        img.convertTo(plane, CV_32FC3, p.scale, p.offset);
    }
    return nhwc.permute({0, 3, 1, 2});
}

}  // namespace maskctl
