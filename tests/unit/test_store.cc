// The local key store, the revocation list, atomic writes and times.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/audit/journal.h"
#include "core/ssh/authkeys.h"
#include "core/ssh/krl.h"
#include "core/store/keystore.h"
#include "core/store/revocation.h"
#include "core/sys/atomicfile.h"
#include "core/sys/timeutil.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

using namespace skgate;
using namespace skgate::test;

namespace {

StoredKey stored(const SoftSkKey& k, const std::string& name) {
    return {.key = k.public_key(), .comment = name + "@host", .name = name, .enrolled = 1767225600};
}

}  // namespace

TEST(Time, Iso8601) {
    EXPECT_EQ(format_iso8601(0), "1970-01-01T00:00:00Z");
    auto t = parse_iso8601("2026-11-22T10:00:00Z");
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(format_iso8601(*t), "2026-11-22T10:00:00Z");
    EXPECT_EQ(*parse_iso8601("2026-11-22"), *parse_iso8601("2026-11-22T00:00:00Z"));
    for (const char* bad : {"", "2026-11-22T10:00:00", "2026-13-01", "2026-02-30", "22-11-2026",
                            "2026-11-22 10:00:00Z", "2026-11-22T25:00:00Z"})
        EXPECT_FALSE(parse_iso8601(bad).ok()) << bad;
}

// One rule for every date skgate reads (skgate.conf, key files, the
// authorized_keys expiry-time): a leap second is the second after :59, in
// both formats, even on a month's last day; 31 February is nothing.
TEST(Time, BothDateFormatsShareOneRule) {
    auto iso = parse_iso8601("2016-12-31T23:59:60Z");
    ASSERT_TRUE(iso.ok()) << iso.error().message;
    EXPECT_EQ(*iso, *parse_iso8601("2017-01-01T00:00:00Z"));
    auto expiry = parse_expiry_time("20161231235960Z");
    ASSERT_TRUE(expiry.ok()) << expiry.error().message;
    EXPECT_EQ(*expiry, *iso);
    EXPECT_EQ(*parse_expiry_time("20261122100000Z"), *parse_iso8601("2026-11-22T10:00:00Z"));
    for (const char* bad : {"2026-11-22T10:00:61Z", "2026-02-29T00:00:00Z", "1969-12-31"})
        EXPECT_FALSE(parse_iso8601(bad).ok()) << bad;
    for (const char* bad : {"20261122100061Z", "20260229Z", "19691231Z"})
        EXPECT_FALSE(parse_expiry_time(bad).ok()) << bad;
    EXPECT_TRUE(parse_iso8601("2028-02-29").ok());
    EXPECT_FALSE(civil_to_time({2026, 4, 31}, true).ok());
}

TEST(Journal, EncodesFieldsAndBinarySafeValues) {
    std::string d = journal_encode({{"MESSAGE", "hello"},
                                    {"SKGATE_REASON", "two\nlines"},
                                    {"bad name", "dropped"},
                                    {"_TRUSTED", "dropped"}});
    std::string expected = "MESSAGE=hello\nSKGATE_REASON\n";
    expected += std::string("\x09\0\0\0\0\0\0\0", 8);
    expected += "two\nlines\n";
    EXPECT_EQ(d, expected);
}

TEST(Journal, LongValuesAreCut) {
    std::string d = journal_encode({{"MESSAGE", std::string(100000, 'x')}});
    EXPECT_LE(d.size(), kMaxJournalEntryBytes);
}

TEST(AtomicFile, WritesWithModeAndReplaces) {
    TempDir d;
    std::string f = d.file("f");
    ASSERT_TRUE(write_file_atomic(f, "one\n", {getuid(), getgid(), 0640}).ok());
    EXPECT_EQ(read_file(f), "one\n");
    struct stat st {};
    ASSERT_EQ(stat(f.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
    ASSERT_TRUE(write_file_atomic(f, "two\n", {getuid(), getgid(), 0600}).ok());
    EXPECT_EQ(read_file(f), "two\n");
    // no temporary files left behind
    int entries = 0;
    for (auto& e : std::filesystem::directory_iterator(d.path())) {
        (void)e;
        entries++;
    }
    EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, FailsCleanlyInAMissingDirectory) {
    TempDir d;
    auto st = write_file_atomic(d.file("no/such/dir/f"), "x");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::io);
}

class Store : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!running_as_root())
            GTEST_SKIP() << "the store must be root-owned";
    }
    TempDir dir;
    KeyStore store{dir.file("keys.d")};
    SoftSkKey a = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    SoftSkKey b = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
};

TEST_F(Store, MissingUserHasNoKeys) {
    auto f = store.load("alice");
    ASSERT_TRUE(f.ok());
    EXPECT_TRUE(f->keys.empty());
}

TEST_F(Store, AddLoadRemove) {
    StoredKey k = stored(a, "laptop");
    k.expires = 1893456000;
    k.aaguid = "cb69481e-8ff7-4039-93ec-0a2729a154a8";
    k.attestation = "packed";
    k.uv = true;
    k.chained = true;
    ASSERT_TRUE(store.add("alice", k).ok());
    ASSERT_TRUE(store.add("alice", stored(b, "phone")).ok());
    auto f = store.load("alice");
    ASSERT_TRUE(f.ok());
    ASSERT_EQ(f->keys.size(), 2u);
    EXPECT_TRUE(f->warnings.empty());
    const StoredKey& got = f->keys[0];
    EXPECT_EQ(got.key, a.public_key());
    EXPECT_EQ(got.name, "laptop");
    EXPECT_EQ(got.enrolled, k.enrolled);
    EXPECT_EQ(got.expires, k.expires);
    EXPECT_EQ(got.aaguid, k.aaguid);
    EXPECT_EQ(got.attestation, "packed");
    EXPECT_TRUE(got.uv);
    EXPECT_TRUE(got.chained);
    EXPECT_FALSE(f->keys[1].chained);
    struct stat st {};
    ASSERT_EQ(stat(dir.file("keys.d/alice").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_EQ(st.st_uid, 0u);

    auto removed = store.remove("alice", a.public_key().fingerprint());
    ASSERT_TRUE(removed.ok());
    EXPECT_EQ(removed->name, "laptop");
    auto after = store.load("alice");
    ASSERT_EQ(after->keys.size(), 1u);
    EXPECT_EQ(after->keys[0].key, b.public_key());
    EXPECT_EQ(store.remove("alice", a.public_key().fingerprint()).error().code,
              ErrorCode::not_found);
}

TEST_F(Store, DuplicatesAreRefused) {
    ASSERT_TRUE(store.add("alice", stored(a, "laptop")).ok());
    auto again = store.add("alice", stored(a, "other"));
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.error().message.find("already enrolled"), std::string::npos);
    EXPECT_TRUE(store.add("bob", stored(a, "shared")).ok());
}

TEST_F(Store, UserNamesAreValidatedBeforeBecomingPaths) {
    for (const char* bad : {"../etc/passwd", "a/b", "..", "-x"}) {
        EXPECT_FALSE(store.add(bad, stored(a, "x")).ok()) << bad;
        EXPECT_FALSE(store.load(bad).ok()) << bad;
    }
}

TEST_F(Store, MalformedLinesAreSkippedWithFileAndLine) {
    ASSERT_TRUE(store.add("alice", stored(a, "laptop")).ok());
    std::string path = dir.file("keys.d/alice");
    std::string text = read_file(path);
    write_file(path, text + "garbage line\nname=\"x\" " + b.public_key().to_text() + "\n" +
                         "enrolled=\"2026-01-01T00:00:00Z\",frob " + b.public_key().to_text() +
                         "\n");
    auto f = store.load("alice");
    ASSERT_TRUE(f.ok());
    ASSERT_EQ(f->keys.size(), 1u);
    ASSERT_EQ(f->warnings.size(), 3u);
    EXPECT_NE(f->warnings[0].find(path + ":3:"), std::string::npos) << f->warnings[0];
    EXPECT_NE(f->warnings[1].find("missing enrolled"), std::string::npos);
    EXPECT_NE(f->warnings[2].find("unknown store attribute \"frob\""), std::string::npos);
}

TEST_F(Store, UnsafeFilesAreRefused) {
    ASSERT_TRUE(store.add("alice", stored(a, "laptop")).ok());
    std::string path = dir.file("keys.d/alice");
    chmod(path.c_str(), 0666);
    auto f = store.load("alice");
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.error().code, ErrorCode::permission);
    chmod(path.c_str(), 0644);
    ASSERT_EQ(chown(path.c_str(), 1000, 1000), 0);
    EXPECT_FALSE(store.load("alice").ok());
    ASSERT_EQ(unlink(path.c_str()), 0);
    ASSERT_EQ(symlink("/etc/passwd", path.c_str()), 0);
    EXPECT_FALSE(store.load("alice").ok());
}

TEST_F(Store, ConcurrentEnrollmentsLoseNothing) {
    // 8 processes each add 5 keys to the same user at once.
    std::vector<SoftSkKey> keys;
    for (int i = 0; i < 40; i++)
        keys.push_back(
            SoftSkKey::generate(i % 2 ? KeyAlgorithm::sk_ed25519 : KeyAlgorithm::sk_ecdsa_p256));
    ASSERT_TRUE(ensure_directory(dir.file("keys.d"), {0, 0, 0755}).ok());
    std::vector<pid_t> pids;
    for (int p = 0; p < 8; p++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int i = 0; i < 5; i++) {
                if (!store.add("alice", stored(keys[static_cast<size_t>(p * 5 + i)], "k")).ok())
                    _exit(1);
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids) {
        int status = 0;
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    auto f = store.load("alice");
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->keys.size(), 40u);
    EXPECT_TRUE(f->warnings.empty());
}

TEST_F(Store, UsersAreListed) {
    ASSERT_TRUE(store.add("bob", stored(a, "x")).ok());
    ASSERT_TRUE(store.add("alice", stored(b, "y")).ok());
    auto users = store.users();
    ASSERT_TRUE(users.ok());
    EXPECT_EQ(*users, (std::vector<std::string>{"alice", "bob"}));
}

TEST(Revocation, ParsesKeysAndFingerprints) {
    auto a = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    auto b = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto c = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto r = RevocationList::parse("# revoked\n" + a.public_key().to_text() + " lost laptop\n\n" +
                                       b.public_key().fingerprint() + "\n",
                                   "revoked");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->is_revoked(a.public_key()));
    EXPECT_TRUE(r->is_revoked(b.public_key()));
    EXPECT_FALSE(r->is_revoked(c.public_key()));
    EXPECT_EQ(r->size(), 2u);
}

TEST(Revocation, AnUnparsableLineFailsTheWholeList) {
    auto r = RevocationList::parse("SHA256:tooshort\n", "revoked");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("revoked:1:"), std::string::npos);
    EXPECT_FALSE(RevocationList::parse("not a key at all\n", "revoked").ok());
}

TEST(Revocation, AppendIsIdempotentAndReadableBySshd) {
    if (!running_as_root())
        GTEST_SKIP() << "the list must be root-owned";
    TempDir d;
    auto a = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    std::string path = d.file("revoked");
    ASSERT_TRUE(RevocationList::append(path, a.public_key(), "alice laptop").ok());
    ASSERT_TRUE(RevocationList::append(path, a.public_key(), "again").ok());
    auto r = RevocationList::load(path);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->is_revoked(a.public_key()));
    std::string text = read_file(path);
    EXPECT_EQ(text.find("again"), std::string::npos);
    // OpenSSH reads the list: ssh-keygen compiles it into a KRL in which the
    // key is revoked.
    write_file(d.file("k.pub"), a.public_key().to_text() + "\n");
    auto k = run({"ssh-keygen", "-k", "-f", d.file("krl"), path});
    ASSERT_EQ(k.status, 0) << k.err;
    auto q = run({"ssh-keygen", "-Q", "-f", d.file("krl"), d.file("k.pub")});
    EXPECT_NE(q.out.find("REVOKED"), std::string::npos) << q.out << q.err;
}

// The KRL skgatectl revoke keeps beside the list: OpenSSH's own ssh-keygen
// reads it and agrees on every key; skgate looks keys up without reading it
// all, and never takes an index it cannot read completely for "not revoked".
TEST(Revocation, TheIndexIsAKrlSshdReads) {
    if (!running_as_root())
        GTEST_SKIP() << "the list must be root-owned";
    TempDir d;
    std::string path = d.file("revoked");
    auto a = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    auto b = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto c = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    ASSERT_TRUE(RevocationList::rebuild_index(path).ok()) << "no list yet: an empty index";
    EXPECT_TRUE(KrlIndex::open(krl_path_for(path)).ok());
    ASSERT_TRUE(RevocationList::append(path, a.public_key(), "lost").ok());
    ASSERT_TRUE(RevocationList::append_fingerprint(path, b.public_key().fingerprint()).ok());
    auto r = RevocationList::load(path);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->indexed());
    EXPECT_EQ(r->size(), 2u);
    EXPECT_TRUE(r->is_revoked(a.public_key()));
    EXPECT_TRUE(r->is_revoked(b.public_key()));
    EXPECT_FALSE(r->is_revoked(c.public_key()));
    EXPECT_TRUE(KrlIndex::validate(as_bytes(read_file(krl_path_for(path)))).ok());
    for (const auto* k : {&a, &b, &c}) {
        write_file(d.file("k.pub"), k->public_key().to_text() + "\n");
        auto q = run({"ssh-keygen", "-Q", "-f", krl_path_for(path), d.file("k.pub")});
        bool revoked = k != &c;
        EXPECT_EQ(q.out.find("REVOKED") != std::string::npos, revoked) << q.out << q.err;
    }
    // A list edited by hand after its index: the list is read instead.
    auto later = std::filesystem::last_write_time(krl_path_for(path)) + std::chrono::seconds(2);
    write_file(path, read_file(path) + c.public_key().fingerprint() + "\n");
    std::filesystem::last_write_time(path, later);
    auto edited = RevocationList::load(path);
    ASSERT_TRUE(edited.ok());
    EXPECT_FALSE(edited->indexed());
    EXPECT_TRUE(edited->is_revoked(c.public_key()));
    ASSERT_TRUE(RevocationList::rebuild_index(path).ok());
    auto rebuilt = RevocationList::load(path);
    ASSERT_TRUE(rebuilt.ok());
    EXPECT_TRUE(rebuilt->indexed());
    EXPECT_TRUE(rebuilt->is_revoked(c.public_key()));
    // An unsafe index is an error, not an empty list.
    chmod(krl_path_for(path).c_str(), 0666);
    EXPECT_FALSE(RevocationList::load(path).ok());
}

TEST(Revocation, MalformedKrlsAreRefused) {
    Sha256 h1{}, h2{};
    h1[0] = 1;
    h2[0] = 2;
    Bytes good = krl_encode({h2, h1, h2}, 7, 1700000000, "test");
    ASSERT_TRUE(KrlIndex::validate(good).ok());
    EXPECT_EQ(good.size(), 8 + 4 + 8 + 8 + 8 + 4 + 4 + 4 + 1 + 4 + 2 * kKrlHashEntryBytes)
        << "sorted, deduplicated";
    EXPECT_TRUE(KrlIndex::validate(krl_encode({}, 1, 1, "")).ok()) << "no section: empty";
    auto broken = [&](auto edit) {
        Bytes b = good;
        edit(b);
        return !KrlIndex::validate(b).ok();
    };
    EXPECT_TRUE(broken([](Bytes& b) { b[0] ^= 1; })) << "magic";
    EXPECT_TRUE(broken([](Bytes& b) { b[11] = 2; })) << "format version";
    EXPECT_TRUE(broken([](Bytes& b) { b.pop_back(); })) << "truncated";
    EXPECT_TRUE(broken([](Bytes& b) { b.push_back(0); })) << "trailing byte";
    size_t section = good.size() - 2 * kKrlHashEntryBytes - 5;
    EXPECT_TRUE(broken([&](Bytes& b) { b[section] = 2; })) << "explicit-key section";
    EXPECT_TRUE(broken([&](Bytes& b) { b[section + 5 + 3] = 31; })) << "hash length";
    EXPECT_TRUE(broken([&](Bytes& b) {
        std::swap_ranges(b.begin() + static_cast<long>(section + 5),
                         b.begin() + static_cast<long>(section + 5 + kKrlHashEntryBytes),
                         b.begin() + static_cast<long>(section + 5 + kKrlHashEntryBytes));
    })) << "out of order";
    EXPECT_TRUE(broken([&](Bytes& b) { b[8 + 4 + 8 + 8 + 7] = 1; })) << "flags";
    EXPECT_FALSE(KrlIndex::validate(Bytes{}).ok());
}

// Root's state directories are created and checked on the directory itself,
// never through a path someone could swap: a symbolic link in their place,
// or a parent others can write, is refused before anything is chowned.
TEST(StateDirectories, NeitherASymlinkNorAnUnsafeParent) {
    if (!running_as_root())
        GTEST_SKIP() << "root's directories";
    TempDir d;
    chmod(d.path().c_str(), 0755);
    write_file(d.file("victim"), "secret", 0600);
    ASSERT_EQ(symlink(d.file("victim").c_str(), d.file("state").c_str()), 0);
    EXPECT_FALSE(ensure_directory(d.file("state"), {0, 0, 0755}).ok());
    struct stat st {};
    ASSERT_EQ(stat(d.file("victim").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << "the link's target was not chmodded";

    std::filesystem::create_directories(d.file("open"));
    chmod(d.file("open").c_str(), 0777);  // writable by all, not sticky
    auto unsafe = ensure_directory(d.file("open/state"), {0, 0, 0755});
    ASSERT_FALSE(unsafe.ok());
    EXPECT_NE(unsafe.error().message.find("unsafe directory"), std::string::npos)
        << unsafe.error().message;
    EXPECT_FALSE(std::filesystem::exists(d.file("open/state")));

    ASSERT_TRUE(ensure_directory(d.file("fine"), {0, 0, 0700}).ok());
    ASSERT_EQ(stat(d.file("fine").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
}

// An in-place edit that keeps the list's size and mtime (cp -p, rsync
// --inplace -t) still makes its index stale: the ctime is in the signature.
TEST(Revocation, AnInPlaceEditKeepingTheMtimeIsSeen) {
    if (!running_as_root())
        GTEST_SKIP() << "the list must be root-owned";
    TempDir d;
    std::string path = d.file("revoked");
    auto a = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto b = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    ASSERT_TRUE(RevocationList::append_fingerprint(path, a.public_key().fingerprint()).ok());
    auto mtime = std::filesystem::last_write_time(path);
    std::string text = read_file(path);
    std::string edited = text;
    edited.replace(edited.find(a.public_key().fingerprint()), 50, b.public_key().fingerprint());
    ASSERT_EQ(edited.size(), text.size());
    {
        std::ofstream f(path, std::ios::in | std::ios::out);  // same inode
        f << edited;
    }
    std::filesystem::last_write_time(path, mtime);
    auto r = RevocationList::load(path);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->indexed());
    EXPECT_TRUE(r->is_revoked(b.public_key()));
}

// A KRL skgate did not write (ssh-keygen -k, maybe with certificate
// sections) is never overwritten by revoke: its revocations would be lost.
TEST(Revocation, SomeoneElsesKrlIsNotOverwritten) {
    if (!running_as_root())
        GTEST_SKIP() << "the list must be root-owned";
    TempDir d;
    std::string path = d.file("revoked");
    auto a = SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    write_file(d.file("a.pub"), a.public_key().to_text() + "\n");
    auto k = run({"ssh-keygen", "-k", "-f", krl_path_for(path), d.file("a.pub")});
    ASSERT_EQ(k.status, 0) << k.err;
    std::string theirs = read_file(krl_path_for(path));
    auto b = SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    auto st = RevocationList::append(path, b.public_key(), "");
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find("did not write"), std::string::npos) << st.error().message;
    EXPECT_EQ(read_file(krl_path_for(path)), theirs);
    EXPECT_FALSE(RevocationList::rebuild_index(path).ok());
}
