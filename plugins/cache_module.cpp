// libprecis_cache.so: the cache plugin as a shared library (the same code as the built-in).
#include "plugins/cache.hpp"
#include "precis/plugin.hpp"

PRECIS_DEFINE_PLUGIN(precis::plugins::make_cache_stage)
