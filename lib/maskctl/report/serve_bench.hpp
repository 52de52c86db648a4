#pragma once
// Load on a running `maskctl serve` (MaskServer) through real sockets, for `maskctl bench`: photo
// requests from N clients at once, and viewers of a live stream.
#include <string>

#include "maskctl/detect/pipeline.hpp"

namespace maskctl {

struct PredictLoad {
    int clients = 0;
    int requests = 0;   // answered 200
    int failures = 0;   // any other answer, or none
    double seconds = 0;
    double requests_per_second = 0;
    LatencyStats latency;  // ms per request, as each client saw it
};

// `clients` threads, each with its own connection, POST `image` to /api/predict back to back for
// `seconds` (after one warm-up request each). `token` is sent when not empty.
PredictLoad measure_predict_load(int port, const std::string& image, int clients, double seconds,
                                 const std::string& token = "");

struct StreamLoad {
    int viewers = 0;
    double seconds = 0;
    double frames_per_second = 0;      // JPEG parts per second per viewer, the mean over viewers
    double min_frames_per_second = 0;  // the slowest viewer
};

// `viewers` clients read /stream/<source> for `seconds` and count the JPEG parts they receive.
StreamLoad measure_stream_viewers(int port, const std::string& source, int viewers, double seconds,
                                  const std::string& token = "");

}  // namespace maskctl
