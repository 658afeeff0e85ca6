// Evaluation metrics, the policy trade-off curve, text tables and the
// predictions CSV (see metrics.h for the conventions).
#include "agegate/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/text.h"
#include "agegate/core/fs.h"

namespace agegate {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kWithinYears = 5.0;
constexpr int kMinorLow = 13;
constexpr int kMinorHigh = 17;
constexpr int kAdultAge = 25;  // "aged 25+" is fixed by the issue, whatever the challenge age
constexpr const char* kCsvHeader = "file_name,real_age,pred_age,low,high,p_under_legal";
constexpr int kCsvColumns = 6;
constexpr uint64_t kMaxCsvBytes = uint64_t(1) << 30;

// What every figure needs from one prediction, computed once.
struct Scored {
  int real_age;
  double estimate;
  double low;
  double high;
  double p_under_legal;
};

std::vector<Scored> score(const std::vector<Prediction>& predictions, const Policy& policy) {
  policy.validate();
  if (predictions.empty()) throw InvalidInput("no predictions to evaluate");
  std::vector<Scored> out;
  out.reserve(predictions.size());
  for (const auto& p : predictions) {
    if (p.real_age < 0) {
      throw InvalidInput("prediction for " + p.file_name + ": real_age " + std::to_string(p.real_age) + " < 0");
    }
    try {
      p.dist.validate();
    } catch (const InvalidInput& e) {
      throw InvalidInput("prediction for " + p.file_name + ": " + e.what());
    }
    auto [low, high] = p.dist.interval(policy.interval_level);
    out.push_back({p.real_age, p.dist.mean(), low, high, p.dist.prob_under(policy.legal_age)});
  }
  return out;
}

PolicyRates rates_for(const std::vector<Scored>& scored, const Policy& policy) {
  PolicyRates r;
  r.challenge_age = policy.challenge_age;
  r.max_risk = policy.max_risk;
  for (const auto& s : scored) {
    const bool pass = decide(s.estimate, s.p_under_legal, policy) == Decision::kNoCheck;
    if (s.real_age >= kMinorLow && s.real_age <= kMinorHigh) {
      ++r.minors_13_17_pass.count;
      r.minors_13_17_pass.hits += pass;
    }
    if (s.real_age < policy.legal_age) {
      ++r.under_legal_pass.count;
      r.under_legal_pass.hits += pass;
    }
    if (s.real_age >= kAdultAge) {
      ++r.adults_25plus_check.count;
      r.adults_25plus_check.hits += !pass;
    }
  }
  return r;
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::string fmt(const char* format, double v) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string pct(double share) { return std::isfinite(share) ? fmt("%.1f%%", share * 100.0) : "-"; }

std::string rate_cell(const Rate& r) {
  return pct(r.rate()) + " (" + std::to_string(r.hits) + "/" + std::to_string(r.count) + ")";
}

std::string pad(const std::string& s, size_t width) { return s.size() >= width ? s : s + std::string(width - s.size(), ' '); }

double parse_double(const std::string& cell, const std::string& where, const char* column) {
  try {
    size_t used = 0;
    double v = std::stod(cell, &used);
    if (used == cell.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw InvalidInput(where + ": column " + column + " is not a number: \"" + cell + "\"");
}

}  // namespace

const std::vector<AgeBand>& age_bands() {
  static const std::vector<AgeBand> bands = {
      {"0-12", 0, 12}, {"13-17", 13, 17}, {"18-24", 18, 24}, {"25-39", 25, 39}, {"40-59", 40, 59},
      {"60+", 60, std::numeric_limits<int>::max()}};
  return bands;
}

int band_index(int real_age) {
  const auto& bands = age_bands();
  for (size_t i = 0; i < bands.size(); ++i) {
    if (real_age >= bands[i].low && real_age <= bands[i].high) return static_cast<int>(i);
  }
  throw InvalidInput("no age band for age " + std::to_string(real_age));
}

double coverage_of(double low, double high, int real_age) {
  const double overlap = std::min(high, real_age + 1.0) - std::max(low, static_cast<double>(real_age));
  return std::clamp(overlap, 0.0, 1.0);
}

double Rate::rate() const { return count > 0 ? static_cast<double>(hits) / static_cast<double>(count) : kNaN; }

EvalSummary summarise(const std::vector<Prediction>& predictions, const Policy& policy) {
  const std::vector<Scored> scored = score(predictions, policy);
  EvalSummary s;
  s.policy = policy;
  s.count = static_cast<int64_t>(scored.size());
  std::vector<double> band_abs(age_bands().size(), 0.0), band_cov(age_bands().size(), 0.0);
  std::vector<int64_t> band_n(age_bands().size(), 0);
  double abs_sum = 0, err_sum = 0, cov_sum = 0, width_sum = 0;
  int64_t within = 0;
  for (const auto& x : scored) {
    const double err = x.estimate - x.real_age;
    const double cov = coverage_of(x.low, x.high, x.real_age);
    abs_sum += std::abs(err);
    err_sum += err;
    cov_sum += cov;
    width_sum += x.high - x.low;
    within += std::abs(err) <= kWithinYears;
    const int b = band_index(x.real_age);
    band_abs[b] += std::abs(err);
    band_cov[b] += cov;
    ++band_n[b];
  }
  const double n = static_cast<double>(s.count);
  s.mae = abs_sum / n;
  s.bias = err_sum / n;
  s.within5 = static_cast<double>(within) / n;
  s.coverage = cov_sum / n;
  s.mean_interval_width = width_sum / n;
  for (size_t b = 0; b < age_bands().size(); ++b) {
    BandSummary band;
    band.name = age_bands()[b].name;
    band.count = band_n[b];
    band.mae = band_n[b] > 0 ? band_abs[b] / static_cast<double>(band_n[b]) : kNaN;
    band.coverage = band_n[b] > 0 ? band_cov[b] / static_cast<double>(band_n[b]) : kNaN;
    s.bands.push_back(band);
  }
  s.rates = rates_for(scored, policy);
  return s;
}

nlohmann::json EvalSummary::to_json() const {
  nlohmann::json by_band = nlohmann::json::object(), cov_by_band = nlohmann::json::object();
  for (const auto& b : bands) {
    by_band[b.name] = {{"count", b.count}, {"mae", number_or_null(b.mae)}, {"coverage", number_or_null(b.coverage)}};
    cov_by_band[b.name] = number_or_null(b.coverage);
  }
  return {{"count", count},
          {"mae", mae},
          {"bias", bias},
          {"within5", within5},
          {"mae_by_band", by_band},
          {"interval_level", policy.interval_level},
          {"coverage", coverage},
          {"coverage_by_band", cov_by_band},
          {"mean_interval_width", mean_interval_width},
          {"minors_13_17_pass_rate", number_or_null(rates.minors_13_17_pass.rate())},
          {"under_legal_pass_rate", number_or_null(rates.under_legal_pass.rate())},
          {"adults_25plus_check_rate", number_or_null(rates.adults_25plus_check.rate())},
          {"counts",
           {{"minors_13_17", rates.minors_13_17_pass.count},
            {"minors_13_17_pass", rates.minors_13_17_pass.hits},
            {"under_legal", rates.under_legal_pass.count},
            {"under_legal_pass", rates.under_legal_pass.hits},
            {"adults_25plus", rates.adults_25plus_check.count},
            {"adults_25plus_check", rates.adults_25plus_check.hits}}},
          {"policy", policy.to_json()}};
}

std::vector<PolicyRates> policy_curve(const std::vector<Prediction>& predictions, const Policy& policy,
                                      int last_challenge_age) {
  const std::vector<Scored> scored = score(predictions, policy);
  std::vector<PolicyRates> rows;
  Policy p = policy;
  for (int c = policy.legal_age; c <= std::max(last_challenge_age, policy.legal_age); ++c) {
    p.challenge_age = c;
    p.validate();
    rows.push_back(rates_for(scored, p));
  }
  return rows;
}

std::vector<PolicyRates> risk_curve(const std::vector<Prediction>& predictions, const Policy& policy,
                                    const std::vector<double>& risks) {
  const std::vector<Scored> scored = score(predictions, policy);
  std::vector<PolicyRates> rows;
  Policy p = policy;
  for (double risk : risks) {
    p.max_risk = risk;
    p.validate();
    rows.push_back(rates_for(scored, p));
  }
  return rows;
}

nlohmann::json curve_to_json(const std::vector<PolicyRates>& curve) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : curve) {
    rows.push_back({{"challenge_age", r.challenge_age},
                    {"max_risk", r.max_risk},
                    {"minors_13_17_pass_rate", number_or_null(r.minors_13_17_pass.rate())},
                    {"under_legal_pass_rate", number_or_null(r.under_legal_pass.rate())},
                    {"adults_25plus_check_rate", number_or_null(r.adults_25plus_check.rate())}});
  }
  return rows;
}

std::string format_summary_table(const EvalSummary& s) {
  std::ostringstream out;
  const std::string level = fmt("%.0f%%", s.policy.interval_level * 100.0);
  out << "policy: " << s.policy.describe() << "\n";
  out << "photos: " << s.count << "\n";
  out << "MAE: " << fmt("%.2f", s.mae) << " years (bias " << fmt("%+.2f", s.bias) << "), within 5 years: "
      << pct(s.within5) << "\n";
  out << level << " interval: coverage " << pct(s.coverage) << ", mean width " << fmt("%.1f", s.mean_interval_width)
      << " years\n\n";
  out << pad("band", 8) << pad("count", 8) << pad("MAE", 8) << "coverage\n";
  for (const auto& b : s.bands) {
    out << pad(b.name, 8) << pad(std::to_string(b.count), 8) << pad(fmt("%.2f", b.mae), 8) << pct(b.coverage) << "\n";
  }
  out << "\n";
  out << "aged 13-17 passing without ID check: " << rate_cell(s.rates.minors_13_17_pass) << "\n";
  out << "under " << s.policy.legal_age << " passing without ID check: " << rate_cell(s.rates.under_legal_pass) << "\n";
  out << "aged 25+ asked for ID: " << rate_cell(s.rates.adults_25plus_check) << "\n";
  return out.str();
}

std::string format_curve_table(const std::vector<PolicyRates>& curve) {
  std::ostringstream out;
  out << pad("challenge", 11) << pad("max risk", 10) << pad("13-17 pass", 12) << pad("under-legal pass", 18) << "25+ checked\n";
  for (const auto& r : curve) {
    out << pad(std::to_string(r.challenge_age), 11) << pad(pct(r.max_risk), 10)
        << pad(pct(r.minors_13_17_pass.rate()), 12)
        << pad(pct(r.under_legal_pass.rate()), 18) << pct(r.adults_25plus_check.rate()) << "\n";
  }
  return out.str();
}

void write_predictions_csv(const std::filesystem::path& path, const std::vector<Prediction>& predictions,
                           const Policy& policy) {
  policy.validate();
  std::string text = std::string(kCsvHeader) + "\n";
  char buf[128];
  for (const auto& p : predictions) {
    if (p.file_name.find_first_of(",\"\r\n") != std::string::npos) {
      throw InvalidInput("predictions CSV " + path.string() + ": file name \"" + p.file_name +
                         "\" contains a comma, quote or line break");
    }
    try {
      p.dist.validate();
    } catch (const InvalidInput& e) {
      throw InvalidInput("prediction for " + p.file_name + ": " + e.what());
    }
    auto [low, high] = p.dist.interval(policy.interval_level);
    std::snprintf(buf, sizeof buf, ",%d,%.2f,%.2f,%.2f,%.6f\n", p.real_age, p.dist.mean(), low, high,
                  p.dist.prob_under(policy.legal_age));
    text += p.file_name;
    text += buf;
  }
  write_file_atomic(path, text);
}

std::vector<PredictionRow> read_predictions_csv(const std::filesystem::path& path) {
  std::istringstream in(read_file(path, kMaxCsvBytes));
  std::string line;
  if (!std::getline(in, line)) throw InvalidInput("predictions CSV " + path.string() + " is empty");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line != kCsvHeader) {
    throw InvalidInput("predictions CSV " + path.string() + ": header is \"" + line + "\", expected \"" +
                       kCsvHeader + "\"");
  }
  std::vector<PredictionRow> rows;
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const std::string where = path.string() + " line " + std::to_string(line_no);
    std::vector<std::string> cells = split_csv_line(line);
    if (static_cast<int>(cells.size()) != kCsvColumns) {
      throw InvalidInput(where + ": " + std::to_string(cells.size()) + " columns, expected " +
                         std::to_string(kCsvColumns));
    }
    PredictionRow r;
    r.file_name = cells[0];
    if (r.file_name.empty()) throw InvalidInput(where + ": empty file_name");
    const double age = parse_double(cells[1], where, "real_age");
    if (age != std::floor(age) || age < 0) throw InvalidInput(where + ": real_age \"" + cells[1] + "\" is not a whole age");
    r.real_age = static_cast<int>(age);
    r.pred_age = parse_double(cells[2], where, "pred_age");
    r.low = parse_double(cells[3], where, "low");
    r.high = parse_double(cells[4], where, "high");
    r.p_under_legal = parse_double(cells[5], where, "p_under_legal");
    if (r.p_under_legal < 0 || r.p_under_legal > 1) throw InvalidInput(where + ": p_under_legal outside [0,1]");
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace agegate
