// skgate-agent setup's ~/.ssh/config block: added first, replaced in place,
// and removed so that the file is byte-for-byte what it was.
#include <gtest/gtest.h>

#include "agent/known_hosts.h"
#include "agent/ssh_config.h"
#include "core/ssh/sshkey.h"

using namespace skgate::agent;

namespace {
const std::string kSock = "/home/alice/.skgate/agent.sock";
}

TEST(SshConfigBlock, AddsFirstAndRemovesExactly) {
    const std::string inputs[] = {
        "",
        "Host work\n    User alice\n",
        "# no trailing newline\nHost *\n  ServerAliveInterval 30",
        "\n\n",
        "Include ~/.ssh/conf.d/*\nHost x\n\tHostName 10.0.0.1\n",
    };
    for (const auto& in : inputs) {
        auto added = add_block(in, kSock, {}, false);
        ASSERT_TRUE(added) << added.error().message;
        EXPECT_TRUE(added->changed);
        EXPECT_EQ(added->text.rfind(kBlockBegin, 0), 0u) << "block must come first";
        EXPECT_NE(added->text.find("IdentityAgent \"" + kSock + "\""), std::string::npos);
        bool del = true;
        auto removed = remove_block(added->text, &del);
        ASSERT_TRUE(removed);
        EXPECT_EQ(removed->text, in);
        EXPECT_FALSE(del);
    }
}

TEST(SshConfigBlock, IsIdempotentAndReplacesInPlace) {
    std::string in = "Host a\n  User b\n";
    auto once = add_block(in, kSock, {}, false);
    auto twice = add_block(once->text, kSock, {}, false);
    ASSERT_TRUE(twice);
    EXPECT_FALSE(twice->changed);
    auto hosts = add_block(once->text, kSock, {"web*", "db1"}, false);
    ASSERT_TRUE(hosts);
    EXPECT_TRUE(hosts->changed);
    EXPECT_NE(hosts->text.find("Host web* db1\n"), std::string::npos);
    EXPECT_EQ(hosts->text.find("Host *\n    IdentityAgent"), std::string::npos);
    // Lines after the block keep applying to every host.
    EXPECT_NE(hosts->text.find("Host *\n# End skgate\nHost a"), std::string::npos);
    bool del = false;
    EXPECT_EQ(remove_block(hosts->text, &del)->text, in);
}

TEST(SshConfigBlock, ExcludesHostsThatSetTheirOwnAgent) {
    std::string in =
        "IdentityAgent /top/level.sock\n"
        "Host github.com\n  identityagent ~/.1p.sock\n"
        "Host *\n  IdentityAgent /everyone.sock\n"
        "Host a b !c\n  # IdentityAgent in a comment does not count\n  User x\n"
        "Host d e\n\tIDENTITYAGENT=/e.sock\n"
        "Match host m\n  IdentityAgent /m.sock\n"
        "Host \"q x\"\n  IdentityAgent /q.sock\n";
    auto hosts = hosts_with_own_agent(in);
    // Not the top level, `Host *`, a comment, a section without its own
    // agent or a Match section.
    EXPECT_EQ(hosts.excluded, (std::vector<std::string>{"github.com", "d", "e"}));
    EXPECT_TRUE(hosts.negated.empty());
    auto carved = hosts_with_own_agent("Host *.corp !jump.corp\n  IdentityAgent /c.sock\n");
    EXPECT_EQ(carved.excluded, (std::vector<std::string>{"*.corp"}));
    EXPECT_EQ(carved.negated, (std::vector<std::string>{"jump.corp"}));
    auto added = add_block(in, kSock, {}, false);
    ASSERT_TRUE(added);
    EXPECT_NE(added->text.find("Host * !github.com !d !e\n    IdentityAgent"), std::string::npos)
        << added->text;
    // Our own block is not one of them, so a second run changes nothing.
    auto again = add_block(added->text, kSock, {}, false);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->changed);
    bool del = false;
    EXPECT_EQ(remove_block(added->text, &del)->text, in);
}

TEST(SshConfigBlock, DeletesOnlyAFileItCreated) {
    auto created = add_block("", kSock, {}, true);
    bool del = false;
    auto removed = remove_block(created->text, &del);
    EXPECT_TRUE(del);
    EXPECT_EQ(removed->text, "");
    // Created, then the user added lines: keep the file.
    auto grown = remove_block(created->text + "Host z\n", &del);
    EXPECT_FALSE(del);
    EXPECT_EQ(grown->text, "Host z\n");
}

TEST(SshConfigBlock, RefusesDamagedBlocksAndUnsafeValues) {
    bool del = false;
    EXPECT_FALSE(remove_block("# Begin skgate\nHost *\n", &del));
    EXPECT_FALSE(remove_block("# End skgate\n", &del));
    EXPECT_FALSE(remove_block("# Begin skgate\n# Begin skgate\n# End skgate\n", &del));
    EXPECT_FALSE(add_block("", "relative/sock", {}, false));
    EXPECT_FALSE(add_block("", "/a\"b", {}, false));
    EXPECT_FALSE(add_block("", kSock, {"bad host"}, false));
    EXPECT_FALSE(add_block("", kSock, {"x\nProxyCommand evil"}, false));
    auto none = remove_block("Host a\n", &del);
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->changed);
}

TEST(KnownHosts, NamesTheHostKeyOnlyWherePlainNamesSayIt) {
    const std::string ed =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const std::string other =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKEvpTL+ItW4eSxJgzm+TLkOIdIBeI+8ooPu7Mgyc9Ya";
    std::string fp = skgate::PublicKey::parse_text(ed)->fingerprint();
    std::string text = "# comment " + ed + "\n" + "web1.example.org,10.0.0.5 " + ed + " comment\n" +
                       "|1|c2FsdA==|aGFzaA== " + ed + "\n" + "*.corp,!x.corp " + ed + "\n" +
                       "@revoked evil " + ed + "\n" + "@cert-authority ca " + ed + "\n" + "db1 " +
                       other + "\n" + "[web1.example.org]:2222 " + ed + "\n" + "web1.example.org " +
                       ed + "\n" + "broken-line\n";
    EXPECT_EQ(known_host_names(text, fp), (std::vector<std::string>{"web1.example.org", "10.0.0.5",
                                                                    "[web1.example.org]:2222"}));
    EXPECT_TRUE(known_host_names(text, "").empty());
    EXPECT_TRUE(known_host_names(text, "SHA256:nothing").empty());
}
