#include "maskctl/data/annotations.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <tinyxml2.h>

#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/core/json.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"

namespace fs = std::filesystem;

namespace maskctl {
namespace {

std::string read_text(const fs::path& file) {
    std::string text;
    if (const auto problem = read_file(file, text); problem != FileProblem::none)
        throw DataError(fmt::format("{}: {}", file.string(), describe(problem)));
    return text;
}

std::string trim(std::string s) {
    const auto not_space = [](unsigned char c) { return !std::isspace(c); };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

std::string unquote(std::string s) {
    s = trim(std::move(s));
    if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front()) s = s.substr(1, s.size() - 2);
    return s;
}

// A number of a VOC file. Beyond +-1e7 no photo has pixels, and the limit keeps the casts to float and
// int below defined (a NaN or "1e300" would pass the xmax > xmin check and make a box of nothing).
constexpr double kMaxPixel = 1e7;

double voc_number(const tinyxml2::XMLElement* parent, const char* element, const std::string& name) {
    const auto* e = parent ? parent->FirstChildElement(element) : nullptr;
    if (!e || !e->GetText())
        throw DataError(fmt::format("{}: <{}> of <{}> is missing or empty", name, element, parent ? parent->Name() : "?"));
    double v = 0;
    try {
        v = std::stod(e->GetText());
    } catch (const std::exception&) {
        throw DataError(fmt::format("{}: <{}> is {}, expected a number", name, element, text_excerpt(e->GetText())));
    }
    if (!std::isfinite(v) || std::abs(v) > kMaxPixel)
        throw DataError(fmt::format("{}: <{}> is {}, not a pixel coordinate (expected a finite number within +-1e7)",
                                    name, element, text_excerpt(e->GetText())));
    return v;
}

// Images of a split file "file,split" (file relative to images_dir or to root).
std::vector<fs::path> split_file_images(const fs::path& csv, const fs::path& root, const fs::path& images_dir,
                                        Split split) {
    const auto rows = parse_csv(read_text(csv), csv.string());
    if (rows.empty() || rows[0].size() < 2 || rows[0][0] != "file" || rows[0][1] != "split")
        throw DataError(fmt::format("{}: first line must be the header file,split", csv.string()));
    std::vector<fs::path> out;
    for (std::size_t r = 1; r < rows.size(); ++r) {
        if (rows[r].size() == 1 && rows[r][0].empty()) continue;
        if (rows[r].size() < 2) throw DataError(fmt::format("{}: row {} has no split", csv.string(), r + 1));
        const auto s = parse_split(rows[r][1]);
        if (!s) throw DataError(fmt::format("{}: row {}: split \"{}\" is not train, val or test", csv.string(), r + 1,
                                            rows[r][1]));
        if (*s != split) continue;
        fs::path file = images_dir / rows[r][0];
        if (!fs::is_regular_file(file)) file = root / rows[r][0];
        if (!fs::is_regular_file(file))
            throw DataError(fmt::format("{}: row {}: image {} not found in {}", csv.string(), r + 1, rows[r][0],
                                        images_dir.string()));
        out.push_back(file);
    }
    return out;
}

// The folder a split lives in: `dir`/<name> for any spelling parse_split accepts.
std::optional<fs::path> split_subfolder(const fs::path& dir, Split split) {
    if (!fs::is_directory(dir)) return std::nullopt;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && parse_split(e.path().filename().string()) == split) return e.path();
    return std::nullopt;
}

struct FileLayout {
    fs::path images, labels;
    std::vector<fs::path> files;
    BadFileReport skipped;  // folder entries that cannot be used (the folder rule of folder_listing.hpp)
};

FileLayout find_layout(const fs::path& root, const std::string& format, const std::string& split_text) {
    const fs::path labels_root = root / (format == "voc" ? "annotations" : "labels");
    FileLayout l{root / "images", labels_root, {}};
    if (split_text.empty()) {
        l.files = list_image_files(l.images, l.skipped);
    } else {
        const auto split = parse_split(split_text);
        if (!split) throw ConfigError(fmt::format("split \"{}\": expected train, val or test", split_text));
        if (const auto sub = split_subfolder(l.images, *split)) {
            l.images = *sub;
            l.labels = labels_root / sub->filename();
            l.files = list_image_files(l.images, l.skipped);
        } else if (fs::is_regular_file(root / "split.csv")) {
            l.files = split_file_images(root / "split.csv", root, l.images, *split);
        } else {
            throw DataError(fmt::format("{}: no images/{}/ folder and no split.csv, so there is no {} split",
                                        root.string(), split_name(*split), split_name(*split)));
        }
    }
    std::sort(l.files.begin(), l.files.end());
    return l;
}

}  // namespace

std::size_t DetectionDataset::boxes() const {
    std::size_t n = 0;
    for (const auto& i : images) n += i.boxes.size();
    return n;
}

std::vector<LabelledBox> in_pixels(const AnnotatedImage& image, cv::Size size) {
    std::vector<LabelledBox> out = image.boxes;
    if (!image.normalized) return out;
    const float w = static_cast<float>(size.width), h = static_cast<float>(size.height);
    for (auto& b : out) b.box = cv::Rect2f(b.box.x * w, b.box.y * h, b.box.width * w, b.box.height * h);
    return out;
}

std::vector<LabelledBox> parse_voc(std::string_view text, const std::string& xml, std::vector<std::string>& names,
                                   bool allow_new, cv::Size* declared_size) {
    tinyxml2::XMLDocument doc;
    if (doc.Parse(text.data(), text.size()) != tinyxml2::XML_SUCCESS)
        throw DataError(fmt::format("{}: not valid XML ({}, line {})", xml, doc.ErrorName(), doc.ErrorLineNum()));
    const auto* root = doc.FirstChildElement("annotation");
    if (!root) throw DataError(fmt::format("{}: no <annotation> element (not Pascal VOC)", xml));
    if (declared_size) {
        const auto* size = root->FirstChildElement("size");
        *declared_size = size ? cv::Size(static_cast<int>(voc_number(size, "width", xml)),
                                         static_cast<int>(voc_number(size, "height", xml)))
                              : cv::Size();
    }
    std::vector<LabelledBox> boxes;
    for (const auto* o = root->FirstChildElement("object"); o; o = o->NextSiblingElement("object")) {
        const auto* name_el = o->FirstChildElement("name");
        const std::string name = name_el && name_el->GetText() ? trim(name_el->GetText()) : "";
        if (name.empty()) throw DataError(fmt::format("{}: an <object> has no <name>", xml));
        auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
            if (!allow_new)
                throw DataError(fmt::format("{}: class \"{}\" is not one of {}", xml, text_excerpt(name),
                                            fmt::join(names, ", ")));
            names.push_back(name);
            it = names.end() - 1;
        }
        const auto* bb = o->FirstChildElement("bndbox");
        if (!bb) throw DataError(fmt::format("{}: object \"{}\" has no <bndbox>", xml, text_excerpt(name)));
        const double x1 = voc_number(bb, "xmin", xml), y1 = voc_number(bb, "ymin", xml);
        const double x2 = voc_number(bb, "xmax", xml), y2 = voc_number(bb, "ymax", xml);
        if (x2 <= x1 || y2 <= y1)
            throw DataError(fmt::format("{}: object \"{}\" has an empty box ({}, {}, {}, {})", xml, text_excerpt(name),
                                        x1, y1, x2, y2));
        LabelledBox b;
        b.box = cv::Rect2f(static_cast<float>(x1), static_cast<float>(y1), static_cast<float>(x2 - x1),
                           static_cast<float>(y2 - y1));
        b.label = static_cast<int>(it - names.begin());
        const auto* difficult = o->FirstChildElement("difficult");
        b.difficult = difficult && difficult->GetText() && trim(difficult->GetText()) == "1";
        boxes.push_back(b);
    }
    return boxes;
}

std::vector<LabelledBox> read_voc(const fs::path& xml, std::vector<std::string>& names, bool allow_new,
                                  cv::Size* declared_size) {
    return parse_voc(read_text(xml), xml.string(), names, allow_new, declared_size);
}

// data.yaml's `names:` in the three forms Ultralytics writes: [a, b], "- a" lines, "0: a" lines.
std::vector<std::string> parse_yaml_names(std::string_view text, const std::string& name) {
    std::istringstream in{std::string(text)};
    std::string line;
    std::vector<std::string> names;
    bool in_names = false;
    while (std::getline(in, line)) {
        const std::string t = trim(line);
        if (!in_names) {
            if (!t.starts_with("names:")) continue;
            const std::string rest = trim(t.substr(6));
            if (rest.empty()) {
                in_names = true;
                continue;
            }
            if (rest.front() != '[' || rest.back() != ']')
                throw DataError(fmt::format("{}: names: expected [a, b, ...] or one name per line", name));
            std::istringstream items(rest.substr(1, rest.size() - 2));
            for (std::string item; std::getline(items, item, ',');)
                if (!trim(item).empty()) names.push_back(unquote(item));
            return names;
        }
        if (t.empty() || t.front() == '#') continue;
        if (line.front() != ' ' && line.front() != '\t') break;  // the next top-level key
        if (t.starts_with("- ")) names.push_back(unquote(t.substr(2)));
        else if (const auto colon = t.find(':'); colon != std::string::npos) names.push_back(unquote(t.substr(colon + 1)));
        else throw DataError(fmt::format("{}: names: cannot read the line \"{}\"", name, text_excerpt(t)));
    }
    return names;
}

std::vector<LabelledBox> parse_yolo(std::string_view text, const std::string& txt, std::size_t classes) {
    std::istringstream in{std::string(text)};
    std::vector<LabelledBox> boxes;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (trim(line).empty()) continue;
        std::istringstream fields(line);
        std::vector<double> v;
        for (std::string f; fields >> f;) {
            try {
                std::size_t used = 0;
                v.push_back(std::stod(f, &used));
                if (used != f.size()) throw std::invalid_argument(f);
            } catch (const std::exception&) {
                throw DataError(fmt::format("{}:{}: \"{}\" is not a number", txt, n, text_excerpt(f)));
            }
            // stod reads "nan" and "inf": no box, score or track can be one, and every check below
            // would let a NaN through.
            if (!std::isfinite(v.back()))
                throw DataError(fmt::format("{}:{}: \"{}\" is not a finite number", txt, n, text_excerpt(f)));
        }
        if (v.size() < 5 || v.size() > 7)
            throw DataError(fmt::format("{}:{}: {} fields, expected \"class cx cy w h [confidence [track]]\"",
                                        txt, n, v.size()));
        if (v[0] < 0 || v[0] != std::floor(v[0]) || v[0] >= static_cast<double>(classes))
            throw DataError(fmt::format("{}:{}: class {} is not in 0..{}", txt, n, v[0],
                                        static_cast<int>(classes) - 1));
        const double cx = v[1], cy = v[2], w = v[3], h = v[4];
        const double eps = 1e-6;  // 6-decimal rounding may push an edge box just past 1
        if (w <= 0 || h <= 0 || cx - w / 2 < -eps || cy - h / 2 < -eps || cx + w / 2 > 1 + eps || cy + h / 2 > 1 + eps)
            throw DataError(fmt::format("{}:{}: box {} {} {} {} is not inside 0..1 (YOLO boxes are normalized "
                                        "centre x, centre y, width, height)",
                                        txt, n, cx, cy, w, h));
        LabelledBox b;
        b.label = static_cast<int>(v[0]);
        b.box = cv::Rect2f(static_cast<float>(cx - w / 2), static_cast<float>(cy - h / 2), static_cast<float>(w),
                           static_cast<float>(h));
        // A confidence below 0 would read as "no confidence column" (predictions.cpp), and a track id must
        // fit an int.
        if (v.size() >= 6 && (v[5] < 0 || v[5] > 1))
            throw DataError(fmt::format("{}:{}: confidence {} is not in 0..1", txt, n, v[5]));
        if (v.size() == 7 && (v[6] < 0 || v[6] != std::floor(v[6]) || v[6] > std::numeric_limits<int>::max()))
            throw DataError(fmt::format("{}:{}: track id {} is not a whole number >= 0", txt, n, v[6]));
        if (v.size() >= 6) b.confidence = static_cast<float>(v[5]);
        if (v.size() == 7) b.track = static_cast<int>(v[6]);
        boxes.push_back(b);
    }
    return boxes;
}

std::vector<LabelledBox> read_yolo(const fs::path& txt, std::size_t classes) {
    return parse_yolo(read_text(txt), txt.string(), classes);
}

std::string yolo_line(const LabelledBox& b, cv::Size size) {
    const double w = size.width, h = size.height;
    // Clipped to the image: detectors may reach past the edge, YOLO readers reject that.
    const double x1 = std::clamp<double>(b.box.x, 0, w), y1 = std::clamp<double>(b.box.y, 0, h);
    const double x2 = std::clamp<double>(b.box.x + b.box.width, 0, w), y2 = std::clamp<double>(b.box.y + b.box.height, 0, h);
    std::string line = fmt::format("{} {:.6f} {:.6f} {:.6f} {:.6f}", b.label, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h,
                                   (x2 - x1) / w, (y2 - y1) / h);
    if (b.confidence >= 0) line += fmt::format(" {:.6f}", b.confidence);
    if (b.track >= 0) line += fmt::format(" {}", b.track);
    return line;
}

std::vector<std::string> read_class_names(const fs::path& root) {
    if (fs::is_regular_file(root / "classes.txt")) {
        std::istringstream in(read_text(root / "classes.txt"));
        std::vector<std::string> names;
        for (std::string line; std::getline(in, line);)
            if (!trim(line).empty()) names.push_back(trim(line));
        return names;
    }
    for (const char* yaml : {"data.yaml", "dataset.yaml"})
        if (fs::is_regular_file(root / yaml)) return parse_yaml_names(read_text(root / yaml), (root / yaml).string());
    return {};
}

DetectionDataset open_detection_dataset(const fs::path& root, const DetectionDatasetOptions& options) {
    if (!fs::is_directory(root)) throw DataError(fmt::format("{}: folder not found", root.string()));
    if (!fs::is_directory(root / "images"))
        throw DataError(fmt::format("{}: no images/ folder (expected images/ with annotations/ (Pascal VOC) or "
                                    "labels/ (YOLO))",
                                    root.string()));
    DetectionDataset d;
    d.root = root;
    d.format = fs::is_directory(root / "annotations") ? "voc" : fs::is_directory(root / "labels") ? "yolo" : "";
    if (d.format.empty())
        throw DataError(fmt::format("{}: neither annotations/ (Pascal VOC) nor labels/ (YOLO) beside images/",
                                    root.string()));
    const FileLayout layout = find_layout(root, d.format, options.split);
    d.images_dir = layout.images;
    d.bad_files = layout.skipped;
    if (d.format == "yolo") {
        d.class_names = read_class_names(root);
        if (d.class_names.empty()) d.class_names = options.class_names;
        if (d.class_names.empty())
            throw DataError(fmt::format("{}: YOLO labels need class names: add classes.txt (one per line) or "
                                        "data.yaml (names:), or pass them",
                                        root.string()));
    } else {
        d.class_names = options.class_names;
    }
    const bool allow_new = d.format == "voc" && options.class_names.empty();
    for (const auto& file : layout.files) {
        AnnotatedImage img;
        img.image = file;
        fs::path rel = file.lexically_relative(layout.images);
        img.annotation = layout.labels / rel.replace_extension(d.format == "voc" ? ".xml" : ".txt");
        if (!fs::is_regular_file(img.annotation)) img.annotation.clear();  // an image without faces
        else if (d.format == "voc") img.boxes = read_voc(img.annotation, d.class_names, allow_new);
        else img.boxes = read_yolo(img.annotation, d.class_names.size());
        img.normalized = d.format == "yolo";
        d.images.push_back(std::move(img));
    }
    if (d.images.empty() && !options.allow_empty) throw DataError(fmt::format("{}: no images{}", layout.images.string(),
                                                      options.split.empty() ? "" : " in the " + options.split + " split"));
    if (allow_new) {  // found in file order: give them the sorted order, as class folders get
        std::vector<std::string> sorted = d.class_names;
        std::sort(sorted.begin(), sorted.end());
        std::vector<int> to_sorted;
        for (const auto& n : d.class_names)
            to_sorted.push_back(static_cast<int>(std::find(sorted.begin(), sorted.end(), n) - sorted.begin()));
        for (auto& img : d.images)
            for (auto& b : img.boxes) b.label = to_sorted[static_cast<std::size_t>(b.label)];
        d.class_names = sorted;
    }
    return d;
}

}  // namespace maskctl
