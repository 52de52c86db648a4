#pragma once
// Where frames come from: a camera, a network stream (RTSP/HTTP/MJPEG, anything OpenCV's FFmpeg or
// GStreamer backends open), a video file, or image files. Live sources that drop are reopened with
// backoff; a file ends the run. Frames are BGR, as OpenCV captures them.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "maskctl/data/image.hpp"

namespace maskctl {

struct Frame {
    cv::Mat bgr;
    std::int64_t index = 0;  // 0-based, counted by the source
    double time = 0;         // seconds: position in a file, time since the start for live sources
    std::string name;        // the image file, for image sources
};

class FrameSource {
public:
    virtual ~FrameSource() = default;
    // The next frame; false at the end (end of file, stop requested, reconnect attempts used up).
    virtual bool read(Frame& frame) = 0;
    virtual std::string description() const = 0;  // e.g. "video ../shared/media/demo.mp4 (FFMPEG, 640x420, 15 fps)"
    virtual bool live() const = 0;                // frames arrive in real time (drop, do not queue, when late)
    virtual double fps() const { return 0; }      // nominal rate, 0 when unknown
    virtual int reconnects() const { return 0; }
};

struct SourceOptions {
    int width = 0, height = 0;  // camera resolution to request; 0 = the driver's default
    // Live sources: wait this long after a drop, doubling up to reconnect_max, then reopen.
    double reconnect_initial = 0.5;
    double reconnect_max = 8.0;
    int max_reconnects = -1;    // reopen attempts after drops; -1 = forever (a camera that runs all day)
    int timeout_ms = 10000;
    bool loop = false;          // video files: start again at the end (benchmarks, demos)     // FFmpeg open and read timeout for network streams
    const std::atomic<bool>* stop = nullptr;  // ends waiting and reading early
    std::function<void(const std::string&)> on_message;  // "stream dropped, reopening in 2.0 s", ...
};

// Each throws IoError saying what it tried ("camera 2: cannot open it (tried V4L2, then any backend;
// /dev/video2 does not exist)") when the source cannot be opened.
std::unique_ptr<FrameSource> open_camera(int index, const SourceOptions& options = {});
std::unique_ptr<FrameSource> open_stream(const std::string& url, const SourceOptions& options = {});
std::unique_ptr<FrameSource> open_video(const std::filesystem::path& file, const SourceOptions& options = {});

// list_image_files (dataset.hpp): image files under `path`, sorted; entries that cannot be used go to
// `skipped`. Throws DataError when the path does not exist or holds no image files.
std::vector<std::filesystem::path> list_images(const std::filesystem::path& path, BadFileReport* skipped = nullptr);

// Writes an annotated video: into a temporary sibling while running, renamed to `file` by finish(),
// so a player never opens half a file; the temporary is removed if finish() never runs. The codec
// follows the extension: mp4v for .mp4/.m4v/.mov, MJPG otherwise (.avi, .mkv).
class VideoFileWriter {
public:
    // Throws as check_path, and WriteError when OpenCV cannot open a writer there.
    VideoFileWriter(const std::filesystem::path& file, double fps, cv::Size size);
    // Before any work: ConfigError for an extension we do not write (.mp4, .m4v, .mov, .avi, .mkv are
    // fine), WriteError when the folder is missing or not writable.
    static void check_path(const std::filesystem::path& file);
    ~VideoFileWriter();
    VideoFileWriter(const VideoFileWriter&) = delete;
    VideoFileWriter& operator=(const VideoFileWriter&) = delete;

    // Resized when the frame size differs from the first. Throws WriteError when the disk is (nearly) full.
    void write(const cv::Mat& bgr);
    // Closes, checks that every frame reads back, renames. Throws WriteError (the temporary removed).
    // Does nothing after an error or an earlier finish().
    void finish();
    std::int64_t frames() const { return frames_; }

private:
    void abandon() noexcept;  // removes the temporary; nothing is written any more

    struct Impl;
    std::unique_ptr<Impl> impl_;
    std::int64_t frames_ = 0;
};

}  // namespace maskctl
