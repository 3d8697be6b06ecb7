#include "app.hpp"

int main(int argc, char** argv) { return nettool::cli::run(argc, argv); }
