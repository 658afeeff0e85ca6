// Redrawing bands from per-band aggregates; see insights/band_redraw.h.
#include "agegate/insights/band_redraw.h"

#include <algorithm>
#include <cmath>

#include "agegate/core/error.h"
#include "agegate/core/numeric.h"

namespace agegate {
namespace {

constexpr double kDirichletPrior = 0.5;  // Jeffreys prior on each confusion row


// A Dirichlet draw of one confusion row's probabilities; empty when the row
// has no photo.
std::vector<double> draw_row(const std::vector<int64_t>& counts, std::mt19937_64& rng) {
  int64_t total = 0;
  for (int64_t v : counts) total += v;
  if (total == 0) return {};
  std::vector<double> p;
  double sum = 0;
  for (int64_t v : counts) {
    std::gamma_distribution<double> g(double(v) + kDirichletPrior, 1.0);
    p.push_back(g(rng));
    sum += p.back();
  }
  for (double& x : p) x /= sum;
  return p;
}

// Multinomial(n, p) as a chain of binomials.
std::vector<int64_t> draw_multinomial(int64_t n, const std::vector<double>& p, std::mt19937_64& rng) {
  std::vector<int64_t> out(p.size(), 0);
  double left = 1;
  for (size_t e = 0; e + 1 < p.size() && n > 0; ++e) {
    const double q = left > 0 ? std::clamp(p[e] / left, 0.0, 1.0) : 1.0;
    std::binomial_distribution<int64_t> b(n, q);
    out[e] = b(rng);
    n -= out[e];
    left -= p[e];
  }
  out.back() += n;
  return out;
}

// Splits `total` items, `holding` of which are marked, over parts of the
// given sizes (summing to total): how many marked ones each part gets.
std::vector<int64_t> split_holding(int64_t total, int64_t holding, const std::vector<int64_t>& parts,
                                   std::mt19937_64& rng) {
  std::vector<int64_t> out(parts.size(), 0);
  for (size_t e = 0; e < parts.size() && holding > 0; ++e) {
    out[e] = draw_hypergeometric(total, holding, parts[e], rng);
    total -= parts[e];
    holding -= out[e];
  }
  return out;
}

// Splits a band's (spend, restricted spend) over the parts: each part in
// turn a sample of its size from what is left, drawn from the normal
// approximation of a without-replacement sample sum.
void split_spend(const BandTotals& t, const std::vector<int64_t>& parts, std::mt19937_64& rng,
                 std::vector<double>* spend, std::vector<double>* restricted) {
  const double n = double(t.baskets);
  const double ms = t.spend / n, mr = t.restricted / n;
  const double vs = std::max(0.0, t.spend_sq / n - ms * ms), vr = std::max(0.0, t.restricted_sq / n - mr * mr);
  const double c = t.spend_restricted / n - ms * mr;
  // Cholesky of [[vs, c], [c, vr]].
  const double l11 = std::sqrt(vs), l21 = l11 > 0 ? c / l11 : 0.0, l22 = std::sqrt(std::max(0.0, vr - l21 * l21));
  std::normal_distribution<double> z;
  double left_n = n, left_s = t.spend, left_r = t.restricted;
  for (size_t e = 0; e < parts.size(); ++e) {
    const double m = double(parts[e]);
    double s = left_s, r = left_r;  // the last part takes what is left
    if (m < left_n) {
      const double scale = left_n > 1 ? std::sqrt(m * (left_n - m) / (left_n - 1)) : 0.0;
      const double z1 = z(rng), z2 = z(rng);
      s = std::clamp(m / left_n * left_s + scale * l11 * z1, 0.0, left_s);
      r = m / left_n * left_r + scale * (l21 * z1 + l22 * z2);
      r = std::clamp(r, std::max(0.0, left_r - (left_s - s)), std::min(left_r, s));
    }
    (*spend)[e] += s, (*restricted)[e] += r;
    left_n -= m, left_s -= s, left_r -= r;
  }
}

}  // namespace

int64_t draw_hypergeometric(int64_t population, int64_t successes, int64_t draws, std::mt19937_64& rng) {
  AGEGATE_CHECK(population >= 0 && successes >= 0 && draws >= 0 && successes <= population && draws <= population,
                "hypergeometric arguments");
  const int64_t lo = std::max<int64_t>(0, draws - (population - successes)), hi = std::min(successes, draws);
  if (lo == hi) return lo;
  const int64_t mode = std::clamp<int64_t>(
      static_cast<int64_t>(std::floor((double(draws) + 1) * (double(successes) + 1) / (double(population) + 2))), lo, hi);
  const double p_mode = std::exp(log_choose(successes, mode) + log_choose(population - successes, draws - mode) -
                                 log_choose(population, draws));
  // P(x+1)/P(x) and P(x-1)/P(x).
  auto up = [&](int64_t x) {
    return double(successes - x) * double(draws - x) / (double(x + 1) * double(population - successes - draws + x + 1));
  };
  auto down = [&](int64_t x) {
    return double(x) * double(population - successes - draws + x) / (double(successes - x + 1) * double(draws - x + 1));
  };
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng) - p_mode;
  int64_t above = mode, below = mode;
  double p_above = p_mode, p_below = p_mode;
  while (u > 0 && (above < hi || below > lo)) {
    if (above < hi) {
      p_above *= up(above++);
      if ((u -= p_above) <= 0) return above;
    }
    if (below > lo) {
      p_below *= down(below--);
      if ((u -= p_below) <= 0) return below;
    }
  }
  return mode;  // what rounding left over
}

RedrawnBands redraw_bands(const std::vector<BandTotals>& truth, const BandConfusion& confusion, std::mt19937_64& rng) {
  const size_t nb = confusion.bands.size();
  AGEGATE_CHECK(truth.size() == nb, "one total per band");
  const size_t nc = nb ? truth[0].holding.size() : 0;
  RedrawnBands r;
  r.band_baskets.assign(nb, 0);
  r.band_category.assign(nb, std::vector<int64_t>(nc, 0));
  r.all_category.assign(nc, 0);
  std::vector<double> spend(nb + 1, 0), restricted(nb + 1, 0);
  for (size_t t = 0; t < nb; ++t) {
    const BandTotals& bt = truth[t];
    if (bt.baskets == 0) continue;
    const std::vector<double> p = draw_row(confusion.counts[t], rng);
    std::vector<int64_t> parts(nb + 1, 0);
    if (p.empty()) parts[t] = bt.baskets;  // no photo of that band: its baskets keep their band
    else parts = draw_multinomial(bt.baskets, p, rng);
    for (size_t e = 0; e < nb; ++e) r.band_baskets[e] += parts[e];
    for (size_t k = 0; k < nc; ++k) {
      const std::vector<int64_t> held = split_holding(bt.baskets, bt.holding[k], parts, rng);
      for (size_t e = 0; e < nb; ++e) r.band_category[e][k] += held[e];
    }
    split_spend(bt, parts, rng, &spend, &restricted);
  }
  for (size_t e = 0; e < nb; ++e) {
    r.all_baskets += r.band_baskets[e];
    for (size_t k = 0; k < nc; ++k) r.all_category[k] += r.band_category[e][k];
  }
  spend.resize(nb), restricted.resize(nb);
  r.spend = std::move(spend), r.restricted = std::move(restricted);
  return r;
}

}  // namespace agegate
