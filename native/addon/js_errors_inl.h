#pragma once
#include <new>

#include "core/error.h"

namespace sdnode {

template <typename Fn>
bool capture_errors(CapturedError* err, Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const sd::Error& e) {
    *err = {sd::error_code_name(e.code()), e.what()};
  } catch (const std::bad_alloc&) {
    *err = {"ERR_OUT_OF_MEMORY", "out of memory"};
  } catch (const std::exception& e) {
    *err = {"ERR_INTERNAL", std::string("internal error: ") + e.what()};
  } catch (...) {
    *err = {"ERR_INTERNAL", "internal error"};
  }
  return false;
}

}  // namespace sdnode
