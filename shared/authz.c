/* PLACEHOLDER: replaced by its owner. */
#include "authz.h"
