/* PLACEHOLDER: replaced by its owner. */
#include "password.h"
