/* PLACEHOLDER: replaced by its owner. */
#include "apikey.h"
