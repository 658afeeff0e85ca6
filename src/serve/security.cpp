// TLS credentials, constant-time tokens and the failure throttle; see serve/security.h.
#include "agegate/serve/security.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <fstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/time.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

// The oldest OpenSSL error, as text, and the queue cleared.
std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail from OpenSSL";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// Opens a PEM file for reading: IoError naming it when missing or unreadable.
BioPtr open_pem(const fs::path& path, const char* what) {
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw IoError(std::string(what) + " " + path.string() + " is missing or unreadable");
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) throw IoError(std::string(what) + " " + path.string() + " cannot be opened: " + openssl_error());
  return bio;
}

// A certificate's subject, RFC 2253 ("CN=till-07,O=Store 12").
std::string subject_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// TLS 1.2 suites: ECDHE (forward secrecy) with AES-GCM or ChaCha20-Poly1305 only.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Each handshake takes the credentials' current identity.
extern "C" int use_current_identity(SSL* ssl, void* arg) {
  const auto* creds = static_cast<const TlsCredentials*>(arg);
  const std::shared_ptr<const TlsIdentity> id = creds->current();
  if (!id) return 0;
  if (SSL_use_certificate(ssl, id->certificate()) != 1) return 0;
  if (SSL_use_PrivateKey(ssl, id->key()) != 1) return 0;
  if (SSL_set1_chain(ssl, id->chain()) != 1) return 0;
  return 1;
}

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> d{};
  unsigned int n = 0;
  if (EVP_Digest(text.data(), text.size(), d.data(), &n, EVP_sha256(), nullptr) != 1 || n != d.size()) {
    throw InternalError("SHA-256 failed: " + openssl_error());
  }
  return d;
}

}  // namespace

TlsIdentity::~TlsIdentity() {
  X509_free(cert_);
  EVP_PKEY_free(key_);
  if (chain_) sk_X509_pop_free(chain_, X509_free);
}

std::string TlsIdentity::serial_hex() const {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_), nullptr);
  if (!bn) return "";
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

std::string TlsIdentity::subject() const { return subject_of(cert_); }

int64_t TlsIdentity::not_after_unix() const {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert_), &tm) != 1) return 0;
  return static_cast<int64_t>(timegm(&tm));
}

std::shared_ptr<const TlsIdentity> TlsCredentials::load(const fs::path& cert, const fs::path& key) {
  std::shared_ptr<TlsIdentity> id(new TlsIdentity());
  {
    BioPtr bio = open_pem(cert, "TLS certificate");
    id->cert_ = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!id->cert_) {
      throw InvalidInput("TLS certificate " + cert.string() + " holds no PEM certificate: " + openssl_error());
    }
    id->chain_ = sk_X509_new_null();
    while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) sk_X509_push(id->chain_, extra);
    ERR_clear_error();  // the end of the file reads as an error
  }
  {
    BioPtr bio = open_pem(key, "TLS key");
    id->key_ = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (!id->key_) {
      throw InvalidInput("TLS key " + key.string() + " holds no PEM private key (or needs a passphrase): " +
                         openssl_error());
    }
  }
  if (X509_check_private_key(id->cert_, id->key_) != 1) {
    ERR_clear_error();
    throw InvalidInput("TLS key " + key.string() + " does not match the certificate " + cert.string());
  }
  return id;
}

TlsCredentials::TlsCredentials(fs::path cert, fs::path key)
    : cert_path_(std::move(cert)), key_path_(std::move(key)), identity_(load(cert_path_, key_path_)) {}

std::shared_ptr<const TlsIdentity> TlsCredentials::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return identity_;
}

std::shared_ptr<const TlsIdentity> TlsCredentials::reload() {
  auto fresh = load(cert_path_, key_path_);  // throws before anything changes
  std::lock_guard<std::mutex> lock(mu_);
  identity_ = fresh;
  return fresh;
}

std::string peer_subject(const SSL* ssl) {
  if (!ssl) return "";
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (!peer) return "";
  std::string subject = subject_of(peer);
  X509_free(peer);
  return subject;
}

void configure_server_tls(SSL_CTX* ctx, const TlsCredentials* credentials, const fs::path& client_ca) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) throw InternalError("TLS: " + openssl_error());
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) throw InternalError("TLS ciphers: " + openssl_error());
  const auto id = credentials->current();
  if (SSL_CTX_use_certificate(ctx, id->certificate()) != 1 || SSL_CTX_use_PrivateKey(ctx, id->key()) != 1) {
    throw InvalidInput("TLS certificate " + credentials->cert_path().string() + " is not usable: " + openssl_error());
  }
  SSL_CTX_set_cert_cb(ctx, use_current_identity, const_cast<TlsCredentials*>(credentials));
  if (client_ca.empty()) return;
  open_pem(client_ca, "TLS client CA");  // IoError naming it
  if (SSL_CTX_load_verify_locations(ctx, client_ca.c_str(), nullptr) != 1) {
    throw InvalidInput("TLS client CA " + client_ca.string() + " holds no PEM certificate: " + openssl_error());
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(client_ca.c_str());
  if (!names) throw InvalidInput("TLS client CA " + client_ca.string() + " holds no PEM certificate: " + openssl_error());
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
}

TlsContext::TlsContext(const fs::path& cert, const fs::path& key, const fs::path& client_ca)
    : credentials_(cert, key), ctx_(SSL_CTX_new(TLS_server_method()), SSL_CTX_free), client_ca_(client_ca) {
  if (!ctx_) throw IoError("serve: OpenSSL could not create a TLS context");
  configure_server_tls(ctx_.get(), &credentials_, client_ca_);
}

std::string TlsContext::describe() const {
  const auto id = identity();
  return "certificate " + id->subject() + " (serial " + id->serial_hex() + ", expires " +
         format_iso8601(id->not_after_unix() * 1000) + ")" +
         (client_ca_.empty() ? "" : "; client certificates required (" + client_ca_.string() + ")");
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  const auto da = sha256(a), db = sha256(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

void TokenSet::add(std::string_view token, const std::string& where) {
  if (token.size() < kMinLength) {
    throw InvalidInput(where + ": a token must be at least " + std::to_string(kMinLength) + " characters");
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') throw InvalidInput(where + ": a token must be printable ASCII without spaces");
  }
  digests_.push_back(sha256(token));
}

TokenSet TokenSet::from_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw IoError("token file " + path.string() + " is missing or unreadable");
  TokenSet set;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const size_t last = line.find_last_not_of(" \t");
    set.add(std::string_view(line).substr(first, last - first + 1), path.string() + " line " + std::to_string(n));
  }
  if (set.empty()) throw InvalidInput("token file " + path.string() + " holds no token");
  return set;
}

bool TokenSet::matches(std::string_view presented) const {
  const auto d = sha256(presented);
  int found = 0;
  for (const auto& t : digests_) found |= CRYPTO_memcmp(t.data(), d.data(), d.size()) == 0;
  return found != 0;
}

void ThrottleOptions::validate() const {
  if (max_failures < 1) throw InvalidInput("serve: --auth-max-failures must be >= 1");
  if (window_seconds < 1) throw InvalidInput("serve: auth failure window must be >= 1 second");
  if (block_seconds < 1) throw InvalidInput("serve: --auth-block-seconds must be >= 1");
}

AuthThrottle::AuthThrottle(ThrottleOptions options) : o_(options) { o_.validate(); }

std::optional<int> AuthThrottle::blocked(const std::string& address, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_address_.find(address);
  if (it == by_address_.end() || it->second.blocked_until <= now) return std::nullopt;
  // Whole seconds, rounded up: a client that waits that long is let in.
  const auto left = std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now).count();
  return static_cast<int>(std::max<int64_t>(1, left));
}

void AuthThrottle::failure(const std::string& address, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  constexpr size_t kMaxTracked = 10000;  // an address flood cannot grow this without bound
  if (by_address_.size() >= kMaxTracked) prune(now);
  Entry& e = by_address_[address];
  const auto window = std::chrono::seconds(o_.window_seconds);
  e.failures.erase(std::remove_if(e.failures.begin(), e.failures.end(), [&](auto t) { return now - t > window; }),
                   e.failures.end());
  e.failures.push_back(now);
  if (static_cast<int>(e.failures.size()) >= o_.max_failures) {
    constexpr int kMaxDoublings = 4;
    e.blocked_until = now + std::chrono::seconds(o_.block_seconds) * (1 << std::min(e.blocks, kMaxDoublings));
    ++e.blocks;
    e.failures.clear();
  }
}

void AuthThrottle::success(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  by_address_.erase(address);
}

size_t AuthThrottle::tracked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_address_.size();
}

void AuthThrottle::prune(Clock::time_point now) {
  const auto window = std::chrono::seconds(o_.window_seconds);
  for (auto it = by_address_.begin(); it != by_address_.end();) {
    const bool stale = it->second.blocked_until <= now &&
                       (it->second.failures.empty() || now - it->second.failures.back() > window);
    it = stale ? by_address_.erase(it) : std::next(it);
  }
}

}  // namespace agegate
