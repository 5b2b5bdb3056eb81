// Paths cross the engine as UTF-8 std::strings, as JavaScript hands them
// over. On Windows, std::filesystem::path's narrow-string constructor and
// its .string() use the ANSI code page, which cannot spell most non-ASCII
// names (a user folder "C:\Users\Анна" fails to open), so every conversion
// between the two goes through these.
#pragma once
#include <filesystem>
#include <string>

namespace sd {

inline std::filesystem::path fs_path(const std::string& utf8) { return std::filesystem::u8path(utf8); }
inline std::string utf8_path(const std::filesystem::path& p) { return p.u8string(); }

}  // namespace sd
