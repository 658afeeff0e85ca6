// Databases for the storage tests: a fresh SQLite file in the scratch tree,
// and, when scripts/with-postgres.sh started a throwaway PostgreSQL cluster
// (AGEGATE_TEST_PG_URL), a fresh database on it. Tests of a backend that is
// not there call GTEST_SKIP, so they report skipped, never passed.
#pragma once
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <optional>
#include <random>
#include <string>

#include "test_support.h"

namespace agegate::testing {

inline std::optional<std::string> postgres_base_url() {
  const char* url = std::getenv("AGEGATE_TEST_PG_URL");
  if (!url || !*url) return std::nullopt;
  return std::string(url);
}

// Runs one statement through libpq (which reads postgresql:// URIs as they are).
inline void exec_postgres(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string why = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("cannot connect to the test cluster: " + why);
  }
  PGresult* r = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  const std::string why = PQerrorMessage(conn);
  PQclear(r);
  PQfinish(conn);
  if (!ok) throw std::runtime_error(sql + ": " + why);
}

// Runs one statement on a SQLite file through its own connection.
inline void exec_sqlite(const std::string& path, const std::string& sql) {
  soci::session raw(*soci::factory_sqlite3(), "db=" + path);
  raw << sql;
}

// The first column of the first row of a query, as text ("" without a row).
inline std::string query_postgres(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  PGresult* r = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
  const std::string why = PQerrorMessage(conn);
  const std::string value = ok && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  PQfinish(conn);
  if (!ok) throw std::runtime_error(sql + ": " + why);
  return value;
}

// A new empty database named after `tag` on the throwaway cluster.
inline std::string fresh_postgres_url(const std::string& tag) {
  const std::string base = *postgres_base_url();
  std::random_device rd;
  std::string name = "t_";
  for (char c : tag) name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  name += "_" + std::to_string(rd() % 1000000000u);
  exec_postgres(base, "CREATE DATABASE " + name);
  return base.substr(0, base.rfind('/') + 1) + name;
}

inline std::string fresh_sqlite_url(const std::string& tag) {
  return "sqlite:" + (scratch_dir("db-" + tag) / "checkout.db").string();
}

// A test run on each engine: GetParam() is "sqlite" or "postgresql"; url_ a
// fresh database of that engine (PostgreSQL tests skip without a cluster).
class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgresql") {
      AGEGATE_REQUIRE(postgres_base_url(), "no PostgreSQL cluster (run through scripts/with-postgres.sh)");
      url_ = fresh_postgres_url(::testing::UnitTest::GetInstance()->current_test_info()->name());
    } else {
      url_ = fresh_sqlite_url("store");
    }
  }
  // Runs one statement on the test's database, outside any Store.
  void exec(const std::string& sql) const {
    if (GetParam() == "postgresql") {
      exec_postgres(url_, sql);
    } else {
      exec_sqlite(url_.substr(7), sql);
    }
  }
  std::string url_;
};

}  // namespace agegate::testing
