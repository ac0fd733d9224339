/* PLACEHOLDER: replaced by its owner. */
#include "audit.h"
