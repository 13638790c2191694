#include "core/ssh/keyinfo.h"

#include "core/ssh/authkeys.h"
#include "core/ssh/ossl.h"
#include "core/sys/text.h"

namespace skgate {

KeyReport inspect_key_text(std::string_view line) {
    KeyReport r;
    auto entry = parse_authorized_key(line);
    if (!entry) {
        r.error = entry.error().message;
        return r;
    }
    const PublicKey& k = entry->key;
    if (auto st = ossl::validate_key(k); !st) {
        r.error = st.error().message;
        return r;
    }
    r.valid = true;
    r.type = k.type_name();
    r.display_type = std::string(k.display_type());
    r.bits = k.bits();
    r.fingerprint = k.fingerprint();
    r.application = k.application();
    r.security_key = k.is_security_key();
    r.certificate = k.is_certificate();
    r.comment = entry->comment;
    if (!entry->options.empty()) {
        auto opts = format_key_options(entry->options);
        r.options = opts ? *opts : "(not representable: " + opts.error().message + ")";
    }
    return r;
}

std::string render_key_report_text(const KeyReport& r) {
    if (!r.valid)
        return "valid:        no\nerror:        " + printable(r.error, 400) + "\n";
    std::string out;
    auto line = [&](std::string_view label, const std::string& value) {
        out += std::string(label);
        out += std::string(14 - label.size(), ' ');
        out += printable(value, 400);
        out += '\n';
    };
    line("type:", r.type + " (" + r.display_type + ")");
    line("bits:", std::to_string(r.bits));
    line("fingerprint:", r.fingerprint);
    line("security key:", r.security_key ? "yes (FIDO2)" : "no");
    if (r.security_key)
        line("application:", r.application);
    if (r.certificate)
        line("certificate:", "yes (skgate does not accept certificates)");
    if (!r.options.empty())
        line("options:", r.options);
    if (!r.comment.empty())
        line("comment:", r.comment);
    line("valid:", "yes");
    return out;
}

void render_key_report_json(const KeyReport& r, JsonWriter& w) {
    w.begin_object();
    w.key("valid").value(r.valid);
    if (!r.valid) {
        w.key("error").value(r.error);
        w.end_object();
        return;
    }
    w.key("type").value(r.type);
    w.key("bits").value(static_cast<uint64_t>(r.bits));
    w.key("fingerprint").value(r.fingerprint);
    w.key("security_key").value(r.security_key);
    w.key("certificate").value(r.certificate);
    if (r.security_key)
        w.key("application").value(r.application);
    else
        w.key("application").null();
    w.key("options").value(r.options);
    w.key("comment").value(r.comment);
    w.end_object();
}

}  // namespace skgate
