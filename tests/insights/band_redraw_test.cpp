// Redrawing bands from per-band aggregates (insights/band_redraw.h): the
// hypergeometric draw against its exact distribution, what a redraw must
// conserve, and its agreement with drawing every basket's band on its own.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "agegate/insights/band_redraw.h"

namespace agegate {
namespace {

double hypergeometric_pmf(int64_t population, int64_t successes, int64_t draws, int64_t x) {
  auto lc = [](double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); };
  return std::exp(lc(double(successes), double(x)) + lc(double(population - successes), double(draws - x)) -
                  lc(double(population), double(draws)));
}

TEST(Hypergeometric, SmallCaseFollowsTheExactDistribution) {
  std::mt19937_64 rng(7);
  const int64_t n_pop = 12, k = 5, n = 6;
  const int reps = 40000;
  std::map<int64_t, int> seen;
  for (int i = 0; i < reps; ++i) seen[draw_hypergeometric(n_pop, k, n, rng)]++;
  for (int64_t x = 0; x <= 5; ++x) {
    const double p = hypergeometric_pmf(n_pop, k, n, x);
    const double se = std::sqrt(p * (1 - p) / reps);
    EXPECT_NEAR(double(seen[x]) / reps, p, 5 * se + 1e-9) << "x = " << x;
  }
  EXPECT_EQ(seen.count(6), 0u);  // only 5 successes exist
}

TEST(Hypergeometric, LargeCaseHasTheRightMeanAndVariance) {
  std::mt19937_64 rng(11);
  const int64_t n_pop = 2000000, k = 300000, n = 1200000;
  const double mean = double(n) * k / n_pop;
  const double var = mean * (1 - double(k) / n_pop) * double(n_pop - n) / double(n_pop - 1);
  const int reps = 20000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < reps; ++i) {
    const double x = double(draw_hypergeometric(n_pop, k, n, rng));
    sum += x, sum_sq += x * x;
  }
  const double m = sum / reps, v = sum_sq / reps - m * m;
  EXPECT_NEAR(m, mean, 5 * std::sqrt(var / reps));
  EXPECT_NEAR(v / var, 1.0, 0.05);  // the variance's relative SE is sqrt(2 / reps) = 1%
}

TEST(Hypergeometric, ForcedCasesAndBadArguments) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(draw_hypergeometric(10, 0, 5, rng), 0);
  EXPECT_EQ(draw_hypergeometric(10, 10, 4, rng), 4);
  EXPECT_EQ(draw_hypergeometric(10, 7, 10, rng), 7);
  EXPECT_EQ(draw_hypergeometric(10, 3, 0, rng), 0);
  for (int i = 0; i < 200; ++i) EXPECT_GE(draw_hypergeometric(10, 8, 5, rng), 3);  // 5 draws, only 2 failures
  EXPECT_ANY_THROW(draw_hypergeometric(10, 11, 2, rng));
  EXPECT_ANY_THROW(draw_hypergeometric(10, 2, 11, rng));
}

// A small chain of baskets: three bands, four categories.
struct Shop {
  struct Basket {
    int band;
    std::vector<int> categories;
    double spend, restricted;
  };
  std::vector<Basket> baskets;
  size_t nb = 3, nc = 4;

  Shop() {
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> u(0, 1);
    const int sizes[] = {400, 900, 250};
    for (int b = 0; b < 3; ++b) {
      for (int i = 0; i < sizes[b]; ++i) {
        Basket k{b, {}, 5 + 40 * u(rng), 0};
        for (int c = 0; c < 4; ++c) {
          if (u(rng) < 0.1 + 0.2 * ((b + c) % 3)) k.categories.push_back(c);
        }
        if (u(rng) < 0.2 + 0.1 * b) k.restricted = k.spend * u(rng);
        baskets.push_back(k);
      }
    }
  }
  std::vector<BandTotals> totals() const {
    std::vector<BandTotals> t(nb);
    for (auto& x : t) x.holding.assign(nc, 0);
    for (const auto& k : baskets) {
      BandTotals& x = t[k.band];
      x.baskets++;
      for (int c : k.categories) x.holding[c]++;
      x.spend += k.spend, x.restricted += k.restricted;
      x.spend_sq += k.spend * k.spend, x.restricted_sq += k.restricted * k.restricted;
      x.spend_restricted += k.spend * k.restricted;
    }
    return t;
  }
};

// Rows so large that their Dirichlet draw is the rows' own shares.
BandConfusion blur(size_t nb) {
  BandConfusion c;
  for (size_t b = 0; b < nb; ++b) c.bands.push_back({"b" + std::to_string(b), int(b * 10), int(b * 10 + 9)});
  c.counts = {{6000000, 3000000, 0, 1000000}, {2000000, 5000000, 2000000, 1000000}, {0, 3000000, 7000000, 0}};
  return c;
}

std::vector<double> shares(const BandConfusion& c, size_t t) {
  double total = 0;
  for (int64_t v : c.counts[t]) total += double(v);
  std::vector<double> p;
  for (int64_t v : c.counts[t]) p.push_back(double(v) / total);
  return p;
}

TEST(RedrawBands, ConservesBasketsAndSpendAndKeepsHoldingWithinBaskets) {
  const Shop shop;
  const auto truth = shop.totals();
  const BandConfusion c = blur(shop.nb);
  std::mt19937_64 rng(5);
  double spend = 0;
  for (const auto& t : truth) spend += t.spend;
  for (int rep = 0; rep < 50; ++rep) {
    const RedrawnBands r = redraw_bands(truth, c, rng);
    int64_t baskets = 0;
    double s = 0;
    for (size_t e = 0; e < shop.nb; ++e) {
      baskets += r.band_baskets[e];
      s += r.spend[e];
      EXPECT_LE(r.restricted[e], r.spend[e] + 1e-9);
      for (size_t k = 0; k < shop.nc; ++k) EXPECT_LE(r.band_category[e][k], r.band_baskets[e]);
    }
    EXPECT_EQ(baskets, r.all_baskets);
    EXPECT_LE(baskets, int64_t(shop.baskets.size()));  // the rest went outside every band
    EXPECT_LE(s, spend + 1e-6);
  }
  // Rows without a photo keep every basket in its band, exactly.
  BandConfusion none = c;
  for (auto& row : none.counts) std::fill(row.begin(), row.end(), 0);
  const RedrawnBands kept = redraw_bands(truth, none, rng);
  for (size_t b = 0; b < shop.nb; ++b) {
    EXPECT_EQ(kept.band_baskets[b], truth[b].baskets);
    EXPECT_EQ(kept.band_category[b], truth[b].holding);
    EXPECT_DOUBLE_EQ(kept.spend[b], truth[b].spend);
    EXPECT_DOUBLE_EQ(kept.restricted[b], truth[b].restricted);
  }
}

// Per band and category, the redraw from aggregates and drawing every
// basket's band on its own give the same distribution of the band's share of
// baskets holding the category (mean and spread), and of the restricted
// spend share: compared over 3000 redraws each, within 5 standard errors.
TEST(RedrawBands, AgreesWithDrawingEveryBasketOnItsOwn) {
  const Shop shop;
  const auto truth = shop.totals();
  const BandConfusion c = blur(shop.nb);
  const int reps = 3000;
  const size_t nb = shop.nb, nc = shop.nc;
  // stats[method][band][category or nc for restricted share]: sum, sum of squares
  std::vector<std::vector<std::vector<std::pair<double, double>>>> stats(
      2, std::vector<std::vector<std::pair<double, double>>>(nb, std::vector<std::pair<double, double>>(nc + 1)));
  auto add = [&](int m, size_t e, size_t k, double x) {
    stats[m][e][k].first += x, stats[m][e][k].second += x * x;
  };
  std::mt19937_64 rng(9);
  std::vector<std::discrete_distribution<int>> rows;
  for (size_t t = 0; t < nb; ++t) {
    const auto p = shares(c, t);
    rows.emplace_back(p.begin(), p.end());
  }
  for (int rep = 0; rep < reps; ++rep) {
    const RedrawnBands r = redraw_bands(truth, c, rng);
    for (size_t e = 0; e < nb; ++e) {
      for (size_t k = 0; k < nc; ++k) add(0, e, k, double(r.band_category[e][k]) / double(r.band_baskets[e]));
      add(0, e, nc, r.restricted[e] / r.spend[e]);
    }
    std::vector<int64_t> n(nb, 0);
    std::vector<std::vector<int64_t>> holding(nb, std::vector<int64_t>(nc, 0));
    std::vector<double> s(nb, 0), rs(nb, 0);
    for (const auto& k : shop.baskets) {
      const size_t e = static_cast<size_t>(rows[k.band](rng));
      if (e >= nb) continue;
      n[e]++, s[e] += k.spend, rs[e] += k.restricted;
      for (int cat : k.categories) holding[e][cat]++;
    }
    for (size_t e = 0; e < nb; ++e) {
      for (size_t k = 0; k < nc; ++k) add(1, e, k, double(holding[e][k]) / double(n[e]));
      add(1, e, nc, rs[e] / s[e]);
    }
  }
  for (size_t e = 0; e < nb; ++e) {
    for (size_t k = 0; k <= nc; ++k) {
      const auto [s0, q0] = stats[0][e][k];
      const auto [s1, q1] = stats[1][e][k];
      const double m0 = s0 / reps, m1 = s1 / reps;
      const double v0 = q0 / reps - m0 * m0, v1 = q1 / reps - m1 * m1;
      const std::string what = "band " + std::to_string(e) + (k < nc ? " category " + std::to_string(k) : " restricted");
      EXPECT_NEAR(m0, m1, 5 * std::sqrt((v0 + v1) / reps)) << what;
      // The sd's relative SE is about 1/sqrt(2 reps) = 1.3%.
      EXPECT_NEAR(std::sqrt(v0 / v1), 1.0, 0.08) << what;
    }
  }
}

}  // namespace
}  // namespace agegate
