// COPY FROM STDIN through libpq on a SOCI PostgreSQL session (see pg_copy.h).
#include "pg_copy.h"

#include <soci/postgresql/soci-postgresql.h>

#include <cstdio>

#include "agegate/core/error.h"
#include "agegate/core/text.h"

namespace agegate {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

PGconn* connection_of(soci::session& sql) {
  // SOCI's backend types carry no exported type information: check by name.
  if (sql.get_backend_name() != "postgresql") throw InternalError("COPY needs a PostgreSQL session");
  return static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
}

std::string server_error(PGconn* conn, const std::string& what) {
  return "COPY " + what + ": " + trim(PQerrorMessage(conn));
}

}  // namespace

PgCopy::PgCopy(soci::session& sql, const std::string& table_and_columns)
    : conn_(connection_of(sql)), what_(table_and_columns.substr(0, table_and_columns.find(' '))) {
  PGresult* r = PQexec(conn_, ("COPY " + table_and_columns + " FROM STDIN").c_str());
  const bool ready = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  if (!ready) throw IoError(server_error(conn_, what_));
  buffer_.reserve(kChunkBytes + 4096);
}

PgCopy::~PgCopy() {
  if (finished_) return;
  PQputCopyEnd(conn_, "aborted by agegate");
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
}

void PgCopy::separate() {
  if (!first_in_row_) buffer_ += '\t';
  first_in_row_ = false;
}

void PgCopy::field(const std::string& text) {
  separate();
  for (char c : text) {
    switch (c) {
      case '\\': buffer_ += "\\\\"; break;
      case '\t': buffer_ += "\\t"; break;
      case '\n': buffer_ += "\\n"; break;
      case '\r': buffer_ += "\\r"; break;
      default: buffer_ += c;
    }
  }
}

void PgCopy::field(int64_t value) {
  separate();
  buffer_ += std::to_string(value);
}

void PgCopy::field(double value) {
  separate();
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  buffer_ += text;
}

void PgCopy::end_row() {
  buffer_ += '\n';
  first_in_row_ = true;
  ++rows_;
  if (buffer_.size() >= kChunkBytes) flush();
}

void PgCopy::flush() {
  if (buffer_.empty()) return;
  if (PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
    throw IoError(server_error(conn_, what_));
  }
  buffer_.clear();
}

void PgCopy::finish() {
  flush();
  finished_ = true;
  if (PQputCopyEnd(conn_, nullptr) != 1) throw IoError(server_error(conn_, what_));
  std::string error;
  while (PGresult* r = PQgetResult(conn_)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && error.empty()) {
      error = "COPY " + what_ + ": " + trim(PQresultErrorMessage(r));
    }
    PQclear(r);
  }
  if (!error.empty()) throw IoError(error);
}

}  // namespace agegate
