// Cooperative Ctrl-C / SIGTERM: long loops poll interrupted() and stop
// cleanly (saving what they have) instead of dying mid-write.
#pragma once

namespace agegate {

// Installs SIGINT and SIGTERM handlers that set the flag. A second SIGINT
// restores the default handler, so pressing Ctrl-C twice still kills.
void install_interrupt_handler();
bool interrupted();
void clear_interrupt();

// SIGHUP: "reload your files" (the service's certificate and tokens). The
// handler only raises a flag; take_reload_request() reads and clears it.
void install_reload_handler();
bool take_reload_request();

}  // namespace agegate
