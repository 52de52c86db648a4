#pragma once
// Typed errors: the library never prints or exits; apps catch these and choose the exit code.
#include <stdexcept>
#include <string>

namespace maskctl {

// Base of every error the library throws on bad input; what() is one line meant for the user.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A config file or --set override that is malformed, unknown or out of range.
class ConfigError : public Error {
public:
    using Error::Error;
};

// A dataset folder, split file or image that cannot be used.
class DataError : public Error {
public:
    using Error::Error;
};

// A weights or model file that is missing, truncated, corrupt or of the wrong kind.
class ModelFileError : public Error {
public:
    using Error::Error;
};

// Reading or writing a file failed (permissions, disk full, missing folder).
class IoError : public Error {
public:
    using Error::Error;
};

// Writing an output the user relies on failed (disk full, permissions, missing folder). The message
// names the user's path, never a temporary file; the previous version of the file is left in place.
class WriteError : public IoError {
public:
    using IoError::IoError;
};

// A long operation (feature caching, evaluation, prediction) stopped early because its stop flag was
// set (Ctrl-C, SIGTERM). Not a problem with the input: apps exit 130, and say how to continue when
// there is a way.
class Interrupted : public Error {
public:
    using Error::Error;
};

}  // namespace maskctl
