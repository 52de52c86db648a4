#include "maskctl/core/json.hpp"

#include <fmt/format.h>

namespace maskctl {
namespace {

struct TooDeep {};

std::string size_text(std::size_t bytes) {
    if (bytes < 10 * 1024) return fmt::format("{} bytes", bytes);
    if (bytes < 10 * 1024 * 1024) return fmt::format("{} KB", bytes / 1024);
    return fmt::format("{} MB", bytes / (1024 * 1024));
}

}  // namespace

JsonParse parse_json(std::string_view text, bool comments, int max_depth) {
    JsonParse out;
    // The callback sees every container as it opens, with the number already open around it.
    const nlohmann::json::parser_callback_t limit = [max_depth](int depth, nlohmann::json::parse_event_t event,
                                                                nlohmann::json&) {
        if ((event == nlohmann::json::parse_event_t::object_start ||
             event == nlohmann::json::parse_event_t::array_start) &&
            depth >= max_depth)
            throw TooDeep{};
        return true;
    };
    try {
        out.value = nlohmann::json::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/true, comments);
    } catch (const TooDeep&) {
        out.error = fmt::format("nested deeper than {} levels", max_depth);
    } catch (const nlohmann::json::exception& e) {
        // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> from "parse error".
        const std::string what = e.what();
        const auto at = what.find("parse error");
        out.error = at == std::string::npos ? what : what.substr(at);
    }
    if (!out.ok()) out.value = nlohmann::json();
    return out;
}

std::string text_excerpt(std::string_view text, std::size_t max_chars) {
    if (text.size() <= max_chars) return std::string(text);
    std::size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
    return fmt::format("{}... ({})", text.substr(0, cut), size_text(text.size()));
}

std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars) {
    return text_excerpt(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), max_chars);
}

}  // namespace maskctl
