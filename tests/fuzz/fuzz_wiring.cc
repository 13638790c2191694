// The files skgatectl enable edits (/etc/pam.d/sshd, skgate.conf), what it
// reads back from sshd (-T, -V), and skgate-keys' -a patterns: whatever
// they hold, adding skgate's PAM lines and taking them out again gives back
// exactly the input, and nothing crashes.
#include <string>

#include "core/store/user_keyfiles.h"
#include "core/sys/text.h"
#include "core/wiring/sshd_wiring.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    skgate::wiring::Options o;
    o.mode = skgate::Mode::enforce;
    o.pam_confirm = (size & 1) != 0;
    o.helper = "/usr/libexec/skgate/skgate-keys";
    auto added = skgate::wiring::add_pam_lines(in, o);
    if (added) {
        if (!skgate::wiring::has_pam_lines(*added))
            __builtin_trap();
        std::string removed = skgate::wiring::remove_pam_lines(*added);
        std::string expected = in;
        if (!expected.empty() && expected.back() != '\n')
            expected += '\n';
        // Lines skgatectl marked before stay out as well.
        if (!skgate::wiring::has_pam_lines(in) && removed != expected)
            __builtin_trap();
    }
    (void)skgate::wiring::set_global_mode(in, skgate::Mode::audit);
    (void)skgate::wiring::restore_enable_settings(in, in);
    if (auto chained = skgate::wiring::set_keys_command(in, {{"/bin/true", "%u"}, "nobody"}))
        (void)skgate::wiring::restore_enable_settings(*chained, in);
    // The -a patterns skgate-keys expands (AuthorizedKeysFile's syntax).
    skgate::Account account{"fuzz", 1000, 1000, size & 2 ? "/home/fuzz" : ""};
    if (skgate::validate_user_key_file_pattern(in).ok() &&
        !skgate::user_key_file_path(in, account).ok() && !account.home.empty())
        __builtin_trap();  // a valid pattern expands for an account with a home
    (void)skgate::wiring::includes_dropins(in, "/etc/ssh/sshd_config.d");
    (void)skgate::wiring::parse_sshd_t(in);
    (void)skgate::wiring::parse_openssh_version(in);
    // sshd_config lines and ExecStart as enable splits them: no word is
    // longer than the input, and no word holds unquoted whitespace.
    for (const auto& w : skgate::split_quoted_words(in))
        if (w.size() > in.size())
            __builtin_trap();
    return 0;
}
