#pragma once
// Options with a fixed set of values are enums, not strings: parsed once where the config or the
// flags are validated, so a typo never reaches the code that uses them and the compiler checks every
// switch. MASKCTL_ENUM_NAMES gives an enum its JSON spelling (nlohmann's NLOHMANN_JSON_SERIALIZE_ENUM)
// and keeps the same table for the helpers below: names for messages, strict parsing.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

// Use at namespace scope next to the enum: MASKCTL_ENUM_NAMES(Pool, {{Pool::avg, "avg"}, {Pool::max, "max"}})
#define MASKCTL_ENUM_NAMES(ENUM, ...)                                                      \
    NLOHMANN_JSON_SERIALIZE_ENUM(ENUM, __VA_ARGS__)                                        \
    inline const std::vector<std::pair<ENUM, std::string>>& enum_names_of(ENUM) {          \
        static const std::vector<std::pair<ENUM, std::string>> names = __VA_ARGS__;        \
        return names;                                                                      \
    }

namespace maskctl {

// The JSON spelling of `value`.
template <class E>
const std::string& enum_name(E value) {
    for (const auto& [e, name] : enum_names_of(E{}))
        if (e == value) return name;
    return enum_names_of(E{}).front().second;  // unreachable for a value of the table
}

// Every spelling, in table order (the order of the docs and of error messages).
template <class E>
std::vector<std::string> enum_choices() {
    std::vector<std::string> out;
    for (const auto& [e, name] : enum_names_of(E{})) out.push_back(name);
    return out;
}

// Strict parsing: nlohmann's from_json maps an unknown string to the first value, so input that was
// not validated by the config schema (model files, flags) goes through here.
template <class E>
std::optional<E> parse_enum(std::string_view text) {
    for (const auto& [e, name] : enum_names_of(E{}))
        if (name == text) return e;
    return std::nullopt;
}

}  // namespace maskctl
