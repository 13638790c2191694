// The pairing URI as a QR code for a terminal (libqrencode), two modules per
// character cell with Unicode half blocks, and a quiet zone.
#pragma once

#include <string>

#include "core/sys/result.h"

namespace skgate::agent {

Result<std::string> terminal_qr(const std::string& text);

}  // namespace skgate::agent
