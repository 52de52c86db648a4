#pragma once
// `maskctl serve`: the web page and its JSON API over HTTP (cpp-httplib), for a photo upload, the
// live sources and their compliance statistics. The routes and their JSON are documented in
// docs/serve.md; the page in web/ is compiled in (web_assets.hpp).
//
// Safety, because a server is an open door: it listens on 127.0.0.1 unless told otherwise; with a
// token every route but the page itself and /healthz needs it (401); an upload over max_upload gets
// 413 from its Content-Length before the body is read; an image that does not decode gets 400; no URL
// reaches the file system; live streams wait on the sources' newest frame and never hold them up,
// and their number is capped so they cannot take every worker thread.
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "maskctl/detect/pipeline.hpp"
#include "maskctl/serve/live_source.hpp"

namespace maskctl {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                             // 0 = any free port (see MaskServer::port)
    std::string token;                           // empty = no token needed
    std::size_t max_upload = 20u * 1024 * 1024;  // bytes of one POST /api/predict
    bool blur_faces = false;                     // in streamed frames, annotated photos and saved pictures
    std::filesystem::path save_violations;       // one JPEG per violation event; empty = store no picture
    int predict_workers = 1;                     // photos labelled at the same time
    int http_threads = 0;                        // worker threads; 0 = max(32, 4 x cores)
    int max_streams = 0;                         // MJPEG + SSE connections at once; 0 = half the threads
    std::vector<SourceSpec> sources;
    bool loop = false;                           // video sources start again at their end
    bool pace = true;                            // video sources play at their frame rate
    int max_reconnects = -1;                     // cameras and streams
    std::size_t event_capacity = 1000;           // recent events kept for /api/events
    double sse_keepalive = 15;                   // seconds between ": keepalive" comments
};

// "20MB", "512k", "1.5 GB", "1048576" (bytes; k/M/G are 1024-based, "B" optional). Throws ConfigError.
std::size_t parse_byte_size(const std::string& text);

// The access token: the first line of `file`, surrounding white space removed. Throws ConfigError when
// the file cannot be read or the token is empty or shorter than 8 characters.
std::string read_token_file(const std::filesystem::path& file);

class MaskServer {
public:
    // Loads the model (for the photo workers and each source) and checks the options. Throws
    // ModelFileError, ConfigError (bad options, a source name twice) and IoError (a video file that
    // does not exist, a --save-violations folder that cannot be written).
    MaskServer(const std::filesystem::path& model, DetectOptions detect, ServerOptions options);
    ~MaskServer();  // stop()
    MaskServer(const MaskServer&) = delete;
    MaskServer& operator=(const MaskServer&) = delete;

    // Binds, starts the sources and the HTTP workers, and returns. Throws IoError naming host:port
    // when it cannot listen there (in use, no such address, permissions).
    void start();
    // The port listened on (the chosen one for port 0); 0 before start().
    int port() const;
    // Ends the streams, lets requests in flight finish, stops the sources and joins every thread.
    // Idempotent; also run by the destructor.
    void stop();

    // GET /api/stats, also what `maskctl serve --stats-json` writes at the end.
    nlohmann::json stats_json() const;
    nlohmann::json info_json() const;
    const ServerOptions& options() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace maskctl
