/* util/container_of.h: from a pointer to a member back to its struct. */
#ifndef TERN_UTIL_CONTAINER_OF_H
#define TERN_UTIL_CONTAINER_OF_H

#include <stddef.h>

#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#endif /* TERN_UTIL_CONTAINER_OF_H */
