#include "maskctl/detect/video_source.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>
#include <unistd.h>

#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"

namespace maskctl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string backend_name(int api) {
    return api == cv::CAP_ANY ? "any backend" : cv::videoio_registry::getBackendName(static_cast<cv::VideoCaptureAPIs>(api));
}

// How to (re)open one source: the backends to try in order and the open parameters.
struct OpenPlan {
    std::string label;   // "camera 0", "stream rtsp://...", "video demo.mp4"
    std::string target;  // file name or URL; empty for a camera
    int camera = -1;
    std::vector<int> apis;
    std::vector<int> params;
    bool live = false;
};

// Tries each backend in turn; returns the name of the one that opened, or "" (and `tried` lists them).
std::string try_open(cv::VideoCapture& cap, const OpenPlan& plan, std::vector<std::string>& tried) {
    for (int api : plan.apis) {
        if (api != cv::CAP_ANY && !cv::videoio_registry::hasBackend(static_cast<cv::VideoCaptureAPIs>(api))) continue;
        tried.push_back(backend_name(api));
        try {
            const bool ok = plan.camera >= 0 ? cap.open(plan.camera, api, plan.params)
                                             : cap.open(plan.target, api, plan.params);
            if (ok && cap.isOpened()) return cap.getBackendName();
        } catch (const cv::Exception&) {
            // A backend that throws on this input is just one that cannot open it; try the next.
        }
        cap.release();
    }
    return "";
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
    std::string out;
    for (size_t i = 0; i < parts.size(); ++i) out += (i ? sep : "") + parts[i];
    return out;
}

class CaptureSource : public FrameSource {
public:
    CaptureSource(OpenPlan plan, SourceOptions options, const std::string& hint)
        : plan_(std::move(plan)), options_(std::move(options)) {
        std::vector<std::string> tried;
        backend_ = try_open(cap_, plan_, tried);
        if (backend_.empty())
            throw IoError(fmt::format("{}: cannot open it (tried {}){}", plan_.label,
                                      tried.empty() ? "no backend available" : join(tried, ", then "), hint));
        fps_ = cap_.get(cv::CAP_PROP_FPS);
        if (!std::isfinite(fps_) || fps_ <= 0 || fps_ > 1000) fps_ = 0;
        size_ = {static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_WIDTH)), static_cast<int>(cap_.get(cv::CAP_PROP_FRAME_HEIGHT))};
        start_ = Clock::now();
    }

    bool read(Frame& frame) override {
        for (;;) {
            if (stopped()) return false;
            if (cap_.isOpened() && cap_.read(frame.bgr) && !frame.bgr.empty()) break;
            if (!plan_.live) {
                if (!options_.loop || read_since_open_ == 0 || !rewind()) return false;
                continue;
            }
            if (!reopen()) return false;
        }
        ++read_since_open_;
        if (frame.bgr.type() != CV_8UC3) to_bgr(frame.bgr);
        frame.index = index_++;
        frame.time = !plan_.live && fps_ > 0 ? static_cast<double>(frame.index) / fps_
                                             : std::chrono::duration<double>(Clock::now() - start_).count();
        frame.name.clear();
        return true;
    }

    std::string description() const override {
        std::string d = fmt::format("{} ({}, {}x{}", plan_.label, backend_, size_.width, size_.height);
        if (fps_ > 0) d += fmt::format(", {:g} fps", fps_);
        return d + ")";
    }
    bool live() const override { return plan_.live; }
    double fps() const override { return fps_; }
    int reconnects() const override { return reconnects_; }

private:
    bool stopped() const { return options_.stop && options_.stop->load(); }

    void say(const std::string& line) const {
        if (options_.on_message) options_.on_message(line);
    }

    static void to_bgr(cv::Mat& m) {
        if (m.channels() == 1) cv::cvtColor(m, m, cv::COLOR_GRAY2BGR);
        else if (m.channels() == 4) cv::cvtColor(m, m, cv::COLOR_BGRA2BGR);
        if (m.depth() != CV_8U) m.convertTo(m, CV_8U, m.depth() == CV_16U ? 1.0 / 256 : 1.0);
    }

    // Sleeps in small steps so Ctrl-C is not held up by a long backoff.
    bool wait(double seconds) const {
        const auto end = Clock::now() + std::chrono::duration<double>(seconds);
        while (Clock::now() < end) {
            if (stopped()) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return !stopped();
    }

    bool rewind() {
        cap_.release();
        read_since_open_ = 0;
        std::vector<std::string> tried;
        return !try_open(cap_, plan_, tried).empty();
    }

    bool reopen() {
        cap_.release();
        double delay = options_.reconnect_initial;
        for (;;) {
            if (options_.max_reconnects >= 0 && reconnects_ >= options_.max_reconnects) {
                say(fmt::format("{}: no frames and no reconnect attempts left; ending", plan_.label));
                return false;
            }
            ++reconnects_;
            say(fmt::format("{}: no frames; reopening in {:.1f} s (attempt {})", plan_.label, delay, reconnects_));
            if (!wait(delay)) return false;
            std::vector<std::string> tried;
            if (!try_open(cap_, plan_, tried).empty()) {
                say(fmt::format("{}: reopened", plan_.label));
                return true;
            }
            delay = std::min(delay * 2, options_.reconnect_max);
        }
    }

    OpenPlan plan_;
    SourceOptions options_;
    cv::VideoCapture cap_;
    std::string backend_;
    double fps_ = 0;
    cv::Size size_;
    std::int64_t index_ = 0;
    int reconnects_ = 0;
    std::int64_t read_since_open_ = 0;  // a file that yields nothing after a rewind must not loop forever
    Clock::time_point start_;
};

}  // namespace

std::unique_ptr<FrameSource> open_camera(int index, const SourceOptions& options) {
    if (index < 0) throw IoError(fmt::format("camera {}: expected an index >= 0", index));
    // Never CAP_ANY (here, for streams or for files): it also tries gphoto2, which enumerates every USB
    // device and leaks about 22 KB of device lists on each attempt (found by the ASan suite), so a
    // source reopened with backoff for days would grow without bound. GStreamer covers the rest.
    OpenPlan plan{fmt::format("camera {}", index), "", index, {cv::CAP_V4L2, cv::CAP_GSTREAMER}, {}, true};
    if (options.width > 0) plan.params.insert(plan.params.end(), {cv::CAP_PROP_FRAME_WIDTH, options.width});
    if (options.height > 0) plan.params.insert(plan.params.end(), {cv::CAP_PROP_FRAME_HEIGHT, options.height});
    const std::string dev = fmt::format("/dev/video{}", index);
    const std::string hint = fs::exists(dev) ? fmt::format("; {} exists: is it in use, or are permissions missing "
                                                           "(group 'video')?", dev)
                                             : fmt::format("; {} does not exist", dev);
    return std::make_unique<CaptureSource>(plan, options, hint);
}

std::unique_ptr<FrameSource> open_stream(const std::string& url, const SourceOptions& options) {
    if (url.empty()) throw IoError("stream: the URL is empty");
    OpenPlan plan{fmt::format("stream {}", url), url, -1, {cv::CAP_FFMPEG, cv::CAP_GSTREAMER}, {}, true};
    // Without timeouts FFmpeg can block for minutes on a dead camera; only the FFmpeg backend reads them.
    plan.params = {cv::CAP_PROP_OPEN_TIMEOUT_MSEC, options.timeout_ms, cv::CAP_PROP_READ_TIMEOUT_MSEC, options.timeout_ms};
    return std::make_unique<CaptureSource>(plan, options, "; check the URL, credentials and network");
}

std::unique_ptr<FrameSource> open_video(const fs::path& file, const SourceOptions& options) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw IoError(fmt::format("video {}: no such file", file.string()));
    if (fs::is_directory(file, ec)) throw IoError(fmt::format("video {}: is a folder, expected a video file", file.string()));
    if (::access(file.c_str(), R_OK) != 0) throw IoError(fmt::format("video {}: not readable (permissions)", file.string()));
    OpenPlan plan{fmt::format("video {}", file.string()), file.string(), -1,
                  {cv::CAP_FFMPEG, cv::CAP_GSTREAMER, cv::CAP_IMAGES}, {}, false};
    return std::make_unique<CaptureSource>(plan, options, "; is it a video format FFmpeg reads?");
}

std::vector<fs::path> list_images(const fs::path& path, BadFileReport* skipped) {
    BadFileReport local;
    auto files = list_image_files(path, skipped ? *skipped : local);
    std::error_code ec;
    if (files.empty() && fs::is_directory(path, ec))
        throw DataError(fmt::format("{}: no image files in this folder", path.string()));
    return files;
}

struct VideoFileWriter::Impl {
    fs::path file, temp;
    cv::VideoWriter writer;
    cv::Size size;
    bool finished = false;
};

namespace {

// The codec for an extension, or 0 when we do not write that kind of file.
int video_fourcc(const fs::path& file) {
    std::string ext = file.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".mp4" || ext == ".m4v" || ext == ".mov") return cv::VideoWriter::fourcc('m', 'p', '4', 'v');
    if (ext == ".avi" || ext == ".mkv") return cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
    return 0;
}

// Below this much free space a video stops with an error rather than losing frames in silence.
constexpr std::uintmax_t kVideoFreeSpaceFloor = 4 << 20;
constexpr std::int64_t kFramesBetweenSpaceChecks = 15;

}  // namespace

void VideoFileWriter::check_path(const fs::path& file) {
    if (video_fourcc(file) == 0)
        throw ConfigError(fmt::format("{}: {}; use .mp4, .m4v, .mov, .avi or .mkv", file.string(),
                                      file.extension().empty() ? "no extension"
                                                               : "cannot write " + file.extension().string() + " videos"));
    check_output_path(file);
}

VideoFileWriter::VideoFileWriter(const fs::path& file, double fps, cv::Size size) : impl_(std::make_unique<Impl>()) {
    check_path(file);
    const fs::path parent = file.has_parent_path() ? file.parent_path() : fs::path(".");
    remove_stale_temporaries(parent);
    check_free_space(file, kVideoFreeSpaceFloor);
    impl_->file = file;
    impl_->temp = temp_sibling(file, /*keep_extension=*/true);
    impl_->size = size;
    if (!impl_->writer.open(impl_->temp.string(), cv::CAP_FFMPEG, video_fourcc(file), fps > 0 ? fps : 25.0, size)) {
        std::error_code ec;
        fs::remove(impl_->temp, ec);
        throw WriteError(fmt::format("{}: OpenCV cannot write a {} video here", file.string(), file.extension().string()));
    }
}

VideoFileWriter::~VideoFileWriter() {
    if (impl_) abandon();
}

void VideoFileWriter::abandon() noexcept {
    if (impl_->finished) return;
    impl_->finished = true;
    impl_->writer.release();
    std::error_code ec;
    fs::remove(impl_->temp, ec);
}

void VideoFileWriter::write(const cv::Mat& bgr) {
    if (impl_->finished) throw WriteError(fmt::format("{}: the video was already closed", impl_->file.string()));
    // OpenCV's writer reports nothing when the disk fills up: look at the free space now and then.
    if (frames_ % kFramesBetweenSpaceChecks == 0) {
        try {
            check_free_space(impl_->file, kVideoFreeSpaceFloor);
        } catch (const WriteError&) {
            abandon();  // a video that failed is not kept, not even its first frames
            throw;
        }
    }
    if (bgr.size() == impl_->size) {
        impl_->writer.write(bgr);
    } else {
        cv::Mat resized;
        cv::resize(bgr, resized, impl_->size);
        impl_->writer.write(resized);
    }
    ++frames_;
}

void VideoFileWriter::finish() {
    if (impl_->finished) return;
    impl_->writer.release();
    std::error_code ec;
    // The container's index is written last: a file that does not read back every frame is not kept.
    const std::int64_t readable = [&] {
        cv::VideoCapture check(impl_->temp.string(), cv::CAP_FFMPEG);
        return check.isOpened() ? static_cast<std::int64_t>(check.get(cv::CAP_PROP_FRAME_COUNT)) : -1;
    }();
    if (readable != frames_) {
        abandon();
        throw WriteError(fmt::format("{}: the video could not be written completely ({} of {} frames readable; disk "
                                     "full?); the previous file, if any, is unchanged",
                                     impl_->file.string(), std::max<std::int64_t>(readable, 0), frames_));
    }
    fs::rename(impl_->temp, impl_->file, ec);
    if (ec) {
        abandon();
        throw WriteError(fmt::format("{}: cannot move the finished video into place: {}", impl_->file.string(),
                                     ec.message()));
    }
    impl_->finished = true;
}

}  // namespace maskctl
