#include "engine/json_recognizer.hpp"

#include <cstring>

namespace precis::engine {

namespace {

static_assert(sizeof(JsonFrame) == 24, "JsonFrame must have no padding: its bytes key caches");

constexpr uint8_t kKeyFlag = 1;

// Object and array phases.
enum : uint8_t { kOpen, kKey, kColon, kInValue, kAfter, kComma };
// String phases: escapes, then UTF-8 continuation bytes with the ranges Unicode's well-formed
// table allows after the lead bytes E0, ED, F0 and F4 (no overlongs, no surrogates).
enum : uint8_t {
  kNormal,
  kEscape,
  kU4,  // \u: 4 hex digits to come
  kUD,  // \uD: the next digit must keep it off the surrogates (0-7)
  kU3,
  kU2,
  kU1,
  kCont1,  // continuation bytes to come, 80-BF
  kCont2,
  kCont3,
  kE0,  // A0-BF, then one more
  kED,  // 80-9F, then one more
  kF0,  // 90-BF, then two more
  kF4,  // 80-8F, then two more
};
// Number phases.
enum : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kExp, kExpSign, kExpDigits };

bool is_ws(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(uint8_t c) {
  return c >= '0' && c <= '9';
}
bool is_hex(uint8_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool in(uint8_t c, uint8_t lo, uint8_t hi) {
  return c >= lo && c <= hi;
}

uint64_t declared_mask(const SchemaNode& n) {
  return n.names.size() >= 64 ? ~uint64_t{0} : (uint64_t{1} << n.names.size()) - 1;
}

}  // namespace

std::string JsonState::key() const {
  std::string k;
  k.resize(2 + stack.size() * sizeof(JsonFrame));
  k[0] = static_cast<char>(ws_run);
  k[1] = static_cast<char>(depth);
  if (!stack.empty()) std::memcpy(k.data() + 2, stack.data(), stack.size() * sizeof(JsonFrame));
  return k;
}

JsonState JsonRecognizer::start() const {
  JsonState s;
  open_value(s, g_.root);
  return s;
}

void JsonRecognizer::open_value(JsonState& s, int32_t node) const {
  JsonFrame f;
  f.kind = kValue;
  f.node = node;
  s.stack.push_back(f);
}

bool JsonRecognizer::whitespace(JsonState& s, uint8_t) {
  if (s.ws_run >= JsonGrammar::kMaxWhitespaceRun) return false;
  ++s.ws_run;
  return true;
}

void JsonRecognizer::end_frame(JsonState& s) {
  const uint8_t kind = s.stack.back().kind;
  s.stack.pop_back();
  if (kind == kObject || kind == kArray) --s.depth;
  if (s.stack.empty()) return;
  JsonFrame& parent = s.stack.back();
  if (parent.kind == kObject)
    parent.phase = parent.phase == kKey ? kColon : kAfter;
  else if (parent.kind == kArray)
    parent.phase = kAfter;
}

bool JsonRecognizer::key_possible(const JsonFrame& obj) const {
  const SchemaNode& n = g_.nodes[obj.node];
  return n.additional >= 0 || (declared_mask(n) & ~obj.seen) != 0;
}

bool JsonRecognizer::required_done(const JsonFrame& obj) const {
  return (g_.nodes[obj.node].required & ~obj.seen) == 0;
}

bool JsonRecognizer::complete(const JsonState& s) const {
  if (s.stack.empty()) return true;
  if (s.stack.size() != 1) return false;
  const JsonFrame& f = s.stack.back();
  if (f.kind == kNumber)
    return f.phase == kZero || f.phase == kInt || f.phase == kFrac || f.phase == kExpDigits;
  return f.kind == kLiteral && g_.literals[f.aux].value >= 0;
}

JsonRecognizer::Step JsonRecognizer::literal_byte(JsonFrame& f, uint8_t c) const {
  const int32_t next = g_.literals[f.aux].child(c);
  if (next >= 0) {
    f.aux = next;
    return kTaken;
  }
  return g_.literals[f.aux].value >= 0 ? kEnded : kRejected;
}

JsonRecognizer::Step JsonRecognizer::number_byte(JsonFrame& f, uint8_t c, bool integer_only) {
  const bool digit = is_digit(c);
  const bool exp = !integer_only && (c == 'e' || c == 'E');
  const bool dot = !integer_only && c == '.';
  switch (f.phase) {
    case kMinus:
      if (!digit) return kRejected;
      f.phase = c == '0' ? kZero : kInt;
      return kTaken;
    case kZero:
    case kInt:
      if (digit && f.phase == kInt) return kTaken;
      if (dot)
        f.phase = kDot;
      else if (exp)
        f.phase = kExp;
      else
        return kEnded;
      return kTaken;
    case kDot:
      if (!digit) return kRejected;
      f.phase = kFrac;
      return kTaken;
    case kFrac:
      if (digit) return kTaken;
      if (!exp) return kEnded;
      f.phase = kExp;
      return kTaken;
    case kExp:
      if (c == '+' || c == '-')
        f.phase = kExpSign;
      else if (digit)
        f.phase = kExpDigits;
      else
        return kRejected;
      return kTaken;
    case kExpSign:
      if (!digit) return kRejected;
      f.phase = kExpDigits;
      return kTaken;
    default:  // kExpDigits
      return digit ? kTaken : kEnded;
  }
}

JsonRecognizer::Step JsonRecognizer::string_byte(JsonState& s, uint8_t c) const {
  JsonFrame& f = s.stack.back();
  const bool key = f.flags & kKeyFlag;
  const SchemaNode& obj = g_.nodes[f.node];  // keys only
  uint8_t next = kNormal;
  switch (f.phase) {
    case kNormal:
      if (c == '"') {
        if (key) {
          JsonFrame& parent = s.stack[s.stack.size() - 2];
          const int32_t end = f.aux >= 0 ? g_.literals[f.aux].child('"') : -1;
          if (end >= 0) {
            const uint64_t bit = uint64_t{1} << g_.literals[end].value;
            if (parent.seen & bit) return kRejected;  // each declared key once
            parent.seen |= bit;
            parent.aux = g_.literals[end].value;
          } else {
            if (obj.additional < 0) return kRejected;
            parent.aux = -1;
          }
        }
        end_frame(s);
        return kTaken;
      }
      if (c == '\\') {
        // Declared keys are matched byte for byte, so they are written without escapes.
        if (key && obj.key_root >= 0) return kRejected;
        f.phase = kEscape;
        return kTaken;
      }
      if (c < 0x20) return kRejected;
      if (c < 0x80)
        next = kNormal;
      else if (in(c, 0xC2, 0xDF))
        next = kCont1;
      else if (c == 0xE0)
        next = kE0;
      else if (c == 0xED)
        next = kED;
      else if (in(c, 0xE1, 0xEF))
        next = kCont2;
      else if (c == 0xF0)
        next = kF0;
      else if (in(c, 0xF1, 0xF3))
        next = kCont3;
      else if (c == 0xF4)
        next = kF4;
      else
        return kRejected;
      break;
    case kEscape:
      if (c == 'u') {
        f.phase = kU4;
        return kTaken;
      }
      if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' &&
          c != 't')
        return kRejected;
      f.phase = kNormal;
      return kTaken;
    case kU4:
      if (!is_hex(c)) return kRejected;
      f.phase = c == 'd' || c == 'D' ? kUD : kU3;
      return kTaken;
    case kUD:
      if (!in(c, '0', '7')) return kRejected;
      f.phase = kU2;
      return kTaken;
    case kU3:
    case kU2:
    case kU1:
      if (!is_hex(c)) return kRejected;
      f.phase = f.phase == kU1 ? static_cast<uint8_t>(kNormal) : static_cast<uint8_t>(f.phase + 1);
      return kTaken;
    case kCont1:
    case kCont2:
    case kCont3:
      if (!in(c, 0x80, 0xBF)) return kRejected;
      next = f.phase == kCont1 ? static_cast<uint8_t>(kNormal) : static_cast<uint8_t>(f.phase - 1);
      break;
    case kE0:
      if (!in(c, 0xA0, 0xBF)) return kRejected;
      next = kCont1;
      break;
    case kED:
      if (!in(c, 0x80, 0x9F)) return kRejected;
      next = kCont1;
      break;
    case kF0:
      if (!in(c, 0x90, 0xBF)) return kRejected;
      next = kCont2;
      break;
    default:  // kF4
      if (!in(c, 0x80, 0x8F)) return kRejected;
      next = kCont2;
      break;
  }
  if (key) {
    // Follow the declared names while the key spells one; off the trie it is another key.
    if (f.aux >= 0) f.aux = g_.literals[f.aux].child(c);
    if (obj.additional < 0) {
      const JsonFrame& parent = s.stack[s.stack.size() - 2];
      if (f.aux < 0 || (g_.literals[f.aux].below & ~parent.seen) == 0) return kRejected;
    }
  }
  f.phase = next;
  return kTaken;
}

bool JsonRecognizer::value_start(JsonState& s, uint8_t c) const {
  if (is_ws(c)) return whitespace(s, c);
  JsonFrame& f = s.stack.back();
  const SchemaNode& n = g_.nodes[f.node];
  int32_t literal = -1;
  if (n.enum_root >= 0) {
    literal = n.enum_root;
  } else if (c == '{' || c == '[') {
    const uint8_t type = c == '{' ? kJsonObject : kJsonArray;
    if (!(n.types & type) || s.depth >= JsonGrammar::kMaxNesting) return false;
    f.kind = c == '{' ? kObject : kArray;
    f.phase = kOpen;
    f.aux = -1;
    f.seen = 0;
    ++s.depth;
    return true;
  } else if (c == '"') {
    if (!(n.types & kJsonString)) return false;
    f.kind = kString;
    f.phase = kNormal;
    return true;
  } else if (c == '-' || is_digit(c)) {
    if (!(n.types & (kJsonNumber | kJsonInteger))) return false;
    f.kind = kNumber;
    f.phase = c == '-' ? kMinus : c == '0' ? kZero : kInt;
    return true;
  } else if ((c == 't' || c == 'f') && (n.types & kJsonBoolean)) {
    literal = g_.true_false_root;
  } else if (c == 'n' && (n.types & kJsonNull)) {
    literal = g_.null_root;
  } else {
    return false;
  }
  f.kind = kLiteral;
  f.aux = literal;
  if (literal_byte(f, c) != kTaken) return false;
  // A literal nothing can extend ends at once, so a finished value is seen as closed.
  const LiteralNode& at = g_.literals[f.aux];
  if (at.value >= 0 && at.next.empty()) end_frame(s);
  return true;
}

bool JsonRecognizer::container_byte(JsonState& s, uint8_t c) const {
  JsonFrame& f = s.stack.back();
  const SchemaNode& n = g_.nodes[f.node];
  if (is_ws(c)) return whitespace(s, c);
  if (f.kind == kObject) {
    switch (f.phase) {
      case kOpen:
      case kComma:
        if (c == '"' && key_possible(f)) {
          f.phase = kKey;
          JsonFrame k;
          k.kind = kString;
          k.flags = kKeyFlag;
          k.node = f.node;
          k.aux = n.key_root;
          s.stack.push_back(k);
          return true;
        }
        if (c == '}' && f.phase == kOpen && required_done(f)) {
          end_frame(s);
          return true;
        }
        return false;
      case kColon: {
        if (c != ':') return false;
        f.phase = kInValue;
        const int32_t value = f.aux >= 0 ? n.props[f.aux] : n.additional;
        open_value(s, value);
        return true;
      }
      default:  // kAfter
        if (c == ',' && key_possible(f)) {
          f.phase = kComma;
          return true;
        }
        if (c == '}' && required_done(f)) {
          end_frame(s);
          return true;
        }
        return false;
    }
  }
  // Arrays.
  if ((f.phase == kOpen || f.phase == kAfter) && c == ']') {
    end_frame(s);
    return true;
  }
  if (f.phase == kAfter) {
    if (c != ',') return false;
    f.phase = kComma;
    return true;
  }
  f.phase = kInValue;
  open_value(s, n.items);
  return value_start(s, c);
}

bool JsonRecognizer::feed(JsonState& s, uint8_t c) const {
  if (!is_ws(c)) s.ws_run = 0;
  while (!s.stack.empty()) {
    JsonFrame& f = s.stack.back();
    Step step = kRejected;
    switch (f.kind) {
      case kValue:
        return value_start(s, c);
      case kObject:
      case kArray:
        return container_byte(s, c);
      case kString:
        return string_byte(s, c) == kTaken;
      case kNumber:
        step = number_byte(f, c, !(g_.nodes[f.node].types & kJsonNumber));
        break;
      default:  // kLiteral
        step = literal_byte(f, c);
        if (step == kTaken && g_.literals[f.aux].value >= 0 && g_.literals[f.aux].next.empty())
          end_frame(s);
        break;
    }
    if (step != kEnded) return step == kTaken;
    end_frame(s);  // a number or literal ends here; the byte is its parent's
  }
  return false;  // the value is complete: nothing may follow it
}

}  // namespace precis::engine
