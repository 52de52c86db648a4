#pragma once
// JSON that comes from outside (config files, --set values, model file metadata, checkpoints).
// nlohmann's parser keeps its own stack, but dump(), copies and comparisons recurse once per level:
// a document nested 100,000 deep (`[[[[...]]]]`) parses and then overflows the stack. Everything
// from outside is parsed here, with a depth limit far above what any real document needs.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace maskctl {

inline constexpr int kMaxJsonDepth = 64;

struct JsonParse {
    nlohmann::json value;
    std::string error;  // "" when parsed; else one line, e.g. "parse error at line 3, column 5: ..."
    bool ok() const { return error.empty(); }
};

// Parses `text`; `comments` allows // and /* */ comments (config files). Never throws on bad input.
JsonParse parse_json(std::string_view text, bool comments = false, int max_depth = kMaxJsonDepth);

// A value for an error message: its JSON text, cut to about `max_chars` with the full size noted
// ("\"aaaa...\" (169 KB)"), so a huge value never floods the terminal. Invalid UTF-8 is replaced.
std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars = 80);

// The same for plain text (keys, file content).
std::string text_excerpt(std::string_view text, std::size_t max_chars = 80);

}  // namespace maskctl
