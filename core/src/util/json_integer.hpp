#pragma once
// Integers out of nettool's own small JSON files (the registry, NAME.part.meta), which a damaged
// or forged file may fill with anything (core-private).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace nettool::detail {

enum class JsonInteger { missing, valid, invalid };

// Reads j[key] into `value` when it is an integer that T holds. A float, a bool, a string or an
// integer out of T's range is invalid: nlohmann's get<T>() would convert each of them, and a
// float beyond T's range with undefined behaviour.
template <class T> JsonInteger json_integer(const nlohmann::json& j, const char* key, T& value) {
    const auto it = j.find(key);
    if (it == j.end()) return JsonInteger::missing;
    if (it->is_number_unsigned()) {
        const auto number = it->template get<std::uint64_t>();
        if (!std::in_range<T>(number)) return JsonInteger::invalid;
        value = static_cast<T>(number);
        return JsonInteger::valid;
    }
    if (it->is_number_integer()) {
        const auto number = it->template get<std::int64_t>();
        if (!std::in_range<T>(number)) return JsonInteger::invalid;
        value = static_cast<T>(number);
        return JsonInteger::valid;
    }
    return JsonInteger::invalid;
}

} // namespace nettool::detail
