// The EDA report: one streaming pass over the photos, then charts and the page.
#include "agegate/report/eda.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <unordered_map>

#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/data/image.h"
#include "agegate/data/labels.h"
#include "agegate/policy/policy.h"
#include "agegate/report/html.h"
#include "thumbnail.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {
constexpr const char* kChartsFolder = "charts";
constexpr const char* kPhotosFolder = "photos";
constexpr const char* kHistogramName = "age_histogram";
// Problems shown on the page; the rest are counted.
constexpr size_t kMaxProblemsListed = 200;
// |skewness| below this reads as "roughly symmetric".
constexpr double kSymmetricSkew = 0.5;


// "1-3, 7, 90-100"
std::string ranges_text(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size();) {
    size_t j = i;
    while (j + 1 < values.size() && values[j + 1] == values[j] + 1) ++j;
    if (!out.empty()) out += ", ";
    out += std::to_string(values[i]);
    if (j > i) out += "-" + std::to_string(values[j]);
    i = j + 1;
  }
  return out;
}

int band_of(const std::vector<AgeBand>& bands, int age) { return find_band(bands, age); }

// Sample rows for each band: evenly spaced through the band's rows in file
// order, so the choice is deterministic and spans the band.
std::set<size_t> choose_samples(const std::vector<LabelRow>& rows,
                                const std::vector<AgeBand>& bands, int per_band) {
  std::vector<std::vector<size_t>> by_band(bands.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    int b = band_of(bands, rows[i].age);
    if (b >= 0) by_band[static_cast<size_t>(b)].push_back(i);
  }
  std::set<size_t> chosen;
  for (auto& members : by_band) {
    size_t k = std::min(members.size(), static_cast<size_t>(std::max(per_band, 0)));
    for (size_t s = 0; s < k; ++s) chosen.insert(members[s * members.size() / k]);
  }
  return chosen;
}

void compute_age_stats(const std::vector<int>& ages, EdaSummary& s, int sparse_below) {
  if (ages.empty()) return;
  double n = static_cast<double>(ages.size());
  double sum = 0;
  for (int a : ages) sum += a;
  s.mean_age = sum / n;
  std::vector<int> sorted = ages;
  std::sort(sorted.begin(), sorted.end());
  size_t mid = sorted.size() / 2;
  s.median_age = sorted.size() % 2 ? sorted[mid] : 0.5 * (sorted[mid - 1] + sorted[mid]);
  double m2 = 0, m3 = 0;
  for (int a : ages) {
    double d = a - s.mean_age;
    m2 += d * d;
    m3 += d * d * d;
  }
  m2 /= n;
  m3 /= n;
  s.skewness = m2 > 0 ? m3 / std::pow(m2, 1.5) : 0.0;
  for (int age = sorted.front(); age <= sorted.back(); ++age) {
    auto it = s.age_counts.find(age);
    if ((it == s.age_counts.end() ? 0 : it->second) < sparse_below) s.sparse_ages.push_back(age);
  }
}

std::vector<std::string> conclusions(const EdaSummary& s, const EdaOptions& o) {
  std::vector<std::string> out;
  if (s.usable == 0) return out;
  std::string bands;
  for (size_t b = 0; b < s.bands.size(); ++b) {
    if (!bands.empty()) bands += ", ";
    bands += format_percent_of(s.band_counts[b], s.usable) + " " + s.bands[b].name + " (" +
             std::to_string(s.band_counts[b]) + ")";
  }
  out.push_back("Of " + std::to_string(s.usable) + " usable photos: " + bands + ".");
  if (!s.band_counts.empty()) {
    out.push_back("Photos under " + std::to_string(s.bands.front().high + 1) + " are " +
                  format_percent_of(s.band_counts.front(), s.usable) +
                  " of the set: the ages the ID check exists for are " +
                  (s.band_counts.front() * 4 < s.usable ? "a minority" : "well represented") + ".");
  }
  std::string shape = std::fabs(s.skewness) < kSymmetricSkew ? "roughly symmetric"
                      : s.skewness > 0 ? "right-skewed (a long tail of older ages)"
                                       : "left-skewed (a long tail of younger ages)";
  out.push_back("The age distribution is " + shape + ": skewness " + format_number("%.2f", s.skewness) +
                ", mean " + format_number("%.1f", s.mean_age) + ", median " + format_number("%.1f", s.median_age) + ".");
  auto mode = std::max_element(s.age_counts.begin(), s.age_counts.end(),
                               [](auto& a, auto& b) { return a.second < b.second; });
  out.push_back("Ages range from " + std::to_string(s.age_counts.begin()->first) + " to " +
                std::to_string(s.age_counts.rbegin()->first) + "; the most common age is " +
                std::to_string(mode->first) + " (" + std::to_string(mode->second) + " photos).");
  if (s.sparse_ages.empty()) {
    out.push_back("Every age in that range has at least " + std::to_string(o.sparse_below) +
                  " photos.");
  } else {
    out.push_back(std::to_string(s.sparse_ages.size()) + " ages have fewer than " +
                  std::to_string(o.sparse_below) + " photos (" + ranges_text(s.sparse_ages) +
                  "); expect larger errors there.");
  }
  if (s.sizes.size() == 1 && s.formats.size() == 1) {
    out.push_back("All readable photos are " + s.sizes.begin()->first + " " +
                  s.formats.begin()->first + ".");
  } else {
    auto top = std::max_element(s.sizes.begin(), s.sizes.end(),
                                [](auto& a, auto& b) { return a.second < b.second; });
    if (top != s.sizes.end()) {
      out.push_back(std::to_string(s.sizes.size()) + " photo sizes and " +
                    std::to_string(s.formats.size()) + " formats; most common size " + top->first +
                    " (" + std::to_string(top->second) + ").");
    }
  }
  std::map<std::string, int> kinds;
  for (auto& p : s.problems) ++kinds[p.kind];
  if (kinds.empty()) {
    out.push_back("No problems found: every row is valid and every photo decodes.");
  } else {
    std::string list;
    for (auto& [k, n] : kinds) list += (list.empty() ? "" : ", ") + std::to_string(n) + " " + k;
    out.push_back(std::to_string(s.problems.size()) + " problems found (" + list + ").");
  }
  return out;
}

void draw_histogram(const fs::path& charts, const EdaSummary& s, const ChartOptions& o) {
  // One row per age from 0 to the oldest, so empty ages show as gaps.
  std::ostringstream dat;
  dat << "# age count band   (band: 0 = " << s.bands[0].name << ", 1 = " << s.bands[1].name
      << ", 2 = " << s.bands[2].name << ")\n";
  int last = s.age_counts.empty() ? 0 : s.age_counts.rbegin()->first;
  for (int age = 0; age <= last; ++age) {
    auto it = s.age_counts.find(age);
    dat << age << ' ' << (it == s.age_counts.end() ? 0 : it->second) << ' '
        << band_of(s.bands, age) << '\n';
  }
  write_file_atomic(charts / (std::string(kHistogramName) + ".dat"), dat.str());
  std::ostringstream gp;
  gp << "set title 'Usable photos per age'\nset xlabel 'age (years)'\nset ylabel 'photos'\n"
     << "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset grid ytics\n"
     << "set xrange [-1:" << last + 1 << "]\nset yrange [0:*]\nset key top right\n";
  for (size_t b = 1; b < s.bands.size(); ++b) {
    gp << "set arrow from " << s.bands[b].low - 0.5 << ", graph 0 to " << s.bands[b].low - 0.5
       << ", graph 1 nohead dt 2 lw 1.5 lc rgb '#444444'\n";
    gp << "set label " << gnuplot_quote(std::to_string(s.bands[b].low)) << " at "
       << s.bands[b].low - 0.5 << ", graph 1.02 center\n";
  }
  static const char* kColours[] = {"#d62728", "#ff7f0e", "#1f77b4"};
  gp << "plot ";
  for (size_t b = 0; b < s.bands.size(); ++b) {
    gp << (b ? ", " : "") << "'" << kHistogramName << ".dat' using 1:($3==" << b
       << " ? $2 : 1/0) with boxes lc rgb '" << kColours[b % 3] << "' title "
       << gnuplot_quote(s.bands[b].name);
  }
  gp << "\n";
  draw_chart(charts, kHistogramName, gp.str(), o);
}

// Reads labels.csv and lists final_files/: bad rows and unlabelled photos
// become problems; photos are not opened here.
LabelSet scan_labels_and_files(const fs::path& data_dir, EdaSummary& s) {
  LabelsOptions lo;
  lo.strict = false;
  lo.check_files = true;
  LabelSet labels = read_labels(data_dir, lo);
  s.rows_read = labels.rows_read;
  for (auto& p : labels.problems) s.problems.push_back({"bad row", p.row, p.file_name, p.message});

  // Files in final_files/ that no row names (names only; nothing is read).
  std::set<std::string> labelled;
  for (auto& r : labels.rows) labelled.insert(r.file_name);
  for (auto& p : labels.problems) labelled.insert(p.file_name);
  std::error_code ec;
  for (auto it = fs::directory_iterator(data_dir / kPhotoFolder, ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    ++s.photo_files;
    std::string name = it->path().filename().string();
    if (!labelled.count(name)) {
      s.problems.push_back({"unlabelled photo", 0, name, "in " + std::string(kPhotoFolder) +
                                                             "/ but not in labels.csv"});
    }
  }

  return labels;
}

// The streaming pass: every photo is read and decoded once, then dropped;
// sample photos become thumbnails in `photos`. Returns the usable ages and
// file sizes; fills counts, formats, sizes, problems and `tiles`.
void read_photos(const LabelSet& labels, const EdaOptions& options, const fs::path& photos, EdaSummary& s,
                 std::vector<std::vector<HtmlPage::Tile>>& tiles, std::vector<int>& ages,
                 std::vector<int64_t>& byte_sizes) {
  const std::set<size_t> samples = choose_samples(labels.rows, s.bands, options.samples_per_band);
  std::unordered_map<uint64_t, std::string> seen_content;  // fingerprint -> first file
  ages.reserve(labels.rows.size());
  byte_sizes.reserve(labels.rows.size());

  Progress progress("eda: reading photos", static_cast<int64_t>(labels.rows.size()), "photos");
  for (size_t i = 0; i < labels.rows.size(); ++i) {
    const LabelRow& row = labels.rows[i];
    progress.update(static_cast<int64_t>(i));
    std::vector<uint8_t> bytes;
    ImageInfo info;
    Image img;
    // Only reading and decoding the photo may fail as "unreadable photo";
    // anything else (a thumbnail that cannot be written, a bug) ends the report.
    try {
      bytes = read_file_bytes(row.path);
      info = read_image_info(bytes.data(), bytes.size(), row.file_name);
      img = decode_image(bytes.data(), bytes.size(), row.file_name);
    } catch (const InvalidInput& e) {
      s.problems.push_back({"unreadable photo", row.row, row.file_name, e.what()});
      continue;
    } catch (const IoError& e) {
      s.problems.push_back({"unreadable photo", row.row, row.file_name, e.what()});
      continue;
    }
    ++s.formats[to_string(info.format)];
    ++s.sizes[std::to_string(info.width) + "x" + std::to_string(info.height)];
    if (samples.count(i)) {
      std::string thumb = report_detail::safe_file_name(std::to_string(i) + "-", row.file_name) + ".jpg";
      report_detail::write_thumbnail(img, options.thumb_size, photos / thumb);
      tiles[static_cast<size_t>(band_of(s.bands, row.age))].push_back(
          {std::string(kPhotosFolder) + "/" + thumb, {row.file_name, "age " + std::to_string(row.age)}});
    }
    uint64_t print = fnv1a64(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    auto [it, fresh] = seen_content.emplace(print, row.file_name);
    if (!fresh) {
      s.problems.push_back({"duplicate photo", row.row, row.file_name,
                            "same bytes as " + it->second});
    }
    ++s.usable;
    ++s.age_counts[row.age];
    int b = band_of(s.bands, row.age);
    if (b >= 0) ++s.band_counts[static_cast<size_t>(b)];
    ages.push_back(row.age);
    byte_sizes.push_back(static_cast<int64_t>(bytes.size()));
  }
  progress.update(static_cast<int64_t>(labels.rows.size()), "", true);
  progress.finish();

}

void write_page(const fs::path& data_dir, const fs::path& out_dir, EdaSummary& s,
                const std::vector<std::vector<HtmlPage::Tile>>& tiles, std::chrono::steady_clock::time_point start) {
  HtmlPage page("Data report: " + data_dir.filename().string());
  page.paragraph("Folder: " + fs::absolute(data_dir).string());
  page.heading("Conclusions");
  page.list(s.conclusions);

  page.heading("Counts");
  page.table({"what", "count"},
             {{"rows in labels.csv", std::to_string(s.rows_read)},
              {"files in " + std::string(kPhotoFolder) + "/", std::to_string(s.photo_files)},
              {"usable rows (valid label, photo decodes)", std::to_string(s.usable)},
              {"problems", std::to_string(s.problems.size())}});

  page.heading("Ages");
  std::string base = std::string(kChartsFolder) + "/" + kHistogramName;
  page.figure(base + ".png", "age histogram",
              "Usable photos per age; dashed lines mark the band limits.", base + ".svg");
  std::vector<std::vector<std::string>> band_rows;
  for (size_t b = 0; b < s.bands.size(); ++b) {
    band_rows.push_back({s.bands[b].name, std::to_string(s.band_counts[b]),
                         format_percent_of(s.band_counts[b], s.usable)});
  }
  page.table({"band", "photos", "share"}, band_rows);
  page.paragraph("Mean age " + format_number("%.1f", s.mean_age) + ", median " + format_number("%.1f", s.median_age) +
                 ", skewness " + format_number("%.2f", s.skewness) + ".");

  page.heading("Sample photos by age band");
  for (size_t b = 0; b < s.bands.size(); ++b) {
    page.heading(s.bands[b].name + " (" + std::to_string(tiles[b].size()) + " shown of " +
                     std::to_string(s.band_counts[b]) + ")",
                 3);
    if (tiles[b].empty()) page.paragraph("No photos in this band.");
    else page.gallery(tiles[b]);
  }

  page.heading("Photo sizes and formats");
  std::vector<std::vector<std::string>> fmt_rows;
  for (auto& [f, n] : s.formats) fmt_rows.push_back({f, std::to_string(n)});
  page.table({"format", "photos"}, fmt_rows);
  std::vector<std::vector<std::string>> size_rows;
  for (auto& [sz, n] : s.sizes) size_rows.push_back({sz, std::to_string(n)});
  page.table({"width x height", "photos"}, size_rows);
  page.paragraph("File sizes: smallest " + std::to_string(s.min_bytes) + " bytes, median " +
                 std::to_string(s.median_bytes) + " bytes, largest " +
                 std::to_string(s.max_bytes) + " bytes.");

  page.heading("Problems");
  if (s.problems.empty()) {
    page.paragraph("None.");
  } else {
    std::vector<std::vector<std::string>> rows;
    for (size_t i = 0; i < s.problems.size() && i < kMaxProblemsListed; ++i) {
      auto& p = s.problems[i];
      rows.push_back({p.kind, p.row ? std::to_string(p.row) : "-", p.file_name, p.message});
    }
    page.table({"kind", "row", "file", "message"}, rows,
               s.problems.size() > kMaxProblemsListed
                   ? "first " + std::to_string(kMaxProblemsListed) + " of " +
                         std::to_string(s.problems.size())
                   : "");
  }

  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  page.paragraph("Generated by agegate " + std::string("in ") + format_number("%.1f", s.seconds) + " s.");
  s.index_html = out_dir / "index.html";
  write_file_atomic(s.index_html, page.str());
}

}  // namespace

EdaSummary write_eda_report(const fs::path& data_dir, const fs::path& out_dir,
                            const EdaOptions& options) {
  if (options.samples_per_band < 0) throw InvalidInput("samples per band must be >= 0");
  if (options.thumb_size < 16) throw InvalidInput("thumbnail size must be >= 16 pixels");
  const auto start = std::chrono::steady_clock::now();
  EdaSummary s;
  s.bands = Policy{}.decision_bands();
  s.band_counts.assign(s.bands.size(), 0);
  LabelSet labels = scan_labels_and_files(data_dir, s);

  std::error_code ec;
  const fs::path charts = out_dir / kChartsFolder;
  const fs::path photos = out_dir / kPhotosFolder;
  fs::create_directories(charts, ec);
  if (ec) throw IoError("cannot create " + charts.string() + ": " + ec.message());
  fs::remove_all(photos, ec);  // stale thumbnails from an earlier run
  fs::create_directories(photos, ec);
  if (ec) throw IoError("cannot create " + photos.string() + ": " + ec.message());

  std::vector<std::vector<HtmlPage::Tile>> tiles(s.bands.size());
  std::vector<int> ages;
  std::vector<int64_t> byte_sizes;
  read_photos(labels, options, photos, s, tiles, ages, byte_sizes);
  if (s.usable == 0) {
    throw InvalidInput("no readable photos in " + (data_dir / kPhotoFolder).string());
  }
  compute_age_stats(ages, s, options.sparse_below);
  std::sort(byte_sizes.begin(), byte_sizes.end());
  s.min_bytes = byte_sizes.front();
  s.median_bytes = byte_sizes[byte_sizes.size() / 2];
  s.max_bytes = byte_sizes.back();
  s.conclusions = conclusions(s, options);

  log().info("eda: drawing charts in {}", charts.string());
  draw_histogram(charts, s, options.charts);

  write_page(data_dir, out_dir, s, tiles, start);
  return s;
}

}  // namespace agegate
