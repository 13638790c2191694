#include "core/store/statefile.h"

#include "core/sys/atomicfile.h"
#include "core/sys/safefile.h"
#include "core/sys/username.h"

namespace skgate {

namespace {

constexpr size_t kMaxStateFile = 256 * 1024;

Result<KeyedValues> parse(const std::string& text, const std::string& path) {
    KeyedValues out;
    size_t pos = 0, lineno = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text.size() : nl + 1;
        lineno++;
        size_t sp = line.find(' ');
        std::string key = line.substr(0, sp);
        std::string num = sp == std::string::npos ? "" : line.substr(sp + 1);
        bool ok = key.starts_with("SHA256:") && !num.empty() && num.size() <= 19 &&
                  num.find_first_not_of("0123456789") == std::string::npos;
        if (!ok || out.count(key))
            return invalid(path + ":" + std::to_string(lineno) + ": malformed state line");
        out[key] = std::stoull(num);
    }
    return out;
}

}  // namespace

Result<KeyedValues> KeyedState::load(const std::string& user) const {
    SKGATE_CHECK(validate_username(user));
    std::string path = dir_ + "/" + user;
    FileRules rules;
    rules.max_bytes = kMaxStateFile;
    auto text = read_trusted_file(path, rules);
    if (!text) {
        if (text.error().code == ErrorCode::not_found)
            return KeyedValues{};
        return text.error();
    }
    return parse(*text, path);
}

Status KeyedState::update(const std::string& user,
                          const std::function<Result<bool>(KeyedValues&)>& change) {
    SKGATE_CHECK(validate_username(user));
    size_t slash = dir_.find_last_of('/');
    SKGATE_CHECK(ensure_directory(dir_.substr(0, slash), {0, 0, 0755}));
    SKGATE_CHECK(ensure_directory(dir_, {0, 0, 0700}));
    SKGATE_TRY(lock, FileLock::acquire(dir_ + "/." + user + ".lock"));
    SKGATE_TRY(values, load(user));
    SKGATE_TRY(write, change(values));
    if (!write)
        return {};
    std::string content;
    for (const auto& [k, v] : values)
        content += k + " " + std::to_string(v) + "\n";
    return write_file_atomic(dir_ + "/" + user, content, {0, 0, 0600});
}

}  // namespace skgate
