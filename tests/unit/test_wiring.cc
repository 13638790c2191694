// The text transformations behind skgatectl enable/disable: sshd drop-in,
// PAM lines in and out, skgate.conf's Mode, reading sshd -T and versions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "core/policy/policy.h"
#include "core/sys/text.h"
#include "core/wiring/sshd_wiring.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::wiring;

namespace {

std::string fixture(const std::string& rel) {
    const char* root = std::getenv("SKGATE_SOURCE_ROOT");
    if (!root)
        throw std::runtime_error("SKGATE_SOURCE_ROOT is not set (run through meson test)");
    return test::read_file(std::string(root) + "/tests/fixtures/" + rel);
}

Options enforce_options() {
    Options o;
    o.mode = Mode::enforce;
    o.helper = "/usr/libexec/skgate/skgate-keys";
    return o;
}

}  // namespace

TEST(Wiring, DropinPerMode) {
    Options o = enforce_options();
    o.revoked_keys = "/etc/skgate/revoked.krl";
    std::string enforce = render_dropin(o);
    EXPECT_NE(enforce.find("\nAuthorizedKeysCommand /usr/libexec/skgate/skgate-keys -a "
                           ".ssh/authorized_keys -a .ssh/authorized_keys2 %u %t %k %f\n"),
              std::string::npos)
        << enforce;
    EXPECT_NE(enforce.find("\nAuthorizedKeysCommandUser root\n"), std::string::npos);
    EXPECT_NE(enforce.find("\nAuthorizedKeysFile none\n"), std::string::npos);
    EXPECT_NE(enforce.find("\nRevokedKeys /etc/skgate/revoked.krl\n"), std::string::npos);
    EXPECT_NE(enforce.find("\nPubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com,"
                           "sk-ssh-ed25519@openssh.com\n"),
              std::string::npos);
    EXPECT_EQ(enforce.find("Match"), std::string::npos) << "no break-glass users, no Match";
    EXPECT_EQ(enforce.find("AuthenticationMethods"), std::string::npos);
    EXPECT_EQ(expected_effective(o)["revokedkeys"], "/etc/skgate/revoked.krl");

    // Audit mode: sshd still reads no file of its own; skgate-keys serves
    // them unchanged.
    o.mode = Mode::audit;
    o.config_path = "/srv/skgate.conf";
    o.previous_authorized_keys_file = "%h/.ssh/authorized_keys /etc/ssh/keys/%u";
    std::string audit = render_dropin(o);
    EXPECT_NE(audit.find("\nAuthorizedKeysFile none\n"), std::string::npos);
    EXPECT_EQ(audit.find("\nPubkeyAcceptedAlgorithms"), std::string::npos);
    EXPECT_NE(audit.find("skgate-keys -f /srv/skgate.conf -a %%h/.ssh/authorized_keys -a "
                         "/etc/ssh/keys/%%u %u %t %k %f\n"),
              std::string::npos)
        << "sshd expands %-tokens in the command: doubled, they reach skgate-keys as written";
    EXPECT_EQ(expected_effective(o)["authorizedkeysfile"], "none");
    EXPECT_EQ(expected_effective(o).count("pubkeyacceptedalgorithms"), 0u);
    o.previous_authorized_keys_file = "none";
    EXPECT_NE(render_dropin(o).find(" -a none %u"), std::string::npos);

    o = enforce_options();
    o.pam_confirm = true;
    o.break_glass_users = {"rescue", "ops"};
    o.previous_pubkey_algorithms = "ssh-ed25519";
    std::string confirm = render_dropin(o);
    EXPECT_NE(confirm.find("\nAuthenticationMethods publickey,keyboard-interactive:pam\n"),
              std::string::npos);
    // Break-glass users keep their key types, never a file sshd reads itself.
    EXPECT_NE(confirm.find("\nMatch User rescue,ops\n"
                           "    PubkeyAcceptedAlgorithms ssh-ed25519\n"
                           "    AuthenticationMethods publickey\n"),
              std::string::npos)
        << confirm;
    EXPECT_EQ(confirm.find("    AuthorizedKeysFile"), std::string::npos) << confirm;
    auto e = expected_effective(o);
    EXPECT_EQ(e["authenticationmethods"], "publickey,keyboard-interactive:pam");
    EXPECT_EQ(e["authorizedkeysfile"], "none");
    EXPECT_EQ(e["authorizedkeyscommanduser"], "root");
}

TEST(Wiring, IncludeOfTheDropinDirectory) {
    const std::string dir = "/etc/ssh/sshd_config.d";
    EXPECT_TRUE(includes_dropins(fixture("debian12/etc/ssh/sshd_config"), dir));
    EXPECT_TRUE(includes_dropins(fixture("rhel9/etc/ssh/sshd_config"), dir));
    EXPECT_TRUE(includes_dropins("Include sshd_config.d/*.conf\n", dir)) << "relative to /etc/ssh";
    EXPECT_TRUE(includes_dropins("include=/etc/ssh/sshd_config.d/*\n", dir));
    EXPECT_TRUE(includes_dropins("Include /etc/a.conf /etc/ssh/sshd_config.d/*.conf\n", dir));
    EXPECT_FALSE(includes_dropins("#Include /etc/ssh/sshd_config.d/*.conf\n", dir));
    EXPECT_FALSE(includes_dropins("Include /etc/ssh/other.d/*.conf\n", dir));
    EXPECT_FALSE(includes_dropins("Match User x\nInclude /etc/ssh/sshd_config.d/*.conf\n", dir))
        << "an Include inside a Match applies only there";
    EXPECT_FALSE(includes_dropins("", dir));
}

TEST(Wiring, PamLinesGoInAndComeOutExactly) {
    for (const char* f : {"debian12/etc/pam.d/sshd", "rhel9/etc/pam.d/sshd"}) {
        const std::string pam = fixture(f);
        Options o = enforce_options();
        o.pam_confirm = true;
        auto added = add_pam_lines(pam, o);
        ASSERT_TRUE(added.ok()) << added.error().message;
        EXPECT_TRUE(has_pam_lines(*added));
        EXPECT_FALSE(has_pam_lines(pam));
        EXPECT_EQ(remove_pam_lines(*added), pam) << f;
        // The auth rule precedes every other line that can add auth rules.
        size_t ours = added->find("auth [success=done default=die] pam_skgate.so");
        size_t first_other =
            std::min(added->find("@include common-auth"), added->find("auth       substack"));
        EXPECT_LT(ours, first_other) << f;
        // Adding to an already wired file is refused (skgate would stack).
        EXPECT_FALSE(add_pam_lines(*added, o).ok());
    }
    // A file without a final newline and without auth rules.
    Options o = enforce_options();
    o.pam_confirm = true;
    auto added = add_pam_lines("session required pam_env.so", o);
    ASSERT_TRUE(added.ok());
    EXPECT_EQ(*added, "session required pam_env.so\n" + std::string(kPamMarker) +
                          "\nauth [success=done default=die] pam_skgate.so\n" +
                          std::string(kPamMarker) + "\nsession optional pam_skgate.so\n");
    EXPECT_EQ(remove_pam_lines(*added), "session required pam_env.so\n");
}

TEST(Wiring, PamFilesThatAlreadyLoadTheModuleAreRefused) {
    Options o = enforce_options();
    for (const char* line : {"auth required pam_skgate.so\n",
                             "session optional /lib/x86_64-linux-gnu/security/pam_skgate.so\n",
                             "auth [success=done default=die] pam_skgate.so debug\n"}) {
        auto r = add_pam_lines(std::string("@include common-auth\n") + line, o);
        ASSERT_FALSE(r.ok()) << line;
        EXPECT_NE(r.error().message.find("line 2"), std::string::npos) << r.error().message;
    }
    // Comments mentioning it do not count; a lone marker is left alone.
    auto r = add_pam_lines("# pam_skgate.so is not used here\n", o);
    EXPECT_TRUE(r.ok());
    const std::string lone = std::string(kPamMarker) + "\nsession required pam_env.so\n";
    EXPECT_EQ(remove_pam_lines(lone), lone);
}

TEST(Wiring, GlobalModeLine) {
    EXPECT_EQ(set_global_mode("Mode audit\nKeySources local\n", Mode::enforce),
              "Mode enforce\nKeySources local\n");
    EXPECT_EQ(set_global_mode("# c\nmode=audit\n", Mode::enforce), "# c\nMode enforce\n");
    EXPECT_EQ(set_global_mode("KeySources local\nMatch User a\n    Mode audit\n", Mode::enforce),
              "KeySources local\nMode enforce\nMatch User a\n    Mode audit\n")
        << "a Match block's Mode stays, the global one goes before the first Match";
    EXPECT_EQ(set_global_mode("KeySources local", Mode::audit), "KeySources local\nMode audit\n");
    EXPECT_EQ(set_global_mode("", Mode::audit), "Mode audit\n");
}

TEST(Wiring, SshdTestOutputAndVersions) {
    auto m = parse_sshd_t("port 22\nauthorizedkeyscommand /x -f /y %u\nhostkey /a\nhostkey /b\n");
    EXPECT_EQ(m["authorizedkeyscommand"], "/x -f /y %u");
    EXPECT_EQ(m["hostkey"], "/a");
    EXPECT_EQ(m["port"], "22");

    auto v = parse_openssh_version("OpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL 1.1.1w  11 Sep 2023");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->major, 8);
    EXPECT_EQ(v->minor, 4);
    EXPECT_EQ(v->text, "OpenSSH_8.4p1");
    EXPECT_TRUE(v->supports_verify_required()) << "Debian 11's 8.4p1 has verify-required";
    auto old = parse_openssh_version("unknown option -- ?\nOpenSSH_8.2p1 Ubuntu-4ubuntu0.11");
    ASSERT_TRUE(old.ok());
    EXPECT_TRUE(old->supports_sk());
    EXPECT_FALSE(old->supports_verify_required());
    auto ten = parse_openssh_version("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1");
    ASSERT_TRUE(ten.ok());
    EXPECT_EQ(ten->major, 10);
    EXPECT_FALSE(parse_openssh_version("OpenSSH_7.9p1").value().supports_sk());
    EXPECT_FALSE(parse_openssh_version("Dropbear v2022.83").ok());
    EXPECT_FALSE(parse_openssh_version("OpenSSH_x.y").ok());
    EXPECT_FALSE(parse_openssh_version("OpenSSH_9").ok());
}

// A line of only a form feed or vertical tab has no words (fuzz_wiring found
// that add_pam_lines read the first word of none: a crash of enable).
TEST(Wiring, PamLineOfOnlyFormFeedOrVerticalTab) {
    wiring::Options o;
    o.pam_confirm = true;
    for (const char* pam : {"\f\n@include common-auth\n", "\v\n", "\v"}) {
        auto out = wiring::add_pam_lines(pam, o);
        ASSERT_TRUE(out.ok()) << out.error().message;
        EXPECT_NE(out->find("auth [success=done default=die] pam_skgate.so"), std::string::npos);
    }
}

// What disable gives back of a policy edited after enable: only the global
// Mode line, as the original had it (or none); the edit stays.
TEST(Wiring, RestoreEnableSettingsKeepsTheEdit) {
    const std::string edited = "Mode enforce\nKeySources local\nMatch User a\n  TouchRequired no\n";
    EXPECT_EQ(restore_enable_settings(edited, "Mode audit\n"),
              "Mode audit\nKeySources local\nMatch User a\n  TouchRequired no\n");
    EXPECT_EQ(restore_enable_settings(edited, "KeySources local\n"),
              "KeySources local\nMatch User a\n  TouchRequired no\n");
    // A Mode only inside a Match block is not the global one.
    EXPECT_EQ(restore_enable_settings(edited, "Match User b\n  Mode audit\n"),
              "KeySources local\nMatch User a\n  TouchRequired no\n");
    EXPECT_EQ(restore_enable_settings("KeySources local\n", "Mode audit\n"), "KeySources local\n")
        << "nothing to put back into";
}

// enable --chain: the command source added, and taken out again by disable
// with the administrator's edits kept.
TEST(Wiring, ChainAddsTheCommandSourceAndDisableTakesOnlyThatOut) {
    const KeysCommandSettings eic{
        {"/usr/share/ec2-instance-connect/eic_run_authorized_keys", "%u", "%f"},
        "ec2-instance-connect"};
    const std::string original =
        "# policy\nKeySources local ldap\nMatch User a\n  TouchRequired no\n";
    auto chained = set_keys_command(original, eic);
    ASSERT_TRUE(chained.ok()) << chained.error().message;
    EXPECT_EQ(*chained,
              "# policy\nKeySources local ldap command\n"
              "KeysCommand /usr/share/ec2-instance-connect/eic_run_authorized_keys %u %f\n"
              "KeysCommandUser ec2-instance-connect\nMatch User a\n  TouchRequired no\n");
    auto parsed = Policy::parse(*chained, "chained.conf");
    ASSERT_TRUE(parsed.ok()) << parsed.error().message;
    EXPECT_EQ(parsed->global().keys_command.argv, eic.argv);
    EXPECT_EQ(restore_enable_settings(*chained, original), original);
    // The administrator added a source after enable: it stays.
    std::string edited = *chained;
    edited.replace(edited.find("ldap command"), 12, "ldap command http");
    EXPECT_EQ(restore_enable_settings(edited, original),
              "# policy\nKeySources local ldap http\nMatch User a\n  TouchRequired no\n");

    // No KeySources: "local command", and disable takes the line out.
    auto added = set_keys_command("Mode audit\n", eic);
    ASSERT_TRUE(added.ok());
    EXPECT_NE(added->find("KeySources local command\n"), std::string::npos) << *added;
    EXPECT_EQ(restore_enable_settings(*added, "Mode audit\n"), "Mode audit\n");

    // A word with a space or a quote is written so that it reads back.
    auto quoted = set_keys_command("", {{"/opt/my keys/run", "say \"hi\"", "%u"}, "nobody"});
    ASSERT_TRUE(quoted.ok());
    auto back = Policy::parse(*quoted, "q.conf");
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << *quoted;
    EXPECT_EQ(back->global().keys_command.argv,
              (std::vector<std::string>{"/opt/my keys/run", "say \"hi\"", "%u"}));

    // KeySources only in Match blocks: a global line would override them.
    auto refused = set_keys_command("Match User a\n  KeySources ldap\n", eic);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().message.find("only in Match blocks"), std::string::npos);
}

// The lines of `text` that load pam_skgate, each with its words joined by
// one space (and not the ones of the page's prose, which are *marked up*).
std::vector<std::string> pam_skgate_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.find("pam_skgate.so") == std::string::npos || line.find('*') != std::string::npos)
            continue;
        std::string joined;
        for (const auto& w : split_whitespace(line))
            joined += (joined.empty() ? "" : " ") + w;
        out.push_back(joined);
    }
    return out;
}

// pam_skgate(8)'s example of the Debian sshd stack is what enable writes:
// the same pam_skgate lines, no more (it once showed an account line that
// enable never wrote).
TEST(WiringPam, TheManPageShowsTheLinesEnableWrites) {
    const char* src = std::getenv("SKGATE_SOURCE_ROOT");
    ASSERT_NE(src, nullptr);
    std::string page = test::read_file(std::string(src) + "/docs/man/pam_skgate.8.scd");
    size_t from = page.find("Debian, _/etc/pam.d/sshd_, login confirmation");
    size_t to = page.find("RHEL, _/etc/pam.d/sshd_", from);
    ASSERT_NE(from, std::string::npos);
    ASSERT_NE(to, std::string::npos);

    Options o;
    o.pam_confirm = true;
    auto added = add_pam_lines(
        "@include common-auth\n@include common-account\n@include common-session\n", o);
    ASSERT_TRUE(added.ok()) << added.error().message;
    EXPECT_EQ(pam_skgate_lines(page.substr(from, to - from)), pam_skgate_lines(*added));
}

// pam_skgate reads the files skgate-keys was given: enable passes a custom
// AuthorizedKeysFile on as keyfile=, and writes nothing for sshd's default.
TEST(WiringPam, TheModuleIsGivenTheUserFilesSkgateKeysReads) {
    Options o;
    o.pam_confirm = true;
    auto plain = add_pam_lines("@include common-auth\n", o);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(plain->find("keyfile="), std::string::npos) << *plain;

    o.previous_authorized_keys_file = ".ssh/authorized_keys /etc/ssh/keys/%u";
    auto custom = add_pam_lines("@include common-auth\n", o);
    ASSERT_TRUE(custom.ok());
    EXPECT_NE(custom->find("auth [success=done default=die] pam_skgate.so "
                           "keyfile=.ssh/authorized_keys keyfile=/etc/ssh/keys/%u\n"),
              std::string::npos)
        << *custom;
    EXPECT_NE(custom->find("session optional pam_skgate.so keyfile=.ssh/authorized_keys "
                           "keyfile=/etc/ssh/keys/%u\n"),
              std::string::npos)
        << *custom;
    EXPECT_NE(helper_command(o).find(" -a .ssh/authorized_keys -a /etc/ssh/keys/%%u "),
              std::string::npos);

    o.previous_authorized_keys_file = "none";
    auto none = add_pam_lines("@include common-auth\n", o);
    ASSERT_TRUE(none.ok());
    EXPECT_NE(none->find("pam_skgate.so keyfile=none\n"), std::string::npos) << *none;
    // disable takes them out again, whatever their arguments
    EXPECT_EQ(remove_pam_lines(*custom), "@include common-auth\n");
}
