#include "core/ssh/krl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/ssh/wire.h"
#include "core/sys/safefile.h"

namespace skgate {

namespace {

constexpr uint64_t kKrlMagic = 0x5353484b524c0a00ULL;  // "SSHKRL\n\0"
constexpr uint32_t kKrlFormatVersion = 1;
constexpr uint8_t kSectionFingerprintSha256 = 5;
// The header up to the comment, with an empty reserved field.
constexpr size_t kMaxHeaderBytes = 8 + 4 + 8 + 8 + 8 + 4 + 4 + 4096;
// 10 million keys: far more than any fleet, far less than a disk.
constexpr size_t kMaxEntries = 10'000'000;

struct Layout {
    uint64_t version = 0;
    std::string comment;
    uint64_t entries_offset = 0;  // 0: no section
    size_t count = 0;
};

// The header and where the one section's entries are; `total` is the file
// size, `head` its first bytes (at least the header and section prefix).
Result<Layout> parse_layout(ByteView head, uint64_t total) {
    WireReader r(head);
    auto bad = [](const std::string& why) {
        return invalid("not a KRL skgate wrote: " + why +
                       " (skgatectl revoke --rebuild-index writes skgate's from the list, once "
                       "this one is moved away)");
    };
    auto magic = r.read_u64();
    if (!magic || *magic != kKrlMagic)
        return bad("wrong magic");
    auto format = r.read_u32();
    if (!format || *format != kKrlFormatVersion)
        return bad("unknown format version");
    auto version = r.read_u64();
    auto generated = r.read_u64();
    auto flags = r.read_u64();
    auto reserved = r.read_string();
    auto comment = r.read_string();
    if (!version || !generated || !flags || !reserved || !comment)
        return bad("truncated header");
    if (*flags != 0)
        return bad("unknown flags");
    Layout out;
    out.version = *version;
    out.comment.assign(reinterpret_cast<const char*>(comment->data()), comment->size());
    size_t header = head.size() - r.remaining();
    if (header == total)
        return out;  // no section: nothing is revoked
    auto type = r.read_u8();
    auto length = r.read_u32();
    if (!type || !length)
        return bad("truncated section");
    if (*type != kSectionFingerprintSha256)
        return bad("a section other than SHA256 fingerprints");
    uint64_t offset = header + 1 + 4;
    if (offset + *length != total)
        return bad("a section that does not end at the end of the file");
    if (*length == 0 || *length % kKrlHashEntryBytes != 0 ||
        *length / kKrlHashEntryBytes > kMaxEntries)
        return bad("a section that is not a list of SHA256 hashes");
    out.entries_offset = offset;
    out.count = *length / kKrlHashEntryBytes;
    return out;
}

// Each entry is "string hash" with a 32-byte hash: its length prefix must say so.
bool entry_hash(ByteView entry, Sha256* out) {
    static constexpr uint8_t kPrefix[4] = {0, 0, 0, 32};
    if (entry.size() != kKrlHashEntryBytes || std::memcmp(entry.data(), kPrefix, 4) != 0)
        return false;
    std::memcpy(out->data(), entry.data() + 4, 32);
    return true;
}

Status pread_all(int fd, uint8_t* buf, size_t n, uint64_t offset, const std::string& path) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return make_error(ErrorCode::io, "cannot read " + path +
                                                 (r < 0 ? ": " + std::string(std::strerror(errno))
                                                        : ": truncated"));
        got += static_cast<size_t>(r);
    }
    return {};
}

}  // namespace

Bytes krl_encode(std::vector<Sha256> hashes, uint64_t krl_version, uint64_t generated_date,
                 const std::string& comment) {
    std::sort(hashes.begin(), hashes.end());
    hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
    WireWriter w;
    w.put_u64(kKrlMagic);
    w.put_u32(kKrlFormatVersion);
    w.put_u64(krl_version);
    w.put_u64(generated_date);
    w.put_u64(0);
    w.put_string(std::string_view());
    w.put_string(comment);
    // sshd requires at least one hash in a section: an empty list has none.
    if (!hashes.empty()) {
        WireWriter section;
        for (const auto& h : hashes)
            section.put_string(ByteView(h.data(), h.size()));
        w.put_u8(kSectionFingerprintSha256);
        w.put_string(section.bytes());
    }
    return w.bytes();
}

Status KrlIndex::validate(ByteView krl) {
    SKGATE_TRY(layout,
               parse_layout(krl.subspan(0, std::min(krl.size(), kMaxHeaderBytes + 5)), krl.size()));
    Sha256 prev{}, h{};
    for (size_t i = 0; i < layout.count; i++) {
        ByteView entry =
            krl.subspan(layout.entries_offset + i * kKrlHashEntryBytes, kKrlHashEntryBytes);
        if (!entry_hash(entry, &h) || (i > 0 && !(prev < h)))
            return invalid("not a KRL skgate wrote: hash " + std::to_string(i) +
                           " is malformed or out of order");
        prev = h;
    }
    return {};
}

Result<KrlIndex> KrlIndex::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        return make_error(e == ENOENT                 ? ErrorCode::not_found
                          : e == ELOOP || e == EACCES ? ErrorCode::permission
                                                      : ErrorCode::io,
                          "cannot open " + path + ": " + std::strerror(e));
    }
    KrlIndex index;
    index.fd_ = std::shared_ptr<int>(new int(fd), [](int* p) {
        close(*p);
        delete p;
    });
    index.path_ = path;
    struct stat st {};
    if (fstat(fd, &st) != 0)
        return make_error(ErrorCode::io, "cannot stat " + path + ": " + std::strerror(errno));
    FileRules rules;
    SKGATE_CHECK(check_trusted_stat(path, st.st_uid, st.st_mode, rules));
    SKGATE_CHECK(check_trusted_directories(path, rules));
    uint64_t total = static_cast<uint64_t>(st.st_size);
    Bytes head(std::min<uint64_t>(total, kMaxHeaderBytes + 5));
    SKGATE_CHECK(pread_all(fd, head.data(), head.size(), 0, path));
    auto layout = parse_layout(head, total);
    if (!layout)
        return layout.error().context(path);
    index.entries_offset_ = layout->entries_offset;
    index.count_ = layout->count;
    index.version_ = layout->version;
    index.comment_ = layout->comment;
    return index;
}

Result<bool> KrlIndex::contains(const Sha256& hash) const {
    size_t lo = 0, hi = count_;
    uint8_t buf[kKrlHashEntryBytes];
    Sha256 h{};
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        SKGATE_CHECK(
            pread_all(*fd_, buf, sizeof buf, entries_offset_ + mid * kKrlHashEntryBytes, path_));
        if (!entry_hash(ByteView(buf, sizeof buf), &h))
            return invalid(path_ + ": not a KRL skgate wrote: malformed hash entry " +
                           std::to_string(mid) +
                           " (skgatectl revoke --rebuild-index writes it again)");
        if (h == hash)
            return true;
        if (h < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

}  // namespace skgate
