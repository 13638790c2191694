#include "core/sources/remote_keys.h"

#include <json-c/json.h>

#include <memory>

#include "core/sys/text.h"
#include "core/sys/timeutil.h"

namespace skgate {

namespace {

constexpr int kMaxJsonDepth = 8;

struct JsonPut {
    void operator()(json_object* o) const { json_object_put(o); }
};
using JsonPtr = std::unique_ptr<json_object, JsonPut>;

// json-c accepts single-quoted strings even in strict mode; JSON has none.
bool single_quote_outside_strings(std::string_view text) {
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '\'') {
            return true;
        }
    }
    return false;
}

// The whole text must be one JSON value; trailing bytes other than
// whitespace are refused.
Result<JsonPtr> parse_document(std::string_view text, const char* what) {
    if (text.size() > kMaxRemoteDocumentBytes)
        return invalid(std::string(what) + ": answer of " + std::to_string(text.size()) +
                       " bytes is larger than " + std::to_string(kMaxRemoteDocumentBytes));
    std::unique_ptr<json_tokener, void (*)(json_tokener*)> tok(json_tokener_new_ex(kMaxJsonDepth),
                                                               json_tokener_free);
    if (!tok)
        return make_error(ErrorCode::internal, "out of memory");
    int flags = JSON_TOKENER_STRICT;
#ifdef JSON_TOKENER_VALIDATE_UTF8
    flags |= JSON_TOKENER_VALIDATE_UTF8;
#endif
    json_tokener_set_flags(tok.get(), flags);
    if (single_quote_outside_strings(text))
        return invalid(std::string(what) + ": not valid JSON (single-quoted string)");
    JsonPtr root(json_tokener_parse_ex(tok.get(), text.data(), static_cast<int>(text.size())));
    enum json_tokener_error err = json_tokener_get_error(tok.get());
    if (!root || err != json_tokener_success)
        return invalid(std::string(what) + ": not valid JSON (" +
                       (err == json_tokener_continue ? std::string("truncated")
                                                     : json_tokener_error_desc(err)) +
                       ")");
#if defined(JSON_C_VERSION_NUM) && JSON_C_VERSION_NUM >= ((0 << 16) | (15 << 8))
    size_t end = json_tokener_get_parse_end(tok.get());
#else
    size_t end = static_cast<size_t>(tok->char_offset);
#endif
    if (!trim(text.substr(std::min(end, text.size()))).empty())
        return invalid(std::string(what) + ": bytes after the JSON document");
    return root;
}

std::string_view string_of(json_object* o) {
    return {json_object_get_string(o), static_cast<size_t>(json_object_get_string_len(o))};
}

void add_line(RemoteKeys& out, json_object* item, const std::string& origin) {
    if (!json_object_is_type(item, json_type_string)) {
        out.refused.push_back(origin + ": not a string");
        return;
    }
    auto key = parse_remote_key_line(string_of(item));
    if (!key) {
        out.refused.push_back(origin + ": " + key.error().message);
        return;
    }
    out.keys.push_back({std::move(*key), std::nullopt, origin});
}

}  // namespace

Result<AuthorizedKey> parse_remote_key_line(std::string_view line) {
    if (line.size() > kMaxRemoteKeyLineBytes)
        return invalid("key line longer than " + std::to_string(kMaxRemoteKeyLineBytes) + " bytes");
    for (char c : line) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            return invalid(
                "control character in the key line (a newline would start another "
                "authorized_keys line)");
    }
    std::string_view t = trim(line);
    if (t.empty())
        return invalid("empty key line");
    auto entry = parse_authorized_key(t);
    if (!entry)
        return entry.error();
    if (!entry->options.empty())
        return invalid(
            "the key line carries options; a remote source may give only "
            "TYPE BASE64 [COMMENT]");
    return entry;
}

Result<RemoteKeys> parse_metadata_ssh_keys(std::string_view json, std::string_view name) {
    SKGATE_TRY(root, parse_document(json, "metadata ssh-keys"));
    json_object* users = nullptr;
    if (!json_object_is_type(root.get(), json_type_object) ||
        !json_object_object_get_ex(root.get(), "users", &users) ||
        !json_object_is_type(users, json_type_object))
        return invalid("metadata ssh-keys: expected {\"users\": {NAME: [KEY, ...]}}");
    RemoteKeys out;
    json_object* list = nullptr;
    if (!json_object_object_get_ex(users, std::string(name).c_str(), &list))
        return out;
    const std::string base = "users." + printable(name, 64);
    if (!json_object_is_type(list, json_type_array))
        return invalid("metadata ssh-keys: " + base + " is not a list of keys");
    size_t n = json_object_array_length(list);
    if (n > kMaxRemoteKeysPerUser)
        return invalid("metadata ssh-keys: " + base + " lists " + std::to_string(n) +
                       " keys, more than " + std::to_string(kMaxRemoteKeysPerUser));
    for (size_t i = 0; i < n; i++)
        add_line(out, json_object_array_get_idx(list, i), base + "[" + std::to_string(i) + "]");
    return out;
}

Result<RemoteKeys> parse_http_keys(std::string_view json) {
    SKGATE_TRY(root, parse_document(json, "http keys"));
    json_object* keys = nullptr;
    if (!json_object_is_type(root.get(), json_type_object) ||
        !json_object_object_get_ex(root.get(), "keys", &keys) ||
        !json_object_is_type(keys, json_type_array))
        return invalid("http keys: expected {\"keys\": [{\"key\": KEY, \"expires\": TIME}, ...]}");
    size_t n = json_object_array_length(keys);
    if (n > kMaxRemoteKeysPerUser)
        return invalid("http keys: " + std::to_string(n) + " keys, more than " +
                       std::to_string(kMaxRemoteKeysPerUser));
    RemoteKeys out;
    for (size_t i = 0; i < n; i++) {
        const std::string origin = "keys[" + std::to_string(i) + "]";
        json_object* item = json_object_array_get_idx(keys, i);
        json_object* key = nullptr;
        json_object* expires = nullptr;
        if (!json_object_is_type(item, json_type_object) ||
            !json_object_object_get_ex(item, "key", &key)) {
            out.refused.push_back(origin + ": not an object with a \"key\"");
            continue;
        }
        size_t before = out.keys.size();
        add_line(out, key, origin);
        if (out.keys.size() == before)
            continue;
        if (json_object_object_get_ex(item, "expires", &expires) &&
            !json_object_is_type(expires, json_type_null)) {
            auto t = json_object_is_type(expires, json_type_string)
                         ? parse_iso8601(string_of(expires))
                         : Result<std::time_t>(invalid("not a string"));
            if (!t) {
                out.keys.pop_back();
                out.refused.push_back(origin + ": \"expires\": " + t.error().message);
                continue;
            }
            out.keys.back().expires = *t;
        }
    }
    return out;
}

}  // namespace skgate
