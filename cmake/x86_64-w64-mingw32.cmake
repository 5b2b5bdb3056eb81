# Cross toolchain for 64-bit Windows with Debian's MinGW-w64 GCC
# (g++-mingw-w64-x86-64-posix; scripts/windows-tests.mjs). It compiles the
# engine's Windows code paths (_WIN32: file mapping, heap blocks, CPU
# topology) against the Win32 headers; test executables are linked
# statically and run under Wine. Release prebuilds use MSVC's ClangCL
# toolset instead (.github/workflows/release.yml).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# No MinGW runtime DLLs to find at run time.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
find_program(SD_WINE NAMES wine64 wine HINTS /usr/lib/wine)
if(SD_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SD_WINE})
endif()
