// Tests of the config layer: sizes, the shipped policies, and every broken
// policy in tests/policies/bad/ (each names the line and field its error
// must report in its first line: "# expect: LINE FIELD").
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/policy.h"
#include "config/policy_parser.h"

namespace tiermem::config {
namespace {

constexpr uint64_t KiB = 1ull << 10;
constexpr uint64_t MiB = 1ull << 20;
constexpr uint64_t GiB = 1ull << 30;
constexpr uint64_t TiB = 1ull << 40;

std::string SourcePath(const std::string& relative) {
  return std::string(TIERMEM_SOURCE_DIR) + "/" + relative;
}

Policy ExpectPolicy(const ParseResult& result) {
  if (const PolicyError* error = std::get_if<PolicyError>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->ToString();
    return Policy{};
  }
  return std::get<Policy>(result);
}

PolicyError ExpectError(const ParseResult& result) {
  if (std::holds_alternative<Policy>(result)) {
    ADD_FAILURE() << "expected an error, the policy was accepted";
    return PolicyError{};
  }
  return std::get<PolicyError>(result);
}

// ---------------------------------------------------------------- sizes

struct SizeCase {
  const char* text;
  uint64_t bytes;
};

TEST(ParseSize, AcceptsUnitsNumbersAndFractions) {
  const SizeCase cases[] = {
      {"0", 0},
      {"123", 123},
      {"123B", 123},
      {"123 b", 123},
      {"64KiB", 64 * KiB},
      {"64K", 64 * KiB},
      {"64k", 64 * KiB},
      {"64kib", 64 * KiB},
      {"512MiB", 512 * MiB},
      {"512M", 512 * MiB},
      {"512 MiB", 512 * MiB},
      {"4GiB", 4 * GiB},
      {"4G", 4 * GiB},
      {"4GIB", 4 * GiB},
      {"4 g", 4 * GiB},
      {"1TiB", TiB},
      {"1T", TiB},
      {"1.5GiB", GiB + GiB / 2},
      {"1.5 G", GiB + GiB / 2},
      {"0.5KiB", 512},
      {"2.25MiB", 2 * MiB + MiB / 4},
      {"0.3GiB", 322122547},  // 0.3 * 2^30 = 322122547.2, rounded down to whole bytes
      {"  2MiB  ", 2 * MiB},
      {"1PiB", 1ull << 50},
      {"15PiB", 15ull << 50},
      {"18446744073709551615", UINT64_MAX},
  };
  for (const SizeCase& c : cases) {
    uint64_t bytes = 12345;
    EXPECT_TRUE(ParseSize(c.text, &bytes)) << c.text;
    EXPECT_EQ(bytes, c.bytes) << c.text;
  }
}

TEST(ParseSize, RejectsGarbageNegativeAndOverflow) {
  const char* rejected[] = {
      "",
      " ",
      "GiB",
      "-1",
      "-1GiB",
      "+1",
      "1.",
      ".5G",
      "1..5G",
      "1.5",
      "1.5B",
      "1e9",
      "4GB",
      "4gb",
      "4MB",
      "4 GiB x",
      "4GiBs",
      "4Gi",
      "lots",
      "0x10",
      "1,000",
      "1 000",
      "4\nGiB",
      "16EiB",
      "16384PiB",
      "18446744073709551616",
      "99999999999999999999999",
      "1.0000000000000000001G",
  };
  for (const char* text : rejected) {
    uint64_t bytes = 777;
    EXPECT_FALSE(ParseSize(text, &bytes)) << '"' << text << '"';
    EXPECT_EQ(bytes, 777u) << "output written on failure for \"" << text << '"';
  }
}

TEST(FormatSize, PrintsHumanUnits) {
  EXPECT_EQ(FormatSize(0), "0 B");
  EXPECT_EQ(FormatSize(100), "100 B");
  EXPECT_EQ(FormatSize(1023), "1023 B");
  EXPECT_EQ(FormatSize(1024), "1 KiB");
  EXPECT_EQ(FormatSize(1536), "1.5 KiB");
  EXPECT_EQ(FormatSize(256 * KiB), "256 KiB");
  EXPECT_EQ(FormatSize(512 * MiB), "512 MiB");
  EXPECT_EQ(FormatSize(3 * GiB), "3 GiB");
  EXPECT_EQ(FormatSize(GiB + GiB / 2), "1.5 GiB");
  EXPECT_EQ(FormatSize(GiB + GiB / 4), "1.25 GiB");
  EXPECT_EQ(FormatSize(1234567), "1.18 MiB");
  EXPECT_EQ(FormatSize(MiB - 1), "1024 KiB");  // rounds, never prints "1023.99..."
  EXPECT_EQ(FormatSize(64 * TiB), "64 TiB");
  EXPECT_EQ(FormatSize(2ull << 50), "2 PiB");
  EXPECT_EQ(FormatSize(UINT64_MAX), "16384 PiB");
}

TEST(FormatSize, RoundTripsThroughParseSize) {
  const uint64_t sizes[] = {0,       100,           64 * KiB, 1536 * KiB,
                            3 * GiB, GiB + GiB / 4, 5 * TiB,  7ull << 50};
  for (uint64_t bytes : sizes) {
    uint64_t parsed = 0;
    ASSERT_TRUE(ParseSize(FormatSize(bytes), &parsed)) << FormatSize(bytes);
    EXPECT_EQ(parsed, bytes) << FormatSize(bytes);
  }
}

TEST(TierKindName, NamesEveryKind) {
  EXPECT_STREQ(TierKindName(TierKind::kDram), "dram");
  EXPECT_STREQ(TierKindName(TierKind::kCxl), "cxl");
  EXPECT_STREQ(TierKindName(TierKind::kPmem), "pmem");
  EXPECT_STREQ(TierKindName(TierKind::kNvme), "nvme");
}

// ---------------------------------------------------------------- good policies

TEST(DefaultPolicy, IsDramThenNvme) {
  const Policy policy = DefaultPolicy();
  EXPECT_EQ(policy.source, "<built-in default>");
  EXPECT_EQ(policy.name, "default");
  EXPECT_EQ(policy.extent_size, 2 * MiB);
  EXPECT_EQ(policy.image_size, TiB);
  EXPECT_EQ(policy.tiered_min_size, 256 * KiB);
  EXPECT_FALSE(policy.strict);
  ASSERT_EQ(policy.tiers.size(), 2u);
  EXPECT_EQ(policy.tiers[0].name, "dram");
  EXPECT_EQ(policy.tiers[0].kind, TierKind::kDram);
  EXPECT_FALSE(policy.tiers[0].budget.has_value());
  EXPECT_FALSE(policy.tiers[0].IsFileTier());
  EXPECT_EQ(policy.tiers[1].name, "nvme");
  EXPECT_EQ(policy.tiers[1].kind, TierKind::kNvme);
  EXPECT_EQ(policy.tiers[1].path, "/var/tmp");
  EXPECT_TRUE(policy.tiers[1].IsFileTier());
  EXPECT_GT(policy.tiers[1].line, policy.tiers[0].line);
}

TEST(DefaultPolicy, MatchesPoliciesDefaultToml) {
  const std::string path = SourcePath("policies/default.toml");
  const Policy from_file = ExpectPolicy(LoadPolicyFile(path));
  const Policy built_in = DefaultPolicy();
  EXPECT_EQ(from_file.source, path);
  EXPECT_EQ(from_file.name, built_in.name);
  EXPECT_EQ(from_file.extent_size, built_in.extent_size);
  EXPECT_EQ(from_file.tiered_min_size, built_in.tiered_min_size);
  ASSERT_EQ(from_file.tiers.size(), built_in.tiers.size());
  for (size_t i = 0; i < built_in.tiers.size(); ++i) {
    EXPECT_EQ(from_file.tiers[i].name, built_in.tiers[i].name);
    EXPECT_EQ(from_file.tiers[i].kind, built_in.tiers[i].kind);
    EXPECT_EQ(from_file.tiers[i].path, built_in.tiers[i].path);
  }
}

TEST(ParsePolicy, TieringIsOffUnlessTurnedOn) {
  EXPECT_FALSE(ExpectPolicy(ParsePolicy("[[tiers]]\nname = \"dram\"\nkind = \"dram\"\n", "t.toml")).tiering.enabled);
}

TEST(ParsePolicy, MoveEngineIsAutoUnlessChosen) {
  const char* tiers = "[[tiers]]\nname = \"dram\"\nkind = \"dram\"\n";
  EXPECT_EQ(ExpectPolicy(ParsePolicy(tiers, "t.toml")).tiering.move_engine, MoveEngineChoice::kAuto);
  EXPECT_EQ(ExpectPolicy(ParsePolicy(std::string(tiers) + "[tiering]\nmove_engine = \"signal\"\n", "t.toml"))
                .tiering.move_engine,
            MoveEngineChoice::kSignal);
  EXPECT_EQ(ExpectPolicy(ParsePolicy(std::string(tiers) + "[tiering]\nmove_engine = \"userfaultfd\"\n", "t.toml"))
                .tiering.move_engine,
            MoveEngineChoice::kUserfaultfd);
}

TEST(ParsePolicy, FileReadaheadIsOnUnlessTurnedOff) {
  EXPECT_TRUE(ExpectPolicy(ParsePolicy("[[tiers]]\nname = \"dram\"\nkind = \"dram\"\n", "t.toml")).file_readahead);
  EXPECT_FALSE(ExpectPolicy(ParsePolicy("[policy]\nfile_readahead = false\n[[tiers]]\nname = \"dram\"\nkind = \"dram\"\n",
                                        "t.toml"))
                   .file_readahead);
}

TEST(ExamplePolicies, PandasNode) {
  const Policy policy = ExpectPolicy(LoadPolicyFile(SourcePath("policies/pandas-node.toml")));
  EXPECT_EQ(policy.name, "pandas-node");
  EXPECT_EQ(policy.tiered_min_size, MiB);
  ASSERT_EQ(policy.tiers.size(), 2u);
  EXPECT_EQ(policy.tiers[0].kind, TierKind::kDram);
  EXPECT_EQ(policy.tiers[0].budget, 24 * GiB);
  EXPECT_EQ(policy.tiers[1].kind, TierKind::kNvme);
  EXPECT_EQ(policy.tiers[1].path, "/var/tmp");
  EXPECT_EQ(policy.tiers[1].budget, 200 * GiB);
  EXPECT_TRUE(policy.tiering.enabled);
  EXPECT_EQ(policy.tiering.hot_threshold, 100u);
  EXPECT_EQ(policy.tiering.min_residency_ms, 5000u);
  EXPECT_EQ(policy.tiering.promote_rate, 512 * MiB);
  EXPECT_EQ(policy.tiering.low_watermark_pct, 85u);
}

TEST(ExamplePolicies, SparkExecutor) {
  const Policy policy = ExpectPolicy(LoadPolicyFile(SourcePath("policies/spark-executor.toml")));
  EXPECT_EQ(policy.name, "spark-executor");
  EXPECT_TRUE(policy.strict);
  EXPECT_EQ(policy.image_size, 4 * TiB);
  EXPECT_EQ(policy.purge_delay_ms, 2000u);
  ASSERT_EQ(policy.tiers.size(), 3u);
  EXPECT_EQ(policy.tiers[0].kind, TierKind::kDram);
  EXPECT_EQ(policy.tiers[0].budget, 8 * GiB);
  EXPECT_EQ(policy.tiers[1].kind, TierKind::kCxl);
  EXPECT_TRUE(policy.tiers[1].nodes.empty());
  EXPECT_EQ(policy.tiers[1].budget, 32 * GiB);
  EXPECT_EQ(policy.tiers[2].kind, TierKind::kNvme);
  EXPECT_FALSE(policy.tiers[2].budget.has_value());
}

TEST(ParsePolicy, ReadsEveryField) {
  const char* text = R"(# every key once
[policy]
name = "all"
extent_size = 1048576
image_size = "2TiB"
tiered_min_size = "64K"
strict = true
purge_delay_ms = 0
writeback_interval_ms = 10000

[[tiers]]
name = "local"
kind = "dram"
nodes = [0, 1]
budget = "1.5GiB"

[[tiers]]
name = "pmem-mem"
kind = "pmem"
nodes = [3]

[[tiers]]
name = "pmem_dax"
kind = "pmem"
path = "/mnt/pmem0"
budget = 17179869184

[[tiers]]
name = "far"
kind = "cxl"
nodes = [2]
)";
  const Policy policy = ExpectPolicy(ParsePolicy(text, "inline.toml"));
  EXPECT_EQ(policy.source, "inline.toml");
  EXPECT_EQ(policy.name, "all");
  EXPECT_EQ(policy.extent_size, MiB);
  EXPECT_EQ(policy.image_size, 2 * TiB);
  EXPECT_EQ(policy.tiered_min_size, 64 * KiB);
  EXPECT_TRUE(policy.strict);
  EXPECT_EQ(policy.purge_delay_ms, 0u);
  EXPECT_EQ(policy.writeback_interval_ms, 10000u);
  ASSERT_EQ(policy.tiers.size(), 4u);
  EXPECT_EQ(policy.tiers[0].line, 11);
  EXPECT_EQ(policy.tiers[0].nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(policy.tiers[0].budget, GiB + GiB / 2);
  EXPECT_EQ(policy.tiers[1].kind, TierKind::kPmem);
  EXPECT_FALSE(policy.tiers[1].IsFileTier());
  EXPECT_EQ(policy.tiers[2].path, "/mnt/pmem0");
  EXPECT_TRUE(policy.tiers[2].IsFileTier());
  EXPECT_EQ(policy.tiers[2].budget, 16 * GiB);
  EXPECT_EQ(policy.tiers[3].kind, TierKind::kCxl);
  EXPECT_EQ(policy.tiers[3].line, 28);
}

TEST(ParsePolicy, AppliesDefaultsForOmittedSettings) {
  const Policy policy =
      ExpectPolicy(ParsePolicy("[[tiers]]\nname = \"d\"\nkind = \"dram\"\n", "x"));
  const Policy defaults;
  EXPECT_EQ(policy.name, "");
  EXPECT_EQ(policy.extent_size, defaults.extent_size);
  EXPECT_EQ(policy.image_size, defaults.image_size);
  EXPECT_EQ(policy.tiered_min_size, defaults.tiered_min_size);
  EXPECT_EQ(policy.purge_delay_ms, defaults.purge_delay_ms);
  EXPECT_EQ(policy.writeback_interval_ms, defaults.writeback_interval_ms);
  ASSERT_EQ(policy.tiers.size(), 1u);
  EXPECT_FALSE(policy.tiers[0].budget.has_value());
}

TEST(ParsePolicy, AcceptsInlineTables) {
  const Policy policy =
      ExpectPolicy(ParsePolicy("tiers = [{ name = \"dram\", kind = \"dram\" },\n"
                               "         { name = \"nvme\", kind = \"nvme\", path = \"/tmp\" }]\n",
                               "inline"));
  ASSERT_EQ(policy.tiers.size(), 2u);
  EXPECT_EQ(policy.tiers[1].line, 2);
  EXPECT_EQ(policy.tiers[1].path, "/tmp");
}

// ---------------------------------------------------------------- errors

TEST(PolicyError, ToStringFormats) {
  EXPECT_EQ((PolicyError{"p.toml", 7, "tiers[1].budget", "bad"}).ToString(),
            "p.toml:7: tiers[1].budget: bad");
  EXPECT_EQ((PolicyError{"p.toml", 0, "file", "No such file"}).ToString(),
            "p.toml: file: No such file");
  EXPECT_EQ((PolicyError{"a\nb", 3, "syntax", "x\ny"}).ToString(), "a b:3: syntax: x y");
}

TEST(ParsePolicy, UnknownKeySuggestsTheClosestKey) {
  const PolicyError error = ExpectError(
      ParsePolicy("[[tiers]]\nname = \"dram\"\nkind = \"dram\"\nbudgte = \"1GiB\"\n", "t.toml"));
  EXPECT_EQ(error.line, 4);
  EXPECT_EQ(error.field, "tiers[0].budgte");
  EXPECT_NE(error.message.find("did you mean \"budget\""), std::string::npos) << error.message;
}

TEST(ParsePolicy, ReportsTheEarliestOfSeveralErrors) {
  // toml++ iterates keys alphabetically; the report must follow the file.
  const PolicyError error = ExpectError(ParsePolicy(
      "[[tiers]]\nname = \"dram\"\nkind = \"dram\"\nzzz = 1\nbudget = \"0\"\n", "t.toml"));
  EXPECT_EQ(error.line, 4);
  EXPECT_EQ(error.field, "tiers[0].zzz");
}

TEST(ParsePolicy, EchoedValuesStayOnOneLine) {
  const PolicyError error = ExpectError(
      ParsePolicy("[[tiers]]\nname = \"dram\"\nkind = \"dram\"\nbudget = \"4\\nGiB\"\n", "t.toml"));
  EXPECT_EQ(error.field, "tiers[0].budget");
  EXPECT_EQ(error.ToString().find('\n'), std::string::npos) << error.ToString();
  EXPECT_NE(error.message.find("\\x0a"), std::string::npos) << error.message;
}

TEST(ParsePolicy, SurvivesHostileInput) {
  const std::string nul_bytes("[[tiers]]\0name", 14);
  EXPECT_EQ(ExpectError(ParsePolicy(nul_bytes, "nul")).field, "syntax");
  EXPECT_EQ(ExpectError(ParsePolicy(std::string(100000, '['), "deep")).field, "syntax");
  EXPECT_EQ(ExpectError(ParsePolicy("", "empty")).field, "tiers");
  EXPECT_EQ(ExpectError(ParsePolicy("\xff\xfe", "binary")).field, "syntax");
}

// Inputs that break preconditions inside toml++ 3.3 (found by policy_fuzz;
// marzer/tomlplusplus#301 and #295). The packaged library must turn them
// into ordinary errors; a regression here is a crash at process start.
TEST(ParsePolicy, MalformedInputsThatTripTomlppAreRejectedCleanly) {
  const char* inputs[] = {
      "[[>tiers]]\nname = \"dram\"\n",
      "[[[tiers]]]\n",
      "a = 1 \xd0\x91\n",                // U+0411 where whitespace may stand
      "a = 1\n\xef\xbb\xbe\n",           // U+FEFE
      "s = \"\"\"\\\n\xc2\xa7\"\"\"\n",  // line-ending backslash, then U+00A7
  };
  for (const char* input : inputs) {
    const PolicyError error = ExpectError(ParsePolicy(input, "fuzz.toml"));
    EXPECT_FALSE(error.field.empty()) << input;
    EXPECT_EQ(error.ToString().find('\n'), std::string::npos) << error.ToString();
  }
}

TEST(ParsePolicy, SizeErrorsQuoteExactValues) {
  const PolicyError error =
      ExpectError(ParsePolicy("[policy]\nextent_size = \"4MiB\"\nimage_size = "
                              "\"1026MiB\"\n[[tiers]]\nname=\"d\"\nkind=\"dram\"\n",
                              "t.toml"));
  EXPECT_EQ(error.line, 3);
  EXPECT_EQ(error.field, "policy.image_size");
  EXPECT_NE(error.message.find("1026 MiB"), std::string::npos) << error.message;
}

TEST(LoadPolicyFile, MissingFileIsAFileError) {
  const std::string path = "/nonexistent/tiermem/policy.toml";
  const PolicyError error = ExpectError(LoadPolicyFile(path));
  EXPECT_EQ(error.file, path);
  EXPECT_EQ(error.line, 0);
  EXPECT_EQ(error.field, "file");
  EXPECT_EQ(error.message, "No such file or directory");
  EXPECT_EQ(error.ToString(), path + ": file: No such file or directory");
}

TEST(LoadPolicyFile, DirectoryIsAFileError) {
  const PolicyError error = ExpectError(LoadPolicyFile(SourcePath("policies")));
  EXPECT_EQ(error.line, 0);
  EXPECT_EQ(error.field, "file");
  EXPECT_EQ(error.message, "Is a directory");
}

// ---------------------------------------------------------------- bad policy files

struct Expectation {
  int line = -1;
  std::string field;
};

// Parses "# expect: LINE FIELD" from the first line of a bad policy file.
bool ReadExpectation(const std::string& path, Expectation* expectation) {
  std::ifstream file(path);
  std::string first_line;
  if (!std::getline(file, first_line)) return false;
  std::istringstream words(first_line);
  std::string hash, tag;
  words >> hash >> tag >> expectation->line >> expectation->field;
  return hash == "#" && tag == "expect:" && !words.fail() && words.eof();
}

std::vector<std::string> BadPolicyFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(SourcePath("tests/policies/bad"))) {
    if (entry.path().extension() == ".toml") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(BadPolicies, ThereAreEnoughOfThem) { EXPECT_GE(BadPolicyFiles().size(), 24u); }

class BadPolicy : public testing::TestWithParam<std::string> {};

TEST_P(BadPolicy, FailsAtTheExpectedLineAndField) {
  const std::string& path = GetParam();
  Expectation expected;
  ASSERT_TRUE(ReadExpectation(path, &expected))
      << path << ": first line must be \"# expect: LINE FIELD\"";

  const PolicyError error = ExpectError(LoadPolicyFile(path));
  const std::string text = error.ToString();
  EXPECT_EQ(error.line, expected.line) << text;
  EXPECT_EQ(error.field, expected.field) << text;
  EXPECT_FALSE(error.message.empty()) << text;
  EXPECT_EQ(error.file, path);
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_EQ(
      text.rfind(path + ":" + std::to_string(expected.line) + ": " + expected.field + ": ", 0), 0u)
      << text;
}

INSTANTIATE_TEST_SUITE_P(Files, BadPolicy, testing::ValuesIn(BadPolicyFiles()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string name = std::filesystem::path(info.param).stem().string();
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace tiermem::config
