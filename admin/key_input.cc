#include "admin/key_input.h"

#include <fstream>
#include <sstream>

#include "core/ssh/authkeys.h"

namespace skgate::admin {

Result<std::string> read_small_file(const std::string& path, const char* what) {
    std::ifstream f(path, std::ios::binary);
    if (!f)
        return make_error(ErrorCode::not_found, "cannot read " + std::string(what) + " " + path);
    std::string data(kMaxInputFile + 1, '\0');
    f.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<size_t>(f.gcount()));
    if (data.size() > kMaxInputFile)
        return invalid(std::string(what) + " " + path + " is larger than " +
                       std::to_string(kMaxInputFile) + " bytes");
    return data;
}

Result<std::string> read_key_line(const ArgParser& a) {
    if (auto k = a.value("--key"))
        return *k;
    SKGATE_TRY(file, read_small_file(*a.value("--key-file"), "key file"));
    std::istringstream in(file);
    for (std::string line; std::getline(in, line);)
        if (!is_blank_or_comment(line))
            return line;
    return invalid("invalid key: no key in " + *a.value("--key-file"));
}

}  // namespace skgate::admin
