#include "maskctl/core/random.hpp"

namespace maskctl {

std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

std::uint64_t Rng::next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
}

double Rng::uniform01() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::uniform(double lo, double hi) {
    const double u = uniform01();  // always drawn, so a zero-width range does not shift later draws
    return hi <= lo ? lo : lo + (hi - lo) * u;
}

std::uint64_t Rng::below(std::uint64_t n) {
    // Rejection of the top partial bucket keeps every residue equally likely (plain % would be biased).
    const std::uint64_t limit = ~std::uint64_t{0} - (~std::uint64_t{0} % n);
    std::uint64_t x = next();
    while (x >= limit) x = next();
    return x % n;
}

std::uint64_t derive_seed(std::initializer_list<std::uint64_t> parts) {
    std::uint64_t h = 0x6a09e667f3bcc909ULL;
    for (std::uint64_t p : parts) h = mix64(h ^ mix64(p + 0x9e3779b97f4a7c15ULL));
    return h;
}

std::uint64_t hash_string(std::string_view text) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : text) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace maskctl
