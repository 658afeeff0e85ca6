// Bearer tokens and the failure throttle, one check per request (see bearer_auth.h).
#include "bearer_auth.h"

#include <string_view>

namespace agegate {

BearerAuth::BearerAuth(const ThrottleOptions& throttle)
    : tokens_(std::make_shared<const TokenSet>()), throttle_(throttle) {}

void BearerAuth::replace(std::shared_ptr<const TokenSet> tokens) {
  if (!tokens) tokens = std::make_shared<const TokenSet>();
  std::lock_guard<std::mutex> lock(mu_);
  tokens_ = std::move(tokens);
}

std::shared_ptr<const TokenSet> BearerAuth::tokens() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_;
}

BearerAuth::Verdict BearerAuth::check(const std::string& authorization, const std::string& address,
                                      AuthThrottle::Clock::time_point now) {
  const auto set = tokens();
  if (set->empty()) return {};
  if (const auto wait = throttle_.blocked(address, now)) return {Verdict::kThrottled, *wait};
  static constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() > kScheme.size() && authorization.compare(0, kScheme.size(), kScheme) == 0 &&
      set->matches(std::string_view(authorization).substr(kScheme.size()))) {
    throttle_.success(address);
    return {};
  }
  throttle_.failure(address, now);
  return {Verdict::kUnauthorized, 0};
}

}  // namespace agegate
