// SPDX-License-Identifier: Apache-2.0
// Runs a libFuzzer target without libFuzzer: over seed files, every truncation of each seed, and
// deterministic single-byte mutations. Exit 0 when every input returned; 1 when a listed seed file
// is absent (the repository carries them in tests/data) or no seed is listed at all.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::uint8_t> read_all(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  if (!ok) return {};
  return {std::istreambuf_iterator<char>(in), {}};
}

void run(const std::vector<std::uint8_t>& input) {
  // A copy of exactly input.size() bytes, so ASan sees any read past the end.
  std::vector<std::uint8_t> exact(input);
  LLVMFuzzerTestOneInput(exact.empty() ? nullptr : exact.data(), exact.size());
}

std::size_t exercise(const std::vector<std::uint8_t>& seed) {
  std::size_t inputs = 0;
  run(seed);
  ++inputs;
  // Truncations: every length for small inputs, a spread of lengths for large ones.
  const std::size_t step = seed.size() <= 4096 ? 1 : seed.size() / 2048;
  for (std::size_t length = 0; length < seed.size(); length += step) {
    run(std::vector<std::uint8_t>(seed.begin(), seed.begin() + static_cast<long>(length)));
    ++inputs;
  }
  // Single-byte mutations at deterministic pseudo-random positions (xorshift).
  std::uint32_t state = 0x9e3779b9u ^ static_cast<std::uint32_t>(seed.size());
  for (int i = 0; i < 512 && !seed.empty(); ++i) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    std::vector<std::uint8_t> mutated(seed);
    const std::size_t position = state % seed.size();
    static constexpr std::uint8_t kValues[] = {0x00, 0xff, 0x7f, 0x80, 0x01};
    mutated[position] = (i % 2 == 0) ? kValues[(state >> 8) % 5]
                                     : static_cast<std::uint8_t>(mutated[position] ^ (state >> 24));
    run(mutated);
    ++inputs;
  }
  // An oversized input: the seed followed by a large amount of filler.
  std::vector<std::uint8_t> oversized(seed);
  oversized.resize(seed.size() + 65536, 0xff);
  run(oversized);
  return inputs + 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> seeds;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
      std::ifstream list(argv[++i]);
      for (std::string line; std::getline(list, line);) {
        if (!line.empty()) seeds.push_back(line);
      }
    } else {
      seeds.emplace_back(argv[i]);
    }
  }
  // A folder of seeds stands for its regular files, in name order.
  std::vector<std::string> files;
  for (const auto& path : seeds) {
    std::error_code error;
    if (!std::filesystem::is_directory(path, error)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> folder;
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      if (entry.is_regular_file()) folder.push_back(entry.path().string());
    }
    if (folder.empty()) files.push_back(path);  // reported as absent below
    std::sort(folder.begin(), folder.end());
    files.insert(files.end(), folder.begin(), folder.end());
  }
  seeds = std::move(files);
  std::size_t found = 0;
  std::size_t absent = 0;
  std::size_t inputs = 0;
  for (const auto& path : seeds) {
    bool ok = false;
    auto seed = read_all(path, ok);
    if (!ok) {
      std::printf("seed absent: %s\n", path.c_str());
      ++absent;
      continue;
    }
    ++found;
    inputs += exercise(seed);
  }
  // Inputs that do not depend on the vectors.
  inputs += exercise({});
  inputs += exercise(std::vector<std::uint8_t>(1184, 0));
  if (absent != 0 || found == 0) {
    std::printf("%zu of %zu seed files absent: FAIL\n", absent, seeds.size());
    return 1;
  }
  std::printf("%zu seeds, %zu inputs, no crash\n", found, inputs);
  return 0;
}
