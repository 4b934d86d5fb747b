#include "transfer/internal/sieve.h"

#include <gtest/gtest.h>

namespace kvc::transfer::internal {
namespace {

const auto kAny = [](const int&) { return true; };

// Unvisited keys go first, oldest first; a visited key survives one pass.
TEST(SieveTest, EvictsOldestUnvisited) {
  Sieve<int> s;
  for (int k : {1, 2, 3}) s.Insert(k);
  s.Touch(1);
  EXPECT_EQ(s.Evict(kAny), 2);
  EXPECT_EQ(s.Evict(kAny), 3);
  EXPECT_EQ(s.Evict(kAny), 1);  // its bit was cleared by the first pass
  EXPECT_EQ(s.Evict(kAny), std::nullopt);
}

// Keys the predicate protects are skipped; none evictable gives nullopt.
TEST(SieveTest, RespectsPredicateAndErase) {
  Sieve<int> s;
  for (int k : {1, 2, 3}) s.Insert(k);
  EXPECT_EQ(s.Evict([](const int& k) { return k == 3; }), 3);
  s.Erase(1);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.Evict([](const int&) { return false; }), std::nullopt);
  EXPECT_EQ(s.Evict(kAny), 2);
}

// Visited keys lose their bit and survive; the hand then wraps to the oldest key.
TEST(SieveTest, HandPersistsAcrossInsertions) {
  Sieve<int> s;
  for (int k : {1, 2, 3}) s.Insert(k);
  s.Touch(1);
  s.Touch(2);
  EXPECT_EQ(s.Evict(kAny), 3);  // 1 and 2 are visited: bits cleared, 3 goes
  s.Insert(4);
  s.Touch(4);
  EXPECT_EQ(s.Evict(kAny), 1);  // 4 is visited, but the hand reaches 1 (now unvisited) first
}

}  // namespace
}  // namespace kvc::transfer::internal
