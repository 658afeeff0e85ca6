// ISO 8601 instants for checkout records.
#include <gtest/gtest.h>

#include "agegate/core/error.h"
#include "agegate/core/time.h"

namespace agegate {
namespace {

TEST(Time, ParsesZonesAndFractionsToUtcMilliseconds) {
  EXPECT_EQ(parse_iso8601("1970-01-01T00:00:00Z", "t"), 0);
  EXPECT_EQ(parse_iso8601("2026-11-21T13:03:07.250Z", "t"), 1795266187250);
  EXPECT_EQ(parse_iso8601("2026-11-21T14:03:07.25+01:00", "t"), 1795266187250);
  EXPECT_EQ(parse_iso8601("2026-11-21 08:03:07.250-05:00", "t"), 1795266187250);
  EXPECT_EQ(parse_iso8601("2024-02-29T00:00:00Z", "t"), 1709164800000);
  EXPECT_EQ(format_iso8601(1795266187250), "2026-11-21T13:03:07.250Z");
  EXPECT_EQ(format_iso8601(1795266187000), "2026-11-21T13:03:07Z");
  EXPECT_EQ(format_date(1795266187000), "2026-11-21");
}

TEST(Time, RejectsWhatIsNotAFullTimeWithAZone) {
  for (const char* bad : {"", "2026-11-21", "2026-11-21T14:03:07", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
                          "2026-11-21T24:00:00Z", "2026-11-21T14:03:07Zjunk", "2026-11-21T14:03:07.Z",
                          "2026-11-21T14:03:07+1:00", "21/11/2026 14:03"}) {
    try {
      parse_iso8601(bad, "sale time");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find("sale time"), std::string::npos) << e.what();
    }
  }
}

TEST(Time, WeeksStartOnMondayUtc) {
  const int64_t sat = parse_iso8601("2026-11-21T23:59:00Z", "t");  // a Saturday
  EXPECT_EQ(format_iso8601(week_start_ms(sat)), "2026-11-16T00:00:00Z");
  const int64_t mon = parse_iso8601("2026-11-16T00:00:00Z", "t");
  EXPECT_EQ(week_start_ms(mon), mon);
  EXPECT_EQ(format_iso8601(week_start_ms(0)), "1969-12-29T00:00:00Z");
}

}  // namespace
}  // namespace agegate
