// Broker addresses and broker.conf: what is accepted, and what each
// malformed case says.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <filesystem>

#include "core/link/broker_settings.h"
#include "core/link/channel.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

const std::string kTopic = "0123456789abcdef0123456789abcdef";

std::string parse_error(const std::string& address) {
    auto a = BrokerAddress::parse(address);
    return a ? "" : a.error().message;
}

std::string settings_error(const std::string& text) {
    auto s = BrokerSettings::parse(text, "broker.conf");
    return s ? "" : s.error().message;
}

TEST(BrokerAddress, ParsesAndFormatsBackTheSame) {
    for (const std::string host : {"broker.example.org", "10.0.0.1", "[2001:db8::1]"}) {
        std::string text = "mqtts:" + host + ":8883/" + kTopic;
        auto a = BrokerAddress::parse(text);
        ASSERT_TRUE(a) << a.error().message;
        EXPECT_EQ(a->port, 8883);
        EXPECT_EQ(a->topic, kTopic);
        EXPECT_EQ(a->format(), text);
        EXPECT_TRUE(check_channel_address(text));
    }
    auto a = BrokerAddress::parse("mqtts:b:1/" + kTopic);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->upstream("c"), "skgate/" + kTopic + "/u/c");
    EXPECT_EQ(a->downstream("c"), "skgate/" + kTopic + "/d/c");
    EXPECT_EQ(a->upstream_filter(), "skgate/" + kTopic + "/u/+");
    EXPECT_EQ(a->goodbye(), "skgate/" + kTopic + "/g");
}

TEST(BrokerAddress, RandomTopicsAreLongAndDiffer) {
    auto t1 = BrokerAddress::random_topic(), t2 = BrokerAddress::random_topic();
    ASSERT_TRUE(t1 && t2);
    EXPECT_EQ(t1->size(), 32u);
    EXPECT_NE(*t1, *t2);
    EXPECT_TRUE(BrokerAddress::parse("mqtts:h:1/" + *t1));
}

TEST(BrokerAddress, EachMalformedAddressSaysWhy) {
    EXPECT_NE(parse_error("mqtt:h:1/" + kTopic).find("mqtts:HOST:PORT/TOPIC"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h:1").find("names no topic"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h/" + kTopic).find("HOST:PORT"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h:0/" + kTopic).find("port must be"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h:65536/" + kTopic).find("port must be"), std::string::npos);
    EXPECT_NE(parse_error("mqtts::1/" + kTopic).find("names no host"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:2001:db8::1:1/" + kTopic).find("IPv6"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h;x:1/" + kTopic).find("character"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h:1/short").find("16 to 64"), std::string::npos);
    EXPECT_NE(parse_error("mqtts:h:1/" + std::string(65, 'a')).find("16 to 64"), std::string::npos);
    // MQTT wildcards and levels would widen what the agent subscribes to.
    for (const std::string bad : {"+", "#", "/", " "})
        EXPECT_NE(parse_error("mqtts:h:1/" + kTopic.substr(0, 20) + bad).find("only letters"),
                  std::string::npos)
            << bad;
}

TEST(BrokerSettings, ReadsEveryKeyword) {
    auto s = BrokerSettings::parse(
        "# comment\n\n  ca /etc/ca.pem\ncert /c.pem\nkey /k.pem\nuser alice\n\tpassword-file "
        "/pw\n",
        "broker.conf");
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->ca_file, "/etc/ca.pem");
    EXPECT_EQ(s->cert_file, "/c.pem");
    EXPECT_EQ(s->key_file, "/k.pem");
    EXPECT_EQ(s->user, "alice");
    auto empty = BrokerSettings::parse("", "broker.conf");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->ca_file.empty());
}

TEST(BrokerSettings, EachMalformedLineNamesFileAndLine) {
    EXPECT_NE(settings_error("ca /a\nbogus x\n").find("broker.conf:2: unknown keyword 'bogus'"),
              std::string::npos);
    EXPECT_NE(settings_error("ca /a\nca /b\n").find("broker.conf:2: 'ca' is given twice"),
              std::string::npos);
    EXPECT_NE(settings_error("ca relative.pem\n").find("absolute path"), std::string::npos);
    EXPECT_NE(settings_error("ca\n").find("expected KEYWORD VALUE"), std::string::npos);
    EXPECT_NE(settings_error("user a b\n").find("expected KEYWORD VALUE"), std::string::npos);
    EXPECT_NE(settings_error("cert /c\n").find("'cert' and 'key' go together"), std::string::npos);
    EXPECT_NE(settings_error("password-file /p\n").find("needs 'user'"), std::string::npos);
    EXPECT_NE(settings_error("user a\x01\n").find("control character"), std::string::npos);
    EXPECT_NE(settings_error("user " + std::string(2000, 'a') + "\n").find("longer than"),
              std::string::npos);
    EXPECT_NE(settings_error(std::string(kMaxBrokerSettingsBytes + 1, '#')).find("larger than"),
              std::string::npos);
}

TEST(BrokerSettings, LoadReadsThePasswordFileAndRefusesOneOthersCanRead) {
    TempDir dir;
    EXPECT_TRUE(BrokerSettings::load(dir.file("missing.conf"))) << "a missing file is defaults";
    write_file(dir.file("pw"), "s3cret\nignored\n", 0600);
    chmod(dir.file("pw").c_str(), 0600);
    write_file(dir.file("broker.conf"), "user alice\npassword-file " + dir.file("pw") + "\n", 0600);
    auto s = BrokerSettings::load(dir.file("broker.conf"));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->password, "s3cret");
    chmod(dir.file("pw").c_str(), 0644);
    auto loose = BrokerSettings::load(dir.file("broker.conf"));
    ASSERT_FALSE(loose);
    EXPECT_NE(loose.error().message.find("password-file"), std::string::npos)
        << loose.error().message;
    // The settings file itself must not be writable by others.
    chmod(dir.file("pw").c_str(), 0600);
    chmod(dir.file("broker.conf").c_str(), 0666);
    auto writable = BrokerSettings::load(dir.file("broker.conf"));
    ASSERT_FALSE(writable);
    EXPECT_EQ(writable.error().code, ErrorCode::permission);
}

// The TLS files libmosquitto opens later are checked when the settings
// load: a CA or certificate others could write is refused (they could vouch
// for any broker), and so is a key others can read; each error names the
// keyword.
TEST(BrokerSettings, LoadRefusesTlsFilesOthersCouldChangeOrRead) {
    TempDir dir;
    for (const char* f : {"ca.pem", "cert.pem"})
        write_file(dir.file(f), "-----BEGIN CERTIFICATE-----\n", 0644);
    write_file(dir.file("key.pem"), "-----BEGIN PRIVATE KEY-----\n", 0600);
    write_file(dir.file("broker.conf"),
               "ca " + dir.file("ca.pem") + "\ncert " + dir.file("cert.pem") + "\nkey " +
                   dir.file("key.pem") + "\n",
               0600);
    auto good = BrokerSettings::load(dir.file("broker.conf"));
    ASSERT_TRUE(good) << good.error().message;
    EXPECT_EQ(good->key_file, dir.file("key.pem"));
    struct Case {
        const char* file;
        mode_t mode;
        const char* keyword;
    };
    for (const Case& c : {Case{"ca.pem", 0666, ": ca: "}, Case{"cert.pem", 0646, ": cert: "},
                          Case{"key.pem", 0644, ": key: "}, Case{"key.pem", 0640, ": key: "}}) {
        SCOPED_TRACE(std::string(c.file) + " " + std::to_string(c.mode));
        ASSERT_EQ(chmod(dir.file(c.file).c_str(), c.mode), 0);
        auto bad = BrokerSettings::load(dir.file("broker.conf"));
        ASSERT_FALSE(bad);
        EXPECT_EQ(bad.error().code, ErrorCode::permission) << bad.error().message;
        EXPECT_NE(bad.error().message.find(c.keyword), std::string::npos) << bad.error().message;
        ASSERT_EQ(chmod(dir.file(c.file).c_str(), c.file == std::string("key.pem") ? 0600 : 0644),
                  0);
    }
    // A certificate behind a symbolic link (update-ca-certificates makes
    // them) is checked where it leads, and that path is what is used.
    std::filesystem::create_directory(dir.file("certs"));
    std::filesystem::create_symlink(dir.file("ca.pem"), dir.file("certs/broker-ca.pem"));
    write_file(dir.file("linked.conf"), "ca " + dir.file("certs/broker-ca.pem") + "\n", 0600);
    auto linked = BrokerSettings::load(dir.file("linked.conf"));
    ASSERT_TRUE(linked) << linked.error().message;
    EXPECT_EQ(linked->ca_file, std::filesystem::canonical(dir.file("ca.pem")).string());
    ASSERT_EQ(chmod(dir.file("ca.pem").c_str(), 0666), 0);
    EXPECT_FALSE(BrokerSettings::load(dir.file("linked.conf")));
    ASSERT_EQ(chmod(dir.file("ca.pem").c_str(), 0644), 0);
    ASSERT_EQ(unlink(dir.file("ca.pem").c_str()), 0);
    auto missing = BrokerSettings::load(dir.file("broker.conf"));
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find(": ca: "), std::string::npos) << missing.error().message;
}

}  // namespace
