// Writes the seed corpus of every fuzz target: fuzz_make_corpus OUT_DIR makes
// OUT_DIR/<target>/ with a few valid inputs of each kind. Images come from
// the test support's drawings (tests/support/camera_images.h), never from
// ../shared, so nothing of a real person is ever in a corpus.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "agegate/core/fs.h"
#include "agegate/data/image.h"
#include "agegate/model/age_net.h"
#include "agegate/model/model_file.h"
#include "camera_images.h"

namespace fs = std::filesystem;
using agegate::write_file_atomic;

namespace {
std::string str(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

void seed(const fs::path& dir, const std::string& name, const std::string& bytes) {
  write_file_atomic(dir / name, bytes);
}

std::string request(const std::string& method, const std::string& target, const std::string& type,
                    const std::string& body, const std::string& extra = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: till\r\n" + extra;
  if (!type.empty()) r += "Content-Type: " + type + "\r\n";
  if (method == "POST") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_corpus OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  const agegate::Image pattern = agegate::testing::test_pattern(40, 24);

  const fs::path images = out / "image";
  for (const auto& c : agegate::testing::camera_image_classes(pattern)) seed(images, c.name, str(c.bytes));
  seed(images, "tiny.png", str(agegate::encode_png(agegate::testing::test_pattern(1, 1))));
  seed(images, "thin.jpg", str(agegate::encode_jpeg(agegate::testing::test_pattern(120, 2))));

  const fs::path labels = out / "labels";
  seed(labels, "valid.csv", "file_name,real_age\n000000.jpg,4\n000001.jpg,18\n000002.jpg,80\n");
  seed(labels, "crlf-bom.csv", "\xEF\xBB\xBF" "file_name,real_age\r\n000000.jpg,4\r\n");
  seed(labels, "quoted.csv", "\"file_name\",\"real_age\"\n\"a,b.jpg\",\"30\"\n");
  seed(labels, "problems.csv", "file_name,real_age\nx.jpg,abc\ny.jpg\nz.jpg,200\n../up.jpg,3\nx.jpg,5\n");

  const fs::path policies = out / "policy";
  seed(policies, "default.json", R"({"legal_age": 18, "challenge_age": 25, "max_risk": 0.01, "interval_level": 0.9})");
  seed(policies, "partial.json", R"({"legal_age": 21})");
  seed(policies, "bad.json", R"({"legal_age": 30, "challenge_age": 25, "extra": true})");

  const fs::path models = out / "model_file";
  {
    agegate::ModelConfig cfg;
    agegate::AgeNet net(cfg);
    agegate::ModelInfo info;
    info.config = cfg;
    info.preprocess.input_size = 64;
    agegate::save_model_file(models / "random.agm", net, info);
    const std::string whole = agegate::read_file(models / "random.agm");
    seed(models, "head.agm", whole.substr(0, 4096));  // header and metadata: where parsing decides
  }

  const fs::path requests = out / "estimate";
  const std::string jpeg = str(agegate::encode_jpeg(pattern));
  const std::string png = str(agegate::encode_png(pattern));
  seed(requests, "estimate-jpeg", request("POST", "/v1/estimate", "image/jpeg", jpeg));
  seed(requests, "estimate-png-context",
       request("POST", "/v1/estimate?store=s1&lane=2", "image/png", png,
               "X-Agegate-Cashier: c7\r\nX-Agegate-Time: 2026-11-21T10:00:00Z\r\n"));
  seed(requests, "estimate-exif",
       request("POST", "/v1/estimate", "application/octet-stream",
               str(agegate::testing::jpeg_with_orientation(pattern, 6))));
  seed(requests, "sales", request("POST", "/v1/sales", "application/json",
                                  R"({"sales":[{"store":"s1","lane":"2","transaction":"t1","time":"2026-11-21T10:00:00Z","restricted":true}]})"));
  seed(requests, "recommendations", request("GET", "/v1/recommendations?age=34&k=3", "", ""));
  seed(requests, "health", request("GET", "/healthz", "", ""));
  seed(requests, "chunked",
       "POST /v1/estimate HTTP/1.1\r\nHost: till\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n" +
           [&] {
             char size[16];
             std::snprintf(size, sizeof size, "%zx", png.size());
             return std::string(size) + "\r\n" + png + "\r\n0\r\n\r\n";
           }());
  std::printf("seed corpus written to %s\n", out.c_str());
  return 0;
}
