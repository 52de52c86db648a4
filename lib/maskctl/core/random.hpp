#pragma once
// A portable pseudo-random generator. std::uniform_*_distribution and std::shuffle give different
// numbers with libstdc++, libc++ and MSVC, so anything that must be reproducible (the split, the
// per-epoch order, augmentation) draws from this instead.
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

namespace maskctl {

// SplitMix64 (Steele, Lea, Flood 2014): 64-bit state, passes BigCrush, trivially seedable.
class Rng {
public:
    explicit Rng(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next();
    // Uniform in [0, 1) with 53 random bits.
    double uniform01();
    // Uniform in [lo, hi); returns lo when hi <= lo.
    double uniform(double lo, double hi);
    // Uniform integer in [0, n) without modulo bias; n > 0.
    std::uint64_t below(std::uint64_t n);
    // True with probability p.
    bool chance(double p) { return uniform01() < p; }

private:
    std::uint64_t state_;
};

// The SplitMix64 finalizer: a bijective 64-bit mix.
std::uint64_t mix64(std::uint64_t x);

// A seed derived from several values (e.g. seed, epoch, sample index); order matters.
std::uint64_t derive_seed(std::initializer_list<std::uint64_t> parts);

// FNV-1a of a string, to derive seeds from names (e.g. a class name) independently of positions.
std::uint64_t hash_string(std::string_view text);

// Fisher-Yates shuffle driven by `rng`: the same seed gives the same order everywhere.
template <typename T>
void shuffle(std::vector<T>& items, Rng& rng) {
    for (std::size_t i = items.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(rng.below(i));
        std::swap(items[i - 1], items[j]);
    }
}

}  // namespace maskctl
