#pragma once
// connect --crlf: LF becomes CRLF on the way out (nc -C). A CR already before the LF is kept
// as is, also when the CR ended the previous chunk (`previous` carries the last byte).
#include <span>
#include <string>

namespace nettool {

void crlf_transform(std::span<const char> in, std::string& out, char& previous);

} // namespace nettool
