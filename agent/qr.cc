#include "agent/qr.h"

#include <qrencode.h>

#include <memory>

namespace skgate::agent {

Result<std::string> terminal_qr(const std::string& text) {
    std::unique_ptr<QRcode, void (*)(QRcode*)> qr(
        QRcode_encodeString8bit(text.c_str(), 0, QR_ECLEVEL_L), QRcode_free);
    if (!qr)
        return make_error(ErrorCode::internal, "cannot encode the QR code");
    const int w = qr->width, quiet = 2;
    auto dark = [&](int x, int y) {
        if (x < 0 || y < 0 || x >= w || y >= w)
            return false;
        return (qr->data[y * w + x] & 1) != 0;
    };
    // Light modules print as blocks so the code reads on dark terminals.
    std::string out;
    for (int y = -quiet; y < w + quiet; y += 2) {
        for (int x = -quiet; x < w + quiet; x++) {
            bool top = !dark(x, y), bottom = !dark(x, y + 1);
            out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
        }
        out += "\n";
    }
    return out;
}

}  // namespace skgate::agent
