#pragma once
// JSON Lines output, one vocabulary in every subcommand (see nettool(1), "JSON OUTPUT", and
// docs/nettool-json.schema.json): `event` names what happened, `path` a local file, `url` a
// URL, `local`/`peer` addresses, `bytes_in`/`bytes_out`, `seconds`.
#include <cstdio>
#include <nettool/socket_address.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace nettool::cli {

// Keys keep the order they are written in, so "event" comes first on every line.
using Json = nlohmann::ordered_json;

// One line: ASCII only (every non-ASCII character as \uXXXX, every control character escaped;
// bytes that are not UTF-8 become U+FFFD), so a name or header from the network reaches the
// reader's terminal as text, never as a control sequence. Ends with a newline.
std::string json_line(const Json& object);

// Writes json_line(object) in one write and flushes; false when the stream failed.
bool write_json_line(std::FILE* stream, const Json& object);

// {"address":"127.0.0.1","port":80} for IP addresses, {"path":"/run/x.sock"} for Unix ones
// ("@name" for the abstract namespace, "" for an unnamed socket).
Json address_json(const SocketAddress& address);

} // namespace nettool::cli
