// X.509 certificates made with OpenSSL for attestation tests: a CA and the
// attestation certificates it signs.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <string>

#include "core/fido/attestation.h"
#include "core/sys/bytes.h"

namespace skgate::test {

struct TestCert {
    std::shared_ptr<EVP_PKEY> key;
    std::shared_ptr<X509> cert;
    Bytes der() const;
    std::string pem() const;
    // ECDSA-SHA256 in DER, as packed and fido-u2f statements carry it.
    Bytes sign(ByteView message) const;
};

// A self-signed CA (P-256).
TestCert make_ca(const std::string& cn);
// An attestation certificate signed by `issuer`, optionally carrying the
// FIDO AAGUID extension.
TestCert make_attestation_cert(const TestCert& issuer, const std::string& cn,
                               std::optional<Aaguid> aaguid = std::nullopt);

}  // namespace skgate::test
