#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sys/safefile.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

class SafeFile : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!running_as_root())
            GTEST_SKIP() << "ownership checks need root";
    }
    TempDir dir;
};

TEST_F(SafeFile, ReadsARootOwnedFile) {
    write_file(dir.file("f"), "hello\n", 0644);
    auto r = read_trusted_file(dir.file("f"), {});
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, "hello\n");
}

TEST_F(SafeFile, RefusesRelativePaths) {
    EXPECT_FALSE(read_trusted_file("relative/file", {}).ok());
}

TEST_F(SafeFile, RefusesWritableByOthers) {
    for (mode_t m : {mode_t{0664}, mode_t{0646}, mode_t{0666}}) {
        write_file(dir.file("f"), "x", m);
        auto r = read_trusted_file(dir.file("f"), {});
        ASSERT_FALSE(r.ok()) << m;
        EXPECT_EQ(r.error().code, ErrorCode::permission);
    }
}

TEST_F(SafeFile, RefusesSymlinksDirectoriesAndFifos) {
    write_file(dir.file("f"), "x", 0644);
    ASSERT_EQ(symlink(dir.file("f").c_str(), dir.file("l").c_str()), 0);
    EXPECT_FALSE(read_trusted_file(dir.file("l"), {}).ok());
    ASSERT_EQ(mkdir(dir.file("d").c_str(), 0755), 0);
    EXPECT_FALSE(read_trusted_file(dir.file("d"), {}).ok());
    ASSERT_EQ(mkfifo(dir.file("p").c_str(), 0644), 0);
    auto r = read_trusted_file(dir.file("p"), {});  // must not block
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
}

TEST_F(SafeFile, OwnerRules) {
    write_file(dir.file("f"), "x", 0644);
    ASSERT_EQ(chown(dir.file("f").c_str(), 1234, 1234), 0);
    EXPECT_FALSE(read_trusted_file(dir.file("f"), {}).ok());
    FileRules user{1234, true, 1024, true};
    EXPECT_TRUE(read_trusted_file(dir.file("f"), user).ok());
    FileRules other{4321, true, 1024, true};
    EXPECT_FALSE(read_trusted_file(dir.file("f"), other).ok());
}

TEST_F(SafeFile, RefusesUnsafeDirectories) {
    ASSERT_EQ(mkdir(dir.file("open").c_str(), 0777), 0);
    chmod(dir.file("open").c_str(), 0777);
    write_file(dir.file("open/f"), "x", 0644);
    auto r = read_trusted_file(dir.file("open/f"), {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("unsafe directory"), std::string::npos);
    FileRules no_dirs;
    no_dirs.check_directories = false;
    EXPECT_TRUE(read_trusted_file(dir.file("open/f"), no_dirs).ok());
    // sticky world-writable directories (like /tmp) are fine
    chmod(dir.file("open").c_str(), 01777);
    EXPECT_TRUE(read_trusted_file(dir.file("open/f"), {}).ok());
}

TEST_F(SafeFile, SizeLimit) {
    write_file(dir.file("f"), std::string(2000, 'a'), 0644);
    FileRules small;
    small.max_bytes = 1999;
    auto r = read_trusted_file(dir.file("f"), small);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("larger than"), std::string::npos);
    small.max_bytes = 2000;
    EXPECT_TRUE(read_trusted_file(dir.file("f"), small).ok());
}

TEST_F(SafeFile, MissingFileIsNotFound) {
    auto r = read_trusted_file(dir.file("none"), {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::not_found);
}
