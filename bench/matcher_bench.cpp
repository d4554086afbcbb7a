/// komentra-bench-matcher: throughput of rules::matcher on one thread, in comments per second,
/// with 10, 100 and 1,000 keywords over a multilingual comment mix (Latin with accents, emoji,
/// Cyrillic, CJK, Arabic), about 30% of the comments containing one of the keywords.
///
/// The keywords are split into whole_word, accent-insensitive rules of 5 keywords each (2, 20
/// and 200 rules), compiled into one matcher as an account's automations are. Each comment is
/// a raw (not normalized) string; `winner` normalizes and scans it, as the account actor does
/// (nothing of a text is kept between calls; the normalizer keeps only per-code-point forms).
/// A pass over every comment is repeated until --seconds have passed; of --repeat passes the
/// fastest counts, by wall time and by thread CPU time separately (the machine is shared, and
/// a pass that waited for a core has a longer wall time than CPU time).
///
/// With --write-dir DIR it also writes keywords-N.txt and comments-N.txt (one per line) for
/// the reference, `LC_ALL=C.UTF-8 grep -F -i -c -f keywords-N.txt comments-N.txt`.
///
/// Output: key=value lines, for N in 10, 100, 1000:
///   comments_per_s_N (fastest pass by wall time), cpu_comments_per_s_N (fastest pass by thread
///   CPU time: comments/s per core),
///   matched_share_N, rules_N, states_N, comments_N, and winners_hash_N (a hash of every
///   comment's winner, to check that a faster matcher still gives the same answers).

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "rules/matcher.hpp"

namespace {

using komentra::rules::keyword_rule;
using komentra::rules::match_type;
using komentra::rules::matcher;

// Keyword syllables per script. Keywords are 2-3 syllables of one script; the filler text
// below is built from a disjoint vocabulary so that a comment matches only when a keyword was
// put in it (grep -F -i counts the same comments up to substring effects, printed beside).
const char* const latin_syll[] = {"pro", "mo",  "cu", "pón", "des", "cuen", "pre",  "ço",
                                  "gra", "tis", "lí", "nk",  "gui", "de",   "ofer", "ta",
                                  "pré", "zu",  "kó", "dé",  "vá",  "xa",   "qui",  "bé"};
const char* const cyr_syll[] = {"це", "на",   "ски", "дка", "про", "мо", "код", "ссыл",
                                "ка", "гайд", "бон", "ус",  "при", "зы", "жу",  "щё"};
const char* const cjk_syll[] = {"价", "格", "链", "接", "优", "惠", "券", "折",
                                "扣", "指", "南", "免", "费", "礼", "品", "码"};
const char* const ar_syll[] = {"سع", "ر", "رابط", "خصم", "كود", "عر", "ض", "هد", "ية", "دل", "يل"};
const char* const emoji_kw[] = {"🔥", "🎁", "💸", "🛍️", "📦", "✨", "💎", "🎉", "👑", "🚀"};

// Filler: words none of the keywords occur in (checked at start-up).
const char* const filler[] = {
    "love",    "this",      "so",      "good",   "wow",   "amazing", "très",       "joli",
    "quelle",  "belle",     "vidéo",   "schön",  "grüße", "aus",     "münchen",    "me",
    "encanta", "bonito",    "hermoso", "😍",      "😂",     "👍",       "❤️",     "🙏",
    "очень",   "красиво",   "спасибо", "хорошо", "это",   "круто",   "こんにちは", "ありがとう",
    "すごい",  "かわいい",  "很好看",  "太棒了", "谢谢",  "喜欢",    "جميل",       "رائع",
    "شكرا",    "ماشاءالله", "naïve",   "café",   "vibes", "☕️",  "Ça",         "va",
    "where",   "did",       "you",     "buy",    "it",    "?",       "!!",         "@friend_1"};

std::string make_keyword(std::mt19937_64& rng, std::size_t i) {
  auto pick = [&](auto& arr) -> std::string { return arr[rng() % std::size(arr)]; };
  std::string k;
  switch (i % 6) {
    case 0:
    case 1:
      k = pick(latin_syll) + pick(latin_syll) + pick(latin_syll);
      if (rng() % 3 == 0) k[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(k[0])));
      break;
    case 2:
      k = pick(cyr_syll) + pick(cyr_syll) + pick(cyr_syll);
      break;
    case 3:
      k = pick(cjk_syll) + pick(cjk_syll);
      break;
    case 4:
      k = pick(ar_syll) + pick(ar_syll) + pick(ar_syll);
      break;
    default:
      k = i < 60 ? emoji_kw[(i / 6) % std::size(emoji_kw)] : pick(latin_syll) + pick(cyr_syll);
      break;
  }
  return k;
}

std::vector<std::string> make_keywords(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; out.size() < n; ++i) {
    auto k = make_keyword(rng, i);
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(std::move(k));
  }
  return out;
}

std::vector<std::string> make_comments(const std::vector<std::string>& keywords, std::size_t n,
                                       std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t words = 3 + rng() % 10;
    bool match = rng() % 100 < 30;
    std::size_t at = rng() % words;
    std::string c;
    for (std::size_t w = 0; w < words; ++w) {
      if (!c.empty()) c += ' ';
      if (match && w == at) {
        c += keywords[rng() % keywords.size()];
        if (rng() % 4 == 0) c += '!';
      } else {
        c += filler[rng() % std::size(filler)];
      }
    }
    out.push_back(std::move(c));
  }
  return out;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "komentra-bench-matcher: %s\n"
               "usage: komentra-bench-matcher [--comments 100000] [--seconds 1] [--repeat 3]\n"
               "  [--write-dir DIR] [--keywords 10,100,1000]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n_comments = 100'000;
  double seconds = 1;
  int repeat = 3;
  std::string write_dir;
  std::vector<std::size_t> sizes{10, 100, 1000};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--comments")
      n_comments = std::stoul(next());
    else if (a == "--seconds")
      seconds = std::stod(next());
    else if (a == "--repeat")
      repeat = std::stoi(next());
    else if (a == "--write-dir")
      write_dir = next();
    else if (a == "--keywords") {
      sizes.clear();
      std::string v = next();
      for (std::size_t p = 0; p < v.size();) {
        auto q = v.find(',', p);
        sizes.push_back(std::stoul(v.substr(p, q - p)));
        p = q == std::string::npos ? v.size() : q + 1;
      }
    } else
      usage(("unknown option " + a).c_str());
  }
  if (n_comments == 0 || repeat < 1 || seconds <= 0) usage("values must be positive");

  for (auto n : sizes) {
    auto keywords = make_keywords(n, 42 + n);
    auto comments = make_comments(keywords, n_comments, 7 + n);
    std::vector<keyword_rule> rules;
    for (std::size_t i = 0; i < keywords.size(); i += 5) {
      keyword_rule r;
      r.automation_id = static_cast<std::int64_t>(rules.size() + 1);
      r.created_order = r.automation_id;
      r.priority = static_cast<int>(rules.size() % 3);
      r.type = match_type::whole_word;
      for (std::size_t j = i; j < std::min(i + 5, keywords.size()); ++j)
        r.keywords.push_back(keywords[j]);
      rules.push_back(std::move(r));
    }
    auto m = matcher::compile(rules);
    if (!write_dir.empty()) {
      std::ofstream kf(write_dir + "/keywords-" + std::to_string(n) + ".txt");
      for (auto& k : keywords) kf << k << '\n';
      std::ofstream cf(write_dir + "/comments-" + std::to_string(n) + ".txt");
      for (auto& c : comments) cf << c << '\n';
    }
    std::size_t matched = 0;
    std::uint64_t winners_hash = 0;
    for (auto& c : comments) {  // warm-up, the share and the answers
      auto w = m.winner(c);
      matched += w.has_value();
      winners_hash = winners_hash * 1000003 + static_cast<std::uint64_t>(w.value_or(-1));
    }

    double best_wall = 1e100, best_cpu = 1e100;
    for (int r = 0; r < repeat; ++r) {
      std::size_t done = 0, sink = 0;
      auto t0 = std::chrono::steady_clock::now();
      double c0 = thread_cpu_s();
      double wall = 0;
      do {
        for (auto& c : comments) sink += m.winner(c).value_or(0);
        done += comments.size();
        wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      } while (wall < seconds);
      double cpu = thread_cpu_s() - c0;
      if (sink == 42) std::fputs("", stderr);  // keeps the loop observable
      best_wall = std::min(best_wall, wall / static_cast<double>(done));
      best_cpu = std::min(best_cpu, cpu / static_cast<double>(done));
    }
    std::printf("comments_per_s_%zu=%.0f\n", n, 1.0 / best_wall);
    std::printf("cpu_comments_per_s_%zu=%.0f\n", n, 1.0 / best_cpu);
    std::printf("matched_share_%zu=%.3f\n", n,
                static_cast<double>(matched) / static_cast<double>(comments.size()));
    std::printf("winners_hash_%zu=%016llx\n", n, static_cast<unsigned long long>(winners_hash));
    std::printf("rules_%zu=%zu\nstates_%zu=%zu\ncomments_%zu=%zu\n", n, rules.size(), n,
                m.state_count(), n, comments.size());
    std::fflush(stdout);
  }
  return 0;
}
