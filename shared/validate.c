/* PLACEHOLDER: replaced by its owner. */
#include "validate.h"
