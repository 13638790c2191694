#include "core/sys/args.h"

namespace skgate {

bool asks_for_help(const std::vector<std::string>& args) {
    return !args.empty() && (args[0] == "--help" || args[0] == "-h");
}

Status ArgParser::parse(const std::vector<std::string>& args) {
    for (size_t i = 0; i < args.size(); i++) {
        const std::string& a = args[i];
        if (a.size() > 1 && a[0] == '-') {
            std::string name = a, inline_value;
            bool has_inline = false;
            if (size_t eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
                name = a.substr(0, eq);
                inline_value = a.substr(eq + 1);
                has_inline = true;
            }
            if (with_value_.count(name)) {
                if (values_.count(name))
                    return invalid(name + " given twice");
                if (has_inline) {
                    values_[name] = inline_value;
                } else {
                    if (i + 1 >= args.size())
                        return invalid(name + " needs a value");
                    values_[name] = args[++i];
                }
            } else if (flags_.count(name) && !has_inline) {
                set_flags_.insert(name);
            } else {
                return invalid("unknown option " + a);
            }
        } else {
            positional_.push_back(a);
        }
    }
    return {};
}

std::optional<std::string> ArgParser::value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end())
        return std::nullopt;
    return it->second;
}

}  // namespace skgate
