// SHA-256 (FIPS 180-4) without OpenSSL.
//
// Why not OpenSSL: its first digest call initialises the provider machinery,
// and merely loading libcrypto costs about a millisecond; skgate-keys runs
// twice per login and must cost little more than starting a program
// (DESIGN.md section 12). Fingerprints are its only hash. The tests check
// this implementation against NIST's vectors and against OpenSSL on every
// length up to several blocks.
#pragma once

#include <array>
#include <cstdint>

#include "core/sys/bytes.h"

namespace skgate {

using Sha256 = std::array<uint8_t, 32>;

class Sha256Hasher {
  public:
    Sha256Hasher();
    void update(ByteView data);
    Sha256 finish();

  private:
    void block(const uint8_t* p);
    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_{};
    size_t used_ = 0;
    uint64_t total_ = 0;
};

Sha256 sha256(ByteView data);

}  // namespace skgate
