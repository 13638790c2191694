#include "agent/keyring.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "agent/passkey_page.h"
#include "core/fido/cbor_fields.h"
#include "core/sys/atomicfile.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"

namespace skgate::agent {

namespace {

constexpr size_t kMaxStateFile = 64 * 1024;
constexpr size_t kMaxKeys = 256;

Result<std::string> read_own_file(const std::string& path) {
    return read_trusted_file(path, FileRules::own_secret(kMaxStateFile));
}

Bytes encode_key_file(const AgentKey& key) {
    CborFields f;
    f.set(1, key.key.blob());
    f.set(2, key.key_handle);
    f.set(3, uint64_t{key.verify_required ? 1u : 0u});
    if (!key.device_id.empty())
        f.set(4, key.device_id);
    if (key.passkey)
        f.set(5, uint64_t{1});
    return f.encode();
}

std::string home_dir() {
    if (const char* h = std::getenv("HOME"); h && *h == '/')
        return h;
    if (passwd* pw = getpwuid(geteuid()); pw && pw->pw_dir)
        return pw->pw_dir;
    return "/";
}

}  // namespace

AgentPaths AgentPaths::from_environment() {
    if (const char* d = std::getenv("SKGATE_AGENT_DIR"); d && *d == '/')
        return {d};
    return {home_dir() + "/.skgate"};
}

Status AgentPaths::ensure() const {
    SKGATE_CHECK(ensure_directory(dir, FileOwner::self(0700)));
    SKGATE_CHECK(ensure_directory(keys(), FileOwner::self(0700)));
    SKGATE_CHECK(ensure_directory(pairings(), FileOwner::self(0700)));
    for (const auto& d : {dir, keys(), pairings()}) {
        struct stat st {};
        if (lstat(d.c_str(), &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077))
            return make_error(ErrorCode::permission,
                              d + " must be your own directory with mode 0700: chmod 700 " + d);
    }
    return {};
}

Status check_key_name(const std::string& name) {
    if (name.empty() || name.size() > kMaxKeyName || name[0] == '.' || name[0] == '-')
        return invalid("key name '" + name + "' must be 1.." + std::to_string(kMaxKeyName) +
                       " characters and not start with '.' or '-'");
    for (char c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            return invalid("key name '" + name + "' may hold only letters, digits, '.', '_', '-'");
    return {};
}

Result<std::vector<AgentKey>> load_keys(const AgentPaths& paths) {
    std::vector<AgentKey> out;
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(paths.keys().c_str()), closedir);
    if (!d) {
        if (errno == ENOENT)
            return out;
        return make_error(ErrorCode::io,
                          "cannot list " + paths.keys() + ": " + std::strerror(errno));
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d.get())) {
        std::string f = e->d_name;
        if (f.size() > 4 && f.ends_with(".key"))
            names.push_back(f.substr(0, f.size() - 4));
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        if (out.size() >= kMaxKeys)
            break;
        if (!check_key_name(name))
            continue;
        std::string path = paths.keys() + "/" + name + ".key";
        SKGATE_TRY(data, read_own_file(path));
        auto f = CborFields::parse(as_bytes(data));
        if (!f)
            return f.error().context(path);
        auto blob = f->get_bytes(1, "public key", kMaxKeyBlobBytes);
        auto passkey = f->has(5) ? f->get_uint(5, "passkey") : Result<uint64_t>(uint64_t{0});
        // A WebAuthn credential id may be up to 1023 bytes; a CTAP key
        // handle of skgate's authenticators is far shorter.
        auto handle = f->get_bytes(2, "key handle", passkey && *passkey ? 1023 : 128);
        auto uv = f->get_uint(3, "verify-required");
        auto device =
            f->has(4) ? f->get_bytes(4, "device id", kDeviceIdBytes) : Result<Bytes>(Bytes{});
        if (!blob || !handle || !uv || !device || !passkey || *passkey > 1 ||
            (f->has(4) && device->size() != kDeviceIdBytes) || (*passkey && f->has(4)))
            return invalid(path + ": malformed key file");
        auto key = PublicKey::parse_blob(*blob);
        if (!key || !key->is_security_key() || key->is_certificate())
            return invalid(path + ": the public key is not a security key");
        if (*passkey &&
            (key->algorithm() != KeyAlgorithm::sk_ecdsa_p256 || key->application() != kPasskeyRpId))
            return invalid(path + ": a passkey must be an ECDSA key for " + kPasskeyRpId);
        out.push_back({name, std::move(*key), std::move(*handle), *uv != 0, std::move(*device),
                       *passkey != 0});
    }
    return out;
}

Status check_new_key_name(const AgentPaths& paths, const std::string& name) {
    SKGATE_CHECK(check_key_name(name));
    std::string base = paths.keys() + "/" + name;
    struct stat st {};
    for (const char* ext : {".key", ".pub"})
        if (lstat((base + ext).c_str(), &st) == 0)
            return make_error(ErrorCode::permission,
                              "a key named '" + name + "' exists already; choose another name");
    return {};
}

Status save_key(const AgentPaths& paths, const AgentKey& key, ByteView attestation,
                ByteView challenge) {
    SKGATE_CHECK(check_new_key_name(paths, key.name));
    std::string base = paths.keys() + "/" + key.name;
    Bytes enc = encode_key_file(key);
    auto own = FileOwner::self(0600);
    SKGATE_CHECK(write_file_atomic(base + ".attestation", std::string(as_chars(attestation)), own));
    SKGATE_CHECK(write_file_atomic(base + ".challenge", std::string(as_chars(challenge)), own));
    SKGATE_CHECK(write_file_atomic(base + ".pub", key.key.to_text() + " skgate:" + key.name + "\n",
                                   FileOwner::self(0644)));
    // The .key file last: a key the agent offers always has its other files.
    return write_file_atomic(base + ".key", std::string(as_chars(enc)), own);
}

namespace {

Result<std::optional<PairingRecord>> load_pairing_file(const std::string& path) {
    auto data = read_own_file(path);
    if (!data) {
        if (data.error().code == ErrorCode::not_found)
            return std::optional<PairingRecord>();
        return data.error();
    }
    auto rec = PairingRecord::parse(as_bytes(*data));
    if (!rec)
        return rec.error().context(path);
    return std::optional<PairingRecord>(std::move(*rec));
}

std::string added_pairing_path(const AgentPaths& paths, ByteView device_id) {
    return paths.pairings() + "/" + hex_encode(device_id);
}

Status write_pairing(const std::string& path, const PairingRecord& record) {
    Bytes enc = record.serialize();
    return write_file_atomic(path, std::string(as_chars(enc)), FileOwner::self(0600));
}

// add, replace and remove read, check and write under one lock: two at once
// neither lose a device nor both take one name.
Result<FileLock> lock_pairings(const AgentPaths& paths) {
    return FileLock::acquire(paths.dir + "/pairings.lock");
}

Status remove_file(const std::string& path) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
        return make_error(ErrorCode::io, "cannot remove " + path + ": " + std::strerror(errno));
    return {};
}

// Before `pair` replaces the `pairing` file, the keys that were its
// device's without saying so (made before several devices) are recorded as
// that device's: `list` must not credit them to the new device.
Status record_legacy_keys(const AgentPaths& paths, ByteView device_id) {
    SKGATE_TRY(keys, load_keys(paths));
    for (auto& k : keys) {
        if (!k.device_id.empty())
            continue;
        k.device_id.assign(device_id.begin(), device_id.end());
        SKGATE_CHECK(write_file_atomic(paths.keys() + "/" + k.name + ".key",
                                       std::string(as_chars(encode_key_file(k))),
                                       FileOwner::self(0600)));
    }
    return {};
}

}  // namespace

Result<PairedDevices> load_pairings(const AgentPaths& paths) {
    PairedDevices out;
    SKGATE_TRY(primary, load_pairing_file(paths.pairing()));
    if (primary) {
        out.records.push_back(std::move(*primary));
        out.first_from_pairing_file = true;
    }
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(paths.pairings().c_str()), closedir);
    if (!d) {
        if (errno == ENOENT)
            return out;
        return make_error(ErrorCode::io,
                          "cannot list " + paths.pairings() + ": " + std::strerror(errno));
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d.get()))
        if (std::string f = e->d_name; f.size() == 2 * kDeviceIdBytes &&
                                       f.find_first_not_of("0123456789abcdef") == std::string::npos)
            names.push_back(f);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        if (out.records.size() >= kMaxPairedDevices)
            break;
        std::string path = paths.pairings() + "/" + name;
        SKGATE_TRY(rec, load_pairing_file(path));
        if (!rec)
            continue;  // removed since the listing
        if (hex_encode(rec->device_id) != name)
            return invalid(path + ": the record is of another device");
        if (out.by_id(rec->device_id))
            continue;  // `pair` made it the primary since
        out.records.push_back(std::move(*rec));
    }
    return out;
}

const PairingRecord* PairedDevices::by_id(ByteView device_id) const {
    for (const auto& r : records)
        if (equal_bytes(r.device_id, device_id))
            return &r;
    return nullptr;
}

std::string PairedDevices::names() const {
    std::string out;
    for (const auto& r : records)
        out += (out.empty() ? "'" : ", '") + r.device_name + "'";
    return out;
}

Result<const PairingRecord*> PairedDevices::named(const std::string& name) const {
    for (const auto& r : records)
        if (r.device_name == name)
            return &r;
    if (records.empty())
        return make_error(ErrorCode::not_found,
                          "no authenticator is paired (run `skgate-agent pair`)");
    return make_error(ErrorCode::not_found,
                      "no paired authenticator is called '" + name + "' (paired: " + names() + ")");
}

const PairingRecord* PairedDevices::recorded_for(const AgentKey& key) const {
    if (key.passkey)
        return nullptr;  // in the browser's hands, on no paired device
    if (!key.device_id.empty())
        return by_id(key.device_id);
    return first_from_pairing_file ? &records.front() : nullptr;
}

const PairingRecord* PairedDevices::holding(const AgentKey& key) const {
    if (key.passkey)
        return nullptr;
    if (const PairingRecord* d = recorded_for(key))
        return d;
    // Pairing the same authenticator again gives it a new device id: with
    // one device paired, every key is tried there, as before several
    // devices were possible (a device that does not hold the key refuses).
    return records.size() == 1 ? &records.front() : nullptr;
}

Status replace_pairings(const AgentPaths& paths, const PairingRecord& record) {
    SKGATE_TRY(lock, lock_pairings(paths));
    SKGATE_TRY(old, load_pairing_file(paths.pairing()));
    if (old && !equal_bytes(old->device_id, record.device_id))
        SKGATE_CHECK(record_legacy_keys(paths, old->device_id));
    // The others go first: a failure leaves them, never a half-replaced set
    // with the new device's record written and refused.
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(paths.pairings().c_str()), closedir);
    if (d) {
        std::vector<std::string> names;
        while (dirent* e = readdir(d.get()))
            if (e->d_name[0] != '.')
                names.push_back(e->d_name);
        for (const auto& name : names)
            SKGATE_CHECK(remove_file(paths.pairings() + "/" + name));
    } else if (errno != ENOENT) {
        return make_error(ErrorCode::io,
                          "cannot list " + paths.pairings() + ": " + std::strerror(errno));
    }
    return write_pairing(paths.pairing(), record);
}

Status add_pairing(const AgentPaths& paths, const PairingRecord& record) {
    SKGATE_TRY(lock, lock_pairings(paths));
    SKGATE_TRY(paired, load_pairings(paths));
    for (const auto& r : paired.records) {
        if (equal_bytes(r.device_id, record.device_id))
            return make_error(ErrorCode::permission, "this device is paired already");
        if (r.device_name == record.device_name)
            return make_error(ErrorCode::permission,
                              "an authenticator called '" + record.device_name +
                                  "' is paired already: unpair it (`skgate-agent unpair --device " +
                                  record.device_name +
                                  "`), or give this one another name on the authenticator");
    }
    if (paired.records.size() >= kMaxPairedDevices)
        return make_error(ErrorCode::permission, "this agent is paired with " +
                                                     std::to_string(kMaxPairedDevices) +
                                                     " authenticators, the most it takes");
    SKGATE_CHECK(ensure_directory(paths.pairings(), FileOwner::self(0700)));
    return write_pairing(added_pairing_path(paths, record.device_id), record);
}

Status remove_pairing(const AgentPaths& paths, const PairingRecord& record) {
    SKGATE_TRY(lock, lock_pairings(paths));
    // Wherever it is: a device in both places would otherwise stay paired.
    SKGATE_TRY(primary, load_pairing_file(paths.pairing()));
    if (primary && equal_bytes(primary->device_id, record.device_id))
        SKGATE_CHECK(remove_file(paths.pairing()));
    return remove_file(added_pairing_path(paths, record.device_id));
}

}  // namespace skgate::agent
