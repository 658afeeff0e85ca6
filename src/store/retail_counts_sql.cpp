// The insights' counts as GROUP BY queries on either engine; see
// store/retail_counts.h. The queries start from retail_baskets (one row per
// basket, written by replace_retail()) and join the lines through their
// (basket_id, product_id) index; numbers computed here (a week, a list's
// number) go into the text, text from the data is always bound.
#include <algorithm>
#include <map>

#include "agegate/store/retail_counts.h"
#include "store_impl.h"

namespace agegate {
namespace {

// Fetches every row of `query` with `texts` bound in order; `intos` adds the
// statement's outputs, `row` runs after each fetch.
template <class Intos, class Row>
void each_row(soci::session& sql, const std::string& query, std::vector<std::string>& texts, Intos&& intos, Row&& row) {
  soci::statement st(sql);
  intos(st);
  for (std::string& t : texts) st.exchange(soci::use(t));
  st.alloc();
  st.prepare(query);
  st.define_and_bind();
  st.execute(false);
  while (st.fetch()) row();
}

// Lines joined to their basket, its household's band and the product.
constexpr const char* kLinesWithBand =
    " FROM retail_lines l JOIN retail_baskets b ON b.basket_id = l.basket_id"
    " JOIN retail_households h ON h.household_id = b.household_id"
    " JOIN retail_products p ON p.product_id = l.product_id";

std::string held_case(int held_from) {
  return "CASE WHEN b.week >= " + std::to_string(held_from) + " THEN 1 ELSE 0 END";
}

// ":c0, :c1, ..." for n bound values.
std::string placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += (i ? ", :c" : ":c") + std::to_string(i);
  return out;
}

}  // namespace

class SqlRetailCounts final : public RetailCounts {
 public:
  explicit SqlRetailCounts(const Store::Impl& db) : db_(db) {}

  int last_week() const override {
    return db_.with_session("counting retail data", [&](soci::session& sql) {
      int week = 0;
      soci::indicator ind = soci::i_ok;
      sql << "SELECT MAX(week) FROM retail_baskets", soci::into(week, ind);
      return ind == soci::i_ok ? week : 0;
    });
  }

  std::vector<std::pair<std::string, int64_t>> households() const override {
    return db_.with_session("counting retail households", [&](soci::session& sql) {
      std::vector<std::pair<std::string, int64_t>> out;
      std::string band;
      long long n = 0;
      std::vector<std::string> none;
      each_row(
          sql, "SELECT age_band, COUNT(*) FROM retail_households GROUP BY age_band", none,
          [&](soci::statement& st) { st.exchange(soci::into(band)), st.exchange(soci::into(n)); },
          [&] { out.push_back({band, n}); });
      return out;
    });
  }

  std::vector<RetailCategory> categories() const override {
    return db_.with_session("reading retail categories", [&](soci::session& sql) {
      std::map<std::string, std::pair<std::string, RetailCategory>> first;  // category -> (smallest id, ...)
      std::string id, category, department;
      int restricted = 0;
      std::vector<std::string> none;
      each_row(
          sql, "SELECT product_id, category, department, restricted FROM retail_products WHERE category <> ''", none,
          [&](soci::statement& st) {
            st.exchange(soci::into(id)), st.exchange(soci::into(category)), st.exchange(soci::into(department));
            st.exchange(soci::into(restricted));
          },
          [&] {
            auto [it, added] = first.emplace(category, std::make_pair(id, RetailCategory{category, department, false}));
            if (!added && id < it->second.first) it->second.first = id, it->second.second.department = department;
            it->second.second.restricted = it->second.second.restricted || restricted != 0;
          });
      std::vector<RetailCategory> out;
      for (auto& [name, c] : first) out.push_back(std::move(c.second));
      return out;
    });
  }

  std::vector<RetailBandRow> bands(int held_from) const override {
    return db_.with_session("counting retail baskets", [&](soci::session& sql) {
      std::vector<RetailBandRow> out;
      RetailBandRow r;
      int held = 0;
      long long n[5] = {0, 0, 0, 0, 0};
      std::vector<std::string> none;
      each_row(
          sql,
          "SELECT COALESCE(h.age_band, ''), " + held_case(held_from) +
              ", COUNT(*), CAST(SUM(CASE WHEN b.categories > 0 THEN 1 ELSE 0 END) AS BIGINT),"
              " CAST(SUM(b.lines) AS BIGINT), CAST(SUM(b.restricted_lines) AS BIGINT),"
              " CAST(SUM(b.unknown_lines) AS BIGINT), SUM(b.spend), SUM(b.restricted_spend),"
              " SUM(b.spend * b.spend), SUM(b.restricted_spend * b.restricted_spend),"
              " SUM(b.spend * b.restricted_spend)"
              " FROM retail_baskets b LEFT JOIN retail_households h ON h.household_id = b.household_id"
              " GROUP BY 1, 2",
          none,
          [&](soci::statement& st) {
            st.exchange(soci::into(r.band)), st.exchange(soci::into(held));
            for (long long& v : n) st.exchange(soci::into(v));
            for (double* v : {&r.spend, &r.restricted_spend, &r.spend_sq, &r.restricted_sq, &r.spend_restricted}) {
              st.exchange(soci::into(*v));
            }
          },
          [&] {
            r.held = held != 0;
            r.baskets = n[0], r.categorised = n[1], r.lines = n[2], r.restricted_lines = n[3], r.unknown_lines = n[4];
            out.push_back(r);
          });
      return out;
    });
  }

  std::vector<RetailItemRow> category_baskets(int held_from) const override { return items("category", held_from); }
  std::vector<RetailItemRow> department_baskets(int held_from) const override { return items("department", held_from); }

  std::vector<RetailProductRow> product_baskets(const std::vector<std::string>& categories) const override {
    if (categories.empty()) return {};
    return db_.with_session("counting retail products", [&](soci::session& sql) {
      std::vector<RetailProductRow> out;
      RetailProductRow r;
      long long n = 0;
      std::vector<std::string> texts = categories;
      each_row(
          sql,
          std::string("SELECT h.age_band, p.product_id, p.category, p.product_type, p.brand, COUNT(DISTINCT l.basket_id)") +
              kLinesWithBand + " WHERE h.age_band <> '' AND p.category IN (" + placeholders(texts.size()) +
              ") GROUP BY h.age_band, p.product_id, p.category, p.product_type, p.brand",
          texts,
          [&](soci::statement& st) {
            for (std::string* v : {&r.band, &r.id, &r.category, &r.type, &r.brand}) st.exchange(soci::into(*v));
            st.exchange(soci::into(n));
          },
          [&] {
            r.baskets = n;
            out.push_back(r);
          });
      return out;
    });
  }

  std::vector<RetailListHits> list_hits(int from_week, int to_week,
                                        const std::vector<std::vector<std::string>>& lists) const override {
    std::string members;  // (list, category) pairs as a derived table
    std::vector<std::string> texts;
    for (size_t i = 0; i < lists.size(); ++i) {
      for (const std::string& c : lists[i]) {
        members += std::string(members.empty() ? "SELECT " : " UNION ALL SELECT ") + std::to_string(i) +
                   (members.empty() ? " AS list_id, CAST(:c" : ", CAST(:c") + std::to_string(texts.size()) +
                   " AS TEXT)" + (members.empty() ? " AS category" : "");
        texts.push_back(c);
      }
    }
    if (texts.empty()) return {};
    return db_.with_session("counting list hits", [&](soci::session& sql) {
      std::vector<RetailListHits> out;
      RetailListHits r;
      long long n = 0;
      each_row(
          sql,
          std::string("SELECT m.list_id, h.age_band, COUNT(DISTINCT l.basket_id)") + kLinesWithBand + " JOIN (" +
              members + ") m ON m.category = p.category WHERE h.age_band <> '' AND b.week >= " +
              std::to_string(from_week) + " AND b.week <= " + std::to_string(to_week) +
              " GROUP BY m.list_id, h.age_band",
          texts,
          [&](soci::statement& st) {
            st.exchange(soci::into(r.list)), st.exchange(soci::into(r.band)), st.exchange(soci::into(n));
          },
          [&] {
            r.baskets = n;
            out.push_back(r);
          });
      return out;
    });
  }

 private:
  std::vector<RetailItemRow> items(const std::string& column, int held_from) const {
    return db_.with_session("counting retail " + column + " baskets", [&](soci::session& sql) {
      std::vector<RetailItemRow> out;
      RetailItemRow r;
      int held = 0;
      long long n = 0;
      std::vector<std::string> none;
      each_row(
          sql,
          "SELECT h.age_band, " + held_case(held_from) + ", p." + column + ", COUNT(DISTINCT l.basket_id)" +
              kLinesWithBand + " WHERE h.age_band <> '' AND p." + column + " <> '' GROUP BY 1, 2, 3",
          none,
          [&](soci::statement& st) {
            st.exchange(soci::into(r.band)), st.exchange(soci::into(held)), st.exchange(soci::into(r.name));
            st.exchange(soci::into(n));
          },
          [&] {
            r.held = held != 0, r.baskets = n;
            out.push_back(r);
          });
      return out;
    });
  }

  const Store::Impl& db_;
};

std::unique_ptr<RetailCounts> Store::retail_counts() const { return std::make_unique<SqlRetailCounts>(*impl_); }

}  // namespace agegate
