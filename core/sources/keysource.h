// Where candidate keys come from (DESIGN.md section 9). Each source yields
// keys with their origin; policy decides afterwards.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/policy/settings.h"
#include "core/ssh/authkeys.h"
#include "core/store/keystore.h"
#include "core/store/user_keyfiles.h"
#include "core/sys/account.h"
#include "core/sys/result.h"

namespace skgate {

struct CandidateKey {
    PublicKey key;
    std::string comment;
    KeySource source = KeySource::local;
    std::string origin;               // "FILE:LINE"
    std::optional<StoredKey> stored;  // local store attributes
    KeyOptions user_options;          // authorized_keys: the options as written
    std::string original_line;        // authorized_keys: the line as written
    // From the user's own files although authorized_keys is not in
    // KeySources: read because sshd would have read them before skgate
    // (audit mode, break-glass users), never allowed otherwise.
    bool outside_key_sources = false;
};

struct SourceResult {
    std::vector<CandidateKey> keys;
    std::vector<std::string> warnings;
};

Result<SourceResult> keys_from_store(const KeyStore& store, const std::string& user);

// The user's own authorized_keys files (see user_keyfiles.h), already read;
// lines that do not parse are skipped with a warning, as sshd skips them.
SourceResult keys_from_user_key_files(const UserKeyFiles& files);
// Reads them first, with the process's own identity.
SourceResult keys_from_authorized_keys(
    const Account& account, const std::vector<std::string>& patterns = kDefaultUserKeyFiles);

// Options a user may keep on their own key: only ones that restrict it.
// touch-required, verify-required and their negations are policy's, and
// cert-authority, principals, environment and tunnel are dropped.
KeyOptions sanitize_user_options(const KeyOptions& options, std::vector<std::string>* dropped);

}  // namespace skgate
