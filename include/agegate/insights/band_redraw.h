// Redrawing the baskets' bands through the camera's confusion from per-band
// aggregates, never per basket: what the insights' "estimated bands" figures
// rest on (insights.h), in memory and time independent of the number of
// baskets.
//
//   std::vector<BandTotals> truth = ...;   // per true band: baskets, baskets holding each category, spend moments
//   std::mt19937_64 rng(42);
//   RedrawnBands r = redraw_bands(truth, confusion, rng);   // one redraw
//
// One redraw, for each true band t whose confusion row has photos:
//   1. the row's probabilities p_t are drawn from their Dirichlet posterior
//      (Jeffreys prior 1/2 on each count), so the few validation photos per
//      band add their own uncertainty;
//   2. the band's N_t baskets are split over the estimated bands (and
//      "outside every band") as Multinomial(N_t, p_t);
//   3. for each category, the band's baskets holding it are split over the
//      same parts as a multivariate hypergeometric draw given that split.
//      Steps 2-3 give each category's (baskets per estimated band, baskets
//      holding it per estimated band) exactly the distribution of drawing
//      every basket's band on its own; only the joint draw of two categories
//      held by one basket is not kept (both are drawn given the same split);
//   4. the band's spend and restricted spend are split with the same part
//      sizes by a normal approximation of a sample drawn without
//      replacement, with the band's per-basket variances and covariance,
//      clamped so that no part gets more than is left and restricted spend
//      never exceeds spend.
// A band whose row has no photo keeps its baskets. Thread-safe given its own rng.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

#include "agegate/insights/insights.h"

namespace agegate {

// One true band's baskets over every week.
struct BandTotals {
  int64_t baskets = 0;
  std::vector<int64_t> holding;  // baskets holding each category
  double spend = 0, restricted = 0;
  double spend_sq = 0, restricted_sq = 0, spend_restricted = 0;  // sums over its baskets
};

// The counts by estimated band after one redraw ("outside every band" dropped).
struct RedrawnBands {
  std::vector<int64_t> band_baskets;                // [band]
  int64_t all_baskets = 0;
  std::vector<std::vector<int64_t>> band_category;  // [band][category]
  std::vector<int64_t> all_category;
  std::vector<double> spend, restricted;            // [band]
};

// `truth` has one entry per band of `confusion` (same order), every
// `holding` the same length.
RedrawnBands redraw_bands(const std::vector<BandTotals>& truth, const BandConfusion& confusion, std::mt19937_64& rng);

// How many of `draws` items taken without replacement from `population`
// holding `successes` are successes: exact inversion walking out from the
// mode (its probability from Boost.Math), O(standard deviation) steps.
int64_t draw_hypergeometric(int64_t population, int64_t successes, int64_t draws, std::mt19937_64& rng);

}  // namespace agegate
