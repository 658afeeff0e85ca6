// What keeps the service's photos, decisions and tokens from the store LAN:
// TLS credentials that can be replaced while serving, bearer tokens checked
// in constant time, and a throttle on repeated authentication failures.
//
//   TlsCredentials creds = TlsCredentials::load("server.pem", "server.key");   // checks they match
//   TokenSet tokens = TokenSet::from_file("tokens.txt");                       // one token per line
//   tokens.matches(presented);                                                 // constant time
//   AuthThrottle throttle({5, 60, 60});
//   if (auto wait = throttle.blocked(ip, now)) ... 429, Retry-After: *wait
//
// Thread-safe: TlsCredentials::current() and replace() may race (a handshake
// takes a snapshot); TokenSet is immutable; AuthThrottle locks inside.
// Errors: IoError (a file is missing or unreadable), InvalidInput (not a
// certificate or key, a key that does not match, a malformed token file),
// each naming the file. No message ever quotes a token.
#pragma once
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agegate {

// A certificate chain and its private key, from PEM files. Immutable once loaded.
class TlsIdentity {
 public:
  ~TlsIdentity();
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;

  X509* certificate() const { return cert_; }
  EVP_PKEY* key() const { return key_; }
  STACK_OF(X509)* chain() const { return chain_; }  // intermediates, may be empty
  std::string serial_hex() const;   // "1A2B..." (as `openssl x509 -serial` prints it)
  std::string subject() const;      // RFC 2253
  int64_t not_after_unix() const;

 private:
  friend class TlsCredentials;
  TlsIdentity() = default;
  X509* cert_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  STACK_OF(X509)* chain_ = nullptr;
};

// The service's current identity; replace() swaps it without a restart (the
// next handshake uses the new one, open connections keep theirs).
class TlsCredentials {
 public:
  // Reads and checks both files: the certificate file's first PEM
  // certificate is the leaf, any others its chain; the key must match it.
  static std::shared_ptr<const TlsIdentity> load(const std::filesystem::path& cert, const std::filesystem::path& key);

  TlsCredentials(std::filesystem::path cert, std::filesystem::path key);  // loads; throws as load()
  std::shared_ptr<const TlsIdentity> current() const;
  // Loads the files again; on any error throws and keeps the identity in use.
  std::shared_ptr<const TlsIdentity> reload();
  const std::filesystem::path& cert_path() const { return cert_path_; }
  const std::filesystem::path& key_path() const { return key_path_; }

 private:
  std::filesystem::path cert_path_, key_path_;
  mutable std::mutex mu_;
  std::shared_ptr<const TlsIdentity> identity_;
};

// The subject (RFC 2253) of a verified peer certificate, "" when none.
std::string peer_subject(const SSL* ssl);

// Sets up a server SSL_CTX: TLS 1.2 and 1.3 only, forward-secret AEAD
// ciphers for 1.2 (OpenSSL's 1.3 suites are all AEAD), no compression or
// renegotiation, the certificate taken from `credentials` at each handshake,
// and (client_ca non-empty) client certificates required and verified
// against that CA file. Throws as TlsCredentials::load for a bad CA file.
void configure_server_tls(SSL_CTX* ctx, const TlsCredentials* credentials, const std::filesystem::path& client_ca);

// The service's TLS in one part: credentials that reload, and the server
// context configured over them (configure_server_tls). The context must
// outlive every connection that uses it; reload() swaps the identity for
// the next handshakes and, on any error, throws and keeps the one in use.
class TlsContext {
 public:
  // Loads and checks the files; throws as TlsCredentials::load (and IoError
  // when OpenSSL cannot create a context).
  TlsContext(const std::filesystem::path& cert, const std::filesystem::path& key,
             const std::filesystem::path& client_ca);
  SSL_CTX* ctx() const { return ctx_.get(); }
  std::shared_ptr<const TlsIdentity> identity() const { return credentials_.current(); }
  std::shared_ptr<const TlsIdentity> reload() { return credentials_.reload(); }
  bool client_certificates() const { return !client_ca_.empty(); }
  // "certificate CN=... (serial 3001, expires 2026-...)[; client certificates required (ca.pem)]".
  std::string describe() const;

 private:
  TlsCredentials credentials_;
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx_;
  std::filesystem::path client_ca_;
};

// Equal contents, in time that depends only on the lengths of neither:
// both are hashed (SHA-256) and the digests compared with CRYPTO_memcmp.
bool constant_time_equal(std::string_view a, std::string_view b);

// Bearer tokens the service accepts (several, so one can be rotated out
// while the next is rolled in). Only their SHA-256 digests are kept.
class TokenSet {
 public:
  static constexpr size_t kMinLength = 16;
  TokenSet() = default;
  // Tokens must be at least kMinLength printable ASCII characters without
  // spaces; InvalidInput names `where` and the position, never the token.
  void add(std::string_view token, const std::string& where);
  // One token per line; blank lines and lines starting with '#' are skipped.
  static TokenSet from_file(const std::filesystem::path& path);
  bool empty() const { return digests_.empty(); }
  size_t size() const { return digests_.size(); }
  // Compares against every token, without stopping at a match.
  bool matches(std::string_view presented) const;

 private:
  std::vector<std::array<unsigned char, 32>> digests_;
};

struct ThrottleOptions {
  int max_failures = 5;      // failures within the window before blocking
  int window_seconds = 60;
  int block_seconds = 60;    // doubled for each block in a row, at most 16x
  void validate() const;     // InvalidInput naming the field
};

// Repeated authentication failures from one address are slowed down: after
// max_failures within window_seconds the address is blocked (429) for
// block_seconds, doubling while it keeps failing. A success clears it.
class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AuthThrottle(ThrottleOptions options = {});
  // Seconds to wait when `address` is blocked now.
  std::optional<int> blocked(const std::string& address, Clock::time_point now = Clock::now());
  void failure(const std::string& address, Clock::time_point now = Clock::now());
  void success(const std::string& address);
  size_t tracked() const;  // addresses held (bounded)

 private:
  struct Entry {
    std::vector<Clock::time_point> failures;
    Clock::time_point blocked_until{};
    int blocks = 0;
  };
  void prune(Clock::time_point now);
  ThrottleOptions o_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_address_;
};

}  // namespace agegate
