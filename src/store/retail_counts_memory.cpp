// The insights' counts from retail data in memory; see store/retail_counts.h.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "agegate/store/retail_counts.h"

namespace agegate {
namespace {

struct Basket {
  std::string band;
  int week = 0;
  int64_t lines = 0, restricted_lines = 0, unknown_lines = 0;
  double spend = 0, restricted_spend = 0;
  std::vector<size_t> products;  // distinct, rows of RetailData::products
};

class MemoryCounts final : public RetailCounts {
 public:
  explicit MemoryCounts(const RetailData& d) : d_(d) {
    std::unordered_map<std::string, std::string> band_of;
    for (const auto& h : d.households) band_of[h.id] = h.band;
    for (size_t i = 0; i < d.products.size(); ++i) product_[d.products[i].id] = i;
    std::unordered_map<std::string, size_t> index;
    for (const RetailLine& l : d.lines) {
      auto [it, added] = index.emplace(l.basket, baskets_.size());
      if (added) {
        baskets_.emplace_back();
        auto h = band_of.find(l.household);
        if (h != band_of.end()) baskets_.back().band = h->second;
      }
      Basket& b = baskets_[it->second];
      b.week = std::max(b.week, l.week);
      b.lines++;
      b.spend += l.value;
      auto p = product_.find(l.product);
      if (p == product_.end()) {
        b.unknown_lines++;
        continue;
      }
      if (d.products[p->second].restricted) b.restricted_lines++, b.restricted_spend += l.value;
      if (std::find(b.products.begin(), b.products.end(), p->second) == b.products.end()) b.products.push_back(p->second);
    }
  }

  int last_week() const override {
    int last = 0;
    for (const Basket& b : baskets_) last = std::max(last, b.week);
    return last;
  }

  std::vector<std::pair<std::string, int64_t>> households() const override {
    std::map<std::string, int64_t> n;
    for (const auto& h : d_.households) n[h.band]++;
    return {n.begin(), n.end()};
  }

  std::vector<RetailCategory> categories() const override {
    std::map<std::string, RetailCategory> c;
    std::map<std::string, const std::string*> first_id;
    for (const RetailProduct& p : d_.products) {
      if (p.category.empty()) continue;
      auto [it, added] = c.emplace(p.category, RetailCategory{p.category, p.department, p.restricted});
      const std::string*& first = first_id[p.category];
      if (added || p.id < *first) first = &p.id, it->second.department = p.department;
      it->second.restricted = it->second.restricted || p.restricted;
    }
    std::vector<RetailCategory> out;
    for (auto& [name, cat] : c) out.push_back(std::move(cat));
    return out;
  }

  std::vector<RetailBandRow> bands(int held_from) const override {
    std::map<std::pair<std::string, bool>, RetailBandRow> rows;
    for (const Basket& b : baskets_) {
      const bool held = b.week >= held_from;
      RetailBandRow& r = rows[{b.band, held}];
      r.band = b.band, r.held = held;
      r.baskets++;
      r.categorised += std::any_of(b.products.begin(), b.products.end(),
                                   [&](size_t p) { return !d_.products[p].category.empty(); });
      r.lines += b.lines, r.restricted_lines += b.restricted_lines, r.unknown_lines += b.unknown_lines;
      r.spend += b.spend, r.restricted_spend += b.restricted_spend;
      r.spend_sq += b.spend * b.spend, r.restricted_sq += b.restricted_spend * b.restricted_spend;
      r.spend_restricted += b.spend * b.restricted_spend;
    }
    std::vector<RetailBandRow> out;
    for (auto& [key, row] : rows) out.push_back(row);
    return out;
  }

  std::vector<RetailItemRow> category_baskets(int held_from) const override {
    return items(held_from, [](const RetailProduct& p) -> const std::string& { return p.category; });
  }
  std::vector<RetailItemRow> department_baskets(int held_from) const override {
    return items(held_from, [](const RetailProduct& p) -> const std::string& { return p.department; });
  }

  std::vector<RetailProductRow> product_baskets(const std::vector<std::string>& categories) const override {
    std::map<std::pair<std::string, size_t>, int64_t> n;
    for (const Basket& b : baskets_) {
      if (b.band.empty()) continue;
      for (size_t p : b.products) {
        const std::string& c = d_.products[p].category;
        if (std::find(categories.begin(), categories.end(), c) != categories.end()) n[{b.band, p}]++;
      }
    }
    std::vector<RetailProductRow> out;
    for (const auto& [key, baskets] : n) {
      const RetailProduct& p = d_.products[key.second];
      out.push_back({key.first, p.id, p.category, p.type, p.brand, baskets});
    }
    return out;
  }

  std::vector<RetailListHits> list_hits(int from_week, int to_week,
                                        const std::vector<std::vector<std::string>>& lists) const override {
    std::map<std::pair<std::string, int>, int64_t> n;
    for (const Basket& b : baskets_) {
      if (b.band.empty() || b.week < from_week || b.week > to_week) continue;
      for (size_t i = 0; i < lists.size(); ++i) {
        const bool hit = std::any_of(b.products.begin(), b.products.end(), [&](size_t p) {
          const std::string& c = d_.products[p].category;
          return !c.empty() && std::find(lists[i].begin(), lists[i].end(), c) != lists[i].end();
        });
        if (hit) n[{b.band, static_cast<int>(i)}]++;
      }
    }
    std::vector<RetailListHits> out;
    for (const auto& [key, baskets] : n) out.push_back({key.first, key.second, baskets});
    return out;
  }

 private:
  template <class Name>
  std::vector<RetailItemRow> items(int held_from, Name name) const {
    std::map<std::tuple<std::string, bool, std::string>, int64_t> n;
    std::vector<const std::string*> seen;
    for (const Basket& b : baskets_) {
      if (b.band.empty()) continue;
      seen.clear();
      for (size_t p : b.products) {
        const std::string& item = name(d_.products[p]);
        if (item.empty() || std::any_of(seen.begin(), seen.end(), [&](const std::string* s) { return *s == item; })) {
          continue;
        }
        seen.push_back(&item);
        n[{b.band, b.week >= held_from, item}]++;
      }
    }
    std::vector<RetailItemRow> out;
    for (const auto& [key, baskets] : n) out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), baskets});
    return out;
  }

  const RetailData& d_;
  std::unordered_map<std::string, size_t> product_;
  std::vector<Basket> baskets_;
};

}  // namespace

std::unique_ptr<RetailCounts> retail_counts_of(const RetailData& data) { return std::make_unique<MemoryCounts>(data); }

}  // namespace agegate
