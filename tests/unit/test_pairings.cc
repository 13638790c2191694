// The agent's record of its paired devices (~/.skgate/pairing and
// pairings/): what `pair`, `pair --add` and `unpair` leave, which device a
// key's requests go to, and damaged or misplaced records refused.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "agent/keyring.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::agent;
using namespace skgate::test;

namespace {

PairingRecord device(uint8_t id, const std::string& name) {
    PairingRecord r;
    r.device_id.assign(kDeviceIdBytes, id);
    r.device_name = name;
    r.secret.assign(kPairingSecretBytes, static_cast<uint8_t>(id + 1));
    return r;
}

class Pairings : public ::testing::Test {
  protected:
    TempDir dir;
    AgentPaths paths{dir.path() + "/state"};
    // A key of `device_id` (empty: from before several devices).
    static AgentKey key_on(const Bytes& device_id, const std::string& name = "k") {
        auto k = PublicKey::make_sk_ed25519(Bytes(32, 9), "ssh:");
        EXPECT_TRUE(k);
        return AgentKey{name, *k, Bytes(32, 7), false, device_id};
    }
    void SetUp() override { ASSERT_TRUE(paths.ensure()); }
    PairedDevices load() {
        auto p = load_pairings(paths);
        EXPECT_TRUE(p) << p.error().message;
        return p ? std::move(*p) : PairedDevices{};
    }
};

}  // namespace

TEST_F(Pairings, AddKeepsTheOthersAndReplaceLeavesOne) {
    EXPECT_TRUE(load().empty());
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    ASSERT_TRUE(add_pairing(paths, device(3, "tablet")));
    ASSERT_TRUE(add_pairing(paths, device(2, "backup")));
    auto p = load();
    ASSERT_EQ(p.records.size(), 3u);
    EXPECT_TRUE(p.first_from_pairing_file);
    EXPECT_EQ(p.records[0].device_name, "phone");
    EXPECT_EQ(p.records[1].device_name, "backup");  // pairings/ in the order of their ids
    EXPECT_EQ(p.names(), "'phone', 'backup', 'tablet'");
    struct stat st {};
    ASSERT_EQ(stat(paths.pairings().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    ASSERT_EQ(stat((paths.pairings() + "/" + hex_encode(device(2, "").device_id)).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);

    ASSERT_TRUE(remove_pairing(paths, p.records[0]));
    p = load();
    EXPECT_FALSE(p.first_from_pairing_file);
    EXPECT_EQ(p.names(), "'backup', 'tablet'");
    ASSERT_TRUE(replace_pairings(paths, device(4, "new phone")));
    EXPECT_EQ(load().names(), "'new phone'");
}

TEST_F(Pairings, ANameOrDeviceTakenAndTheLimitAreRefused) {
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    auto same_name = add_pairing(paths, device(2, "phone"));
    ASSERT_FALSE(same_name);
    EXPECT_NE(same_name.error().message.find("called 'phone' is paired already"),
              std::string::npos);
    EXPECT_FALSE(add_pairing(paths, device(1, "other name")));
    for (uint8_t i = 2; i <= kMaxPairedDevices; i++)
        ASSERT_TRUE(add_pairing(paths, device(i, "d" + std::to_string(i))));
    auto full = add_pairing(paths, device(99, "one too many"));
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().message.find("the most it takes"), std::string::npos);
    EXPECT_EQ(load().records.size(), kMaxPairedDevices);
}

TEST_F(Pairings, NamedFindsOneAndSaysWhichArePaired) {
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    ASSERT_TRUE(add_pairing(paths, device(2, "backup")));
    auto p = load();
    auto found = p.named("backup");
    ASSERT_TRUE(found);
    EXPECT_EQ((*found)->device_id, device(2, "").device_id);
    auto missing = p.named("Backup");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("(paired: 'phone', 'backup')"), std::string::npos);
    EXPECT_FALSE(PairedDevices{}.named("phone"));
}

// A key goes to the device recorded with it; a key from before several
// devices to the `pairing` file's; a key whose device is gone to the only
// device (pairing the same authenticator again gives it a new id), and to
// none when several are paired.
TEST_F(Pairings, EachKeyGoesToItsDevice) {
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    ASSERT_TRUE(add_pairing(paths, device(2, "backup")));
    auto p = load();
    AgentKey on_backup = key_on(device(2, "").device_id), legacy = key_on({}),
             orphan = key_on(device(7, "").device_id);
    EXPECT_EQ(p.holding(on_backup)->device_name, "backup");
    EXPECT_EQ(p.holding(legacy)->device_name, "phone");
    EXPECT_EQ(p.holding(orphan), nullptr);
    EXPECT_EQ(p.recorded_for(orphan), nullptr);

    ASSERT_TRUE(remove_pairing(paths, p.records[0]));
    p = load();
    EXPECT_EQ(p.recorded_for(legacy), nullptr);
    EXPECT_EQ(p.holding(legacy)->device_name, "backup");
    EXPECT_EQ(p.holding(orphan)->device_name, "backup");
    EXPECT_EQ(p.recorded_for(orphan), nullptr);
}

// `pair` replacing the device: keys that were the old device's without
// saying so (made before several devices) are recorded as its, so `list`
// never credits a lost phone's keys to its replacement; keys naming a device
// keep it.
TEST_F(Pairings, ReplacingRecordsTheOldDevicesKeysAsItsOwn) {
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    ASSERT_TRUE(save_key(paths, key_on({}, "legacy"), as_bytes("a"), as_bytes("c")));
    ASSERT_TRUE(save_key(paths, key_on(device(9, "").device_id, "elsewhere"), as_bytes("a"),
                         as_bytes("c")));
    ASSERT_TRUE(replace_pairings(paths, device(2, "new phone")));
    auto keys = load_keys(paths);
    ASSERT_TRUE(keys);
    ASSERT_EQ(keys->size(), 2u);
    EXPECT_EQ(keys->at(0).name, "elsewhere");
    EXPECT_EQ(keys->at(0).device_id, device(9, "").device_id);
    EXPECT_EQ(keys->at(1).device_id, device(1, "").device_id);
    auto p = load();
    EXPECT_EQ(p.recorded_for(keys->at(1)), nullptr);
    EXPECT_EQ(p.holding(keys->at(1))->device_name, "new phone");
}

// unpair forgets a device wherever its record is, both places if need be.
TEST_F(Pairings, RemoveForgetsTheDeviceInBothPlaces) {
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    std::string copy = paths.pairings() + "/" + hex_encode(device(1, "").device_id);
    std::filesystem::copy_file(paths.pairing(), copy);
    ASSERT_EQ(load().records.size(), 1u);
    ASSERT_TRUE(remove_pairing(paths, device(1, "phone")));
    EXPECT_TRUE(load().empty());
    EXPECT_FALSE(std::filesystem::exists(copy));
}

TEST_F(Pairings, DamagedOrMisplacedRecordsAreErrorsNotUnpaired) {
    ASSERT_TRUE(replace_pairings(paths, device(1, "phone")));
    ASSERT_TRUE(add_pairing(paths, device(2, "backup")));
    std::string backup = paths.pairings() + "/" + hex_encode(device(2, "").device_id);
    // Another device's record under this device's name.
    std::string misplaced = paths.pairings() + "/" + hex_encode(device(5, "").device_id);
    std::filesystem::copy_file(backup, misplaced);
    auto p = load_pairings(paths);
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("the record is of another device"), std::string::npos);
    std::filesystem::remove(misplaced);
    write_file(backup, "damaged", 0600);
    EXPECT_FALSE(load_pairings(paths));
    write_file(backup, std::string(as_chars(device(2, "backup").serialize())), 0644);
    p = load_pairings(paths);
    ASSERT_FALSE(p) << "a record others may read is refused";
    // Files that are not device ids are not records.
    std::filesystem::remove(backup);
    write_file(paths.pairings() + "/notes.txt", "x", 0600);
    write_file(paths.pairings() + "/" + std::string(32, 'A'), "x", 0600);
    EXPECT_EQ(load().names(), "'phone'");
}

// A key file names its device; one from before (no device field) loads
// with none, and a malformed device field is refused.
TEST_F(Pairings, KeyFilesRecordTheirDevice) {
    AgentKey k = key_on(device(2, "").device_id, "laptop");
    ASSERT_TRUE(save_key(paths, k, as_bytes("att"), as_bytes("challenge")));
    auto keys = load_keys(paths);
    ASSERT_TRUE(keys) << keys.error().message;
    ASSERT_EQ(keys->size(), 1u);
    EXPECT_EQ(keys->front().device_id, k.device_id);
    AgentKey old = key_on({}, "old");
    ASSERT_TRUE(save_key(paths, old, as_bytes("att"), as_bytes("challenge")));
    keys = load_keys(paths);
    ASSERT_TRUE(keys);
    ASSERT_EQ(keys->size(), 2u);
    EXPECT_TRUE(keys->back().device_id.empty());
}
