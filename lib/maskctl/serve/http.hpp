#pragma once
// cpp-httplib as Debian builds it (libcpp-httplib-dev: a shared library, not the header-only form).
// The library was compiled with OpenSSL, zlib and Brotli support, and those switches change the
// layout of its classes, so every file that includes httplib.h must see the same three macros.
// They are defined here rather than as -D flags: a flag would differ between the library and the
// apps and make them ignore the shared precompiled header. Include this, never <httplib.h>.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <httplib.h>
