// SSHSIG (OpenSSH's PROTOCOL.sshsig): detached signatures with a namespace,
// used for step-up challenges. Verification is for security keys only.
#pragma once

#include <string>
#include <string_view>

#include "core/ssh/sksig.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr size_t kMaxSshsigBytes = 64 * 1024;

struct SshSig {
    PublicKey key;
    std::string ns;
    std::string hash_alg;  // "sha256" or "sha512"
    Bytes signature;       // an SSH signature blob

    static Result<SshSig> parse(ByteView blob);
    // "-----BEGIN SSH SIGNATURE-----" ... "-----END SSH SIGNATURE-----".
    static Result<SshSig> parse_armored(std::string_view text);
    Bytes serialize() const;
};

std::string sshsig_armor(ByteView blob);

// The blob a key signs for `message` under namespace `ns`: MAGIC, namespace,
// reserved, hash algorithm, H(message).
Result<Bytes> sshsig_signed_data(std::string_view ns, std::string_view hash_alg, ByteView message);

// Checks that `sig` is by a security key, for `expected_ns`, over `message`.
// Whether sig.key is acceptable for the user is the caller's decision.
Result<SkVerified> sshsig_verify(const SshSig& sig, ByteView message, std::string_view expected_ns);

}  // namespace skgate
