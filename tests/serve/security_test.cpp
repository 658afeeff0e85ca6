// The service's security: HTTPS only with the test's own certificates (made
// with Debian's openssl tool), client certificates, a certificate renewed
// on SIGHUP, tokens compared in constant time and rotated, repeated
// failures slowed down, headers, the admin port, and an unprivileged run.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <sys/stat.h>
#include <unistd.h>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/serve/security.h"
#include "agegate/serve/server.h"
#include "agegate/store/store.h"
#include "serve_fixture.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::tiny_model;

void sh(const std::string& cmd) {
  ASSERT_EQ(std::system(("set -e; " + cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
}

// A CA, a server certificate for 127.0.0.1 signed by it, a till's client
// certificate signed by it, and a second CA with its own "till".
struct Pki {
  fs::path dir;
  explicit Pki(const std::string& name) : dir(testing::scratch_dir(name)) {
    const std::string d = "cd '" + dir.string() + "' && ";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ";
    sh(d + "openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 2 -subj '/CN=test CA'");
    sh(d + "openssl req -x509" + ec + "-keyout other-ca.key -out other-ca.pem -days 2 -subj '/CN=other CA'");
    write_file_atomic(dir / "san.ext", "subjectAltName=IP:127.0.0.1\n");
    issue("server", "/CN=localhost", "ca", true);
    issue("till", "/O=Store 12/CN=till-07", "ca", false);
    issue("stranger", "/CN=till-99", "other-ca", false);
  }
  // name.key + name.pem signed by `ca`; a new serial every time.
  void issue(const std::string& name, const std::string& subject, const std::string& ca, bool server) {
    const std::string d = "cd '" + dir.string() + "' && ";
    sh(d + "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name + ".key -out " + name +
       ".csr -subj '" + subject + "'");
    sh(d + "openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca + ".key -set_serial 0x" +
       std::to_string(1000 + std::rand() % 1000000) + " -out " + name + ".pem -days 2" +
       (server ? " -extfile san.ext" : ""));
  }
  fs::path operator/(const std::string& f) const { return dir / f; }
};

ServerOptions tls_options(const Pki& pki) {
  ServerOptions o = testing::tiny_server_options(DetectMode::kOff);
  o.tls_cert = pki / "server.pem";
  o.tls_key = pki / "server.key";
  return o;
}

std::unique_ptr<httplib::SSLClient> client(const Pki& pki, int port, const std::string& who = "") {
  auto c = who.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port)
                       : std::make_unique<httplib::SSLClient>("127.0.0.1", port, (pki / (who + ".pem")).string(),
                                                              (pki / (who + ".key")).string());
  c->set_ca_cert_path((pki / "ca.pem").c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(5);
  return c;
}

std::string photo() { return read_file(testing::real_photo(2).first); }

TEST(Tls, HttpsAnswersAndPlainHttpOnTheSamePortFails) {
  Pki pki("pki");
  Server s(tls_options(pki));
  s.start();
  auto c = client(pki, s.port());
  auto r = c->Post("/v1/estimate", photo(), "image/jpeg");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(json::parse(r->body)["faces"].size(), 1u);
  // The same port in clear: no HTTP answer.
  httplib::Client plain("127.0.0.1", s.port());
  plain.set_connection_timeout(5);
  plain.set_read_timeout(5);
  auto p = plain.Get("/healthz");
  EXPECT_FALSE(p && p->status == 200);
  // A client that does not trust our CA refuses the server.
  httplib::SSLClient stranger("127.0.0.1", s.port());
  stranger.set_ca_cert_path((pki / "other-ca.pem").c_str());
  stranger.enable_server_certificate_verification(true);
  EXPECT_FALSE(stranger.Get("/healthz"));
}

TEST(Tls, OnlyTerminalsOurCaSignedGetThroughAndTheirSubjectIsRecorded) {
  Pki pki("pki");
  ServerOptions o = tls_options(pki);
  o.tls_client_ca = pki / "ca.pem";
  const fs::path db = testing::scratch_dir("db") / "events.sqlite";
  o.db = "sqlite:" + db.string();
  Server s(o);
  s.start();
  auto none = client(pki, s.port());
  EXPECT_FALSE(none->Get("/healthz")) << "no client certificate, yet the handshake passed";
  auto stranger = client(pki, s.port(), "stranger");
  EXPECT_FALSE(stranger->Get("/healthz")) << "a certificate from another CA passed";
  auto till = client(pki, s.port(), "till");
  auto r = till->Post("/v1/estimate?store=S12&lane=7", photo(), "image/jpeg");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(json::parse(r->body)["recorded"].get<bool>());
  s.stop();
  auto store = Store::open(o.db);
  const auto events = store->events({});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].terminal, "CN=till-07,O=Store 12");  // RFC 2253: the last RDN first
}

template <typename E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no " + std::string(typeid(E).name()) + ")";
}

TEST(Tls, BadCertificatesAndKeysAreNamed) {
  Pki pki("pki");
  ServerOptions o = tls_options(pki);
  o.tls_cert = pki / "missing.pem";
  EXPECT_NE(error_of<IoError>([&] { Server s(o); }).find("missing.pem"), std::string::npos);
  write_file_atomic(pki / "garbage.pem", "not a certificate\n");
  o.tls_cert = pki / "garbage.pem";
  EXPECT_NE(error_of<InvalidInput>([&] { Server s(o); }).find("garbage.pem holds no PEM certificate"),
            std::string::npos);
  o = tls_options(pki);
  o.tls_key = pki / "till.key";  // another certificate's key
  const std::string mismatch = error_of<InvalidInput>([&] { Server s(o); });
  EXPECT_NE(mismatch.find("till.key does not match the certificate"), std::string::npos) << mismatch;
  EXPECT_NE(mismatch.find("server.pem"), std::string::npos) << mismatch;
  o = tls_options(pki);
  o.tls_client_ca = pki / "garbage.pem";
  EXPECT_NE(error_of<InvalidInput>([&] { Server s(o); }).find("garbage.pem"), std::string::npos);
  o = tls_options(pki);
  o.tls_key.clear();
  EXPECT_NE(error_of<InvalidInput>([&] { Server s(o); }).find("go together"), std::string::npos);
}

// The TLS context as one part: built over the files, described for the
// log, reloaded in place, and a broken renewal refused keeping the identity.
TEST(Tls, TheContextLoadsDescribesAndReloadsItsCertificate) {
  Pki pki("pki-context");
  TlsContext plain(pki / "server.pem", pki / "server.key", "");
  ASSERT_NE(plain.ctx(), nullptr);
  EXPECT_FALSE(plain.client_certificates());
  const auto first = plain.identity();
  EXPECT_EQ(first->subject(), "CN=localhost");
  EXPECT_NE(plain.describe().find("certificate CN=localhost (serial " + first->serial_hex() + ", expires 20"),
            std::string::npos) << plain.describe();
  TlsContext mutual(pki / "server.pem", pki / "server.key", pki / "ca.pem");
  EXPECT_TRUE(mutual.client_certificates());
  EXPECT_NE(mutual.describe().find("client certificates required (" + (pki / "ca.pem").string() + ")"),
            std::string::npos) << mutual.describe();
  // A renewal: new files under the same names, then reload().
  pki.issue("server", "/CN=localhost", "ca", true);
  const auto renewed = plain.reload();
  EXPECT_NE(renewed->serial_hex(), first->serial_hex());
  EXPECT_EQ(plain.identity()->serial_hex(), renewed->serial_hex());
  // A broken renewal throws and the renewed identity stays.
  write_file_atomic(pki / "server.pem", "not a certificate\n");
  EXPECT_THROW(plain.reload(), InvalidInput);
  EXPECT_EQ(plain.identity()->serial_hex(), renewed->serial_hex());
  EXPECT_THROW(TlsContext(pki / "server.pem", pki / "server.key", ""), InvalidInput);
}

std::string served_serial(int port) {
  const fs::path out = testing::scratch_dir("serial") / "serial";
  const std::string cmd = "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " </dev/null 2>/dev/null | openssl x509 -noout -serial > '" + out.string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "";
  std::string s = read_file(out);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Renewal: the files are replaced and SIGHUP sent; the next handshake shows
// the new serial, and the service never stopped. A broken renewal is
// refused and the old certificate stays.
TEST(TlsProcess, SighupPicksUpARenewedCertificate) {
  Pki pki("pki");
  testing::AgegateProcess serve({"serve", "--port", "0", "--detect", "off", "--torch-threads", "1", "--tls-cert",
                                 (pki / "server.pem").string(), "--tls-key", (pki / "server.key").string(), "--model",
                                 tiny_model().string()},
                                testing::scratch_dir("work"));
  const int port = testing::serve_port_from_log(serve.wait_for_stderr("serving on https://"));
  ASSERT_GT(port, 0) << serve.err();
  const std::string before = served_serial(port);
  ASSERT_EQ(before.rfind("serial=", 0), 0u) << before;
  pki.issue("server", "/CN=localhost", "ca", true);
  serve.signal(SIGHUP);
  std::string after = before;
  for (int i = 0; i < 50 && after == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = served_serial(port);
  }
  EXPECT_NE(after, before) << serve.err();
  EXPECT_EQ(after.rfind("serial=", 0), 0u) << after;
  // A key that does not fit: logged, refused, the renewed certificate stays.
  fs::copy_file(pki / "till.key", pki / "server.key", fs::copy_options::overwrite_existing);
  serve.signal(SIGHUP);
  serve.wait_for_stderr("not reloaded", 10);
  EXPECT_NE(serve.err().find("does not match"), std::string::npos) << serve.err();
  EXPECT_EQ(served_serial(port), after);
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(30), 0) << serve.err();
}

TEST(Tokens, ConstantTimeEqualComparesWholeValues) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));  // a prefix is not equal
  EXPECT_FALSE(constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));  // not C strings
}

TEST(Tokens, EveryTokenOfTheSetMatchesAndNothingElse) {
  TokenSet t;
  t.add("first-token-0123456789", "test");
  t.add("second-token-0123456789", "test");
  EXPECT_TRUE(t.matches("first-token-0123456789"));
  EXPECT_TRUE(t.matches("second-token-0123456789"));
  EXPECT_FALSE(t.matches("first-token-012345678"));
  EXPECT_FALSE(t.matches("first-token-01234567890"));
  EXPECT_FALSE(t.matches(""));
  EXPECT_FALSE(TokenSet().matches(""));
  // Refusals name where, never the token.
  const std::string shortish = error_of<InvalidInput>([&] { t.add("short-secret", "flag"); });
  EXPECT_NE(shortish.find("at least 16"), std::string::npos);
  EXPECT_EQ(shortish.find("short-secret"), std::string::npos);
  const fs::path f = testing::scratch_dir("tokens") / "tokens.txt";
  write_file_atomic(f, "# rotation: the new one first\n\nnew-token-0123456789abc\r\n  old-token-0123456789abc  \n");
  const TokenSet from = TokenSet::from_file(f);
  EXPECT_EQ(from.size(), 2u);
  EXPECT_TRUE(from.matches("old-token-0123456789abc"));
  write_file_atomic(f, "good-token-0123456789\nbad token with spaces 01234\n");
  const std::string bad = error_of<InvalidInput>([&] { TokenSet::from_file(f); });
  EXPECT_NE(bad.find("tokens.txt line 2"), std::string::npos) << bad;
  EXPECT_EQ(bad.find("bad token"), std::string::npos) << bad;
  write_file_atomic(f, "# nothing\n");
  EXPECT_THROW(TokenSet::from_file(f), InvalidInput);
  EXPECT_THROW(TokenSet::from_file(f.parent_path() / "none.txt"), IoError);
}

TEST(Tokens, ThrottleBlocksAfterRepeatedFailuresAndDoubles) {
  AuthThrottle t({3, 60, 10});
  const auto t0 = AuthThrottle::Clock::now();
  t.failure("10.0.0.5", t0);
  t.failure("10.0.0.5", t0);
  EXPECT_FALSE(t.blocked("10.0.0.5", t0));
  t.failure("10.0.0.5", t0);
  ASSERT_TRUE(t.blocked("10.0.0.5", t0));
  EXPECT_EQ(*t.blocked("10.0.0.5", t0), 10);
  EXPECT_FALSE(t.blocked("10.0.0.6", t0));    // other addresses are not touched
  const auto later = t0 + std::chrono::seconds(11);
  EXPECT_FALSE(t.blocked("10.0.0.5", later));
  for (int i = 0; i < 3; ++i) t.failure("10.0.0.5", later);
  EXPECT_GE(*t.blocked("10.0.0.5", later), 20);  // the second block in a row lasts twice as long
  t.success("10.0.0.5");
  EXPECT_FALSE(t.blocked("10.0.0.5", later));
  // Failures spread wider than the window do not add up.
  AuthThrottle w({3, 60, 10});
  for (int i = 0; i < 6; ++i) w.failure("a", t0 + std::chrono::seconds(61 * i));
  EXPECT_FALSE(w.blocked("a", t0 + std::chrono::seconds(61 * 5)));
}

ServerOptions plain_options() { return testing::tiny_server_options(DetectMode::kOff); }

TEST(Tokens, WrongTokensGet401Then429AndTheBlockEnds) {
  ServerOptions o = plain_options();
  o.token = "right-token-0123456789";
  o.auth = {3, 60, 1};
  Server s(o);
  s.start();
  httplib::Client c("127.0.0.1", s.port());
  const httplib::Headers wrong{{"Authorization", "Bearer wrong-token-0123456789"}};
  const httplib::Headers right{{"Authorization", "Bearer right-token-0123456789"}};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.Get("/v1/recommendations?age=30", wrong)->status, 401) << i;
  auto blocked = c.Post("/v1/estimate", right, photo(), "image/jpeg");
  ASSERT_TRUE(blocked);
  EXPECT_EQ(blocked->status, 429);  // even the right token waits out the block
  EXPECT_EQ(blocked->get_header_value("Retry-After"), "1");  // whole seconds, rounded up
  EXPECT_EQ(json::parse(blocked->body)["error"]["code"], "too_many_failures");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto ok = c.Post("/v1/estimate", right, photo(), "image/jpeg");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  // Neither the token nor any part of it is in what the service says.
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_EQ(metrics.find("token"), std::string::npos);
  EXPECT_EQ(blocked->body.find("right-token"), std::string::npos);
}

TEST(Tokens, ATokenFileRotatesOnReloadAndABadOneKeepsTheOld) {
  const fs::path f = testing::scratch_dir("tokens") / "tokens.txt";
  write_file_atomic(f, "old-token-0123456789ab\n");
  ServerOptions o = plain_options();
  o.token_file = f;
  Server s(o);
  s.start();
  httplib::Client c("127.0.0.1", s.port());
  const httplib::Headers old_t{{"Authorization", "Bearer old-token-0123456789ab"}};
  const httplib::Headers new_t{{"Authorization", "Bearer new-token-0123456789ab"}};
  EXPECT_EQ(c.Post("/v1/estimate", new_t, photo(), "image/jpeg")->status, 401);
  write_file_atomic(f, "new-token-0123456789ab\nold-token-0123456789ab\n");
  s.reload();
  EXPECT_EQ(c.Post("/v1/estimate", new_t, photo(), "image/jpeg")->status, 200);
  EXPECT_EQ(c.Post("/v1/estimate", old_t, photo(), "image/jpeg")->status, 200);
  write_file_atomic(f, "short\n");
  EXPECT_THROW(s.reload(), InvalidInput);
  EXPECT_EQ(c.Post("/v1/estimate", new_t, photo(), "image/jpeg")->status, 200);
}

TEST(Serve, HealthAndMetricsCanMoveToALocalAdminPort) {
  ServerOptions o = plain_options();
  o.admin_port = 0;
  Server s(o);
  s.start();
  ASSERT_GT(s.admin_port(), 0);
  httplib::Client main_port("127.0.0.1", s.port()), admin("127.0.0.1", s.admin_port());
  EXPECT_EQ(main_port.Get("/metrics")->status, 404);
  EXPECT_EQ(main_port.Get("/healthz")->status, 404);
  auto r = main_port.Post("/v1/estimate", photo(), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(admin.Get("/healthz")->status, 200);
  EXPECT_EQ(admin.Get("/readyz")->status, 200);
  EXPECT_EQ(admin.Post("/v1/estimate", photo(), "image/jpeg")->status, 404);  // photos never go there
  std::string m;
  for (int i = 0; i < 50 && m.find("route=\"/v1/estimate\",status=\"200\"} 1") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    m = admin.Get("/metrics")->body;
  }
  EXPECT_NE(m.find("route=\"/v1/estimate\",status=\"200\"} 1"), std::string::npos) << m;
  ServerOptions same = plain_options();
  same.port = same.admin_port = 8123;
  EXPECT_THROW(same.validate(), InvalidInput);
}

// As `nobody`, in a folder it cannot write, with HOME and TMPDIR there too:
// a TLS service with a token file starts, answers, and stops cleanly.
TEST(ServeProcess, RunsAsAnUnprivilegedUserWithoutWriteAccess) {
  AGEGATE_REQUIRE(geteuid() == 0, "not root (needed to drop to nobody)");
  constexpr int kNobody = 65534;
  Pki pki("pki");
  // Everything the service reads lies where nobody can reach it whatever
  // folder the checkout is in (a clone under /root is closed to other users).
  char tmpl[] = "/tmp/agegate-nobody-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path open_dir = tmpl;
  chmod(open_dir.c_str(), 0755);
  fs::copy_file(AGEGATE_TEST_AGEGATE_EXE, open_dir / "agegate");
  fs::copy_file(tiny_model(), open_dir / "model.agm");
  chmod((open_dir / "agegate").c_str(), 0755);
  chmod((open_dir / "model.agm").c_str(), 0644);
  const fs::path ro = open_dir / "readonly";
  fs::create_directories(ro);
  write_file_atomic(ro / "tokens.txt", "till-token-0123456789ab\n");
  chmod((ro / "tokens.txt").c_str(), 0444);
  for (const char* f : {"server.pem", "server.key"}) fs::copy_file(pki / f, ro / f);
  chmod((ro / "server.pem").c_str(), 0444);
  chmod((ro / "server.key").c_str(), 0444);  // readable by the service (a real one would chgrp it)
  chmod(ro.c_str(), 0555);
  testing::AgegateProcess serve({"serve", "--port", "0", "--detect", "off", "--torch-threads", "1", "--tls-cert",
                                 (ro / "server.pem").string(), "--tls-key", (ro / "server.key").string(),
                                 "--token-file", (ro / "tokens.txt").string(), "--model", (open_dir / "model.agm").string()},
                                ro, {"HOME=" + ro.string(), "TMPDIR=" + ro.string()}, kNobody, open_dir / "agegate");
  const int port = testing::serve_port_from_log(serve.wait_for_stderr("serving on https://"));
  ASSERT_GT(port, 0) << serve.err();
  auto c = client(pki, port);
  auto r = c->Post("/v1/estimate", httplib::Headers{{"Authorization", "Bearer till-token-0123456789ab"}}, photo(),
                  "image/jpeg");
  ASSERT_TRUE(r) << serve.err();
  EXPECT_EQ(r->status, 200);
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(30), 0) << serve.err();
  const std::string log = serve.err();
  EXPECT_EQ(log.find("till-token"), std::string::npos) << "the token reached the log";
  chmod(ro.c_str(), 0755);
  fs::remove_all(open_dir);
}

}  // namespace
}  // namespace agegate
