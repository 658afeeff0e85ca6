// Bulk rows into PostgreSQL through COPY ... FROM STDIN (libpq), on the
// connection of a SOCI session and so inside its transaction (private to
// store/). Text format: fields tab-separated, rows newline-ended, a
// backslash, tab, newline or carriage return inside a field escaped; doubles
// written with 17 significant digits, so they read back bit for bit. Data
// goes to the server in chunks of about 1 MiB.
//
//   PgCopy copy(sql, "retail_lines (source_line, basket_id, ...)");
//   for (...) copy.row(n, basket, ...);      // or field() by field(), then end_row()
//   copy.finish();   // IoError with the server's message when it refuses a row
//
// A PgCopy destroyed unfinished (an exception on the way) aborts the COPY,
// which fails the transaction: the caller's rollback then loads nothing.
#pragma once
#include <libpq-fe.h>
#include <soci/soci.h>

#include <cstdint>
#include <string>

namespace agegate {

class PgCopy {
 public:
  PgCopy(soci::session& sql, const std::string& table_and_columns);
  ~PgCopy();
  PgCopy(const PgCopy&) = delete;
  PgCopy& operator=(const PgCopy&) = delete;

  void field(const std::string& text);
  void field(int64_t value);
  void field(double value);
  void end_row();
  // One whole row: each value through field(), then end_row().
  template <typename... T>
  void row(const T&... values) {
    (field(values), ...);
    end_row();
  }
  int64_t rows() const { return rows_; }
  void finish();

 private:
  void separate();
  void flush();
  PGconn* conn_;
  std::string what_;
  std::string buffer_;
  bool first_in_row_ = true;
  bool finished_ = false;
  int64_t rows_ = 0;
};

}  // namespace agegate
