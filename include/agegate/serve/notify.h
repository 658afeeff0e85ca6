// systemd's service protocol (sd_notify(3), through libsystemd) for
// `Type=notify` units: readiness once the model is loaded and the port
// listens, RELOADING/READY around a reload, STOPPING at the drain, and the
// watchdog fed while the service is healthy. Every call is a no-op when
// NOTIFY_SOCKET is unset (not started by systemd), so the service runs the
// same anywhere; tests set NOTIFY_SOCKET to a datagram socket they own.
#pragma once
#include <chrono>
#include <optional>
#include <string>

namespace agegate::service_manager {

void ready(const std::string& status);      // READY=1 + STATUS=
void reloading(const std::string& status);  // RELOADING=1 + MONOTONIC_USEC= + STATUS=
void stopping(const std::string& status);   // STOPPING=1 + STATUS=
void watchdog();                            // WATCHDOG=1
// The interval at which to feed the watchdog (half of WatchdogSec=), or
// nullopt when the manager asked for none (or asked another process).
std::optional<std::chrono::milliseconds> watchdog_interval();

}  // namespace agegate::service_manager
