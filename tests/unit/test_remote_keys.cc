// Remote sources' answers as untrusted input: the metadata service's
// ssh-keys document and the generic HTTP document.
#include <gtest/gtest.h>

#include "core/sources/remote_keys.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;

namespace {

std::string key(const std::string& name) {
    return std::string(trim(test::read_file(test::vectors_dir() + "/openssh/sshkey/" + name)));
}

// A JSON string literal for `s` (quotes and backslashes escaped; control
// characters as \u escapes so they reach the parser as data).
std::string js(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

TEST(RemoteKeys, MetadataDocumentAsTheServiceSendsIt) {
    const std::string sk = key("ecdsa_sk1.pub"), ed = key("ed25519_sk1.pub");
    const std::string doc =
        "{\"users\": {\"root\": [" + js(sk) + "], \"alice\": [" + js(sk) + ", " + js(ed) + "]}}";
    auto alice = parse_metadata_ssh_keys(doc, "alice");
    ASSERT_TRUE(alice.ok()) << alice.error().message;
    ASSERT_EQ(alice->keys.size(), 2u);
    EXPECT_TRUE(alice->refused.empty());
    EXPECT_EQ(alice->keys[1].origin, "users.alice[1]");
    EXPECT_TRUE(alice->keys[0].entry.key.is_security_key());
    auto nobody = parse_metadata_ssh_keys(doc, "bob");
    ASSERT_TRUE(nobody.ok());
    EXPECT_TRUE(nobody->keys.empty()) << "a user the document does not name has no keys";
}

TEST(RemoteKeys, SmuggledLinesAreRefusedOneByOne) {
    const std::string sk = key("ecdsa_sk1.pub");
    const std::vector<std::pair<std::string, std::string>> bad = {
        {sk + "\n" + key("rsa_1.pub"), "control character"},
        {sk + "\r", "control character"},
        {std::string("command=\"/bin/sh\" ") + sk, "options"},
        {"restrict " + sk, ""},
        {"sk-ecdsa-sha2-nistp256@openssh.com AAAAnotbase64!!", ""},
        {"", "empty"},
        {"   ", "empty"},
        {sk.substr(0, sk.size() / 2), ""},
        {std::string(kMaxRemoteKeyLineBytes + 1, 'A'), "longer than"},
    };
    std::string list;
    for (const auto& [line, why] : bad)
        list += js(line) + ", ";
    list += "42, null, " + js(sk);
    auto r = parse_metadata_ssh_keys("{\"users\":{\"alice\":[" + list + "]}}", "alice");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->keys.size(), 1u) << "the good key still counts";
    EXPECT_EQ(r->keys[0].origin, "users.alice[" + std::to_string(bad.size() + 2) + "]");
    ASSERT_EQ(r->refused.size(), bad.size() + 2);
    for (size_t i = 0; i < bad.size(); i++) {
        EXPECT_EQ(r->refused[i].rfind("users.alice[" + std::to_string(i) + "]: ", 0), 0u)
            << r->refused[i];
        if (!bad[i].second.empty()) {
            EXPECT_NE(r->refused[i].find(bad[i].second), std::string::npos) << r->refused[i];
        }
    }
    EXPECT_NE(r->refused[bad.size()].find("not a string"), std::string::npos);
}

TEST(RemoteKeys, MalformedDocumentsAreRefusedWhole) {
    const std::string sk = js(key("ecdsa_sk1.pub"));
    const std::vector<std::string> docs = {
        "",
        "null",
        "[]",
        "{}",
        "{\"users\": []}",
        "{\"users\": {\"alice\": " + sk + "}}",
        "{\"users\": {\"alice\": [" + sk + "]}",      // truncated
        "{\"users\": {\"alice\": [" + sk + "]}} {}",  // a second document
        "{\"users\": {\"alice\": [" + sk + ",]}}",    // trailing comma (strict)
        "{'users': {}}",                              // not JSON
        std::string(20, '[') + std::string(20, ']'),  // too deep
        "{\"users\": {\"alice\": [" + sk + "]}}" + std::string(kMaxRemoteDocumentBytes, ' '),
    };
    for (const auto& d : docs)
        EXPECT_FALSE(parse_metadata_ssh_keys(d, "alice").ok()) << d.substr(0, 80);
    std::string many = "{\"users\": {\"alice\": [";
    for (size_t i = 0; i <= kMaxRemoteKeysPerUser; i++)
        many += (i ? "," : "") + sk;
    many += "]}}";
    auto r = parse_metadata_ssh_keys(many, "alice");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("more than"), std::string::npos);
}

TEST(RemoteKeys, HttpDocumentWithExpiry) {
    const std::string sk = js(key("ecdsa_sk1.pub")), ed = js(key("ed25519_sk1.pub"));
    auto r = parse_http_keys("{\"keys\": [{\"key\": " + sk +
                             ", \"expires\": \"2026-12-31T00:00:00Z\"}, {\"key\": " + ed +
                             ", \"expires\": null}, {\"key\": " + ed +
                             ", \"expires\": \"next week\"}, {\"key\": 1}, {\"nokey\": " + sk +
                             "}, " + sk + "]}");
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(r->keys.size(), 2u);
    ASSERT_TRUE(r->keys[0].expires.has_value());
    EXPECT_EQ(*r->keys[0].expires, 1798675200);
    EXPECT_FALSE(r->keys[1].expires.has_value());
    ASSERT_EQ(r->refused.size(), 4u);
    EXPECT_NE(r->refused[0].find("keys[2]: \"expires\""), std::string::npos) << r->refused[0];
    EXPECT_FALSE(parse_http_keys("{\"keys\": {}}").ok());
    EXPECT_FALSE(parse_http_keys("{\"users\": {}}").ok());
}
