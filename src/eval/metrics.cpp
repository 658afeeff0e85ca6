// Evaluation metrics, the policy trade-off curve, text tables and the
// predictions CSV (see metrics.h for the conventions).
#include "agegate/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <sstream>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/numeric.h"
#include "agegate/core/share.h"

namespace agegate {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kWithinYears = 5.0;
constexpr int kMinorLow = 13;
constexpr int kMinorHigh = 17;
// "aged 25+" is a fixed reporting group (the Challenge-25 cost), whatever the challenge age.
constexpr int kAdultAge = 25;
const std::vector<std::string> kCsvColumns = {"file_name", "real_age", "pred_age", "low", "high", "p_under_legal"};

}  // namespace

PolicyRates policy_rates(const std::vector<PredictionRow>& scored, const Policy& policy) {
  PolicyRates r;
  r.challenge_age = policy.challenge_age;
  r.max_risk = policy.max_risk;
  for (const auto& s : scored) {
    const bool pass = decide(s.pred_age, s.p_under_legal, policy) == Decision::kNoCheck;
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

namespace {

// "1.0% (1/101, 95% CI 0.2-5.4%)": a rate is never shown without its interval.
std::string rate_cell(const Rate& r) {
  const auto [low, high] = r.interval95();
  return format_percent(r.rate()) + " (" + std::to_string(r.hits) + "/" + std::to_string(r.count) + ", 95% CI " +
         format_number("%.1f", low * 100) + "-" + format_percent(high) + ")";
}

std::string pad(const std::string& s, size_t width) { return s.size() >= width ? s : s + std::string(width - s.size(), ' '); }

}  // namespace

int band_index(int real_age) {
  const int b = find_band(report_age_bands(), real_age);
  if (b < 0) throw InvalidInput("no age band for age " + std::to_string(real_age));
  return b;
}

std::vector<PredictionRow> score(const std::vector<Prediction>& predictions, const Policy& policy) {
  policy.validate();
  if (predictions.empty()) throw InvalidInput("no predictions to evaluate");
  std::vector<PredictionRow> out;
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
    out.push_back({p.file_name, p.real_age, p.dist.mean(), low, high, p.dist.prob_under(policy.legal_age)});
  }
  return out;
}

std::vector<BandSummary> summarise_bands(const std::vector<PredictionRow>& rows) {
  const auto& bands = report_age_bands();
  std::vector<double> abs_sum(bands.size(), 0.0), cov_sum(bands.size(), 0.0);
  std::vector<int64_t> n(bands.size(), 0);
  for (const auto& r : rows) {
    const int b = band_index(r.real_age);
    abs_sum[b] += std::abs(r.pred_age - r.real_age);
    cov_sum[b] += coverage_of(r.low, r.high, r.real_age);
    ++n[b];
  }
  std::vector<BandSummary> out;
  for (size_t b = 0; b < bands.size(); ++b) {
    BandSummary s;
    s.name = bands[b].name;
    s.count = n[b];
    s.mae = n[b] > 0 ? abs_sum[b] / static_cast<double>(n[b]) : kNaN;
    s.coverage = n[b] > 0 ? cov_sum[b] / static_cast<double>(n[b]) : kNaN;
    out.push_back(s);
  }
  return out;
}

double coverage_of(double low, double high, int real_age) {
  const double overlap = std::min(high, real_age + 1.0) - std::max(low, static_cast<double>(real_age));
  return std::clamp(overlap, 0.0, 1.0);
}

std::pair<double, double> Rate::interval95() const { return wilson_interval(hits, count); }

nlohmann::json Rate::interval_json() const {
  if (count <= 0) return nullptr;
  const auto [low, high] = interval95();
  return {low, high};
}

double Rate::rate() const { return count > 0 ? static_cast<double>(hits) / static_cast<double>(count) : kNaN; }

EvalSummary summarise(const std::vector<Prediction>& predictions, const Policy& policy) {
  const std::vector<PredictionRow> scored = score(predictions, policy);
  EvalSummary s;
  s.policy = policy;
  s.count = static_cast<int64_t>(scored.size());
  double abs_sum = 0, err_sum = 0, cov_sum = 0, width_sum = 0;
  int64_t within = 0;
  for (const auto& x : scored) {
    const double err = x.pred_age - x.real_age;
    abs_sum += std::abs(err);
    err_sum += err;
    cov_sum += coverage_of(x.low, x.high, x.real_age);
    width_sum += x.high - x.low;
    within += std::abs(err) <= kWithinYears;
  }
  const double n = static_cast<double>(s.count);
  s.mae = abs_sum / n;
  s.bias = err_sum / n;
  s.within5 = static_cast<double>(within) / n;
  s.coverage = cov_sum / n;
  s.mean_interval_width = width_sum / n;
  s.bands = summarise_bands(scored);
  s.rates = policy_rates(scored, policy);
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
          {"minors_13_17_pass_ci95", rates.minors_13_17_pass.interval_json()},
          {"under_legal_pass_ci95", rates.under_legal_pass.interval_json()},
          {"adults_25plus_check_ci95", rates.adults_25plus_check.interval_json()},
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
  const std::vector<PredictionRow> scored = score(predictions, policy);
  std::vector<PolicyRates> rows;
  Policy p = policy;
  for (int c = policy.legal_age; c <= std::max(last_challenge_age, policy.legal_age); ++c) {
    p.challenge_age = c;
    p.validate();
    rows.push_back(policy_rates(scored, p));
  }
  return rows;
}

std::vector<PolicyRates> risk_curve(const std::vector<Prediction>& predictions, const Policy& policy,
                                    const std::vector<double>& risks) {
  const std::vector<PredictionRow> scored = score(predictions, policy);
  std::vector<PolicyRates> rows;
  Policy p = policy;
  for (double risk : risks) {
    p.max_risk = risk;
    p.validate();
    rows.push_back(policy_rates(scored, p));
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
                    {"adults_25plus_check_rate", number_or_null(r.adults_25plus_check.rate())},
                    {"minors_13_17_pass_ci95", r.minors_13_17_pass.interval_json()},
                    {"adults_25plus_check_ci95", r.adults_25plus_check.interval_json()}});
  }
  return rows;
}

PolicyTuning tune_policy(const std::vector<PredictionRow>& scored, const Policy& base, double max_minor_pass,
                         int last_challenge_age, const std::vector<double>& risks) {
  if (!(max_minor_pass >= 0 && max_minor_pass < 1)) throw InvalidInput("tune_policy: max_minor_pass must be in [0,1)");
  base.validate();
  PolicyTuning t;
  t.max_minor_pass = max_minor_pass;
  t.policy = base;
  // PredictionRow's p_under_legal is at base.legal_age, so the legal age stays.
  for (int c = base.legal_age; c <= std::max(last_challenge_age, base.legal_age); ++c) {
    std::optional<PolicyRates> best_here;
    for (double risk : risks) {
      Policy p = base;
      p.challenge_age = c;
      p.max_risk = risk;
      p.validate();
      PolicyRates r = policy_rates(scored, p);
      const double minors = r.minors_13_17_pass.count > 0 ? r.minors_13_17_pass.rate() : 0.0;
      if (minors > max_minor_pass) continue;
      // Lower risks come first: a later one must ask strictly fewer adults.
      if (!best_here || r.adults_25plus_check.hits < best_here->adults_25plus_check.hits) best_here = r;
    }
    if (!best_here) {
      PolicyRates none;
      none.challenge_age = c;
      none.max_risk = std::numeric_limits<double>::quiet_NaN();
      t.frontier.push_back(none);
      continue;
    }
    t.frontier.push_back(*best_here);
    if (!t.found || best_here->adults_25plus_check.hits <= t.rates.adults_25plus_check.hits) {
      t.found = true;
      t.rates = *best_here;
      t.policy.challenge_age = c;
      t.policy.max_risk = best_here->max_risk;
    }
  }
  return t;
}

nlohmann::json PolicyTuning::to_json() const {
  nlohmann::json frontier_rows = nlohmann::json::array();
  for (const auto& r : frontier) {
    nlohmann::json row = curve_to_json({r})[0];
    if (!std::isfinite(r.max_risk)) row["max_risk"] = nullptr;
    frontier_rows.push_back(row);
  }
  return {{"found", found},
          {"max_minor_pass", max_minor_pass},
          {"policy", found ? policy.to_json() : nlohmann::json(nullptr)},
          {"rates", found ? curve_to_json({rates})[0] : nlohmann::json(nullptr)},
          {"frontier", frontier_rows}};
}

std::string format_summary_table(const EvalSummary& s) {
  std::ostringstream out;
  const std::string level = format_percent(s.policy.interval_level, 0);
  out << "policy: " << s.policy.describe() << "\n";
  out << "photos: " << s.count << "\n";
  out << "MAE: " << format_number("%.2f", s.mae) << " years (bias " << format_number("%+.2f", s.bias) << "), within 5 years: "
      << format_percent(s.within5) << "\n";
  out << level << " interval: coverage " << format_percent(s.coverage) << ", mean width " << format_number("%.1f", s.mean_interval_width)
      << " years\n\n";
  out << pad("band", 8) << pad("count", 8) << pad("MAE", 8) << "coverage\n";
  for (const auto& b : s.bands) {
    out << pad(b.name, 8) << pad(std::to_string(b.count), 8) << pad(format_number("%.2f", b.mae), 8) << format_percent(b.coverage) << "\n";
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
    out << pad(std::to_string(r.challenge_age), 11) << pad(format_percent(r.max_risk), 10)
        << pad(format_percent(r.minors_13_17_pass.rate()), 12)
        << pad(format_percent(r.under_legal_pass.rate()), 18) << format_percent(r.adults_25plus_check.rate()) << "\n";
  }
  return out.str();
}

std::string format_tuning_table(const PolicyTuning& t) {
  std::ostringstream out;
  out << "policy retuned on these photos (13-17 passing <= " << format_percent(t.max_minor_pass)
      << ", fewest 25+ asked): ";
  if (!t.found) {
    out << "none on the grid meets the bound\n";
    return out.str();
  }
  out << t.policy.describe() << ": 13-17 pass " << format_percent(t.rates.minors_13_17_pass.rate())
      << ", 25+ asked " << format_percent(t.rates.adults_25plus_check.rate()) << "\n";
  out << "trade-off (the lowest 25+ asked per challenge age within the bound):\n";
  out << pad("challenge", 11) << pad("max risk", 10) << pad("13-17 pass", 12) << pad("under-legal pass", 18)
      << "25+ checked\n";
  for (const auto& r : t.frontier) {
    if (!std::isfinite(r.max_risk)) {
      out << pad(std::to_string(r.challenge_age), 11) << "none within the bound\n";
      continue;
    }
    out << pad(std::to_string(r.challenge_age), 11) << pad(format_percent(r.max_risk), 10)
        << pad(format_percent(r.minors_13_17_pass.rate()), 12) << pad(format_percent(r.under_legal_pass.rate()), 18)
        << format_percent(r.adults_25plus_check.rate()) << "\n";
  }
  return out.str();
}

void write_predictions_csv(const std::filesystem::path& path, const std::vector<Prediction>& predictions,
                           const Policy& policy) {
  CsvWriter csv(kCsvColumns, CsvWriter::Separators::kReject, "predictions CSV " + path.string());
  for (const auto& r : score(predictions, policy)) {
    csv.row({r.file_name, std::to_string(r.real_age), format_number("%.2f", r.pred_age), format_number("%.2f", r.low),
             format_number("%.2f", r.high), format_number("%.6f", r.p_under_legal)});
  }
  csv.write(path);
}

std::vector<PredictionRow> read_predictions_csv(const std::filesystem::path& path) {
  CsvReader csv = CsvReader::open(path, kCsvColumns);
  std::vector<PredictionRow> rows;
  while (auto row = csv.next()) {
    PredictionRow r;
    r.file_name = row->text("file_name");
    if (r.file_name.empty()) throw InvalidInput(row->where() + ": empty file_name");
    r.real_age = static_cast<int>(row->integer("real_age", kMinAge, kMaxAge));
    r.pred_age = row->number("pred_age");
    r.low = row->number("low");
    r.high = row->number("high");
    r.p_under_legal = row->number("p_under_legal");
    if (r.p_under_legal < 0 || r.p_under_legal > 1) throw InvalidInput(row->where() + ": p_under_legal outside [0,1]");
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace agegate
