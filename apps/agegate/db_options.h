// The --db flag every checkout-database command takes (db, import-sales,
// audit, import-retail, insights).
#pragma once
#include <CLI/CLI.hpp>

#include <string>

namespace agegate::cli {

inline void add_db_option(CLI::App* cmd, std::string& db) {
  cmd->add_option("--db", db, "checkout database: sqlite:PATH or postgresql://... (also AGEGATE_DB)")
      ->envname("AGEGATE_DB")
      ->required();
}

}  // namespace agegate::cli
