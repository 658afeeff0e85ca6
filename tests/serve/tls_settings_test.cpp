// The service's TLS settings, pinned: a live TLS service is offered what it
// must refuse by OpenSSL clients built for the purpose (TLS 1.0 and 1.1, a
// CBC suite, client-initiated renegotiation), must deliver its certificate
// chain (a client that knows only the root verifies the leaf through the
// intermediate the service sends), and the context configure_server_tls()
// builds is read back (versions, suites, compression and renegotiation off).
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "agegate/core/fs.h"
#include "agegate/serve/security.h"
#include "agegate/serve/server.h"
#include "serve_fixture.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()), 0) << cmd;
}

// root CA -> intermediate CA -> server leaf; server.pem holds the leaf and the intermediate.
fs::path chained_pki() {
  const fs::path dir = testing::scratch_dir("tls-pki");
  const std::string d = "cd '" + dir.string() + "' && ";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
  sh(d + "openssl req -x509" + ec + "-keyout root.key -out root.pem -days 2 -subj '/CN=test root'");
  write_file_atomic(dir / "ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
  sh(d + "openssl req" + ec + "-keyout inter.key -out inter.csr -subj '/CN=test intermediate'");
  sh(d + "openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -set_serial 0x2001 -days 2 "
         "-extfile ca.ext -out inter.pem");
  write_file_atomic(dir / "san.ext", "subjectAltName=IP:127.0.0.1\n");
  sh(d + "openssl req" + ec + "-keyout server.key -out server.csr -subj '/CN=localhost'");
  sh(d + "openssl x509 -req -in server.csr -CA inter.pem -CAkey inter.key -set_serial 0x3001 -days 2 "
         "-extfile san.ext -out leaf.pem");
  sh(d + "cat leaf.pem inter.pem > server.pem");
  return dir;
}

struct Tls {
  fs::path pki = chained_pki();
  Server server{[this] {
    ServerOptions o = testing::tiny_server_options(DetectMode::kOff);
    o.tls_cert = pki / "server.pem";
    o.tls_key = pki / "server.key";
    return o;
  }()};
  Tls() { server.start(); }
  ~Tls() { server.stop(); }
};

int connect_to(int port) { return testing::connect_loopback(port); }

// A client handshake with `setup` applied to its context; returns "" on
// success (and the session in *out), else OpenSSL's reason for the failure.
struct Handshake {
  std::string error;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl{nullptr, SSL_free};
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{nullptr, SSL_CTX_free};
  int fd = -1;
  ~Handshake() {
    ssl.reset();
    if (fd >= 0) ::close(fd);
  }
};

template <typename Setup>
std::unique_ptr<Handshake> handshake(int port, Setup setup) {
  auto h = std::make_unique<Handshake>();
  h->ctx.reset(SSL_CTX_new(TLS_client_method()));
  setup(h->ctx.get());
  h->fd = connect_to(port);
  h->ssl.reset(SSL_new(h->ctx.get()));
  SSL_set_fd(h->ssl.get(), h->fd);
  ERR_clear_error();
  if (SSL_connect(h->ssl.get()) != 1) {
    char buf[256];
    const unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    h->error = e ? buf : "handshake failed";
  }
  return h;
}

// A client that offers only TLS 1.0 or 1.1 (security level 0, where OpenSSL 3
// still allows them): the service answers with a protocol-version alert.
TEST(ServerTls, RefusesTls10And11) {
  Tls t;
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    SCOPED_TRACE(version == TLS1_VERSION ? "TLS 1.0" : "TLS 1.1");
    auto h = handshake(t.server.port(), [&](SSL_CTX* c) {
      SSL_CTX_set_security_level(c, 0);
      SSL_CTX_set_min_proto_version(c, version);
      SSL_CTX_set_max_proto_version(c, version);
      SSL_CTX_set_cipher_list(c, "ALL:@SECLEVEL=0");
    });
    EXPECT_NE(h->error.find("alert protocol version"), std::string::npos) << h->error;
  }
}

// TLS 1.2 offering only a CBC suite with forward secrecy (the service's key
// is ECDSA, so static-RSA suites cannot be offered to it at all): refused
// with a handshake-failure alert. The same client offering an AEAD suite is let in.
TEST(ServerTls, RefusesCbcSuitesAndTakesAeadOnes) {
  Tls t;
  auto cbc = handshake(t.server.port(), [](SSL_CTX* c) {
    SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384");
  });
  EXPECT_NE(cbc->error.find("handshake failure"), std::string::npos) << cbc->error;
  auto gcm = handshake(t.server.port(), [](SSL_CTX* c) {
    SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_cipher_list(c, "ECDHE-ECDSA-AES128-GCM-SHA256");
  });
  EXPECT_EQ(gcm->error, "");
  EXPECT_EQ(std::string(SSL_get_cipher_name(gcm->ssl.get())), "ECDHE-ECDSA-AES128-GCM-SHA256");
}

// A client that trusts only the root verifies the service: the intermediate
// came with the leaf. Sent alone, the leaf would not verify.
TEST(ServerTls, DeliversTheCertificateChain) {
  Tls t;
  auto h = handshake(t.server.port(), [&](SSL_CTX* c) {
    ASSERT_EQ(SSL_CTX_load_verify_locations(c, (t.pki / "root.pem").c_str(), nullptr), 1);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  });
  EXPECT_EQ(h->error, "");
  EXPECT_EQ(SSL_get_verify_result(h->ssl.get()), X509_V_OK);
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(h->ssl.get());
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(sk_X509_num(chain), 2);  // leaf and intermediate
}

// TLS 1.2 client-initiated renegotiation: the service refuses it (a
// no-renegotiation alert ends the attempt); the client gets no new handshake.
TEST(ServerTls, RefusesClientRenegotiation) {
  Tls t;
  auto h = handshake(t.server.port(), [](SSL_CTX* c) { SSL_CTX_set_max_proto_version(c, TLS1_2_VERSION); });
  ASSERT_EQ(h->error, "");
  ASSERT_EQ(SSL_renegotiate(h->ssl.get()), 1);
  ERR_clear_error();
  const int rc = SSL_do_handshake(h->ssl.get());
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  EXPECT_NE(rc, 1);
  EXPECT_NE(std::string(buf).find("no renegotiation"), std::string::npos) << buf;
}

// What configure_server_tls() sets, read back from the context.
TEST(ServerTls, TheContextAllowsOnlyTls12And13WithForwardSecretAeadSuitesNoCompressionNoRenegotiation) {
  const fs::path pki = chained_pki();
  TlsCredentials creds(pki / "server.pem", pki / "server.key");
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  configure_server_tls(ctx.get(), &creds, {});
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  const uint64_t opts = SSL_CTX_get_options(ctx.get());
  EXPECT_TRUE(opts & SSL_OP_NO_COMPRESSION);
  EXPECT_TRUE(opts & SSL_OP_NO_RENEGOTIATION);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(ctx.get());
  ASSERT_GT(sk_SSL_CIPHER_num(ciphers), 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    SCOPED_TRACE(SSL_CIPHER_get_name(c));
    EXPECT_EQ(SSL_CIPHER_is_aead(c), 1);
    const int kx = SSL_CIPHER_get_kx_nid(c);
    EXPECT_TRUE(kx == NID_kx_ecdhe || kx == NID_kx_dhe || kx == NID_kx_any);  // any: TLS 1.3, always (EC)DHE
  }
}

}  // namespace
}  // namespace agegate
