#pragma once
// Run folders as Ultralytics makes them: runs/train/exp, exp2, exp3, ... never overwriting a run.
#include <filesystem>
#include <string>

namespace maskctl {

// Creates and returns the first free folder among parent/name, parent/name2, parent/name3, ...
// (creation is the claim, so two runs started at once never share a folder). Throws WriteError.
std::filesystem::path create_run_dir(const std::filesystem::path& parent, const std::string& name = "exp");

// Creates `dir` and its parents for outputs (nothing when it exists). Throws WriteError naming it.
void create_output_folder(const std::filesystem::path& dir);

}  // namespace maskctl
