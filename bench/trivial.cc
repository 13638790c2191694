// The baseline for bench_keys: a C++ program that does nothing, so that the
// ratio shows what skgate-keys adds to the cost of starting any program.
#include <string>

int main(int argc, char**) {
    std::string s(static_cast<size_t>(argc), 'x');
    return s.size() > 100 ? 1 : 0;
}
