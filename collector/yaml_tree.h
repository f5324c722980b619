/*
 * yaml_tree.h: a YAML config file as a node tree (libyaml's document API),
 * with the few walks ternd's config readers need (config.c for the top
 * level, forward/config.c for "forwarders"). Errors name the file and the
 * line of the node they are about. A config file is user input: the file
 * is read whole, at most COL_YAML_MAX_BYTES, and the tree holds at most
 * COL_YAML_MAX_NODES nodes. Aliases resolve to the node they name (never a
 * copy), so an alias bomb costs nothing to load; the readers walk a fixed
 * depth and every list they fill is bounded. Not thread-safe per document.
 */
#ifndef TERN_COLLECTOR_YAML_TREE_H
#define TERN_COLLECTOR_YAML_TREE_H

#include <stdarg.h>
#include <stddef.h>

#include <yaml.h>

#define COL_YAML_MAX_BYTES (256u << 10)
#define COL_YAML_MAX_NODES 20000

struct col_ydoc {
	yaml_document_t _doc;
	const char *path;     /* borrowed; for messages */
	int _loaded;
};

/**
 * Loads the YAML file at path (one document; an empty file is an empty
 * document). path is borrowed and must outlive d. Returns 0, or a negative
 * errno with "PATH: what" / "PATH:LINE: what" in err: -ENOENT etc. (cannot
 * open), -EFBIG (over COL_YAML_MAX_BYTES or COL_YAML_MAX_NODES), -EINVAL
 * (syntax, or more than one document), -ENOMEM. After a failure there is
 * nothing to free (col_ydoc_done() is harmless).
 */
int col_ydoc_load(struct col_ydoc *d, const char *path, char *err, size_t errlen);

/** Frees the tree. Accepts a document that failed to load. */
void col_ydoc_done(struct col_ydoc *d);

/** The root node, or NULL for an empty document. */
yaml_node_t *col_ydoc_root(struct col_ydoc *d);

/** 1-based line where n starts. */
size_t col_ynode_line(const yaml_node_t *n);

/** n's text if it is a scalar (NUL-terminated, owned by d), else NULL. */
const char *col_ynode_scalar(const yaml_node_t *n);

/** Entries of a mapping or items of a sequence; 0 for a scalar. */
size_t col_ynode_len(const yaml_node_t *n);

/** Pair i of mapping n: *key and *value (nodes owned by d). */
void col_ydoc_pair(struct col_ydoc *d, const yaml_node_t *n, size_t i, yaml_node_t **key,
		   yaml_node_t **value);

/** Item i of sequence n (owned by d). */
yaml_node_t *col_ydoc_item(struct col_ydoc *d, const yaml_node_t *n, size_t i);

/**
 * Writes "PATH:LINE: " + the formatted message about node n to err and
 * returns -EINVAL.
 */
int col_ydoc_fail(const struct col_ydoc *d, const yaml_node_t *n, char *err, size_t errlen,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif /* TERN_COLLECTOR_YAML_TREE_H */
