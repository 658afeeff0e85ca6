// What the service tests share: a model with random weights (speed and
// shapes do not depend on them), saved once per test process in its test's scratch folder.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agegate/data/image.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "test_support.h"

namespace agegate::testing {

// What a leak of these JPEG photos would look like in a log or a database:
// 12-byte runs of each file and of its decoded RGB pixels, raw, in base64
// (runs starting at multiples of 3, so they read the same inside a longer
// base64 text) and in hex (lower and upper case), from several places.
inline std::vector<std::string> photo_leak_needles(const std::vector<std::string>& jpegs) {
  constexpr size_t kRun = 12;
  std::vector<std::string> needles;
  auto add = [&](const std::string& bytes) {
    for (size_t k = 1; k <= 6; ++k) {
      const size_t at = (bytes.size() * k / 7) / 3 * 3;
      if (at + kRun > bytes.size()) continue;
      const std::string run = bytes.substr(at, kRun);
      needles.push_back(run);
      unsigned char b64[4 * kRun / 3 + 1];
      EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(run.data()), static_cast<int>(kRun));
      needles.emplace_back(reinterpret_cast<const char*>(b64), 4 * kRun / 3);
      std::string lower, upper;
      for (unsigned char ch : run) {
        lower += "0123456789abcdef"[ch >> 4];
        lower += "0123456789abcdef"[ch & 15];
        upper += "0123456789ABCDEF"[ch >> 4];
        upper += "0123456789ABCDEF"[ch & 15];
      }
      needles.push_back(lower);
      needles.push_back(upper);
    }
  };
  for (const auto& jpeg : jpegs) {
    add(jpeg.substr(2));  // past the SOI marker every JPEG shares
    const Image img = decode_image(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), "photo");
    add(std::string(img.rgb.begin(), img.rgb.end()));
  }
  return needles;
}

// A plain TCP connection to 127.0.0.1:port, or -1.
inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A model with random weights (a new draw each call) saved as `path`.
inline std::filesystem::path save_random_model(const std::filesystem::path& path, const std::string& backbone,
                                               int input_size, const std::string& created = "") {
  ModelConfig cfg;
  cfg.backbone = parse_backbone(backbone);
  AgeNet net(cfg);
  ModelInfo info;
  info.config = cfg;
  info.preprocess.input_size = input_size;
  if (!created.empty()) info.record.created = created;
  save_model_file(path, net, info);
  return path;
}

inline std::filesystem::path tiny_model() {
  // In the test's own scratch folder: tests running side by side (ctest -j)
  // never rewrite a file another one reads.
  static const std::filesystem::path p =
      save_random_model(testing::scratch_dir("serve-model") / "random.agm", "mobilenet_v2", 64);
  return p;
}

// A service on any free port with that model and one tensor thread (the
// tests change what they test from here).
inline ServerOptions tiny_server_options(DetectMode detect = DetectMode::kAuto) {
  ServerOptions o;
  o.port = 0;
  o.pipeline.model = tiny_model();
  o.pipeline.threads = 1;
  o.pipeline.detect = detect;
  return o;
}

}  // namespace agegate::testing
