// libprecis_redact.so: the redact plugin as a shared library (the same code as the built-in).
#include "plugins/redact.hpp"
#include "precis/plugin.hpp"

PRECIS_DEFINE_PLUGIN(precis::plugins::make_redact_stage)
