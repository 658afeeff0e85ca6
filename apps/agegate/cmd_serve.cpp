// `agegate serve`: the HTTP service (see include/agegate/serve/server.h).
#ifdef AGEGATE_WITH_VISION
#include <chrono>
#include <memory>
#include <thread>
#include <string>

#include "agegate/core/interrupt.h"
#include "agegate/core/run_info.h"
#include "agegate/serve/server.h"
#include "command.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {

struct ServeArgs {
  ServerOptions server;  // every default lives there
  std::string detect = to_string(PipelineOptions{}.detect);
  bool no_calibration = false;
  int test_delay_ms = 0;  // hidden: each estimation sleeps first (process-level drain tests)
  PolicyArgs policy;
  FlipArg flip;
};

void setup(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "HTTP service: POST /v1/estimate, /v1/sales, /healthz, /readyz, /metrics");
  auto& o = a->server;
  cmd->add_option("--host", o.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o.port, "port (0 = any free port)")->capture_default_str();
  cmd->add_option("--threads", o.threads, "estimations running at once")->capture_default_str();
  cmd->add_option("--max-queue", o.max_queue, "estimations waiting; beyond this: 503")->capture_default_str();
  cmd->add_option("--max-connections", o.max_connections, "connections open at once; beyond: closed at once")
      ->capture_default_str();
  cmd->add_option("--read-deadline-ms", o.read_deadline_ms,
                  "a request (line, headers, body) must arrive whole within this")
      ->capture_default_str();
  cmd->add_option("--keep-alive-ms", o.keep_alive_ms, "idle time allowed between requests on one connection")
      ->capture_default_str();
  cmd->add_option("--keep-alive-requests", o.keep_alive_requests, "requests per connection")->capture_default_str();
  cmd->add_option("--max-body-bytes", o.max_body_bytes, "largest request body")->capture_default_str();
  cmd->add_option("--max-pixels", o.max_pixels, "largest image (width x height)")->capture_default_str();
  cmd->add_option("--timeout-ms", o.request_timeout_ms, "time limit per request")->capture_default_str();
  cmd->add_option("--torch-threads", o.pipeline.threads, "tensor and OpenCV threads per estimation (0 = cores / --threads)")->capture_default_str();
  cmd->add_option("--token", o.token,
                  "require Authorization: Bearer <token>, 16+ characters (prefer AGEGATE_TOKEN or --token-file: "
                  "a command line is visible to other users)")
      ->envname("AGEGATE_TOKEN");
  cmd->add_option("--token-file", o.token_file,
                  "accepted bearer tokens, one per line ('#' comments); several for rotation; re-read on SIGHUP")
      ->envname("AGEGATE_TOKEN_FILE");
  cmd->add_option("--auth-max-failures", o.auth.max_failures,
                  "failed authentications from one address within a minute before it gets 429")
      ->capture_default_str();
  cmd->add_option("--auth-block-seconds", o.auth.block_seconds,
                  "how long such an address is refused (doubles while it keeps failing)")
      ->capture_default_str();
  CLI::Option* cert = cmd->add_option("--tls-cert", o.tls_cert, "PEM certificate (chain): serve HTTPS only; re-read on SIGHUP");
  CLI::Option* key = cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert; re-read on SIGHUP");
  cert->needs(key);
  key->needs(cert);
  cmd->add_option("--tls-client-ca", o.tls_client_ca,
                  "PEM CA: accept only terminals with a client certificate it signed (mutual TLS)")
      ->needs(cert);
  cmd->add_option("--admin-port", o.admin_port,
                  "serve /healthz, /readyz and /metrics on this plain-HTTP port instead (0 = any free port)");
  cmd->add_option("--admin-host", o.admin_host, "address of --admin-port")->capture_default_str();
  cmd->add_option("--db", o.db, "record checkout events and sales: sqlite:PATH or postgresql://... (also AGEGATE_DB)")
      ->envname("AGEGATE_DB");
  cmd->add_option("--retention-days", o.retention_days, "prune records older than this, hourly (0 = keep)")
      ->capture_default_str();
  cmd->add_option("--recommendations", o.recommendations,
                  "answer GET /v1/recommendations from this recommendations.json (written by agegate insights)");
  cmd->add_option("--model", o.pipeline.model, "model file (.agm)")->default_str(default_model_path().string());
  cmd->add_option("--detect", a->detect, "auto|on|off: find faces in raw camera photos")->capture_default_str();
  cmd->add_flag("--no-calibration", a->no_calibration, "use the raw distribution (temperature 1)");
  a->policy.add_to(cmd);
  a->flip.add_to(cmd);
  cmd->add_option("--test-delay-ms", a->test_delay_ms, "tests only: slow every estimation down")->group("");
  cmd->add_flag("--reference-path", o.reference_path, "benchmarks only: the service before the speed work")->group("");
  cmd->callback([a] {
    ServerOptions o = a->server;
    o.pipeline.detect = parse_detect_mode(a->detect);
    o.pipeline.flip_average = a->flip.get();
    o.pipeline.policy = a->policy.resolve(o.pipeline.model.empty() ? default_model_path() : o.pipeline.model,
                                          o.pipeline.flip_average);
    o.pipeline.calibrated = !a->no_calibration;
    install_interrupt_handler();
    install_reload_handler();
    Server server(o);
    if (a->test_delay_ms > 0) {
      server.set_test_hook([ms = a->test_delay_ms] { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); });
    }
    server.start();
    server.run_until_interrupted();
    set_exit_code(kOk);
  });
}

}  // namespace
AGEGATE_COMMAND(60, setup);
}  // namespace agegate::cli
#endif
