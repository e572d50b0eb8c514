// The GBNF grammar the lm planner's generation is constrained by, so that a small model's plan
// always has the shape check_plan accepts: `def name(params):` and an indented body of
// assignments, returns, calls, and for/if/while blocks nested up to three deep, with expressions
// built from names, calls, indexing, numbers, strings and lists joined by operators. Names are
// never Python keywords (the grammar spells out every other word), which is what a plain
// [a-z_]+ would let through and check_plan turn away.
#pragma once

#include <string>

namespace precis::planner {

// GBNF text (engine/gbnf_grammar.hpp parses it); the same string on every call.
const std::string& lm_plan_grammar();

}  // namespace precis::planner
