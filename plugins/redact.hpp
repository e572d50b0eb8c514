// The "redact" plugin: masks personal data in the request before anything leaves precis
// (before compression, planning and generation), and can put it back in the answer.
//
// Detected, each replaced by a numbered placeholder ("[EMAIL_1]", "[PHONE_2]", "[CARD_1]"):
//   - e-mail addresses (local@domain.tld);
//   - phone numbers: international ("+44 20 7946 0958", "+1-212-555-0100", 7 to 15 digits after
//     the "+") and US style with separators ("(212) 555-0100", "212-555-0100", "212.555.0100",
//     "1 212 555 0100"; the area code starts with 2-9). A bare run of ten digits is not masked;
//   - payment card numbers: 13 to 19 digits, ungrouped or in groups of 3 to 6 separated by single
//     spaces or dashes, that pass the Luhn check (other digit strings are left alone);
//   - user patterns (ECMAScript regular expressions, std::regex), placeholder "[REDACTED_n]" or
//     "[<label>_n]".
// The same value gets the same placeholder everywhere in one request (prompt, question,
// contexts). The built-in detectors never match inside a word; user patterns match as written.
// Placeholders hold a digit, so compression with keep_numbers (the default) keeps them whole
// (its coarse level may still drop a whole context). Caveat: std::regex backtracks recursively, so
// keep user patterns simple (no nested quantifiers) on long inputs.
//
// Settings (all optional):
//   {"email": true, "phone": true, "card": true,
//    "patterns": ["EMP-[0-9]{6}", {"regex": "ACME-[A-Z]+", "label": "PROJECT"}],
//    "restore": false}
// With "restore": true the placeholder -> original mapping is kept in Request::metadata (keys
// "redact:[EMAIL_1]", per request, so concurrent requests never see each other's values) and
// after() puts the originals back into every choice's text (also a bare EMAIL_1 whose brackets
// compression dropped), and its stream filter does the same to streamed deltas (holding back a
// tail that may be a placeholder split across deltas). The Result's prompt fields keep the
// placeholders. Every text the model sees is masked: prompt, question, contexts and every chat
// message (system, history, final user turn).
//
// Metrics: precis_redact_requests_total (requests seen), precis_redact_masked_total (values
// masked, counting each distinct value once per request).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "precis/precis.hpp"

namespace precis::plugins {

// Throws std::runtime_error ("/patterns/0: invalid regular expression: ...") on bad settings.
std::unique_ptr<Stage> make_redact_stage(const std::string& settings_json);

// Luhn checksum over the digits of `digits` (non-digits ignored).
bool luhn_valid(const std::string& digits);

}  // namespace precis::plugins
