// Evaluation figures from labelled predictions: MAE overall and by age band,
// share within 5 years, interval coverage, the policy's pass/check rates and
// their trade-off against the challenge age; the predictions CSV that report
// code reads. Torch-free; plain values, thread-safe.
//
//   std::vector<agegate::Prediction> preds = ...;   // one per labelled photo
//   agegate::EvalSummary s = agegate::summarise(preds, policy);
//   std::cout << s.to_json().dump(2);               // mae, within5, minors_13_17_pass_rate, ...
//   auto curve = agegate::policy_curve(preds, policy);  // challenge age legal..35
//
// Conventions: the error is mean() - real_age (both completed years, see
// age_distribution.h). Coverage counts the share of the labelled year
// [real_age, real_age+1) that the interval [low, high] overlaps, i.e. the
// probability that the interval holds the real age when that age is uniform
// within the labelled year. A perfectly calibrated model then covers exactly
// `level` on average, without the half-year bias that testing the integer
// label alone would add.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "agegate/core/age_band.h"
#include "agegate/policy/age_distribution.h"
#include "agegate/policy/policy.h"

namespace agegate {

struct Prediction {
  std::string file_name;
  int real_age = 0;  // label, completed years, >= 0
  AgeDistribution dist;
};

// Index into report_age_bands() (core/age_band.h); InvalidInput for a negative age.
int band_index(int real_age);

// One scored prediction: what every figure needs, computed once; also the
// row of the predictions CSV, so figures from a CSV and from a live run are
// computed by the same code.
struct PredictionRow {
  std::string file_name;
  int real_age = 0;
  double pred_age = 0;       // AgeDistribution::mean()
  double low = 0;            // interval at policy.interval_level
  double high = 0;
  double p_under_legal = 0;  // at policy.legal_age
};
// Same errors as summarise().
std::vector<PredictionRow> score(const std::vector<Prediction>& predictions, const Policy& policy);

// Share of the labelled year [real_age, real_age+1) inside [low, high], in [0,1].
double coverage_of(double low, double high, int real_age);

struct BandSummary {
  std::string name;
  int64_t count = 0;
  double mae = 0;       // NaN when count == 0
  double coverage = 0;  // NaN when count == 0
};

// A share with its denominator; NaN rate (JSON null) when nobody is in the group.
struct Rate {
  int64_t hits = 0;
  int64_t count = 0;
  double rate() const;
  // 95% Wilson interval of the rate (core/numeric.h); NaNs when count == 0.
  std::pair<double, double> interval95() const;
  nlohmann::json interval_json() const;  // [low, high], or null when count == 0
};

// The three decision figures for one policy.
struct PolicyRates {
  int challenge_age = 0;
  double max_risk = 0;
  Rate minors_13_17_pass;  // aged 13-17 who get no_check
  Rate under_legal_pass;   // aged < legal_age who get no_check
  Rate adults_25plus_check;  // aged 25+ who get id_check
};

// The three rates of scored predictions under `policy` (the decision from
// pred_age and p_under_legal, as at the till). Empty groups give count 0.
PolicyRates policy_rates(const std::vector<PredictionRow>& scored, const Policy& policy);

struct EvalSummary {
  Policy policy;
  int64_t count = 0;
  double mae = 0;
  double bias = 0;     // mean(estimate - real_age); > 0 means ages are over-estimated
  double within5 = 0;  // share with |estimate - real_age| <= 5
  double coverage = 0;  // at policy.interval_level
  double mean_interval_width = 0;
  std::vector<BandSummary> bands;  // parallel to report_age_bands()
  PolicyRates rates;

  // Keys: count, mae, bias, within5, mae_by_band {band: {count, mae, coverage}},
  // coverage, coverage_by_band {band: coverage}, interval_level,
  // mean_interval_width, minors_13_17_pass_rate, under_legal_pass_rate,
  // adults_25plus_check_rate, each rate's 95% Wilson interval as
  // <rate key without _rate>_ci95 [low, high] (e.g. minors_13_17_pass_ci95),
  // counts {minors_13_17, minors_13_17_pass, ...}, policy {...}.
  // Undefined rates and intervals are null.
  nlohmann::json to_json() const;
};

// Throws InvalidInput when `predictions` is empty, a label is negative or a
// distribution is invalid (naming the file), or the policy is invalid.
EvalSummary summarise(const std::vector<Prediction>& predictions, const Policy& policy);
// MAE and interval coverage per report band: the one band table, used by
// summarise() and by the reports (which read the predictions CSV).
std::vector<BandSummary> summarise_bands(const std::vector<PredictionRow>& rows);

// The three rates for challenge ages policy.legal_age..max(last_challenge_age,
// legal_age), all else as in `policy`. Same errors as summarise().
constexpr int kDefaultCurveLastChallengeAge = 35;
std::vector<PolicyRates> policy_curve(const std::vector<Prediction>& predictions, const Policy& policy,
                                      int last_challenge_age = kDefaultCurveLastChallengeAge);
// The same rates at the policy's challenge age for each maximum risk in
// `risks` (each in [0,1)): the guard that keeps minors out, next to its cost.
std::vector<PolicyRates> risk_curve(const std::vector<Prediction>& predictions, const Policy& policy,
                                    const std::vector<double>& risks = {0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5});
nlohmann::json curve_to_json(const std::vector<PolicyRates>& curve);  // array of rows

// Retuning the policy on validation predictions: every challenge age
// legal_age..last_challenge_age with every max risk in `risks`; of those
// that let at most `max_minor_pass` of the 13-17-year-olds through, the one
// that asks the fewest people aged 25+ (ties: the higher challenge age, then
// the lower risk, i.e. the stricter). The frontier has, per challenge age,
// its best feasible risk (or none), the trade-off curve to print.
struct PolicyTuning {
  bool found = false;       // false: no policy on the grid met the bound
  Policy policy;            // the chosen one (legal age and interval level as the base)
  PolicyRates rates;        // its rates on the predictions it was tuned on
  double max_minor_pass = 0;
  std::vector<PolicyRates> frontier;
  nlohmann::json to_json() const;
};
inline const std::vector<double> kTuningRisks = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5};
PolicyTuning tune_policy(const std::vector<PredictionRow>& scored, const Policy& base, double max_minor_pass = 0.01,
                         int last_challenge_age = kDefaultCurveLastChallengeAge,
                         const std::vector<double>& risks = kTuningRisks);

// Human-readable table for the evaluate command's stdout (policy in force first).
std::string format_summary_table(const EvalSummary& summary);
std::string format_curve_table(const std::vector<PolicyRates>& curve);
// The tuning's choice and its frontier (one row per challenge age).
std::string format_tuning_table(const PolicyTuning& tuning);

// predictions.csv: header file_name,real_age,pred_age,low,high,p_under_legal
// (interval at policy.interval_level, p_under_legal at policy.legal_age;
// ages to 2 decimals, probability to 6). Written atomically. File names with
// ',', '"' or line breaks are rejected (InvalidInput) rather than quoted.
void write_predictions_csv(const std::filesystem::path& path, const std::vector<Prediction>& predictions,
                           const Policy& policy);

// Reads what write_predictions_csv wrote. IoError when unreadable; InvalidInput
// naming the file and line for a wrong header, wrong column count or bad number.
std::vector<PredictionRow> read_predictions_csv(const std::filesystem::path& path);

}  // namespace agegate
