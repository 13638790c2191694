#include "core/policy/settings.h"

namespace skgate {

std::string_view to_string(Mode m) {
    return m == Mode::enforce ? "enforce" : "audit";
}

std::string_view to_string(CounterCheck c) {
    switch (c) {
        case CounterCheck::strict:
            return "strict";
        case CounterCheck::warn:
            return "warn";
        case CounterCheck::off:
            return "off";
    }
    return "";
}

std::string_view to_string(SourceOutage o) {
    return o == SourceOutage::cached ? "cached" : "deny";
}

bool is_remote(KeySource s) {
    return s == KeySource::metadata || s == KeySource::http || s == KeySource::ldap;
}

std::string_view to_string(KeySource s) {
    switch (s) {
        case KeySource::local:
            return "local";
        case KeySource::authorized_keys:
            return "authorized_keys";
        case KeySource::metadata:
            return "metadata";
        case KeySource::http:
            return "http";
        case KeySource::ldap:
            return "ldap";
        case KeySource::command:
            return "command";
    }
    return "";
}

}  // namespace skgate
