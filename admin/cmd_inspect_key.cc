#include <cstdio>
#include <iostream>
#include <string>

#include "admin/commands.h"
#include "core/ssh/authkeys.h"
#include "core/ssh/keyinfo.h"
#include "core/sys/json.h"

namespace skgate::admin {

namespace {

constexpr size_t kMaxStdinBytes = 4 * 1024 * 1024;

int usage() {
    std::fputs(kInspectKeyUsage, stderr);
    return kExitUsage;
}

}  // namespace

int cmd_inspect_key(const Args& args) {
    bool json = false;
    std::string key;
    bool have_key = false;
    for (const auto& a : args) {
        if (a == "--json") {
            json = true;
        } else if (a == "-" || a.empty() || a[0] != '-') {
            if (have_key)
                return usage();
            key = a;
            have_key = true;
        } else {
            std::fprintf(stderr, "skgatectl: inspect-key: unknown option %s\n", a.c_str());
            return usage();
        }
    }

    std::vector<std::string> lines;
    if (have_key && key != "-") {
        lines.push_back(key);
    } else {
        std::string line;
        size_t total = 0;
        while (std::getline(std::cin, line)) {
            total += line.size() + 1;
            if (total > kMaxStdinBytes) {
                std::fprintf(stderr,
                             "skgatectl: inspect-key: standard input is larger than %zu bytes\n",
                             kMaxStdinBytes);
                return kExitFailure;
            }
            if (!is_blank_or_comment(line))
                lines.push_back(line);
        }
        if (lines.empty()) {
            std::fputs("skgatectl: inspect-key: no key found on standard input\n", stderr);
            return kExitFailure;
        }
    }

    int status = kExitOk;
    for (size_t i = 0; i < lines.size(); i++) {
        KeyReport r = inspect_key_text(lines[i]);
        if (!r.valid) {
            status = kExitFailure;
            if (!json) {
                std::string where = lines.size() > 1 ? "line " + std::to_string(i + 1) + ": " : "";
                std::fprintf(stderr, "skgatectl: inspect-key: %sinvalid key: %s\n", where.c_str(),
                             r.error.c_str());
            }
        }
        if (json) {
            JsonWriter w;
            render_key_report_json(r, w);
            std::printf("%s\n", w.str().c_str());
        } else {
            if (i > 0)
                std::fputs("\n", stdout);
            std::fputs(render_key_report_text(r).c_str(), stdout);
        }
    }
    return status;
}

}  // namespace skgate::admin
