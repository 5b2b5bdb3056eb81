// A small strict JSON reader for file headers and config files. Untrusted
// input: nesting depth and sizes are bounded, errors carry the byte offset.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sd {

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Json() = default;

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  // True (and *out set) if the number is an exact integer in int64 range,
  // written without fraction/exponent in the source.
  bool as_int64(int64_t* out) const;
  const std::string& as_string() const { return string_; }
  const std::vector<Json>& items() const { return array_; }
  // Object members in source order (duplicates are rejected by the parser).
  const std::vector<std::pair<std::string, Json>>& members() const { return object_; }
  const Json* find(std::string_view key) const;

  // Throws std::invalid_argument with "at byte N: ..." on malformed input.
  static Json parse(std::string_view text, int max_depth = 64);

 private:
  friend class JsonParser;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  bool integral_ = false;
  double number_ = 0;
  int64_t int_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::vector<std::pair<std::string, Json>> object_;
};

}  // namespace sd
