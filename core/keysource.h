// Where candidate keys come from (DESIGN.md section 9). Each source yields
// keys with their origin; policy decides afterwards.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/account.h"
#include "core/authkeys.h"
#include "core/keystore.h"
#include "core/policy.h"
#include "core/result.h"

namespace skgate {

struct CandidateKey {
    PublicKey key;
    std::string comment;
    KeySource source = KeySource::local;
    std::string origin;               // "FILE:LINE"
    std::optional<StoredKey> stored;  // local store attributes
    KeyOptions user_options;          // authorized_keys: the options as written
    std::string original_line;        // authorized_keys: the line as written
};

struct SourceResult {
    std::vector<CandidateKey> keys;
    std::vector<std::string> warnings;
};

Result<SourceResult> keys_from_store(const KeyStore& store, const std::string& user);

// ~/.ssh/authorized_keys, read as sshd's StrictModes would accept it: owned
// by the user or root, not writable by group or others, nor any directory
// above it; never through a symlink. An unsafe or missing file yields no
// keys and a warning (sshd ignores such a file too).
SourceResult keys_from_authorized_keys(const Account& account);

// Options a user may keep on their own key: only ones that restrict it.
// touch-required, verify-required and their negations are policy's, and
// cert-authority, principals, environment and tunnel are dropped.
KeyOptions sanitize_user_options(const KeyOptions& options, std::vector<std::string>* dropped);

}  // namespace skgate
