#include "rules/matcher.hpp"

#include "rules/normalize.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <tuple>
#include <utility>

namespace komentra::rules {

namespace {

constexpr std::int32_t zwj = 0x200D;

// Transitions hold the target's row offset; this bit marks targets that end a keyword.
constexpr std::uint32_t output_flag = 0x80000000u;

constexpr std::uint8_t matched_flag = 1;
constexpr std::uint8_t excluded_flag = 2;

struct keyword_ref {
  std::uint32_t rule;  // rank of the rule: 0 is the best
  bool exclude;
  friend bool operator<(keyword_ref a, keyword_ref b) {
    return std::tie(a.rule, a.exclude) < std::tie(b.rule, b.exclude);
  }
  friend bool operator==(keyword_ref a, keyword_ref b) {
    return a.rule == b.rule && a.exclude == b.exclude;
  }
};

struct keyword_info {
  std::uint32_t length;
  bool has_at;
  std::uint32_t refs_begin;
  std::uint32_t refs_end;
};

// A dense Aho-Corasick DFA over the bytes of normalized keywords. Bytes that occur in no
// keyword share class 0, so a row is as wide as the keywords' alphabet, not 256.
struct automaton {
  std::array<std::uint8_t, 256> byte_class{};
  std::uint32_t classes = 1;
  std::vector<std::uint32_t> delta;
  std::vector<std::uint32_t> out_begin;
  std::vector<std::uint32_t> out;
  std::vector<keyword_info> keywords;
  std::vector<keyword_ref> refs;

  bool empty() const { return keywords.empty(); }
  std::size_t states() const { return delta.size() / classes; }

  void build(const std::map<std::string, std::vector<keyword_ref>>& by_keyword);
};

void automaton::build(const std::map<std::string, std::vector<keyword_ref>>& by_keyword) {
  if (by_keyword.empty()) return;
  std::array<bool, 256> used{};
  for (auto& [kw, _] : by_keyword)
    for (unsigned char c : kw) used[c] = true;
  classes = 1;
  for (std::size_t b = 0; b < 256; ++b)
    if (used[b]) byte_class[b] = static_cast<std::uint8_t>(classes++);
  const std::uint32_t width = classes;

  std::vector<std::uint32_t> trie(width, 0);
  std::vector<std::vector<std::uint32_t>> ends(1);
  for (auto& [kw, kw_refs] : by_keyword) {
    std::uint32_t node = 0;
    for (unsigned char c : kw) {
      auto& next = trie[node * width + byte_class[c]];
      if (next == 0) {
        next = static_cast<std::uint32_t>(ends.size());
        ends.emplace_back();
        trie.resize(trie.size() + width, 0);
      }
      node = trie[node * width + byte_class[c]];
    }
    auto id = static_cast<std::uint32_t>(keywords.size());
    ends[node].push_back(id);
    auto begin = static_cast<std::uint32_t>(refs.size());
    refs.insert(refs.end(), kw_refs.begin(), kw_refs.end());
    keywords.push_back({static_cast<std::uint32_t>(kw.size()), kw.find('@') != std::string::npos,
                        begin, static_cast<std::uint32_t>(refs.size())});
  }

  const std::size_t states = ends.size();
  if (states * width >= output_flag) throw std::length_error("keyword automaton too large");
  std::vector<std::uint32_t> fail(states, 0);
  std::vector<std::uint32_t> next(states * width, 0);
  std::deque<std::uint32_t> queue{0};
  while (!queue.empty()) {
    auto u = queue.front();
    queue.pop_front();
    if (u != 0) {
      auto& inherited = ends[fail[u]];
      ends[u].insert(ends[u].end(), inherited.begin(), inherited.end());
    }
    for (std::uint32_t c = 0; c < width; ++c) {
      auto v = trie[u * width + c];
      if (v != 0) {
        fail[v] = u == 0 ? 0 : next[fail[u] * width + c];
        next[u * width + c] = v;
        queue.push_back(v);
      } else {
        next[u * width + c] = u == 0 ? 0 : next[fail[u] * width + c];
      }
    }
  }

  delta.resize(states * width);
  for (std::size_t i = 0; i < delta.size(); ++i) {
    auto target = next[i];
    delta[i] = target * width | (ends[target].empty() ? 0 : output_flag);
  }
  out_begin.reserve(states + 1);
  for (auto& e : ends) {
    out_begin.push_back(static_cast<std::uint32_t>(out.size()));
    out.insert(out.end(), e.begin(), e.end());
  }
  out_begin.push_back(static_cast<std::uint32_t>(out.size()));
}

struct ranked_rule {
  std::int64_t automation_id;
  match_type type;
};

// Normalized text is valid UTF-8 by construction.
std::int32_t code_point_at(std::string_view t, std::size_t pos) {
  if (pos >= t.size()) return -1;
  auto b = static_cast<unsigned char>(t[pos]);
  if (b < 0x80) return b;
  int len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
  std::int32_t cp = b & (0x3F >> (len - 1));
  for (int i = 1; i < len && pos + i < t.size(); ++i)
    cp = (cp << 6) | (static_cast<unsigned char>(t[pos + i]) & 0x3F);
  return cp;
}

std::int32_t code_point_before(std::string_view t, std::size_t pos) {
  if (pos == 0) return -1;
  auto start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80) --start;
  return code_point_at(t, start);
}

struct scratch {
  std::string text;
  std::vector<std::uint8_t> flags;
  std::vector<std::uint32_t> touched;
  std::vector<std::pair<std::size_t, std::size_t>> at_tokens;
};

scratch& local_scratch() {
  thread_local scratch s;
  return s;
}

bool is_address_char(std::int32_t cp, bool left) {
  return is_word_char(cp) || cp == '.' || cp == '-' || (left && cp == '+');
}

// Spans of @mentions and e-mail-like addresses in normalized text.
void find_at_tokens(std::string_view t, std::vector<std::pair<std::size_t, std::size_t>>& spans) {
  spans.clear();
  for (auto at = t.find('@'); at != std::string_view::npos; at = t.find('@', at + 1)) {
    auto begin = at;
    for (auto cp = code_point_before(t, begin); cp >= 0 && is_address_char(cp, true);
         cp = code_point_before(t, begin)) {
      begin -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    auto end = at + 1;
    for (auto cp = code_point_at(t, end); cp >= 0 && is_address_char(cp, false);
         cp = code_point_at(t, end)) {
      end += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }
    spans.emplace_back(begin, end);
  }
}

class scan {
 public:
  scan(std::string_view text, const std::vector<ranked_rule>& rules, scratch& tmp)
      : text_(text), rules_(rules), tmp_(tmp), has_at_(text.find('@') != std::string_view::npos) {}

  void run(const automaton& a) {
    const auto* p = reinterpret_cast<const unsigned char*>(text_.data());
    const auto* delta = a.delta.data();
    const auto* cls = a.byte_class.data();
    std::uint32_t s = 0;
    for (std::size_t i = 0, n = text_.size(); i < n; ++i) {
      s = delta[(s & ~output_flag) + cls[p[i]]];
      if (s & output_flag) on_hit(a, (s & ~output_flag) / a.classes, i + 1);
    }
  }

 private:
  void on_hit(const automaton& a, std::uint32_t state, std::size_t end) {
    for (auto k = a.out_begin[state]; k < a.out_begin[state + 1]; ++k) {
      const auto& kw = a.keywords[a.out[k]];
      auto begin = end - kw.length;
      auto before = code_point_before(text_, begin);
      auto after = code_point_at(text_, end);
      if (before == zwj || after == zwj) continue;
      if (!kw.has_at && inside_at_token(begin, end)) continue;
      bool whole_word = is_word_boundary(before, code_point_at(text_, begin)) &&
                        is_word_boundary(code_point_before(text_, end), after);
      for (auto r = kw.refs_begin; r < kw.refs_end; ++r) {
        auto ref = a.refs[r];
        if (ref.exclude) {
          if (whole_word) mark(ref.rule, excluded_flag);
          continue;
        }
        bool ok = false;
        switch (rules_[ref.rule].type) {
          case match_type::contains:
            ok = true;
            break;
          case match_type::whole_word:
            ok = whole_word;
            break;
          case match_type::starts_with:
            ok = begin == 0;
            break;
          case match_type::exact:
            ok = begin == 0 && end == text_.size();
            break;
          case match_type::any:
            break;
        }
        if (ok) mark(ref.rule, matched_flag);
      }
    }
  }

  void mark(std::uint32_t rule, std::uint8_t flag) {
    auto& f = tmp_.flags[rule];
    if (f == 0) tmp_.touched.push_back(rule);
    f |= flag;
  }

  bool inside_at_token(std::size_t begin, std::size_t end) {
    if (!has_at_) return false;
    if (!at_tokens_ready_) {
      find_at_tokens(text_, tmp_.at_tokens);
      at_tokens_ready_ = true;
    }
    for (auto [b, e] : tmp_.at_tokens)
      if (begin < e && end > b) return true;
    return false;
  }

  std::string_view text_;
  const std::vector<ranked_rule>& rules_;
  scratch& tmp_;
  bool has_at_;
  bool at_tokens_ready_ = false;
};

}  // namespace

struct matcher::impl {
  std::vector<ranked_rule> rules;        // best first
  std::vector<std::uint32_t> any_rules;  // ranks of `any` rules, best first
  std::array<automaton, 2> by_mode;      // indexed by accents::keep / accents::fold

  // Scans `text` and leaves the flags of every touched rule in `tmp`.
  void scan_all(std::string_view text, scratch& tmp) const {
    if (tmp.flags.size() < rules.size()) tmp.flags.resize(rules.size(), 0);
    for (auto mode : {accents::keep, accents::fold}) {
      auto& a = by_mode[static_cast<std::size_t>(mode)];
      if (a.empty()) continue;
      normalize_into(text, mode, tmp.text);
      scan{tmp.text, rules, tmp}.run(a);
    }
  }

  bool matched(std::uint32_t rule, const scratch& tmp) const {
    auto f = tmp.flags[rule];
    return !(f & excluded_flag) && ((f & matched_flag) || rules[rule].type == match_type::any);
  }

  static void reset(scratch& tmp) {
    for (auto r : tmp.touched) tmp.flags[r] = 0;
    tmp.touched.clear();
  }
};

matcher::matcher() : impl_(std::make_shared<impl>()) {}

matcher::matcher(std::shared_ptr<const impl> state) : impl_(std::move(state)) {}

matcher matcher::compile(std::vector<keyword_rule> rules) {
  auto rank_key = [](const keyword_rule& r) {
    return std::make_tuple(-static_cast<std::int64_t>(r.priority), r.created_order,
                           r.automation_id);
  };
  std::stable_sort(rules.begin(), rules.end(),
                   [&](const auto& a, const auto& b) { return rank_key(a) < rank_key(b); });
  auto state = std::make_shared<impl>();
  std::array<std::map<std::string, std::vector<keyword_ref>>, 2> by_keyword;
  for (std::uint32_t rank = 0; rank < rules.size(); ++rank) {
    const auto& rule = rules[rank];
    state->rules.push_back({rule.automation_id, rule.type});
    if (rule.type == match_type::any) state->any_rules.push_back(rank);
    auto mode = rule.accent_insensitive ? accents::fold : accents::keep;
    auto& keywords = by_keyword[static_cast<std::size_t>(mode)];
    auto add = [&](const std::string& keyword, bool exclude) {
      auto norm = normalize(keyword, mode);
      if (!norm.empty()) keywords[norm].push_back({rank, exclude});
    };
    if (rule.type != match_type::any)
      for (auto& kw : rule.keywords) add(kw, false);
    for (auto& kw : rule.exclude_keywords) add(kw, true);
  }
  for (std::size_t mode = 0; mode < 2; ++mode) {
    for (auto& [_, refs] : by_keyword[mode]) {
      std::sort(refs.begin(), refs.end());
      refs.erase(std::unique(refs.begin(), refs.end()), refs.end());
    }
    state->by_mode[mode].build(by_keyword[mode]);
  }
  return matcher{std::move(state)};
}

std::optional<std::int64_t> matcher::winner(std::string_view text) const {
  auto& tmp = local_scratch();
  impl_->scan_all(text, tmp);
  auto best = static_cast<std::uint32_t>(impl_->rules.size());
  for (auto r : tmp.touched)
    if (r < best && impl_->matched(r, tmp)) best = r;
  for (auto r : impl_->any_rules) {
    if (r >= best) break;
    if (impl_->matched(r, tmp)) {
      best = r;
      break;
    }
  }
  impl::reset(tmp);
  if (best == impl_->rules.size()) return std::nullopt;
  return impl_->rules[best].automation_id;
}

std::vector<std::int64_t> matcher::matches(std::string_view text) const {
  auto& tmp = local_scratch();
  impl_->scan_all(text, tmp);
  std::vector<std::uint32_t> ranks;
  for (auto r : tmp.touched)
    if (impl_->matched(r, tmp)) ranks.push_back(r);
  for (auto r : impl_->any_rules)
    if (tmp.flags[r] == 0) ranks.push_back(r);
  impl::reset(tmp);
  std::sort(ranks.begin(), ranks.end());
  std::vector<std::int64_t> ids;
  ids.reserve(ranks.size());
  for (auto r : ranks) ids.push_back(impl_->rules[r].automation_id);
  return ids;
}

std::size_t matcher::rule_count() const {
  return impl_->rules.size();
}

std::size_t matcher::keyword_count() const {
  return impl_->by_mode[0].keywords.size() + impl_->by_mode[1].keywords.size();
}

std::size_t matcher::state_count() const {
  return impl_->by_mode[0].states() + impl_->by_mode[1].states();
}

}  // namespace komentra::rules
