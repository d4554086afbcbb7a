#include "rules/matcher.hpp"

#include "rules/normalize.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

namespace komentra::rules {

namespace {

constexpr std::int32_t zwj = 0x200D;

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

// Automata of at most this many states (an account's few automations) are kept sparse.
constexpr std::size_t sparse_max_states = 256;

// An Aho-Corasick automaton over the bytes of normalized keywords. Bytes that occur in no
// keyword share class 0, so a row is as wide as the keywords' alphabet, not 256. The states
// that end a keyword are numbered last, so a state at or past `first_output` is a hit.
// Small automata are sparse: each state keeps its trie edges and failure link, and a step
// follows failure links until an edge fits (the root's row is full), a few hundred bytes
// where a full table would take kilobytes. Larger ones are a dense DFA whose cells hold their
// target's row offset, 16 bits wide while the table has at most 2^16 cells, 32 beyond.
struct automaton {
  std::array<std::uint8_t, 256> byte_class{};
  std::uint32_t classes = 1;
  std::uint32_t first_output = 0;   // a state number when sparse, a row offset when dense
  std::uint32_t sparse_states = 0;  // 0: dense
  // Sparse: the root's row, then per state its first edge (one more entry: the end), then
  // per state its failure link, then the edges' targets, then their classes. Dense: the
  // table, when it has at most 2^16 cells.
  std::vector<std::uint16_t> narrow;
  std::vector<std::uint32_t> wide;  // the dense table past 2^16 cells
  // For the n-th state ending a keyword, its keywords are outputs[outputs[n]] up to
  // outputs[outputs[n + 1]] (the offsets come first, then the keyword numbers).
  std::vector<std::uint32_t> outputs;
  std::vector<keyword_info> keywords;
  std::vector<keyword_ref> refs;

  std::size_t states() const {
    return sparse_states ? sparse_states : (narrow.size() + wide.size()) / classes;
  }

  void build(const std::map<std::string, std::vector<keyword_ref>>& by_keyword);
};

void automaton::build(const std::map<std::string, std::vector<keyword_ref>>& by_keyword) {
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
  keywords.shrink_to_fit();
  refs.shrink_to_fit();

  const std::size_t states = ends.size();
  if (states * width >= std::size_t{1} << 31)
    throw std::length_error("keyword automaton too large");
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

  // Renumbered: the root (which ends no keyword) stays 0, states ending a keyword go last.
  std::vector<std::uint32_t> order;  // new number -> state
  order.reserve(states);
  for (std::uint32_t u = 0; u < states; ++u)
    if (ends[u].empty()) order.push_back(u);
  const auto outputs_from = order.size();
  for (std::uint32_t u = 0; u < states; ++u)
    if (!ends[u].empty()) order.push_back(u);
  std::vector<std::uint32_t> number(states);
  for (std::uint32_t n = 0; n < states; ++n) number[order[n]] = n;
  if (states <= sparse_max_states) {
    sparse_states = static_cast<std::uint32_t>(states);
    first_output = static_cast<std::uint32_t>(outputs_from);
    std::vector<std::uint16_t> edge_begin, failure, target, edge_class;
    for (std::size_t n = 0; n < states; ++n) {
      auto u = order[n];
      edge_begin.push_back(static_cast<std::uint16_t>(target.size()));
      failure.push_back(static_cast<std::uint16_t>(number[fail[u]]));
      for (std::uint32_t c = 0; n != 0 && c < width; ++c)
        if (auto v = trie[u * width + c]) {
          target.push_back(static_cast<std::uint16_t>(number[v]));
          edge_class.push_back(static_cast<std::uint16_t>(c));
        }
    }
    edge_begin.push_back(static_cast<std::uint16_t>(target.size()));
    narrow.reserve(width + edge_begin.size() + failure.size() + 2 * target.size());
    for (std::uint32_t c = 0; c < width; ++c)
      narrow.push_back(static_cast<std::uint16_t>(number[trie[c]]));
    for (auto* part : {&edge_begin, &failure, &target, &edge_class})
      narrow.insert(narrow.end(), part->begin(), part->end());
  } else {
    first_output = static_cast<std::uint32_t>(outputs_from * width);
    auto fill = [&](auto& table) {
      using cell = typename std::decay_t<decltype(table)>::value_type;
      table.resize(states * width);
      for (std::size_t n = 0; n < states; ++n)
        for (std::size_t c = 0; c < width; ++c)
          table[n * width + c] = static_cast<cell>(number[next[order[n] * width + c]] * width);
    };
    if (states * width <= std::size_t{1} << 16)
      fill(narrow);
    else
      fill(wide);
  }
  outputs.assign(states - outputs_from + 1, 0);
  for (auto n = outputs_from; n < states; ++n) {
    outputs[n - outputs_from] = static_cast<std::uint32_t>(outputs.size());
    outputs.insert(outputs.end(), ends[order[n]].begin(), ends[order[n]].end());
  }
  outputs[states - outputs_from] = static_cast<std::uint32_t>(outputs.size());
  outputs.shrink_to_fit();
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
    if (a.sparse_states)
      run_sparse(a);
    else if (a.wide.empty())
      run(a, a.narrow.data());
    else
      run(a, a.wide.data());
  }

 private:
  void run_sparse(const automaton& a) {
    const auto* p = reinterpret_cast<const unsigned char*>(text_.data());
    const auto* cls = a.byte_class.data();
    const auto* root = a.narrow.data();
    const auto* edge_begin = root + a.classes;
    const auto* failure = edge_begin + a.sparse_states + 1;
    const auto* target = failure + a.sparse_states;
    const auto* edge_class = target + edge_begin[a.sparse_states];
    std::uint32_t s = 0;
    for (std::size_t i = 0, n = text_.size(); i < n; ++i) {
      const std::uint32_t c = cls[p[i]];
      for (;;) {
        if (s == 0) {
          s = root[c];
          break;
        }
        auto e = edge_begin[s], end = edge_begin[s + 1];
        while (e < end && edge_class[e] != c) ++e;
        if (e < end) {
          s = target[e];
          break;
        }
        s = failure[s];
      }
      if (s >= a.first_output) on_hit(a, s - a.first_output, i + 1);
    }
  }

  template <class Cell>
  void run(const automaton& a, const Cell* delta) {
    const auto* p = reinterpret_cast<const unsigned char*>(text_.data());
    const auto* cls = a.byte_class.data();
    const std::uint32_t first_output = a.first_output;
    std::uint32_t s = 0;
    for (std::size_t i = 0, n = text_.size(); i < n; ++i) {
      s = delta[s + cls[p[i]]];
      if (s >= first_output) on_hit(a, (s - first_output) / a.classes, i + 1);
    }
  }

  // `output` numbers the states that end a keyword, from 0.
  void on_hit(const automaton& a, std::uint32_t output, std::size_t end) {
    for (auto k = a.outputs[output]; k < a.outputs[output + 1]; ++k) {
      const auto& kw = a.keywords[a.outputs[k]];
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
  // Indexed by accents::keep / accents::fold; null when no keyword of that mode.
  std::array<std::unique_ptr<const automaton>, 2> by_mode;

  // Scans `text` and leaves the flags of every touched rule in `tmp`.
  void scan_all(std::string_view text, scratch& tmp) const {
    if (tmp.flags.size() < rules.size()) tmp.flags.resize(rules.size(), 0);
    for (auto mode : {accents::keep, accents::fold}) {
      auto& a = by_mode[static_cast<std::size_t>(mode)];
      if (!a) continue;
      normalize_into(text, mode, tmp.text);
      scan{tmp.text, rules, tmp}.run(*a);
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
  state->rules.reserve(rules.size());
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
    if (by_keyword[mode].empty()) continue;
    auto a = std::make_unique<automaton>();
    a->build(by_keyword[mode]);
    state->by_mode[mode] = std::move(a);
  }
  state->any_rules.shrink_to_fit();
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
  std::size_t n = 0;
  for (auto& a : impl_->by_mode)
    if (a) n += a->keywords.size();
  return n;
}

std::size_t matcher::state_count() const {
  std::size_t n = 0;
  for (auto& a : impl_->by_mode)
    if (a) n += a->states();
  return n;
}

}  // namespace komentra::rules
