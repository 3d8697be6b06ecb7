#pragma once
// The program's entry, apart from app.hpp so that main.cpp does not include CLI11: its header
// constructs validator objects in every file that includes it, at static-init time, which
// `nettool --version` would pay for twice.

namespace nettool::cli {

// The whole program; main() forwards to it. Never calls exit().
int run(int argc, char** argv);

} // namespace nettool::cli
