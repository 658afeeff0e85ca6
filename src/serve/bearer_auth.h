// Who may call the service (private to serve/): the bearer tokens in force
// and the throttle on repeated failures, behind one check per request.
//
//   BearerAuth auth(options.auth);
//   auth.replace(std::make_shared<TokenSet>(TokenSet::from_file(path)));  // at start and on SIGHUP
//   const BearerAuth::Verdict v = auth.check(req.get_header_value("Authorization"), req.remote_addr);
//   if (v.kind == BearerAuth::Verdict::kThrottled) ... 429, Retry-After: v.retry_after_s
//   if (v.kind == BearerAuth::Verdict::kUnauthorized) ... 401, WWW-Authenticate: Bearer
//
// With no token in force every request is allowed (authentication is off).
// A blocked address is refused before its token is looked at; a wrong or
// missing token counts as a failure, a right one clears the address.
// Thread-safe: replace() swaps the set whole while checks in progress finish
// on the one they took. Nothing here logs or returns a token.
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "agegate/serve/security.h"

namespace agegate {

class BearerAuth {
 public:
  struct Verdict {
    enum Kind { kAllowed, kUnauthorized, kThrottled } kind = kAllowed;
    int retry_after_s = 0;  // kThrottled: seconds until the address may try again
  };

  explicit BearerAuth(const ThrottleOptions& throttle);
  void replace(std::shared_ptr<const TokenSet> tokens);
  std::shared_ptr<const TokenSet> tokens() const;  // never null
  // `authorization`: the request's Authorization header ("Bearer <token>").
  Verdict check(const std::string& authorization, const std::string& address,
                AuthThrottle::Clock::time_point now = AuthThrottle::Clock::now());

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TokenSet> tokens_;
  AuthThrottle throttle_;
};

}  // namespace agegate
