# Cross toolchain for arm64 Linux with Debian's gcc-aarch64-linux-gnu
# (scripts/arm64-tests.mjs). Test executables run under qemu user emulation
# with the cross sysroot as its library prefix.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
find_program(SD_QEMU_AARCH64 qemu-aarch64)
if(SD_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SD_QEMU_AARCH64} -L /usr/aarch64-linux-gnu)
endif()
