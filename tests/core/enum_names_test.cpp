// Enums by name: each name back to its value, anything else refused with
// the accepted names in the order given.
#include "agegate/core/enum_names.h"

#include <gtest/gtest.h>

namespace agegate {
namespace {

enum class Colour { kRed, kGreen, kBlue };
constexpr Colour kColours[] = {Colour::kRed, Colour::kGreen, Colour::kBlue};
const char* to_string(Colour c) { return c == Colour::kRed ? "red" : c == Colour::kGreen ? "green" : "blue"; }

TEST(EnumNames, EveryNameParsesBackAndAnythingElseIsRefusedWithTheList) {
  for (Colour c : kColours) EXPECT_EQ(parse_enum_name(to_string(c), kColours, "colour"), c);
  EXPECT_EQ(enum_names(kColours), "red, green, blue");
  for (const std::string bad : {"", "Red", "red ", "purple"}) {
    try {
      parse_enum_name(bad, kColours, "option --colour");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InvalidInput& e) {
      EXPECT_EQ(std::string(e.what()), "option --colour '" + bad + "': not one of red, green, blue");
    }
  }
}

}  // namespace
}  // namespace agegate
