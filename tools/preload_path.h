// Where libtiermem-preload.so is, for `tiermem run`.
#pragma once

#include <string>
#include <vector>

namespace tiermem::cli {

// $TIERMEM_PRELOAD if set (and then only that); else, in order: the build
// tree's copy when this tiermem runs from the build tree; next to an
// installed tiermem (<exe>/../<libdir>, <exe>/../lib/<multiarch>,
// <exe>/../lib); the configured install path.
// Returns the first that exists, or "" and the places tried in *tried.
std::string FindPreload(std::vector<std::string>* tried);

}  // namespace tiermem::cli
