#pragma once
// The frozen MobileNetV2 compiled into one chain of oneDNN convolutions, for inference: weights
// reordered once into the blocked layout the CPU's kernels want, ReLU6 and the residual add fused
// into the convolutions (eltwise and sum post-ops), TensorFlow 'SAME' padding as oneDNN's own
// asymmetric padding, and activations in a few buffers that are reused on every call, so a forward
// pass takes no memory from the kernel. LibTorch's eager path cannot do this: it has no ReLU6 on
// oneDNN tensors and reorders weights on every call (see docs/benchmarks.md).
//
// Results equal MobileNetV2Impl's eager forward up to float rounding (tests/test_mobilenetv2.cpp).
#include <cstdint>
#include <memory>
#include <string>

#include <torch/types.h>

namespace maskctl {

class MobileNetV2Impl;

// Arithmetic of the compiled network; float is exact up to rounding, bf16 rounds weights and
// activations to 8 significant bits (oneDNN uses AMX or AVX-512 BF16 where the CPU has them).
enum class Precision { float32, bf16 };
std::string to_string(Precision p);
// "float" | "bf16" | "auto" (= auto_precision()). Throws ConfigError for anything else; for "int8"
// the message is kInt8Unavailable.
Precision precision_from_string(const std::string& name);
bool precision_supported(Precision p);  // bf16: the CPU has AVX-512 BF16 or AMX (oneDNN's fast paths)
// What "auto" runs on this CPU: bf16 only where the CPU has a fast path for it (precision_supported)
// and bf16 was measured within 0.3 accuracy points of float on both the face-mask-3833 and the
// real-world set (kBf16AccuracyShown, docs/benchmarks.md); float otherwise.
Precision auto_precision();
// Shown 2026-12-02 on a Zen 5 EPYC (AVX-512 BF16), docs/benchmarks.md "bf16 accuracy": not lower than
// float on val or test of either set, and 1.4-1.9x faster there (2.2x on the AMX Xeon).
inline constexpr bool kBf16AccuracyShown = true;
// Why int8 is refused, one line (the reasons in full: docs/benchmarks.md, "int8").
inline constexpr const char* kInt8Unavailable =
    "int8 is not available: the fused oneDNN backbone has no calibrated int8 path yet (per-layer activation "
    "scales and an accuracy check on both test sets are needed first; see docs/benchmarks.md)";

class FusedBackbone {
public:
    // Copies the network's current weights; later changes to `net` need a new FusedBackbone.
    FusedBackbone(const MobileNetV2Impl& net, Precision precision);
    ~FusedBackbone();
    FusedBackbone(const FusedBackbone&) = delete;
    FusedBackbone& operator=(const FusedBackbone&) = delete;

    // [N, 3, H, W] float -> [N, 1280, ceil(H/32), ceil(W/32)] float, channels-last. Runs on the calling
    // thread with its OpenMP thread count; safe to call from several threads at once (each call
    // borrows its own activation buffers).
    torch::Tensor forward(const torch::Tensor& x);

    Precision precision() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace maskctl
